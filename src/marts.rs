//! Typed rows of the published marts: what the report, `explain` and the run's notes read — one
//! struct per mart row, its fields found by column name (never by position), every figure as the
//! mart published it. A reader selects the rows it needs (`select * from … where …`) and gets
//! these structs; a column it does not name is simply not read.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Run a query and read its rows as `T` (by column name).
pub async fn read<T: DeserializeOwned>(ctx: &SessionContext, sql: &str) -> Result<Vec<T>> {
    Ok(typed_batches(ctx, sql).await?.into_iter().flat_map(|(_, rows)| rows).collect())
}

/// Run a query with a `county_code` column and read its rows as `T`, by county: each county's
/// rows in the query's order. One query serves every county of a session (the report reads a
/// county group's marts this way, not a query per county and mart).
pub async fn read_by_county<T: DeserializeOwned>(
    ctx: &SessionContext,
    sql: &str,
) -> Result<std::collections::HashMap<String, Vec<T>>> {
    let mut by_county: std::collections::HashMap<String, Vec<T>> = std::collections::HashMap::new();
    for (batch, rows) in typed_batches(ctx, sql).await? {
        let codes = batch
            .column_by_name("county_code")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>().cloned())
            .ok_or_else(|| Error::SqlProject(format!("a query read by county has no text county_code: {sql}")))?;
        for (index, row) in rows.into_iter().enumerate() {
            by_county.entry(codes.value(index).to_owned()).or_default().push(row);
        }
    }
    Ok(by_county)
}

/// A query's batches (string views made plain strings), each with its rows read as `T`.
async fn typed_batches<T: DeserializeOwned>(ctx: &SessionContext, sql: &str) -> Result<Vec<(RecordBatch, Vec<T>)>> {
    let err = |e| Error::sql("query", sql, e);
    let batches = ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)?;
    batches
        .iter()
        .map(|batch| {
            let batch = plain_strings(batch)?;
            let rows = serde_arrow::from_record_batch(&batch)
                .map_err(|e| Error::Unreadable { uri: sql.to_owned(), message: format!("reading its rows: {e}") })?;
            Ok((batch, rows))
        })
        .collect()
}

/// The first row of a query, if it has one.
pub async fn first<T: DeserializeOwned>(ctx: &SessionContext, sql: &str) -> Result<Option<T>> {
    Ok(read(ctx, sql).await?.into_iter().next())
}

/// The currency of a session's amounts: `ref_settings.currency`, written from the run's pipeline
/// (its `[settings] currency`), so every reader of an output — the run summary, the dictionary,
/// the report, explain, the workbook — takes it from the one place.
pub async fn currency(ctx: &SessionContext) -> Result<&'static crate::contract::Currency> {
    #[derive(serde::Deserialize)]
    struct Setting {
        currency: String,
    }
    // ref_settings holds one row, its code written from a `Currency`: anything else is a bug.
    let setting: Option<Setting> = first(ctx, "select currency from ref_settings").await?;
    let code = setting.map(|s| s.currency).unwrap_or_default();
    crate::contract::Currency::of(&code)
        .ok_or_else(|| crate::error::Error::SqlProject(format!("ref_settings names no known currency ({code:?})")))
}

/// A text literal for SQL (`'231182'`), quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// String views (what DataFusion writes) as plain strings, which serde_arrow and the CSV and
/// JSON writers read.
pub fn plain_strings(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| matches!(f.data_type(), DataType::Utf8View | DataType::LargeUtf8)) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if matches!(field.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
            fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
            columns.push(arrow::compute::cast(column, &DataType::Utf8).map_err(|e| Error::arrow("casting", e))?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| Error::arrow("casting", e))
}

/// A county and its latest year (`county_overview`).
#[derive(Debug, Clone, Deserialize)]
pub struct County {
    /// County code.
    pub county_code: String,
    /// County name (the code when none was submitted).
    pub county_name: String,
    /// Its latest census year.
    pub year: i32,
}

