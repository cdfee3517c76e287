//! The pages: what each template shows, read from the marts as typed rows and formatted here,
//! laid out by `templates/report/*.html`.

use askama::Template;
use datafusion::prelude::SessionContext;

use super::assessment::AssessmentSection;
use super::charts::{ChartData, charts};
use super::format::{Money, Verdict, count, decimal, fixed, fmt3, int, pct, plain, staff, stage_zh};
use super::{Page, findings};
use crate::dictionary::{Dictionary, TableDoc};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::marts::{
    self, Assessment, BalanceCv, BalanceSummary, ChangeCount, County, CountyOverview, Funding, Point, SchoolStandards,
    Shortcoming, literal,
};

/// A county's row of the index.
#[derive(Debug, Clone)]
pub struct IndexRow {
    code: String,
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
    title: String,
    name: &'a str,
    code: &'a str,
    latest: i32,
    run_id: &'a str,
    version: u64,
    headline: String,
    charts: Vec<String>,
    cvs: Vec<CvRow>,
    summary: Vec<SummaryRow>,
    units: Vec<UnitRow>,
    legs: Vec<LegRow>,
    /// What the gap column of the legs is in: 万元, or the currency's code.
    money_unit: &'static str,
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
    title: &'a str,
    run_id: &'a str,
    version: u64,
    finished_at: &'a str,
    rows: Vec<IndexRow>,
}

#[derive(Template)]
#[template(path = "report/dictionary.html")]
struct DictionaryPage<'a> {
    title: &'a str,
    tables: &'a [TableDoc],
}

fn rendered(template: &impl Template, page: &str) -> Result<String> {
    template.render().map_err(|e| Error::Worker(format!("the report page {page} could not be laid out: {e}")))
}

/// A county's page, and its row of the index.
pub(super) async fn county(
    ctx: &SessionContext,
    ledger: &Ledger,
    county: &County,
    assessment: &Assessment,
    money: Money,
) -> Result<(Page, IndexRow)> {
    let code = literal(&county.county_code);
    let latest = county.year;
    let this_year = format!("county_code = {code} and year = {latest}");
    let overview: CountyOverview =
        marts::first(ctx, &format!("select * from county_overview where {this_year}")).await?.unwrap_or_default();
    let summary: Vec<BalanceSummary> =
        marts::read(ctx, &format!("select * from balance_summary where {this_year} order by stage desc")).await?;
    let cvs: Vec<BalanceCv> =
        marts::read(ctx, &format!("select * from balance_cv where {this_year} order by stage desc, scheme, indicator"))
            .await?;
    let units: Vec<SchoolStandards> =
        marts::read(ctx, &format!("select * from school_standards where {this_year} order by stage desc, unit_id"))
            .await?;
    let data = chart_data(ctx, &code).await?;
    let shortcomings: Vec<Shortcoming> =
        marts::read(ctx, &format!("select * from shortcomings where county_code = {code} order by year, stage"))
            .await?;
    let changes: Vec<ChangeCount> = marts::read(
        ctx,
        &format!(
            "select event, count(*) as schools from school_changes where county_code = {code} group by event order by event"
        ),
    )
    .await?;
    let page = CountyPage {
        title: format!("{} 义务教育均衡发展情况", county.county_name),
        name: &county.county_name,
        code: &county.county_code,
        latest,
        run_id: &ledger.run_id,
        version: ledger.version,
        headline: headline(&overview, &summary),
        charts: charts(&data, money),
        cvs: cvs.iter().map(cv_row).collect(),
        summary: summary.iter().map(summary_row).collect(),
        units: units.iter().map(unit_row).collect(),
        legs: data.funding.iter().map(|r| leg_row(r, money)).collect(),
        money_unit: money.unit(),
        assessment: AssessmentSection::new(assessment, ledger, &county.county_code, latest, money),
        findings: findings::findings(&county.county_code, &shortcomings, ledger, &changes, money),
    };
    let html = rendered(&page, &county.county_code)?;
    let index_row = IndexRow {
        code: county.county_code.clone(),
        name: county.county_name.clone(),
        latest,
        students: plain(overview.students),
        schools: plain(overview.schools),
        teaching_points: plain(overview.schools_teaching_point),
        cvs: summary
            .iter()
            .map(|r| (stage_zh(&r.stage).to_owned(), fmt3(r.basic_composite_cv), Verdict::of(r.basic_passes)))
            .collect(),
        readiness: index_readiness(assessment.summary.as_ref()),
    };
    Ok(((format!("{}.html", county.county_code), html), index_row))
}

/// The index's glance at a county's quality-balance readiness: met / not met / to fill in.
fn index_readiness(summary: Option<&marts::QualitySummary>) -> String {
    summary.map_or("—".into(), |s| {
        let (met, not_met, not_reported) = s.totals();
        format!("达标 {met} · 未达标 {not_met} · 待填报 {not_reported} · 缺佐证 {}", s.evidence_missing)
    })
}

