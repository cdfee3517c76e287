//! Normalise: accepted rows → the canonical staging tables, as Arrow batches.
//!
//! Canonical names and types, money in 元 as decimal(18,2), areas in m², codes as text with their
//! leading zeros, the county of every row, the stage of every pupil row (by grade and the
//! county's school system) and of single-stage schools' teacher and facility rows, and the
//! provenance of every row. Normalise never rejects: it only sees rows validate accepted. The
//! rows validate rejected become [`quarantine`] rows: their cells as text, with the finding.

pub mod quarantine;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::contract::{AreaType, Column, Kind, Table, Unit};
use crate::error::{Error, Result};
use crate::pipeline::{Settings, TeacherCounts};
use crate::validate::{CheckedBatch, Decimal, Values};

/// Precision and scale of money in staging: decimal(18,2), 元 with fen.
pub const MONEY_TYPE: DataType = DataType::Decimal128(18, 2);

/// Provenance columns every staging row carries.
pub const PROVENANCE: [&str; 4] = ["source_uri", "source_sheet", "source_row", "run_id"];

/// The Arrow type a contract column is published as.
pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Year | Kind::Grade | Kind::Level => DataType::Int32,
        Kind::Count => DataType::Int64,
        Kind::Area | Kind::Rate => DataType::Float64,
        Kind::Money => MONEY_TYPE,
        Kind::Bool => DataType::Boolean,
        Kind::CountyCode | Kind::SchoolCode | Kind::Text | Kind::Enum(_) => DataType::Utf8,
    }
}

/// The Arrow type a column of a table is published as: its kind's, but float64 for staff counted
/// in full-time equivalents.
pub fn column_type(table: Table, column: &Column, counts: TeacherCounts) -> DataType {
    if counts.fractional(table, column) { DataType::Float64 } else { data_type(column.kind) }
}

/// The staging schema of a table, without the `year` partition column.
///
/// `county_code` comes first (every staging table has it, derived from the school where the
/// submission does not state it), then the contract columns, the pupils' derived `stage`, and
/// provenance. Staff counts are int64, or float64 when the pipeline counts full-time equivalents.
pub fn schema(table: Table, counts: TeacherCounts) -> SchemaRef {
    let mut fields = vec![Field::new("county_code", DataType::Utf8, false)];
    for column in table.columns().iter().filter(|c| !matches!(c.name, "year" | "county_code")) {
        let nullable =
            // school_type may be null: a source without it (`absent`) has it derived in SQL.
            !matches!(column.name, "school_code" | "school_name" | "area_type" | "grade" | "is_public")
                || (table == Table::Investments && column.name == "school_code");
        fields.push(Field::new(column.name, column_type(table, column, counts), nullable));
        if table == Table::Pupils && column.name == "grade" {
            fields.push(Field::new("stage", DataType::Utf8, false));
        }
    }
    fields.push(Field::new("source_uri", DataType::Utf8, false));
    fields.push(Field::new("source_sheet", DataType::Utf8, true));
    fields.push(Field::new("source_row", DataType::Int64, false));
    fields.push(Field::new("run_id", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Normalise the accepted rows of a batch into staging batches, one per year.
pub fn normalise(batch: &CheckedBatch, settings: &Settings, run_id: &str) -> Result<Vec<(i32, RecordBatch)>> {
    let table = batch.table();
    let keep: Vec<usize> = (0..batch.raw.len()).filter(|&r| !batch.rejected[r]).collect();
    let mut by_year: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for &row in &keep {
        // Accepted rows always have a year: it is required and read, or taken from the path.
        by_year.entry(batch.year(row).unwrap_or(0)).or_default().push(row);
    }
    let schema = schema(table, settings.teacher_counts);
    let mut out = Vec::with_capacity(by_year.len());
    for (year, rows) in by_year {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        columns.push(Arc::new(StringArray::from_iter(rows.iter().map(|&r| batch.county[r].as_deref().or(Some(""))))));
        for (ci, column) in table.columns().iter().enumerate() {
            if matches!(column.name, "year" | "county_code") {
                continue;
            }
            let values = &batch.values[ci];
            let array: ArrayRef =
                match column.kind {
                    Kind::Grade | Kind::Level => {
                        Arc::new(Int32Array::from_iter(rows.iter().map(|&r| values.int(r).map(|g| g as i32))))
                    }
                    Kind::Rate | Kind::Count => match values {
                        // Rates, and the counts validation kept as decimals (full-time
                        // equivalents, TeacherCounts::fractional), are float64.
                        Values::Decimal(_) => Arc::new(Float64Array::from_iter(
                            rows.iter().map(|&r| decimal(values, r).map(Decimal::to_f64)),
                        )),
                        _ => Arc::new(Int64Array::from_iter(rows.iter().map(|&r| values.int(r)))),
                    },
                    Kind::Area => {
                        let factor = area_factor(unit_of(batch, column.name));
                        Arc::new(Float64Array::from_iter(
                            rows.iter().map(|&r| decimal(values, r).map(|d| d.to_f64() * factor)),
                        ))
                    }
                    Kind::Money => {
                        let unit = unit_of(batch, column.name);
                        let cents = rows.iter().map(|&r| decimal(values, r).and_then(|d| to_fen(d, unit)));
                        Arc::new(Decimal128Array::from_iter(cents).with_data_type(MONEY_TYPE))
                    }
                    Kind::Bool => {
                        let default = column.default_flag();
                        Arc::new(BooleanArray::from_iter(rows.iter().map(|&r| match values {
                            Values::Bool(v) => v[r].or(default),
                            _ => default,
                        })))
                    }
                    Kind::Enum(_) if column.name == "stage" => {
                        // A single-stage school's rows are that stage; a multi-stage school's facility
                        // row without a stage stays null (apportioned by enrolment in SQL).
                        Arc::new(StringArray::from_iter(rows.iter().map(|&r| {
                            values.text(r).or_else(|| batch.school_type[r]?.only_stage().map(|s| s.as_str()))
                        })))
                    }
                    // A source without an urban–rural classification (area_type absent) does not
                    // classify its schools: they are `unknown`, never a placeholder area.
                    Kind::Enum(_) if column.name == "area_type" => Arc::new(StringArray::from_iter(
                        rows.iter().map(|&r| values.text(r).or(Some(AreaType::Unknown.as_str()))),
                    )),
                    Kind::Year | Kind::CountyCode | Kind::SchoolCode | Kind::Text | Kind::Enum(_) => {
                        Arc::new(StringArray::from_iter(rows.iter().map(|&r| values.text(r))))
                    }
                };
            columns.push(array);
            if table == Table::Pupils && column.name == "grade" {
                let stages = rows.iter().map(|&r| {
                    let system = settings.school_system(batch.county[r].as_deref());
                    Some(system.stage_of(values.int(r).unwrap_or(1)).as_str())
                });
                columns.push(Arc::new(StringArray::from_iter(stages)));
            }
        }
        let file = &batch.raw.file;
        columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|_| file.uri.as_str()))));
        columns.push(Arc::new(StringArray::from_iter(rows.iter().map(|_| batch.raw.sheet.as_deref()))));
        columns.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|&r| batch.raw.source_rows[r] as i64))));
        columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(|_| run_id))));
        let record = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::arrow(format!("normalising {table}"), e))?;
        out.push((year, record));
    }
    Ok(out)
}

