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
    let err = |e| Error::sql("query", sql, e);
    let batches = ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)?;
    let mut rows = Vec::new();
    for batch in &batches {
        let batch = plain_strings(batch)?;
        let mut part: Vec<T> = serde_arrow::from_record_batch(&batch)
            .map_err(|e| Error::Unreadable { uri: sql.to_owned(), message: format!("reading its rows: {e}") })?;
        rows.append(&mut part);
    }
    Ok(rows)
}

/// The first row of a query, if it has one.
pub async fn first<T: DeserializeOwned>(ctx: &SessionContext, sql: &str) -> Result<Option<T>> {
    Ok(read(ctx, sql).await?.into_iter().next())
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
    pub posts_established: Option<i64>,
    pub staff_on_payroll: Option<i64>,
    pub posts_vacant: Option<i64>,
    pub students: Option<i64>,
    pub students_urban: Option<i64>,
    pub students_town: Option<i64>,
    pub students_rural: Option<i64>,
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
