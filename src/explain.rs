//! Explaining a published number: how a balance CV, a retention or dropout rate, or a funding
//! leg was computed — every unit's pupils, numerator, value and share of the variance, the
//! cohort's entrants and final-grade pupils, the two years' finance figures — and which source
//! file and row each input came from. This is what a statistician shows an inspection team.
//!
//! Every figure printed is one the committed version publishes (its marts, and the intermediate
//! models it wrote: `int_unit_cv_terms`, `int_unit_indicators`, `int_pupils_with_school`,
//! `stg_finance`), read as typed rows; nothing is recomputed here.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::marts::{self, BalanceCv, Funding, literal};
use crate::query::Published;
use crate::transform::Model;

mod item;

/// What to explain.
#[derive(Debug, Clone)]
pub enum Target {
    /// A difference coefficient of balance_cv.
    Cv {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary or junior.
        stage: String,
        /// b1…b8, q1…q7.
        indicator: String,
    },
    /// A retention rate.
    Retention {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary, junior or nine_year.
        stage: String,
    },
    /// A dropout rate.
    Dropout {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary or junior.
        stage: String,
    },
    /// The three legs of 三个增长 for a fiscal year.
    Funding {
        /// County code.
        county: String,
        /// Fiscal year.
        year: i32,
    },
    /// An item of the quality-balance assessment (quality_assessment).
    Item {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// q1…q7, q_units, g1…g15, g11b, e1…e9, s1.
        item: String,
        /// primary, junior or all (every stage of the item when None).
        stage: Option<String>,
    },
}

/// What an explanation prints for a value the submission did not report (never 0, never —).
const NOT_REPORTED: &str = "not reported";

/// A number with `decimals` decimals, or "not reported". A value that rounds to zero is 0, never
/// `-0.000` (a sum of floating-point terms can land a hair below zero).
fn f(value: Option<f64>, decimals: usize) -> String {
    value.map_or(NOT_REPORTED.into(), |v| {
        let v = if v.abs() < 0.5 * 10f64.powi(-(decimals as i32)) { 0.0 } else { v };
        format!("{v:.decimals$}")
    })
}

/// A value as published, or "not reported".
fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or(NOT_REPORTED.into(), |v| v.to_string())
}

/// The error for a figure a mart does not have, saying which counties and years it does have
/// (a miss exits 3; see [`crate::exit::ExitStatus::NotFound`]).
async fn miss(ctx: &datafusion::prelude::SessionContext, mart: &str, asked: &str) -> Error {
    #[derive(Deserialize)]
    struct Range {
        county_code: String,
        first: i32,
        last: i32,
    }
    let sql = format!(
        "select county_code, min(year) as first, max(year) as last from {mart} group by county_code order by county_code"
    );
    let ranges: Vec<Range> = marts::read(ctx, &sql).await.unwrap_or_default();
    let listed: Vec<String> =
        ranges.iter().take(8).map(|r| format!("{} ({}–{})", r.county_code, r.first, r.last)).collect();
    let more = ranges.len().saturating_sub(listed.len());
    let has = match (listed.is_empty(), more) {
        (true, _) => "it has no rows".to_owned(),
        (false, 0) => format!("it has counties {}", listed.join(", ")),
        (false, n) => format!("it has counties {} and {n} more", listed.join(", ")),
    };
    Error::NotFound(format!("{mart} has no row for {asked}; {has}"))
}

/// Shorten a source URI to the path under the run's source root.
fn short(published: &Published, uri: &str) -> String {
    let root = published.ledger.pipeline.source_url.trim_end_matches('/');
    uri.strip_prefix(root).map_or(uri.to_owned(), |r| r.trim_start_matches('/').to_owned())
}

/// Explain a published number, as text.
pub async fn explain(published: &Published, target: &Target) -> Result<String> {
    match target {
        Target::Cv { county, year, stage, indicator } => cv(published, county, *year, stage, indicator).await,
        Target::Retention { county, year, stage } => retention(published, county, *year, stage).await,
        Target::Dropout { county, year, stage } => dropout(published, county, *year, stage).await,
        Target::Funding { county, year } => funding(published, county, *year).await,
        Target::Item { county, year, item, stage } => {
            item::item(published, county, *year, item, stage.as_deref()).await
        }
    }
}

/// An indicator of `ref_indicators`.
#[derive(Deserialize)]
struct Indicator {
    name_zh: String,
    numerator: String,
    per_pupils: String,
}