/// A row of `county_overview`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct CountyOverview {
    pub schools: Option<i64>,
    pub schools_primary: Option<i64>,
    pub schools_nine_year: Option<i64>,
    pub schools_junior: Option<i64>,
    pub schools_complete_secondary: Option<i64>,
    pub schools_twelve_year: Option<i64>,
    pub schools_teaching_point: Option<i64>,
    /// Staff are persons (int64), or full-time equivalents (float64, `[settings] teacher_counts =
    /// "fte"`): read as either.
    #[serde(default, deserialize_with = "staff_figure")]
    pub posts_established: Option<f64>,
    #[serde(default, deserialize_with = "staff_figure")]
    pub staff_on_payroll: Option<f64>,
    #[serde(default, deserialize_with = "staff_figure")]
    pub posts_vacant: Option<f64>,
    pub students: Option<i64>,
    pub students_urban: Option<i64>,
    pub students_town: Option<i64>,
    pub students_rural: Option<i64>,
    /// Pupils in schools the source does not classify by area.
    #[serde(default)]
    pub students_unknown: Option<i64>,
    pub students_primary_urban: Option<i64>,
    pub students_primary_town: Option<i64>,
    pub students_primary_rural: Option<i64>,
    pub students_junior_urban: Option<i64>,
    pub students_junior_town: Option<i64>,
    pub students_junior_rural: Option<i64>,
    pub site_area_m2: Option<f64>,
    pub building_area_m2: Option<f64>,
    pub building_area_per_pupil: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub computers_per_pupil: Option<f64>,
}

/// A staff figure of a mart as f64, whether the run counted persons (int64) or full-time
/// equivalents (float64): serde_arrow reads a column only as its own type, so the value is taken
/// as whatever number it is.
fn staff_figure<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Figure {
        Persons(i64),
        Equivalents(f64),
    }
    Ok(Option::<Figure>::deserialize(deserializer)?.map(|f| match f {
        Figure::Persons(n) => n as f64,
        Figure::Equivalents(x) => x,
    }))
}

/// A row of `balance_summary`.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct BalanceSummary {
    pub year: i32,
    pub stage: String,
    pub basic_composite_cv: Option<f64>,
    pub basic_threshold: Option<f64>,
    pub basic_passes: Option<bool>,
    pub quality_max_cv: Option<f64>,
    pub quality_threshold: Option<f64>,
    pub quality_failing_indicators: Option<String>,
    pub quality_resource_passes: Option<bool>,
    pub units_meeting_standards: Option<i64>,
    pub units_in_standards_test: Option<i64>,
    pub satisfaction_rate: Option<f64>,
    pub satisfaction_passes: Option<bool>,
}

/// A row of `balance_cv`.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct BalanceCv {
    pub stage: String,
    pub scheme: String,
    pub indicator: String,
    pub indicator_name: Option<String>,
    pub units: i64,
    pub students: i64,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub cv: Option<f64>,
    pub threshold: Option<f64>,
    pub passes: Option<bool>,
}

/// A row of `school_standards`.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct SchoolStandards {
    pub unit_id: String,
    pub school_name: Option<String>,
    pub stage: String,
    pub students: Option<i64>,
    pub q1_ratio: Option<f64>,
    pub q2_ratio: Option<f64>,
    pub q3_ratio: Option<f64>,
    pub q4_ratio: Option<f64>,
    pub q5_ratio: Option<f64>,
    pub q6_ratio: Option<f64>,
    pub q7_ratio: Option<f64>,
    pub standards_met: Option<i64>,
    pub meets_standards: Option<bool>,
    pub in_standards_test: Option<bool>,
}

impl SchoolStandards {
    /// The seven ratios q1…q7, in order.
    pub fn ratios(&self) -> [Option<f64>; 7] {
        [self.q1_ratio, self.q2_ratio, self.q3_ratio, self.q4_ratio, self.q5_ratio, self.q6_ratio, self.q7_ratio]
    }
}

