//! Explaining an item of the quality-balance assessment (`quality_assessment`): its value, the
//! rule it is held to and its status as published; for a school-level item every assessed
//! school as `school_conditions` publishes it; and the submitted rows the item is decided from,
//! each with its source file, sheet and row. q1…q7 are the balance CVs (explained unit by unit
//! as `explain cv` does), e1 the junior retention rate; evidence items list their files.

use std::fmt::Write as _;

use super::{cv, retention, short};
use crate::error::{Error, Result};
use crate::marts::{self, QualityItem, literal};
use crate::query::Published;
use crate::report::assessment::rule_text;
use crate::report::format::{Money, assessment_value};

/// Where an item's inputs were submitted: (table, its columns shown, an extra filter).
/// In a filter `{stage}` is the row's stage, `{assessed}` the schools the item assessed,
/// `{public}` the county's public schools and `{public_or_point}` those and its teaching points.
type Sources = &'static [(&'static str, &'static str, &'static str)];

/// The submitted rows each computed item is decided from (assessment.md §2).
const ITEM_SOURCES: [(&str, Sources); 18] = [
    (
        "g3",
        &[
            ("pupils", "school_code, grade, classes", "{assessed}"),
            ("facilities", "school_code, stage, music_rooms, art_rooms", "{assessed}"),
        ],
    ),
    ("g4", &[("pupils", "school_code, grade, students", "{assessed}")]),
    (
        "g5",
        &[("pupils", "school_code, grade, classes, largest_class", "{assessed} and stage = {stage} and classes > 0")],
    ),
    (
        "g6",
        &[
            ("pupils", "school_code, grade, students", "{assessed}"),
            ("school_funds", "school_code, public_funds_budget", "{assessed}"),
            ("county_facts", "public_funds_benchmark_primary", ""),
        ],
    ),
    ("g7", &[("county_facts", "special_ed_pupils, special_ed_public_funds", "")]),
    ("g8", &[("finance", "avg_teacher_salary", ""), ("county_facts", "civil_servant_avg_salary", "")]),
    ("g9", &[("teachers", "school_code, stage, full_time_teachers, trained_360h", "{public_or_point}")]),
    ("g11", &[("teachers", "school_code, stage, teachers_exchanged, exchange_eligible", "{public}")]),
    ("g11b", &[("teachers", "school_code, stage, teachers_exchanged, backbone_exchanged", "{public}")]),
    ("g12", &[("teachers", "school_code, stage, full_time_teachers, certified_teachers", "{public}")]),
    (
        "g13",
        &[(
            "pupils",
            "school_code, grade, entrants, entrants_in_catchment",
            "{assessed} and stage = {stage} and entrants > 0",
        )],
    ),
    ("g14", &[("county_facts", "senior_quota_plan, senior_quota_allocated, senior_quota_rural", "")]),
    (
        "g15",
        &[
            ("pupils", "school_code, grade, migrant", "{public} and migrant > 0"),
            ("county_facts", "migrant_eligible, migrant_in_purchased_places", ""),
        ],
    ),
    ("e2", &[("county_facts", "disabled_children, disabled_enrolled", "")]),
    ("e4", &[("school_funds", "school_code, public_funds_budget, training_expenditure", "{assessed}")]),
    ("e9", &[("monitoring", "subject, grade, level, difference_rate", "")]),
    ("s1", &[("survey", "questionnaires, valid_questionnaires, satisfied", "")]),
    ("q_units", &[]),
];

/// The `school_conditions` columns a school-level item shows, and which schools it assessed.
fn conditions_of(item: &str) -> Option<(&'static str, &'static str)> {
    Some(match item {
        "g3" => ("classes, music_rooms, art_rooms, rooms_required, g3_met", "g3_assessed"),
        "g4" => ("students, size_limit, g4_met", "g4_assessed"),
        "g5" => ("grades_over_class_limit, g5_met", "true"),
        "g6" => ("students, public_funds_budget, small_school_minimum, g6_met", "g6_assessed"),
        "e4" => ("public_funds_budget, training_expenditure, training_share, e4_met", "e4_assessed"),
        "g13" => ("catchment_entrants, catchment_share", "catchment_entrants is not null"),
        _ => return None,
    })
}

/// Explain an item of a county-year (every stage of it when `stage` is None).
pub async fn item(p: &Published, county: &str, year: i32, item: &str, stage: Option<&str>) -> Result<String> {
    let ctx = &p.ctx;
    let mut filter = format!("county_code = {} and year = {year} and item = {}", literal(county), literal(item));
    if let Some(s) = stage {
        filter.push_str(&format!(" and stage = {}", literal(s)));
    }
    let rows: Vec<QualityItem> =
        marts::read(ctx, &format!("select * from quality_assessment where {filter} order by ordinal")).await?;
    if rows.is_empty() {
        return Err(Error::NotFound(format!(
            "quality_assessment has no item {item:?} for county {county}, {year}{}; items are q1…q7, q_units, g1…g15, g11b, e1…e9, s1",
            stage.map(|s| format!(", stage {s}")).unwrap_or_default()
        )));
    }
    let mut out = String::new();
    let money = Money::of(ctx).await?;
    for row in &rows {
        explain_row(p, row, money, &mut out).await?;
    }
    Ok(out)
}

