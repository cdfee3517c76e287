//! The pages: what each template shows, read from the marts as typed rows and formatted here,
//! laid out by `templates/report/*.html`.

use askama::Template;
use datafusion::prelude::SessionContext;

use super::assessment::AssessmentSection;
use super::charts::{ChartData, charts};
use super::format::{Verdict, count, decimal, fixed, fmt3, int, pct, plain, staff};
use super::words::{Wording, Words, fill};
use super::{Page, findings};
use crate::dictionary::{Dictionary, TableDoc};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::marts::{
    self, Assessment, BalanceCv, BalanceSummary, ChangeCount, County, CountyOverview, Funding, Point, SchoolStandards,
    Shortcoming,
};

/// A county's row of the index.
#[derive(Debug, Clone)]
pub struct IndexRow {
    code: String,
    /// The county page's file name (from the code, made safe for a file name).
    page: String,
    name: String,
    latest: i32,
    students: String,
    schools: String,
    teaching_points: String,
    cvs: Vec<(String, String, Verdict)>,
    readiness: String,
}

#[derive(Template)]
#[template(path = "report/county.html")]
struct CountyPage<'a> {
    w: &'static Words,
    title: String,
    heading: String,
    meta: String,
    latest: i32,
    run_id: &'a str,
    version: u64,
    headline: String,
    charts: Vec<String>,
    cvs: Vec<CvRow>,
    summary: Vec<SummaryRow>,
    units: Vec<UnitRow>,
    legs: Vec<LegRow>,
    /// The heading of the legs' gap column, with its unit: 万元, or the currency's code.
    gap_column: String,
    assessment: AssessmentSection,
    findings: Vec<String>,
}

/// A difference coefficient of the latest year, as the indicator table shows it.
struct CvRow {
    stage: String,
    indicator: String,
    name: String,
    units: i64,
    students: String,
    mean: String,
    cv: String,
    threshold: String,
    verdict: Option<Verdict>,
}

/// A stage's verdicts of the latest year.
struct SummaryRow {
    stage: String,
    composite: String,
    threshold: String,
    basic: Verdict,
    quality_max: String,
    failing: String,
    quality: Verdict,
    meeting: String,
    tested: String,
    satisfaction: String,
    satisfied: Verdict,
}

/// A school-stage unit against the quality standards.
struct UnitRow {
    unit_id: String,
    school: String,
    stage: String,
    students: String,
    ratios: Vec<String>,
    met: String,
    tested: bool,
    verdict: Verdict,
}

/// A fiscal year's three increases.
struct LegRow {
    year: i32,
    leg1: Verdict,
    leg2: Verdict,
    leg3: Verdict,
    met: Verdict,
    gap: String,
    never_decrease: Verdict,
}

#[derive(Template)]
#[template(path = "report/index.html")]
struct IndexPage<'a> {
    w: &'static Words,
    title: &'a str,
    run_id: &'a str,
    version: u64,
    finished_at: &'a str,
    rows: Vec<IndexRow>,
}

#[derive(Template)]
#[template(path = "report/dictionary.html")]
struct DictionaryPage<'a> {
    w: &'static Words,
    title: &'a str,
    tables: &'a [TableDoc],
}

fn rendered(template: &impl Template, page: &str) -> Result<String> {
    template.render().map_err(|e| Error::Worker(format!("the report page {page} could not be laid out: {e}")))
}

/// What the county pages of a session's counties show, read by county with one query per mart
/// for the whole session (a county group), rather than one per county and mart.
pub(super) struct GroupRows {
    overview: ByCounty<CountyOverview>,
    cvs: ByCounty<BalanceCv>,
    units: ByCounty<SchoolStandards>,
    shortcomings: ByCounty<Shortcoming>,
    changes: ByCounty<ChangeCount>,
    by_stage: ByCounty<Point>,
    by_area: ByCounty<Point>,
    retention: ByCounty<Point>,
    dropout: ByCounty<Point>,
    summary: ByCounty<BalanceSummary>,
    funding: ByCounty<Funding>,
    equipment: ByCounty<Point>,
    computers: ByCounty<Point>,
    junior_retention_min: Option<f64>,
}

type ByCounty<T> = std::collections::HashMap<String, Vec<T>>;

/// One county's rows of [`GroupRows`].
pub(super) struct CountyRows {
    overview: CountyOverview,
    /// The latest year's balance verdicts, junior before primary (the year's rows of
    /// `data.summary`).
    summary: Vec<BalanceSummary>,
    cvs: Vec<BalanceCv>,
    units: Vec<SchoolStandards>,
    shortcomings: Vec<Shortcoming>,
    changes: Vec<ChangeCount>,
    data: ChartData,
}