/// A row of `funding`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct Funding {
    pub year: i32,
    pub recurrent_revenue: Option<f64>,
    pub education_appropriation: Option<f64>,
    pub exp_per_pupil_primary: Option<f64>,
    pub exp_per_pupil_junior: Option<f64>,
    pub public_funds_per_pupil_primary: Option<f64>,
    pub public_funds_per_pupil_junior: Option<f64>,
    pub avg_teacher_salary: Option<f64>,
    pub revenue_growth: Option<f64>,
    pub appropriation_growth: Option<f64>,
    pub exp_per_pupil_primary_growth: Option<f64>,
    pub exp_per_pupil_junior_growth: Option<f64>,
    pub public_funds_per_pupil_primary_growth: Option<f64>,
    pub public_funds_per_pupil_junior_growth: Option<f64>,
    pub avg_teacher_salary_growth: Option<f64>,
    pub appropriation_outpaces_revenue: Option<bool>,
    pub per_pupil_expenditure_rises: Option<bool>,
    pub public_funds_and_salary_rise: Option<bool>,
    pub three_increases_met: Option<bool>,
    pub appropriation_gap: Option<f64>,
    pub two_never_decrease: Option<bool>,
    pub investment_standardisation: Option<f64>,
    pub investment_new_building: Option<f64>,
    pub investment_renovation: Option<f64>,
    pub investment_equipment: Option<f64>,
    pub investment_ict: Option<f64>,
    pub investment_teacher_training: Option<f64>,
    pub investment_student_aid: Option<f64>,
    pub investment_safety: Option<f64>,
    pub investment_other: Option<f64>,
}

/// A row of `shortcomings`: one standard a county misses in a year.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct Shortcoming {
    pub county_code: String,
    pub year: i32,
    pub stage: String,
    pub shortcoming: String,
    pub value: f64,
    pub threshold: Option<f64>,
    pub detail: Option<String>,
    pub gap: Option<f64>,
    pub huge_classes: Option<i64>,
    pub latest: bool,
}

/// A point of a series by year: a value under a key (a stage, an area type).
#[derive(Debug, Clone, Deserialize)]
pub struct Point {
    /// The year.
    pub year: i32,
    /// What the value is of (`primary`, `urban` …).
    pub key: String,
    /// The value.
    pub value: Option<f64>,
}

/// How many schools an event of `school_changes` concerns.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeCount {
    /// `closed`, `opened`, `code_changed`, `students_changed_threefold`.
    pub event: String,
    /// Schools and teaching points.
    pub schools: i64,
}

/// The status of an assessment item (`quality_assessment.status`, assessment.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Computed, and the rule holds.
    Met,
    /// Computed, and the rule does not hold.
    NotMet,
    /// An input the item needs is missing.
    NotReported,
    /// Nothing to assess.
    NotApplicable,
    /// An evidence item with at least one file.
    EvidenceSubmitted,
    /// An evidence item without any.
    EvidenceMissing,
}

impl Status {
    /// Every status, in the order a page lists them.
    pub const ALL: [Status; 6] = [
        Status::Met,
        Status::NotMet,
        Status::NotReported,
        Status::NotApplicable,
        Status::EvidenceSubmitted,
        Status::EvidenceMissing,
    ];

    /// The status a mart publishes (`not_met`), if it is one.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// As the mart writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not_met",
            Status::NotReported => "not_reported",
            Status::NotApplicable => "not_applicable",
            Status::EvidenceSubmitted => "evidence_submitted",
            Status::EvidenceMissing => "evidence_missing",
        }
    }

    /// As a county's application writes it: 达标, 未达标, 待填报, 不适用, 已提交佐证, 缺佐证材料.
    pub fn label_zh(self) -> &'static str {
        self.label(&crate::report::words::ZH)
    }

    /// In the words of a report's language.
    pub fn label(self, words: &'static crate::report::words::Words) -> &'static str {
        words.statuses.iter().find(|(code, _)| *code == self.as_str()).map_or(self.as_str(), |(_, w)| *w)
    }

    /// Whether the item needs the county's attention (not met, not reported, evidence missing).
    pub fn needs_attention(self) -> bool {
        matches!(self, Status::NotMet | Status::NotReported | Status::EvidenceMissing)
    }
}

/// The four parts of the assessment, in order: (part, Chinese name).
pub const PARTS: [(&str, &str); 4] = crate::report::words::ZH.parts;

/// A row of `quality_assessment`: one item (and stage) of a county-year.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct QualityItem {
    pub county_code: String,
    pub year: i32,
    pub ordinal: i32,
    pub part: String,
    pub item: String,
    pub stage: String,
    pub item_zh: String,
    pub inputs_zh: Option<String>,
    pub kind: String,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub comparison: Option<String>,
    pub value_unit: Option<String>,
    pub assessed: Option<i64>,
    pub failing: Option<i64>,
    pub missing: Option<i64>,
    pub status: String,
    pub files: Option<i64>,
    pub bytes: Option<i64>,
}