/// One unit's term of a weighted CV, with its school and numerator.
#[derive(Deserialize)]
struct Term {
    unit_id: String,
    school_name: Option<String>,
    member_school_codes: Option<String>,
    pupils: Option<f64>,
    numerator: Option<f64>,
    value: Option<f64>,
    weight: Option<f64>,
    term: Option<f64>,
    share: Option<f64>,
}

/// A source row of a numerator.
#[derive(Deserialize)]
struct SourceRow {
    source_uri: String,
    source_row: i64,
    school_code: String,
    value: Option<f64>,
}

/// The pupils a unit's source file gave.
#[derive(Deserialize)]
struct PupilRows {
    source_uri: String,
    first_row: i64,
    last_row: i64,
    pupils: Option<i64>,
}

async fn cv(p: &Published, county: &str, year: i32, stage: &str, indicator: &str) -> Result<String> {
    let ctx = &p.ctx;
    let meta: Indicator = marts::first(
        ctx,
        &format!("select name_zh, numerator, per_pupils from ref_indicators where indicator = {}", literal(indicator)),
    )
    .await?
    .ok_or_else(|| Error::Usage(format!("no indicator {indicator:?}; use b1…b8 or q1…q7")))?;
    let cell = format!(
        "county_code = {} and year = {year} and stage = {} and indicator = {}",
        literal(county),
        literal(stage),
        literal(indicator)
    );
    let row: Option<BalanceCv> = marts::first(ctx, &format!("select * from balance_cv where {cell}")).await?;
    let Some(row) = row else {
        return Err(miss(ctx, "balance_cv", &format!("{indicator} for county {county}, {year}, {stage}")).await);
    };
    let numerator = &meta.numerator;
    let mut out = String::new();
    let _ = writeln!(out, "balance_cv · county {county} · {year} · {stage} · {indicator} {}", meta.name_zh);
    let verdict = match (row.threshold, row.passes) {
        (Some(t), passes) => format!("; threshold {t} → {}", if passes == Some(true) { "passes" } else { "fails" }),
        (None, _) => String::new(),
    };
    let _ = writeln!(
        out,
        "published: CV = {} (S = {}, X̄ = {}) over {} units, P = {} pupils{verdict}",
        f(row.cv, 6),
        f(row.sd, 6),
        f(row.mean, 6),
        row.units,
        row.students
    );
    let per_label = if meta.per_pupils == "100" { "100 × " } else { "" };
    let _ = writeln!(
        out,
        "\nX_i = {per_label}{numerator} / P_i;  X̄ = Σ P_i·X_i / P;  S = sqrt(Σ (P_i/P)(X_i − X̄)²);  CV = S / X̄   (methodology §2)\n"
    );
    let terms: Vec<Term> = marts::read(
        ctx,
        &format!(
            "select t.unit_id, u.school_name, u.member_school_codes, cast(t.pupils as double) as pupils,
                    cast(u.{numerator} as double) as numerator, t.value, t.weight, t.term, t.term / sum(t.term) over () as share
             from int_unit_cv_terms t join int_unit_indicators u on t.year = u.year and t.unit_id = u.unit_id
             where t.{cell} order by t.term desc",
            cell = cell.replace(" and ", " and t.")
        ),
    )
    .await?;
    let _ = writeln!(
        out,
        "{:<22} {:<18} {:>8} {:>14} {:>12} {:>10} {:>12} {:>8}",
        "unit", "school", "P_i", numerator, "X_i", "P_i/P", "(P_i/P)(X_i−X̄)²", "share"
    );
    for t in &terms {
        let _ = writeln!(
            out,
            "{:<22} {:<18} {:>8} {:>14} {:>12} {:>10} {:>12} {:>7}%",
            t.unit_id,
            t.school_name.as_deref().unwrap_or_default(),
            f(t.pupils, 0),
            f(t.numerator, 2),
            f(t.value, 6),
            f(t.weight, 6),
            f(t.term, 8),
            f(t.share.map(|s| s * 100.0), 1)
        );
    }
    let _ = writeln!(
        out,
        "\nP = {};  X̄ = {};  S = sqrt(Σ terms) = {};  CV = S / X̄ = {}   (as balance_cv publishes them)",
        row.students,
        f(row.mean, 6),
        f(row.sd, 6),
        f(row.cv, 6)
    );
    let table = source_table(&crate::transform::project(ctx)?, "int_unit_indicators", numerator).ok_or_else(|| {
        Error::SqlProject(format!("no submitted table under int_unit_indicators has a column {numerator}"))
    })?;
    let _ = writeln!(out, "\nsources ({table} for {numerator}, pupils for P_i):");
    for t in &terms {
        let members: Vec<String> =
            t.member_school_codes.as_deref().unwrap_or_default().split(',').map(literal).collect();
        let members = members.join(", ");
        // A facilities row may leave the stage of a two-stage school out (it is apportioned).
        let stage_filter = match table {
            Table::Facilities => format!("(stage = {} or stage is null)", literal(stage)),
            _ => format!("stage = {}", literal(stage)),
        };
        let rows: Vec<SourceRow> = marts::read(ctx, &format!("select source_uri, source_row, school_code, cast({numerator} as double) as value from {table} where year = {year} and school_code in ({members}) and {stage_filter} order by source_uri, source_row")).await?;
        let pupils: Vec<PupilRows> = marts::read(ctx, &format!("select source_uri, min(source_row) as first_row, max(source_row) as last_row, sum(students) as pupils from pupils where year = {year} and school_code in ({members}) and stage = {} group by source_uri order by source_uri", literal(stage))).await?;
        let _ = writeln!(out, "  {}:", t.unit_id);
        for r in rows {
            let _ = writeln!(
                out,
                "    {numerator} = {} — {} row {} (school {})",
                shown(r.value),
                short(p, &r.source_uri),
                r.source_row,
                r.school_code
            );
        }
        for r in pupils {
            let _ = writeln!(
                out,
                "    pupils = {} — {} rows {}–{}",
                shown(r.pupils),
                short(p, &r.source_uri),
                r.first_row,
                r.last_row
            );
        }
    }
    Ok(out)
}