impl GroupRows {
    /// Read every county's rows of the session's marts. A county's latest year is the last of
    /// its `county_overview` (as [`County::year`]); rows keep the order each section shows them in.
    pub(super) async fn read(ctx: &SessionContext) -> Result<GroupRows> {
        let latest =
            "with latest as (select county_code, max(year) as year from county_overview group by county_code) ";
        let of_latest = |table: &str, order: &str| {
            format!(
                "{latest}select t.* from {table} t join latest l on t.county_code = l.county_code and t.year = l.year \
                 order by t.county_code, {order}"
            )
        };
        let points = |select: &str, table: &str, filter: &str| {
            format!("select county_code, year, {select} from {table} {filter} order by county_code, year")
        };
        Ok(GroupRows {
            overview: marts::read_by_county(ctx, &of_latest("county_overview", "t.year")).await?,
            cvs: marts::read_by_county(ctx, &of_latest("balance_cv", "t.stage desc, t.scheme, t.indicator")).await?,
            units: marts::read_by_county(ctx, &of_latest("school_standards", "t.stage desc, t.unit_id")).await?,
            shortcomings: marts::read_by_county(ctx, "select * from shortcomings order by county_code, year, stage")
                .await?,
            changes: marts::read_by_county(
                ctx,
                "select county_code, event, count(*) as schools from school_changes group by county_code, event \
                 order by county_code, event",
            )
            .await?,
            by_stage: marts::read_by_county(
                ctx,
                &points(
                    "stage as key, cast(students as double) as value",
                    "enrolment_trend",
                    "where area_type = 'all'",
                ),
            )
            .await?,
            by_area: marts::read_by_county(
                ctx,
                &points(
                    "area_type as key, cast(students as double) as value",
                    "enrolment_trend",
                    "where stage = 'all'",
                ),
            )
            .await?,
            retention: marts::read_by_county(ctx, &points("stage as key, retention_rate as value", "retention", ""))
                .await?,
            dropout: marts::read_by_county(ctx, &points("stage as key, dropout_rate as value", "dropout", "")).await?,
            summary: marts::read_by_county(ctx, "select * from balance_summary order by county_code, year").await?,
            funding: marts::read_by_county(ctx, "select * from funding order by county_code, year").await?,
            equipment: marts::read_by_county(
                ctx,
                &points("stage as key, equipment_value_per_pupil as value", "equipment_trend", ""),
            )
            .await?,
            computers: marts::read_by_county(
                ctx,
                &points("stage as key, computers_per_100 as value", "equipment_trend", ""),
            )
            .await?,
            junior_retention_min: marts::first::<JuniorMin>(
                ctx,
                "select junior_retention_min from int_thresholds_wide where stage = 'junior'",
            )
            .await?
            .and_then(|r| r.junior_retention_min),
        })
    }

    /// Take one county's rows out (each county's page is built once).
    pub(super) fn take(&mut self, county: &County) -> CountyRows {
        fn of<T>(map: &mut ByCounty<T>, code: &str) -> Vec<T> {
            map.remove(code).unwrap_or_default()
        }
        let code = county.county_code.as_str();
        let every_year = of(&mut self.summary, code);
        let mut summary: Vec<BalanceSummary> = every_year.iter().filter(|r| r.year == county.year).cloned().collect();
        summary.sort_by(|a, b| b.stage.cmp(&a.stage));
        CountyRows {
            overview: of(&mut self.overview, code).into_iter().next().unwrap_or_default(),
            summary,
            cvs: of(&mut self.cvs, code),
            units: of(&mut self.units, code),
            shortcomings: of(&mut self.shortcomings, code),
            changes: of(&mut self.changes, code),
            data: ChartData {
                by_stage: of(&mut self.by_stage, code),
                by_area: of(&mut self.by_area, code),
                retention: of(&mut self.retention, code),
                junior_retention_min: self.junior_retention_min,
                dropout: of(&mut self.dropout, code),
                summary: every_year,
                funding: of(&mut self.funding, code),
                equipment: of(&mut self.equipment, code),
                computers: of(&mut self.computers, code),
            },
        }
    }
}