fn decimal(values: &Values, row: usize) -> Option<Decimal> {
    match values {
        Values::Decimal(v) => v[row],
        Values::Int(v) => v[row].map(|x| Decimal { mantissa: x as i128, scale: 0 }),
        _ => None,
    }
}

/// The unit a column's values are stated in for this batch: the header's, else the pipeline's.
fn unit_of(batch: &CheckedBatch, column: &str) -> Option<Unit> {
    batch.raw.binding.get(column).and_then(|b| b.unit).or_else(|| batch.raw.file.options.unit(column))
}

/// m² per unit of area.
pub fn area_factor(unit: Option<Unit>) -> f64 {
    match unit {
        Some(Unit::Hectare) => 10_000.0,
        Some(Unit::Mu) => 10_000.0 / 15.0,
        _ => 1.0,
    }
}

/// Money stated in `unit` → fen (元 × 100), rounded half away from zero; exact decimal arithmetic.
pub fn to_fen(value: Decimal, unit: Option<Unit>) -> Option<i128> {
    let factor: i128 = match unit {
        Some(Unit::TenThousandYuan) => 10_000,
        Some(Unit::ThousandYuan) => 1_000,
        _ => 1,
    };
    Decimal { mantissa: value.mantissa.checked_mul(factor)?, scale: value.scale }.rescale(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_converts_exactly_to_yuan() {
        let d = |m, s| Decimal { mantissa: m, scale: s };
        assert_eq!(to_fen(d(71085, 1), Some(Unit::TenThousandYuan)), Some(7_108_500_000));
        assert_eq!(to_fen(d(1234567, 6), Some(Unit::TenThousandYuan)), Some(1_234_567));
        assert_eq!(to_fen(d(15, 1), Some(Unit::ThousandYuan)), Some(150_000));
        assert_eq!(to_fen(d(12345, 3), None), Some(1235));
    }

    #[test]
    fn areas_convert_to_square_metres() {
        assert_eq!(area_factor(Some(Unit::Hectare)), 10_000.0);
        assert!((area_factor(Some(Unit::Mu)) * 15.0 - 10_000.0).abs() < 1e-9);
        assert_eq!(area_factor(None), 1.0);
    }

    #[test]
    fn every_staging_table_has_county_and_provenance() {
        for table in Table::ALL {
            let s = schema(table, TeacherCounts::Headcount);
            assert_eq!(s.field(0).name(), "county_code");
            assert!(s.field_with_name("year").is_err(), "year is the partition column");
            for p in PROVENANCE {
                assert!(s.field_with_name(p).is_ok(), "{table} {p}");
            }
        }
        assert!(schema(Table::Pupils, TeacherCounts::Headcount).field_with_name("stage").is_ok());
    }

    #[test]
    fn staff_counted_in_full_time_equivalents_are_float64_and_nothing_else_changes() {
        let persons = schema(Table::Teachers, TeacherCounts::Headcount);
        let fte = schema(Table::Teachers, TeacherCounts::Fte);
        for (p, f) in persons.fields().iter().zip(fte.fields()) {
            let staff = Table::Teachers.column(p.name()).is_some_and(|c| Table::Teachers.counts_staff(c));
            match staff {
                true => assert_eq!((p.data_type(), f.data_type()), (&DataType::Int64, &DataType::Float64), "{p}"),
                false => assert_eq!(p, f),
            }
        }
        assert_eq!(fte.field_with_name("full_time_teachers").unwrap().data_type(), &DataType::Float64);
        // Other tables' counts stay whole numbers.
        assert_eq!(schema(Table::Pupils, TeacherCounts::Fte), schema(Table::Pupils, TeacherCounts::Headcount));
    }
}