/// The submitted table a model's column comes from: the staging table, among those its declared
/// inputs reach (through other models' `Inputs:`), whose contract has the column.
pub fn source_table(models: &[Model], model: &str, column: &str) -> Option<Table> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![model.to_owned()];
    let mut found = None;
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(table) = Table::from_name(&name).filter(|t| t.column(column).is_some()) {
            found = found.or(Some(table));
        }
        if let Some(m) = models.iter().find(|m| m.name == name) {
            queue.extend(m.header.inputs.iter().cloned());
        }
    }
    found
}

/// A retention row.
#[derive(Deserialize)]
struct Retention {
    cohort_start_year: Option<i64>,
    entry_grade: Option<i32>,
    final_grade: Option<i32>,
    cohort_entrants: Option<i64>,
    final_grade_students: Option<i64>,
    net_transfers: Option<i64>,
    retention_rate: Option<f64>,
    retention_definition: String,
    school_system: String,
}

/// A school's pupils of a grade, with its source row.
#[derive(Deserialize)]
struct SchoolGrade {
    school_code: String,
    school_name: Option<String>,
    count: Option<i64>,
    source_uri: String,
    source_row: i64,
}

async fn retention(p: &Published, county: &str, year: i32, stage: &str) -> Result<String> {
    let ctx = &p.ctx;
    let r: Option<Retention> = marts::first(
        ctx,
        &format!(
            "select * from retention where county_code = {} and year = {year} and stage = {}",
            literal(county),
            literal(stage)
        ),
    )
    .await?;
    let Some(r) = r else { return Err(miss(ctx, "retention", &format!("county {county}, {year}, {stage}")).await) };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "retention · county {county} · {year} · {stage} ({} school system, {} definition)",
        r.school_system, r.retention_definition
    );
    let adjusted = if r.retention_definition == "adjusted" {
        format!(" (+ net transfers {})", shown(r.net_transfers))
    } else {
        String::new()
    };
    let formula = format!(
        "{} grade-{} pupils in {year} ÷ {} grade-{} entrants in {}{adjusted}",
        shown(r.final_grade_students),
        shown(r.final_grade),
        shown(r.cohort_entrants),
        shown(r.entry_grade),
        shown(r.cohort_start_year)
    );
    let _ = match (r.retention_rate, r.cohort_entrants, r.final_grade_students) {
        (Some(rate), _, _) => writeln!(out, "published: {} = {formula}", f(Some(rate), 6)),
        (None, None, _) => writeln!(
            out,
            "published: no rate — the grade-{} entrants of {} were not reported (the final grade has {} grade-{} pupils in {year})",
            shown(r.entry_grade),
            shown(r.cohort_start_year),
            shown(r.final_grade_students),
            shown(r.final_grade)
        ),
        (None, _, None) => writeln!(
            out,
            "published: no rate — the grade-{} pupils of {year} were not reported (the cohort had {} grade-{} entrants in {})",
            shown(r.final_grade),
            shown(r.cohort_entrants),
            shown(r.entry_grade),
            shown(r.cohort_start_year)
        ),
        (None, _, _) => writeln!(out, "published: no rate ({formula})"),
    };
    let _ = writeln!(
        out,
        "(methodology §4: final-grade pupils of year Y over the entrants of the cohort's first year; a missing start year gives no rate)\n"
    );
    let cohort = [
        ("entrants", r.cohort_start_year.unwrap_or(0) as i32, r.entry_grade, "entrants", r.cohort_entrants),
        ("final-grade pupils", year, r.final_grade, "students", r.final_grade_students),
    ];
    for (label, y, grade, column, published) in cohort {
        let grade = grade.unwrap_or(0);
        let schools: Vec<SchoolGrade> = marts::read(ctx, &format!("select school_code, school_name, {column} as count, source_uri, source_row from int_pupils_with_school where county_code = {} and year = {y} and grade = {grade} order by school_code", literal(county))).await?;
        let _ = writeln!(out, "{label}, grade {grade}, {y}: {}", shown(published));
        for s in schools {
            let _ = writeln!(
                out,
                "  {} {:<16} {:>6} — {} row {}",
                s.school_code,
                s.school_name.as_deref().unwrap_or_default(),
                shown(s.count),
                short(p, &s.source_uri),
                s.source_row
            );
        }
    }
    Ok(out)
}