impl QualityItem {
    /// Its status (an unknown word reads as not reported: never as met).
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::NotReported)
    }

    /// Whether the item is one of the seven difference coefficients (q1…q7).
    pub fn is_cv(&self) -> bool {
        self.comparison.as_deref() == Some("<=")
    }

    /// Whether the item counts schools or rows (value = the share that meet, threshold 1).
    pub fn counts_units(&self) -> bool {
        self.comparison.as_deref() == Some("=")
    }
}

/// A row of `quality_assessment_summary`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct QualitySummary {
    pub county_code: String,
    pub year: i32,
    pub resources_met: i64,
    pub resources_not_met: i64,
    pub resources_not_reported: i64,
    pub government_met: i64,
    pub government_not_met: i64,
    pub government_not_reported: i64,
    pub quality_met: i64,
    pub quality_not_met: i64,
    pub quality_not_reported: i64,
    pub recognition_met: i64,
    pub recognition_not_met: i64,
    pub recognition_not_reported: i64,
    pub not_applicable: i64,
    pub evidence_submitted: i64,
    pub evidence_missing: i64,
    pub computed_met: Option<bool>,
    pub evidence_complete: bool,
}

impl QualitySummary {
    /// Computed rows met, not met and not reported over the four parts.
    pub fn totals(&self) -> (i64, i64, i64) {
        (
            self.resources_met + self.government_met + self.quality_met + self.recognition_met,
            self.resources_not_met + self.government_not_met + self.quality_not_met + self.recognition_not_met,
            self.resources_not_reported
                + self.government_not_reported
                + self.quality_not_reported
                + self.recognition_not_reported,
        )
    }
}

/// A row of `school_conditions`: a school against the school-level items.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct SchoolCondition {
    pub county_code: String,
    pub school_code: String,
    pub school_name: Option<String>,
    pub school_type: Option<String>,
    pub classes: Option<i64>,
    pub music_rooms: Option<i64>,
    pub art_rooms: Option<i64>,
    pub rooms_required: Option<i64>,
    pub g3_assessed: Option<bool>,
    pub g3_met: Option<bool>,
    pub students: Option<i64>,
    pub size_limit: Option<f64>,
    pub g4_assessed: Option<bool>,
    pub g4_met: Option<bool>,
    pub grades_over_class_limit: Option<i64>,
    pub g5_met: Option<bool>,
    pub public_funds_budget: Option<f64>,
    pub small_school_minimum: Option<f64>,
    pub g6_assessed: Option<bool>,
    pub g6_met: Option<bool>,
    pub training_expenditure: Option<f64>,
    pub training_share: Option<f64>,
    pub e4_assessed: Option<bool>,
    pub e4_met: Option<bool>,
    pub catchment_entrants: Option<i64>,
    pub catchment_share: Option<f64>,
}

/// A row of `standards_gap`: what a school-stage unit lacks to reach one standard.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct Gap {
    pub county_code: String,
    pub unit_id: String,
    pub school_code: String,
    pub school_name: Option<String>,
    pub stage: String,
    pub indicator: String,
    pub indicator_name: Option<String>,
    pub unit: Option<String>,
    pub students: Option<i64>,
    pub value: Option<f64>,
    pub standard: Option<f64>,
    pub quantity: Option<f64>,
    pub required: Option<f64>,
    pub shortfall: Option<f64>,
}

/// The Chinese word for a `standards_gap` unit (teachers → 名教师, classrooms → 间教室, m² → 平方米).
pub fn gap_unit_zh(unit: Option<&str>) -> &str {
    unit.map_or("", |u| crate::report::words::lookup(crate::report::words::ZH.gap_units, u))
}

/// A row of `standards_gap_totals`: a county's gap to one standard, per stage.
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct GapTotal {
    pub county_code: String,
    pub stage: String,
    pub indicator: String,
    pub indicator_name: Option<String>,
    pub unit: Option<String>,
    pub units: i64,
    pub shortfall: Option<f64>,
}

/// A county-year's quality-balance assessment as the marts publish it: what the report's
/// 优质均衡 section, `explain item` and the application workbook read.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    /// Every item (and stage), in the official order.
    pub items: Vec<QualityItem>,
    /// The per-part counts (None: the county has no schools table that year).
    pub summary: Option<QualitySummary>,
    /// Every public school and teaching point against the school-level items.
    pub conditions: Vec<SchoolCondition>,
    /// What each unit below a standard lacks.
    pub gaps: Vec<Gap>,
    /// The county's totals of those gaps, per stage and indicator.
    pub gap_totals: Vec<GapTotal>,
}

