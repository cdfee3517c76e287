//! Total rows (合计, 总计): set aside by extract, checked here against the sum of the file's rows
//! (a warning when they differ; the total row itself is never published).

use std::collections::HashMap;

use super::fmt_number;
use crate::contract::{Kind, Rule, Severity};
use crate::extract::{SUM_SEPARATOR, SourceFile, TotalRow};
use crate::text::{fold, is_null};
use crate::validate::cell;
use crate::validate::{CheckedBatch, Finding};

/// The sums of a file's numeric columns as its batches pass, marked at each batch's last row:
/// extract ends a batch before every total row, so the sum of the rows above any total row is
/// one of the marks.
#[derive(Debug, Default)]
pub struct RunningSums {
    sums: HashMap<&'static str, f64>,
    marks: Vec<(u64, HashMap<&'static str, f64>)>,
}

impl RunningSums {
    /// Add a checked batch's readable numeric values.
    pub fn add(&mut self, batch: &CheckedBatch) {
        for (column, values) in batch.table().columns().iter().zip(&batch.values) {
            if matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
                let s: f64 = (0..batch.raw.len()).filter_map(|r| values.number(r)).sum();
                *self.sums.entry(column.name).or_default() += s;
            }
        }
        if let Some(&last) = batch.raw.source_rows.last() {
            self.marks.push((last, self.sums.clone()));
        }
    }

    /// The sum of a column over the rows above a source row.
    fn above(&self, row: u64, column: &str) -> f64 {
        let mark = self.marks.iter().rev().find(|(last, _)| *last < row);
        mark.and_then(|(_, sums)| sums.get(column)).copied().unwrap_or(0.0)
    }
}

/// Check total rows (合计/总计, and the pipeline's `total_rows`) against the rows above them: a
/// total equals the rows since the previous total row (a subtotal) or all the rows above it (a
/// grand total); a warning when it is neither. A wide layout's total row states each grade's
/// column, summed here.
pub fn check_totals(totals: &[TotalRow], sums: &RunningSums, file: &SourceFile) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut previous: Option<u64> = None;
    for total in totals {
        // (column, stated sum, finest decimal places, the cells as written)
        let mut stated: Vec<(&'static str, f64, u32, Vec<&str>)> = Vec::new();
        for (name, text) in &total.cells {
            let Some(column) = file.table.column(name) else { continue };
            if !matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
                continue;
            }
            for part in text.split(SUM_SEPARATOR) {
                let folded = fold(part);
                if is_null(&folded, &file.options.null_markers) {
                    continue;
                }
                let Ok(value) = cell::read_decimal(&folded) else { continue };
                match stated.iter_mut().find(|s| s.0 == column.name) {
                    Some(s) => {
                        s.1 += value.to_f64();
                        s.2 = s.2.max(value.scale);
                        s.3.push(part.trim());
                    }
                    None => stated.push((column.name, value.to_f64(), value.scale, vec![part.trim()])),
                }
            }
        }
        for (name, value, scale, texts) in stated {
            let column = file.table.column(name).expect("a column of the table");
            let all = sums.above(total.row, name);
            let since = all - previous.map_or(0.0, |p| sums.above(p, name));
            let close = |sum: f64| (value - sum).abs() <= 0.5 * 10f64.powi(-(scale as i32)) + 1e-9 * sum.abs();
            if close(since) || close(all) {
                continue;
            }
            let text = texts.join(" + ");
            let sums_to = if previous.is_some() && (since - all).abs() > 0.0 {
                format!("{} since the previous total row, {} in all", fmt_number(since), fmt_number(all))
            } else {
                fmt_number(all)
            };
            let message = format!(
                "{} row {}, column {}: the total row says {text} but the rows above sum to {sums_to}; the total row is not published, check the rows",
                file.relative, total.row, column.label
            );
            out.push(Finding {
                source_sheet: None,
                source_row: Some(total.row),
                column: Some(column.name),
                value: Some(text),
                ..Finding::about_file(file, Rule::TotalRowMismatch, Severity::Warning, message)
            });
        }
        previous = Some(total.row);
    }
    out
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
        let sums = RunningSums {
            sums: HashMap::new(),
            marks: vec![(8, HashMap::from([("students", 100.0), ("classes", 4.0)]))],
        };
        let totals = [TotalRow { row: 9, cells: vec![("students", "100".into()), ("classes", "5".into())] }];
        let findings = check_totals(&totals, &sums, &raw.file);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].column, findings[0].source_row), (Some("classes"), Some(9)));
        assert!(findings[0].message.contains("the total row says 5 but the rows above sum to 4"));
    }

    #[test]
    fn subtotals_sum_the_rows_since_the_previous_total_and_a_grand_total_all_of_them() {
        let raw = batch(Table::Pupils, ReadOptions::default(), &["school_code"], &[]);
        // Rows 2–3 (district A) sum to 30, rows 5–6 (district B) to 70; row 4 and 7 are their
        // subtotals, row 8 the grand total; a wide total states each grade (10 + 20 = 30).
        let sums = RunningSums {
            sums: HashMap::new(),
            marks: vec![(3, HashMap::from([("students", 30.0)])), (6, HashMap::from([("students", 100.0)]))],
        };
        let total =
            |row, cells: &[&str]| TotalRow { row, cells: cells.iter().map(|c| ("students", c.to_string())).collect() };
        let good = [total(4, &["10", "20"]), total(7, &["70"]), total(8, &["100"])];
        assert!(check_totals(&good, &sums, &raw.file).is_empty());
        let bad = [total(4, &["30"]), total(7, &["69"])];
        let findings = check_totals(&bad, &sums, &raw.file);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains("sum to 70 since the previous total row, 100 in all"),
            "{}",
            findings[0].message
        );
    }
}