/// A dropout row.
#[derive(Deserialize)]
struct Dropout {
    school_year: Option<String>,
    dropouts: Option<i64>,
    base_students: Option<i64>,
    dropout_rate: Option<f64>,
}

/// A school's dropouts of a grade, with its source row.
#[derive(Deserialize)]
struct SchoolDropouts {
    school_code: String,
    school_name: Option<String>,
    grade: i32,
    dropouts: Option<i64>,
    source_uri: String,
    source_row: i64,
}

/// The pupils a source file gave a stage.
#[derive(Deserialize)]
struct FilePupils {
    source_uri: String,
    rows: i64,
    pupils: Option<i64>,
}

async fn dropout(p: &Published, county: &str, year: i32, stage: &str) -> Result<String> {
    let ctx = &p.ctx;
    let (county_lit, stage_lit) = (literal(county), literal(stage));
    let r: Option<Dropout> = marts::first(
        ctx,
        &format!("select * from dropout where county_code = {county_lit} and year = {year} and stage = {stage_lit}"),
    )
    .await?;
    let Some(r) = r else { return Err(miss(ctx, "dropout", &format!("county {county}, {year}, {stage}")).await) };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dropout · county {county} · {year} ({}) · {stage}",
        r.school_year.as_deref().unwrap_or_default()
    );
    let formula = format!(
        "{} dropouts reported at census {year} ÷ {} {stage} pupils at census {}",
        shown(r.dropouts),
        shown(r.base_students),
        year - 1
    );
    let _ = match (r.dropout_rate, r.dropouts) {
        (Some(rate), _) => writeln!(out, "published: {} = {formula} (methodology §4)\n", f(Some(rate), 6)),
        (None, None) => writeln!(
            out,
            "published: no rate — the dropouts of census {year} were not reported (the base would be {} {stage} pupils at census {})\n",
            shown(r.base_students),
            year - 1
        ),
        (None, _) => writeln!(out, "published: no rate ({formula})\n"),
    };
    let schools: Vec<SchoolDropouts> = marts::read(ctx, &format!("select school_code, school_name, grade, dropouts, source_uri, source_row from int_pupils_with_school where county_code = {county_lit} and year = {year} and stage = {stage_lit} and dropouts > 0 order by school_code, grade")).await?;
    let _ = writeln!(out, "rows with dropouts:{}", if schools.is_empty() { " none" } else { "" });
    for s in schools {
        let _ = writeln!(
            out,
            "  {} {:<16} grade {} {:>4} — {} row {}",
            s.school_code,
            s.school_name.as_deref().unwrap_or_default(),
            s.grade,
            shown(s.dropouts),
            short(p, &s.source_uri),
            s.source_row
        );
    }
    let base: Vec<FilePupils> = marts::read(ctx, &format!("select source_uri, count(*) as rows, sum(students) as pupils from int_pupils_with_school where county_code = {county_lit} and year = {} and stage = {stage_lit} group by source_uri order by source_uri", year - 1)).await?;
    let _ = writeln!(out, "base enrolment, {}:", year - 1);
    for b in base {
        let _ = writeln!(out, "  {} pupils in {} rows of {}", shown(b.pupils), b.rows, short(p, &b.source_uri));
    }
    Ok(out)
}