/// Every series of the county's charts.
async fn chart_data(ctx: &SessionContext, code: &str) -> Result<ChartData> {
    let points = |sql: String| async move { marts::read::<Point>(ctx, &sql).await };
    let county = format!("county_code = {code}");
    Ok(ChartData {
        by_stage: points(format!("select year, stage as key, cast(students as double) as value from enrolment_trend where {county} and area_type = 'all' order by year")).await?,
        by_area: points(format!("select year, area_type as key, cast(students as double) as value from enrolment_trend where {county} and stage = 'all' order by year")).await?,
        retention: points(format!("select year, stage as key, retention_rate as value from retention where {county} order by year")).await?,
        junior_retention_min: marts::first::<JuniorMin>(ctx, "select junior_retention_min from int_thresholds_wide where stage = 'junior'")
            .await?
            .and_then(|r| r.junior_retention_min),
        dropout: points(format!("select year, stage as key, dropout_rate as value from dropout where {county} order by year")).await?,
        summary: marts::read(ctx, &format!("select * from balance_summary where {county} order by year")).await?,
        funding: marts::read::<Funding>(ctx, &format!("select * from funding where {county} order by year")).await?,
        equipment: points(format!("select year, stage as key, equipment_value_per_pupil as value from equipment_trend where {county} order by year")).await?,
        computers: points(format!("select year, stage as key, computers_per_100 as value from equipment_trend where {county} order by year")).await?,
    })
}

#[derive(serde::Deserialize)]
struct JuniorMin {
    junior_retention_min: Option<f64>,
}

/// The headline paragraph of the latest year, in the words of the county report.
fn headline(o: &CountyOverview, summary: &[BalanceSummary]) -> String {
    let sum = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| a + b);
    let cv_of = |stage: &str| fmt3(summary.iter().find(|r| r.stage == stage).and_then(|r| r.basic_composite_cv));
    let secondary = sum(o.schools_complete_secondary, o.schools_twelve_year);
    let secondary = match secondary {
        Some(n) if n > 0 => format!("、完全中学及十二年一贯制学校{}所", count(Some(n))),
        _ => String::new(),
    };
    // Pupils of schools the source does not classify are in no urban, town or rural figure:
    // the paragraph says how many there are, and leaves the split out when nothing is classified.
    let unknown = o.students_unknown.unwrap_or(0);
    let classified = o.students.unwrap_or(0) - unknown;
    let by_area = if unknown > 0 && classified <= 0 {
        "（学校未按城乡分类）".to_owned()
    } else {
        let split = format!(
            "：城区{}人（小学{}人，初中{}人），镇区和乡村{}人（小学{}人，初中{}人）",
            count(o.students_urban),
            count(o.students_primary_urban),
            count(o.students_junior_urban),
            count(sum(o.students_town, o.students_rural)),
            count(sum(o.students_primary_town, o.students_primary_rural)),
            count(sum(o.students_junior_town, o.students_junior_rural)),
        );
        if unknown > 0 { format!("{split}，城乡类型不详{}人", count(Some(unknown))) } else { split }
    };
    format!(
        "全县（市、区）共有义务教育学校{}所：小学{}所、九年一贯制学校{}所、初级中学{}所{secondary}，另有教学点{}个。义务教育教职工核定编制{}名，实有在编教职工{}人，空编{}人。在校生{}人{by_area}。校园面积{}平方米，校舍面积{}平方米，生均校舍建筑面积{}平方米。校际间均衡差异系数小学为{}，初中为{}；公众满意度为{}；生均计算机{}台。",
        count(o.schools),
        count(o.schools_primary),
        count(o.schools_nine_year),
        count(o.schools_junior),
        count(o.schools_teaching_point),
        staff(o.posts_established),
        staff(o.staff_on_payroll),
        staff(o.posts_vacant),
        count(o.students),
        decimal(o.site_area_m2),
        decimal(o.building_area_m2),
        fixed(o.building_area_per_pupil, 2),
        cv_of("primary"),
        cv_of("junior"),
        o.satisfaction_rate.map_or("—".into(), |v| format!("{:.0}%", v * 100.0)),
        fixed(o.computers_per_pupil, 3),
    )
}

fn cv_row(r: &BalanceCv) -> CvRow {
    CvRow {
        stage: stage_zh(&r.stage).to_owned(),
        indicator: r.indicator.clone(),
        name: r.indicator_name.clone().unwrap_or_default(),
        units: r.units,
        students: int(Some(r.students as f64)),
        mean: fixed(r.mean, 3),
        cv: fmt3(r.cv),
        threshold: r.threshold.map_or("—".into(), |t| t.to_string()),
        verdict: (r.scheme == "quality").then(|| Verdict::of(r.passes)),
    }
}

fn summary_row(r: &BalanceSummary) -> SummaryRow {
    SummaryRow {
        stage: stage_zh(&r.stage).to_owned(),
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

fn unit_row(r: &SchoolStandards) -> UnitRow {
    UnitRow {
        unit_id: r.unit_id.clone(),
        school: r.school_name.clone().unwrap_or_default(),
        stage: stage_zh(&r.stage).to_owned(),
        students: int(r.students.map(|s| s as f64)),
        ratios: r.ratios().iter().map(|v| fixed(*v, 2)).collect(),
        met: plain(r.standards_met),
        tested: r.in_standards_test != Some(false),
        verdict: Verdict::of(r.meets_standards),
    }
}

fn leg_row(r: &Funding, money: Money) -> LegRow {
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
pub(super) fn index(ledger: &Ledger, rows: Vec<IndexRow>) -> Result<String> {
    let page = IndexPage {
        title: "县域义务教育均衡发展报告",
        run_id: &ledger.run_id,
        version: ledger.version,
        finished_at: &ledger.finished_at,
        rows,
    };
    rendered(&page, "index.html")
}

/// `dictionary.html`: every published table and column.
pub(super) fn dictionary(dictionary: &Dictionary) -> Result<String> {
    rendered(&DictionaryPage { title: "数据字典", tables: &dictionary.tables }, "dictionary.html")
}
