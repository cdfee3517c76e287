//! Findings → quarantine rows: one row per finding, with the source row's cells as text,
//! its provenance, the rule, the severity and the message (outputs.md "Quarantine").
//!
//! `error` rows are the rejected ones (not in staging); `warning` rows were published and are
//! here so the submitter sees them. A file that could not be read at all appears as one row
//! with no cells.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::extract::RawBatch;
use crate::validate::Finding;

/// Columns after the cells, in order.
pub const FINDING_COLUMNS: [&str; 10] =
    ["source_uri", "source_sheet", "source_row", "table", "column", "rule", "severity", "message", "value", "run_id"];

/// The quarantine schema of a table (without the `year` partition column): `county_code`, every
/// other contract column as the text that was submitted, then the finding.
pub fn schema(table: Table) -> SchemaRef {
    let mut fields = vec![Field::new("county_code", DataType::Utf8, true)];
    for column in table.columns().iter().filter(|c| !matches!(c.name, "year" | "county_code")) {
        fields.push(Field::new(column.name, DataType::Utf8, true));
    }
    for name in FINDING_COLUMNS {
        let data_type = if name == "source_row" { DataType::Int64 } else { DataType::Utf8 };
        let nullable = matches!(name, "source_sheet" | "source_row" | "column" | "value");
        fields.push(Field::new(name, data_type, nullable));
    }
    Arc::new(Schema::new(fields))
}

/// Quarantine rows for findings, grouped by year (0 when the year is unknown).
pub fn batches(
    table: Table,
    findings: &[Finding],
    raw: Option<&RawBatch>,
    run_id: &str,
) -> Result<Vec<(i32, RecordBatch)>> {
    let mut by_year: BTreeMap<i32, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_year.entry(f.year.unwrap_or(0)).or_default().push(f);
    }
    let schema = schema(table);
    let mut out = Vec::new();
    for (year, group) in by_year {
        let cell = |name: &str, f: &Finding| -> Option<String> {
            let raw = raw?;
            let row = f.batch_row?;
            let i = raw.binding.columns.iter().position(|b| b.column.name == name)?;
            let a = &raw.cells[i];
            (!a.is_null(row)).then(|| a.value(row).to_owned())
        };
        let mut columns: Vec<ArrayRef> = Vec::new();
        columns.push(Arc::new(StringArray::from_iter(
            group.iter().map(|f| f.county_code.clone().or_else(|| cell("county_code", f))),
        )));
        for column in table.columns().iter().filter(|c| !matches!(c.name, "year" | "county_code")) {
            columns.push(Arc::new(StringArray::from_iter(group.iter().map(|f| cell(column.name, f)))));
        }
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|f| f.source_uri.as_str()))));
        columns.push(Arc::new(StringArray::from_iter(group.iter().map(|f| f.source_sheet.as_deref()))));
        columns.push(Arc::new(Int64Array::from_iter(group.iter().map(|f| f.source_row.map(|r| r as i64)))));
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|f| f.table.name()))));
        columns.push(Arc::new(StringArray::from_iter(group.iter().map(|f| f.column))));
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|f| f.rule.id()))));
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|f| f.severity.as_str()))));
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|f| f.message.as_str()))));
        columns.push(Arc::new(StringArray::from_iter(group.iter().map(|f| f.value.as_deref()))));
        columns.push(Arc::new(StringArray::from_iter_values(group.iter().map(|_| run_id))));
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| Error::arrow(format!("quarantine of {table}"), e))?;
        out.push((year, batch));
    }
    Ok(out)
}