impl Assessment {
    /// Read a county-year's assessment from the session's marts.
    pub async fn read(ctx: &SessionContext, county_code: &str, year: i32) -> Result<Assessment> {
        let this_year = format!("(select {} as county_code, {year} as year)", literal(county_code));
        Ok(Assessment::read_for(ctx, &this_year).await?.remove(county_code).unwrap_or_default())
    }

    /// The latest year's assessment of every county of the session's `county_overview` (the
    /// year its report page shows), five queries in all rather than five per county.
    pub async fn read_latest(ctx: &SessionContext) -> Result<std::collections::HashMap<String, Assessment>> {
        Assessment::read_for(ctx, "(select county_code, max(year) as year from county_overview group by county_code)")
            .await
    }

    /// The assessments of the county-years a query gives (`county_code`, `year`), by county: one
    /// query per mart.
    async fn read_for(
        ctx: &SessionContext,
        county_years: &str,
    ) -> Result<std::collections::HashMap<String, Assessment>> {
        let rows = |mart: &str, order: &str| {
            format!(
                "select m.* from {mart} m join {county_years} l on m.county_code = l.county_code and m.year = l.year \
                 order by m.county_code, {order}"
            )
        };
        let mut all: std::collections::HashMap<String, Assessment> = std::collections::HashMap::new();
        for item in read::<QualityItem>(ctx, &rows("quality_assessment", "m.ordinal")).await? {
            all.entry(item.county_code.clone()).or_default().items.push(item);
        }
        for summary in read::<QualitySummary>(ctx, &rows("quality_assessment_summary", "m.year")).await? {
            let county = summary.county_code.clone();
            all.entry(county).or_default().summary = Some(summary);
        }
        for c in read::<SchoolCondition>(ctx, &rows("school_conditions", "m.school_code")).await? {
            all.entry(c.county_code.clone()).or_default().conditions.push(c);
        }
        for g in read::<Gap>(ctx, &rows("standards_gap", "m.stage desc, m.indicator, m.unit_id")).await? {
            all.entry(g.county_code.clone()).or_default().gaps.push(g);
        }
        for t in read::<GapTotal>(ctx, &rows("standards_gap_totals", "m.stage desc, m.indicator")).await? {
            all.entry(t.county_code.clone()).or_default().gap_totals.push(t);
        }
        Ok(all)
    }

    /// The schools failing a school-level item (g3, g4, g5, g6, e4), with what they lack.
    pub fn failing_schools(&self) -> Vec<(&'static str, &SchoolCondition)> {
        let mut failing = Vec::new();
        for (item, check) in SCHOOL_CHECKS {
            failing.extend(self.conditions.iter().filter(|c| check(c) == Some(false)).map(|c| (item, c)));
        }
        failing
    }
}

/// A school-level check of `school_conditions`: its boolean for a school.
pub type SchoolCheck = fn(&SchoolCondition) -> Option<bool>;

/// The school-level items of `school_conditions` and the check each publishes.
pub const SCHOOL_CHECKS: [(&str, SchoolCheck); 5] =
    [("g3", |c| c.g3_met), ("g4", |c| c.g4_met), ("g5", |c| c.g5_met), ("g6", |c| c.g6_met), ("e4", |c| c.e4_met)];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staff_figures_read_as_persons_or_full_time_equivalents() {
        // A run counting persons publishes int64 staff, one counting FTE float64: both read.
        let ctx = SessionContext::new();
        let persons: Vec<CountyOverview> = read(
            &ctx,
            "select cast(1575 as bigint) as posts_established, cast(1481 as bigint) as staff_on_payroll, \
             cast(null as bigint) as posts_vacant",
        )
        .await
        .unwrap();
        let p = &persons[0];
        assert_eq!((p.posts_established, p.staff_on_payroll, p.posts_vacant), (Some(1575.0), Some(1481.0), None));
        let fte: Vec<CountyOverview> =
            read(&ctx, "select 62.5 as posts_established, 60.25 as staff_on_payroll, 2.25 as posts_vacant")
                .await
                .unwrap();
        let f = &fte[0];
        assert_eq!((f.posts_established, f.staff_on_payroll, f.posts_vacant), (Some(62.5), Some(60.25), Some(2.25)));
    }
}