/// A county's page, and its row of the index, from its rows of the marts.
pub(super) fn county(
    ledger: &Ledger,
    county: &County,
    rows: &CountyRows,
    assessment: &Assessment,
    wording: Wording<'_>,
) -> Result<(Page, IndexRow)> {
    let (w, money) = (wording.words, wording.money);
    let latest = county.year;
    let CountyRows { overview, summary, cvs, units, shortcomings, changes, data } = rows;
    let name = [("name", county.county_name.as_str()), ("code", county.county_code.as_str())];
    let page = CountyPage {
        w,
        title: fill(w.county_title, &name),
        heading: fill(w.county_heading, &name),
        meta: fill(w.county_meta, &[("year", &latest.to_string())]),
        latest,
        run_id: &ledger.run_id,
        version: ledger.version,
        headline: headline(overview, summary, w),
        charts: charts(data, w, money),
        cvs: cvs.iter().map(|r| cv_row(r, wording)).collect(),
        summary: summary.iter().map(|r| summary_row(r, w)).collect(),
        units: units.iter().map(|r| unit_row(r, w)).collect(),
        legs: data.funding.iter().map(|r| leg_row(r, money)).collect(),
        gap_column: fill(w.leg_columns[5], &[("unit", money.unit())]),
        assessment: AssessmentSection::new(assessment, ledger, &county.county_code, latest, wording),
        findings: findings::findings(&county.county_code, shortcomings, ledger, changes, w, money),
    };
    let html = rendered(&page, &county.county_code)?;
    let index_row = IndexRow {
        code: county.county_code.clone(),
        page: format!("{}.html", crate::text::file_name_part(&county.county_code)),
        name: county.county_name.clone(),
        latest,
        students: plain(overview.students),
        schools: plain(overview.schools),
        teaching_points: plain(overview.schools_teaching_point),
        cvs: summary
            .iter()
            .map(|r| (w.stage(&r.stage).to_owned(), fmt3(r.basic_composite_cv), Verdict::of(r.basic_passes)))
            .collect(),
        readiness: index_readiness(assessment.summary.as_ref(), w),
    };
    Ok(((index_row.page.clone(), html), index_row))
}

/// The index's glance at a county's quality-balance readiness: met / not met / to fill in.
fn index_readiness(summary: Option<&marts::QualitySummary>, w: &Words) -> String {
    summary.map_or("—".into(), |s| {
        let (met, not_met, not_reported) = s.totals();
        fill(
            w.index_readiness,
            &[
                ("met", &met.to_string()),
                ("not_met", &not_met.to_string()),
                ("not_reported", &not_reported.to_string()),
                ("missing", &s.evidence_missing.to_string()),
            ],
        )
    })
}

#[derive(serde::Deserialize)]
struct JuniorMin {
    junior_retention_min: Option<f64>,
}

/// The headline paragraph of the latest year, in the words of the county report.
fn headline(o: &CountyOverview, summary: &[BalanceSummary], w: &Words) -> String {
    let sum = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| a + b);
    let cv_of = |stage: &str| fmt3(summary.iter().find(|r| r.stage == stage).and_then(|r| r.basic_composite_cv));
    let secondary = match sum(o.schools_complete_secondary, o.schools_twelve_year) {
        Some(n) if n > 0 => fill(w.headline_secondary, &[("schools", &count(Some(n)))]),
        _ => String::new(),
    };
    // Pupils of schools the source does not classify are in no urban, town or rural figure:
    // the paragraph says how many there are, and leaves the split out when nothing is classified.
    let unknown = o.students_unknown.unwrap_or(0);
    let classified = o.students.unwrap_or(0) - unknown;
    let by_area = if unknown > 0 && classified <= 0 {
        w.headline_unclassified.to_owned()
    } else {
        let split = fill(
            w.headline_by_area,
            &[
                ("urban", &count(o.students_urban)),
                ("urban_primary", &count(o.students_primary_urban)),
                ("urban_junior", &count(o.students_junior_urban)),
                ("outside", &count(sum(o.students_town, o.students_rural))),
                ("outside_primary", &count(sum(o.students_primary_town, o.students_primary_rural))),
                ("outside_junior", &count(sum(o.students_junior_town, o.students_junior_rural))),
            ],
        );
        if unknown > 0 { split + &fill(w.headline_unknown_area, &[("students", &count(Some(unknown)))]) } else { split }
    };
    let satisfaction = o
        .satisfaction_rate
        .map_or("—".into(), |v| fill(w.headline_satisfaction, &[("percent", &format!("{:.0}", v * 100.0))]));
    fill(
        w.headline,
        &[
            ("schools", &count(o.schools)),
            ("primary", &count(o.schools_primary)),
            ("nine_year", &count(o.schools_nine_year)),
            ("junior", &count(o.schools_junior)),
            ("secondary", &secondary),
            ("teaching_points", &count(o.schools_teaching_point)),
            ("posts", &staff(o.posts_established)),
            ("staff", &staff(o.staff_on_payroll)),
            ("vacant", &staff(o.posts_vacant)),
            ("students", &count(o.students)),
            ("by_area", &by_area),
            ("site_area", &decimal(o.site_area_m2)),
            ("building_area", &decimal(o.building_area_m2)),
            ("building_per_pupil", &fixed(o.building_area_per_pupil, 2)),
            ("cv_primary", &cv_of("primary")),
            ("cv_junior", &cv_of("junior")),
            ("satisfaction", &satisfaction),
            ("computers", &fixed(o.computers_per_pupil, 3)),
        ],
    )
}