/// A finance row with its source.
#[derive(Deserialize)]
struct FinanceRow {
    year: i32,
    source_uri: String,
    source_row: i64,
}

async fn funding(p: &Published, county: &str, year: i32) -> Result<String> {
    let ctx = &p.ctx;
    let county_lit = literal(county);
    let years: Vec<Funding> = marts::read(
        ctx,
        &format!(
            "select * from funding where county_code = {county_lit} and year in ({}, {year}) order by year",
            year - 1
        ),
    )
    .await?;
    let Some(cur) = years.iter().find(|r| r.year == year) else {
        return Err(miss(ctx, "funding", &format!("county {county}, {year}")).await);
    };
    let sources: Vec<FinanceRow> = marts::read(ctx, &format!("select year, source_uri, source_row from stg_finance where county_code = {county_lit} and year in ({}, {year}) order by year", year - 1)).await?;
    let mut out = String::new();
    let met = cur.three_increases_met.map_or("no legs (no previous fiscal year)".to_owned(), |m| m.to_string());
    let _ = writeln!(
        out,
        "funding · county {county} · fiscal {year} · 三个增长 = {met} (methodology §5; g(V) = (V_t − V_(t−1)) / V_(t−1), rises strict)\n"
    );
    for r in &years {
        let source = sources.iter().find(|s| s.year == r.year);
        let _ = writeln!(
            out,
            "{}: revenue {} · appropriation {} · per pupil {}/{} · public funds {}/{} · salary {} — {} row {}",
            r.year,
            f(r.recurrent_revenue, 2),
            f(r.education_appropriation, 2),
            f(r.exp_per_pupil_primary, 2),
            f(r.exp_per_pupil_junior, 2),
            f(r.public_funds_per_pupil_primary, 2),
            f(r.public_funds_per_pupil_junior, 2),
            f(r.avg_teacher_salary, 2),
            source.map_or("—".into(), |s| short(p, &s.source_uri)),
            source.map_or("—".into(), |s| s.source_row.to_string())
        );
    }
    let Some(prev) = years.iter().find(|r| r.year == year - 1) else { return Ok(out) };
    let g = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.4}%", v * 100.0));
    let _ = writeln!(
        out,
        "\nleg 1 appropriation_outpaces_revenue = {}: g(appropriation) {} > g(revenue) {}",
        shown(cur.appropriation_outpaces_revenue),
        g(cur.appropriation_growth),
        g(cur.revenue_growth)
    );
    if cur.appropriation_outpaces_revenue == Some(false) {
        let _ = writeln!(
            out,
            "      appropriation_gap = {} × {} / {} − {} = {}",
            f(prev.education_appropriation, 2),
            f(cur.recurrent_revenue, 2),
            f(prev.recurrent_revenue, 2),
            f(cur.education_appropriation, 2),
            f(cur.appropriation_gap, 2)
        );
    }
    // "primary 790.00 → 835.00 (5.6962%)": the two years and the published growth.
    let change = |label: &str, value: fn(&Funding) -> Option<f64>, growth: Option<f64>| {
        format!("{label} {} → {} ({})", f(value(prev), 2), f(value(cur), 2), g(growth))
    };
    let _ = writeln!(
        out,
        "leg 2 per_pupil_expenditure_rises = {}: {}, {}",
        shown(cur.per_pupil_expenditure_rises),
        change("primary", |r| r.exp_per_pupil_primary, cur.exp_per_pupil_primary_growth),
        change("junior", |r| r.exp_per_pupil_junior, cur.exp_per_pupil_junior_growth)
    );
    let _ = writeln!(
        out,
        "leg 3 public_funds_and_salary_rise = {}: {}, {}, {}",
        shown(cur.public_funds_and_salary_rise),
        change("primary", |r| r.public_funds_per_pupil_primary, cur.public_funds_per_pupil_primary_growth),
        change("junior", |r| r.public_funds_per_pupil_junior, cur.public_funds_per_pupil_junior_growth),
        change("salary", |r| r.avg_teacher_salary, cur.avg_teacher_salary_growth)
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_numerator_is_traced_to_its_table_through_the_declared_inputs() {
        let ctx = datafusion::prelude::SessionContext::new();
        let models = crate::transform::project(&ctx).unwrap();
        assert_eq!(source_table(&models, "int_unit_indicators", "teachers_above_degree"), Some(Table::Teachers));
        assert_eq!(source_table(&models, "int_unit_indicators", "equipment_value"), Some(Table::Facilities));
        assert_eq!(source_table(&models, "int_unit_indicators", "no_such_column"), None);
    }
}
