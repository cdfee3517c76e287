//! Total rows (合计, 总计): set aside by extract, checked here against the sum of the file's rows
//! (a warning when they differ; the total row itself is never published).

use std::collections::HashMap;

use super::fmt_number;
use crate::contract::{Kind, Rule, Severity};
use crate::extract::{SourceFile, TotalRow};
use crate::text::{fold, is_null};
use crate::validate::cell;
use crate::validate::{CheckedBatch, Finding};

/// Check 合计/总计 rows of a file against the sums of its data rows (warnings when they differ).
pub fn check_totals(totals: &[TotalRow], sums: &HashMap<&'static str, f64>, file: &SourceFile) -> Vec<Finding> {
    let mut out = Vec::new();
    for total in totals {
        for (name, text) in &total.cells {
            let Some(column) = file.table.column(name) else { continue };
            if !matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
                continue;
            }
            let folded = fold(text);
            if is_null(&folded, &file.options.null_markers) {
                continue;
            }
            let Ok(stated) = cell::read_decimal(&folded) else { continue };
            let sum = sums.get(name).copied().unwrap_or(0.0);
            let tolerance = 0.5 * 10f64.powi(-(stated.scale as i32)) + 1e-9 * sum.abs();
            if (stated.to_f64() - sum).abs() <= tolerance {
                continue;
            }
            let message = format!(
                "{} row {}, column {}: the total row says {text} but the rows above sum to {}; the total row is not published, check the rows",
                file.relative,
                total.row,
                column.label,
                fmt_number(sum)
            );
            out.push(Finding {
                source_sheet: None,
                source_row: Some(total.row),
                column: Some(column.name),
                value: Some(text.clone()),
                ..Finding::about_file(file, Rule::TotalRowMismatch, Severity::Warning, message)
            });
        }
    }
    out
}

/// Add a checked batch's readable numeric values to per-column sums (for total rows).
pub fn add_to_sums(batch: &CheckedBatch, sums: &mut HashMap<&'static str, f64>) {
    for (column, values) in batch.table().columns().iter().zip(&batch.values) {
        if matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
            let s: f64 = (0..batch.raw.len()).filter_map(|r| values.number(r)).sum();
            *sums.entry(column.name).or_default() += s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::batch;
    use super::*;
    use crate::contract::Table;
    use crate::pipeline::ReadOptions;

    #[test]
    fn a_total_row_is_checked_to_its_own_precision() {
        let raw = batch(Table::Pupils, ReadOptions::default(), &["school_code"], &[]);
        let sums = HashMap::from([("students", 100.0), ("classes", 4.0)]);
        let totals = [TotalRow { row: 9, cells: vec![("students", "100".into()), ("classes", "5".into())] }];
        let findings = check_totals(&totals, &sums, &raw.file);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].column, findings[0].source_row), (Some("classes"), Some(9)));
        assert!(findings[0].message.contains("the total row says 5 but the rows above sum to 4"));
    }
}