fn cv_row(r: &BalanceCv, wording: Wording<'_>) -> CvRow {
    CvRow {
        stage: wording.words.stage(&r.stage).to_owned(),
        indicator: r.indicator.clone(),
        name: wording.names.indicator(&r.indicator, r.indicator_name.as_deref().unwrap_or_default()).to_owned(),
        units: r.units,
        students: int(Some(r.students as f64)),
        mean: fixed(r.mean, 3),
        cv: fmt3(r.cv),
        threshold: r.threshold.map_or("—".into(), |t| t.to_string()),
        verdict: (r.scheme == "quality").then(|| Verdict::of(r.passes)),
    }
}

fn summary_row(r: &BalanceSummary, w: &Words) -> SummaryRow {
    SummaryRow {
        stage: w.stage(&r.stage).to_owned(),
        composite: fmt3(r.basic_composite_cv),
        threshold: plain(r.basic_threshold),
        basic: Verdict::of(r.basic_passes),
        quality_max: fmt3(r.quality_max_cv),
        failing: r.quality_failing_indicators.clone().unwrap_or_default(),
        quality: Verdict::of(r.quality_resource_passes),
        meeting: plain(r.units_meeting_standards),
        tested: plain(r.units_in_standards_test),
        satisfaction: pct(r.satisfaction_rate),
        satisfied: Verdict::of(r.satisfaction_passes),
    }
}

fn unit_row(r: &SchoolStandards, w: &Words) -> UnitRow {
    UnitRow {
        unit_id: r.unit_id.clone(),
        school: r.school_name.clone().unwrap_or_default(),
        stage: w.stage(&r.stage).to_owned(),
        students: int(r.students.map(|s| s as f64)),
        ratios: r.ratios().iter().map(|v| fixed(*v, 2)).collect(),
        met: plain(r.standards_met),
        tested: r.in_standards_test != Some(false),
        verdict: Verdict::of(r.meets_standards),
    }
}

fn leg_row(r: &Funding, money: super::format::Money) -> LegRow {
    LegRow {
        year: r.year,
        leg1: Verdict::of(r.appropriation_outpaces_revenue),
        leg2: Verdict::of(r.per_pupil_expenditure_rises),
        leg3: Verdict::of(r.public_funds_and_salary_rise),
        met: Verdict::of(r.three_increases_met),
        gap: money.amount(r.appropriation_gap),
        never_decrease: Verdict::of(r.two_never_decrease),
    }
}

/// `index.html`: a row per county.
pub(super) fn index(ledger: &Ledger, rows: Vec<IndexRow>, w: &'static Words) -> Result<String> {
    let page = IndexPage {
        w,
        title: w.index_title,
        run_id: &ledger.run_id,
        version: ledger.version,
        finished_at: &ledger.finished_at,
        rows,
    };
    rendered(&page, "index.html")
}

/// `dictionary.html`: every published table and column.
pub(super) fn dictionary(dictionary: &Dictionary, w: &'static Words) -> Result<String> {
    rendered(&DictionaryPage { w, title: w.dictionary_heading.text, tables: &dictionary.tables }, "dictionary.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A county's name and code come from submitted cells: whatever they hold is text on the
    /// index, never markup, and the page they link to has a safe file name.
    #[test]
    fn a_submitted_name_or_code_cannot_inject_markup_into_the_index() {
        let code = "\"><script>alert(1)</script>";
        let row = IndexRow {
            code: code.into(),
            page: format!("{}.html", crate::text::file_name_part(code)),
            name: "<img src=x onerror=alert(2)>".into(),
            latest: 2018,
            students: "1".into(),
            schools: "1".into(),
            teaching_points: "0".into(),
            cvs: Vec::new(),
            readiness: "<b>".into(),
        };
        let html = index(&Ledger::default(), vec![row], &super::super::words::ZH).unwrap();
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"), "{html}");
        // askama writes `<` as `&#60;`.
        assert!(html.contains("&#60;img src=x") && html.contains("&#60;b&#62;"), "{html}");
        assert!(!html.contains("href=\"\"><"), "{html}");
    }
}