async fn explain_row(p: &Published, row: &QualityItem, money: Money, out: &mut String) -> Result<()> {
    let status = row.status();
    let _ = writeln!(
        out,
        "quality_assessment · county {} · {} · {} · {} {}",
        row.county_code, row.year, row.stage, row.item, row.item_zh
    );
    let unit = row.value_unit.as_deref();
    let _ = writeln!(
        out,
        "published: value = {} (numerator {}, denominator {}); rule {}; status {} ({})",
        assessment_value(unit, row.value, money),
        super::shown(row.numerator),
        super::shown(row.denominator),
        rule_text(row, &crate::report::words::ZH, money),
        status.as_str(),
        status.label_zh()
    );
    if let Some(assessed) = row.assessed {
        let _ = writeln!(
            out,
            "assessed {assessed}, failing {}, missing a value {}",
            row.failing.unwrap_or(0),
            row.missing.unwrap_or(0)
        );
    }
    let _ = writeln!(out, "decided from: {}\n", row.inputs_zh.as_deref().unwrap_or("—"));
    match row.item.as_str() {
        q if q.len() == 2 && q.starts_with('q') => {
            out.push_str(&cv(p, &row.county_code, row.year, &row.stage, q).await?);
        }
        "e1" => out.push_str(&retention(p, &row.county_code, row.year, "junior").await?),
        "q_units" => out.push_str(&table(p, &format!("select unit_id, school_name, students, standards_met, round(lowest_ratio, 4) as lowest_ratio, meets_standards from school_standards where county_code = {} and year = {} and stage = {} and in_standards_test order by unit_id", literal(&row.county_code), row.year, literal(&row.stage))).await?),
        _ if row.kind == "evidence" => evidence(p, row, out),
        item => {
            if let Some((columns, assessed)) = conditions_of(item) {
                let _ = writeln!(out, "schools assessed (school_conditions):");
                out.push_str(&table(p, &format!("select school_code, school_name, school_type, area_type, {columns} from school_conditions where county_code = {} and year = {} and {assessed} order by school_code", literal(&row.county_code), row.year)).await?);
                out.push('\n');
            }
            sources(p, row, out).await?;
        }
    }
    out.push('\n');
    Ok(())
}

/// The submitted rows behind a computed item, with file, sheet and row.
async fn sources(p: &Published, row: &QualityItem, out: &mut String) -> Result<()> {
    let Some((_, sources)) = ITEM_SOURCES.iter().find(|(i, _)| *i == row.item) else {
        return Ok(());
    };
    let this_year = format!("county_code = {} and year = {}", literal(&row.county_code), row.year);
    let schools = |which: &str| {
        format!("school_code in (select school_code from school_conditions where {this_year} and {which})")
    };
    let assessed = conditions_of(&row.item).map_or("true".to_owned(), |(_, which)| schools(which));
    let root = format!("{}/", p.ledger.pipeline.source_url.trim_end_matches('/'));
    for (table_name, columns, extra) in *sources {
        let extra = extra
            .replace("{assessed}", &assessed)
            .replace("{public}", &schools("school_type <> 'teaching_point'"))
            .replace("{public_or_point}", &schools("true"))
            .replace("{stage}", &literal(&row.stage));
        let extra = if extra.is_empty() { String::new() } else { format!(" and {extra}") };
        let _ = writeln!(out, "source rows ({table_name}):");
        let sql = format!(
            "select replace(source_uri, {}, '') as file, source_sheet as sheet, source_row as row, {columns} \
             from {table_name} where {this_year}{extra} order by source_uri, source_row",
            literal(&root)
        );
        out.push_str(&table(p, &sql).await?);
        out.push('\n');
    }
    Ok(())
}

fn evidence(p: &Published, row: &QualityItem, out: &mut String) {
    let files: Vec<_> = p
        .ledger
        .evidence
        .iter()
        .filter(|e| {
            e.county_code.as_deref() == Some(&row.county_code)
                && e.year == Some(row.year)
                && e.item.as_deref() == Some(&row.item)
        })
        .collect();
    if files.is_empty() {
        let _ = writeln!(out, "no file under {}/{}/evidence/{}…/", row.county_code, row.year, row.item);
    }
    for e in files {
        let _ = writeln!(out, "  {}  {} bytes  sha256 {}", short(p, &e.uri), e.size, e.sha256);
    }
}

/// A query's rows as a text table.
async fn table(p: &Published, sql: &str) -> Result<String> {
    let err = |e| Error::sql("explain", sql, e);
    let batches = p.ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)?;
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok("  (no rows)\n".to_owned());
    }
    let text = arrow::util::pretty::pretty_format_batches(&batches).map_err(|e| Error::arrow("formatting", e))?;
    Ok(format!("{text}\n"))
}
