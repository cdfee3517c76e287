//! The rules of inputs.md applied to batches, one family per module:
//!
//! | family | module | rules |
//! |---|---|---|
//! | reading every cell | [`cells`] | `not_a_whole_number`, `not_a_number`, `negative_value`, `invalid_year`, `invalid_county_code`, `invalid_school_code`, `unknown_enum_value`, `not_a_boolean`, `invalid_level` |
//! | year, county and school of a row | [`provenance`] | `year_mismatch`, `county_mismatch`, `unknown_school_code` |
//! | grades | [`grades`] | `invalid_grade`, `grade_not_allowed` |
//! | required values | [`required`] | `required_value_missing`, `missing_parent_school`, `stage_required` |
//! | rules within a row | [`row_rules`] | `stage_not_offered`, `classes_zero_with_students`, `amount_not_positive`, `largest_class_below_average`, `bound_violated` |
//! | keys | [`keys`] | `duplicate_key` |
//! | teaching points' parents | [`schools`] | `unknown_parent_school`, `parent_is_teaching_point`, `parent_in_other_county` |
//! | total rows | [`totals`] | `total_row_mismatch` |
//!
//! Every family works on a [`Checker`] — the batch's typed values so far, which rows are
//! rejected, and the findings — and reports through its one helper, [`Checker::report`].

mod cells;
mod grades;
mod keys;
mod provenance;
mod required;
mod row_rules;
mod schools;
mod totals;

pub use schools::check_schools;
pub use totals::{RunningSums, check_totals};

use super::registry::{KeySet, SchoolRegistry};
use super::{CheckedBatch, Finding, Values, place};
use crate::contract::{Column, Rule, SchoolType, Severity, Table};
use crate::extract::RawBatch;
use crate::pipeline::{Settings, TeacherCounts};

/// Everything a batch is checked against besides its own rows.
pub struct Context<'a> {
    /// Methodology settings (school systems).
    pub settings: &'a Settings,
    /// Accepted schools by year (empty while checking schools themselves).
    pub registry: &'a SchoolRegistry,
    /// Keys seen so far in this batch's uniqueness scope.
    pub keys: &'a mut KeySet,
}

/// Check a batch of any table but schools (schools need two passes: [`check_schools`]).
pub fn check_batch(raw: RawBatch, ctx: &mut Context<'_>) -> CheckedBatch {
    let mut batch = check_rows(raw, ctx.settings, ctx.registry);
    keys::check_keys(&mut batch, ctx.keys);
    batch
}

/// Read every cell and apply every rule that needs only this row and the registry, family by
/// family (the order is the order findings are listed in).
fn check_rows(raw: RawBatch, settings: &Settings, registry: &SchoolRegistry) -> CheckedBatch {
    let mut c = Checker::with_staff(raw, settings.teacher_counts);
    cells::read_cells(&mut c, settings.currency);
    for row in 0..c.rows() {
        provenance::check_year(&mut c, row);
        provenance::check_county(&mut c, row);
        provenance::check_school(&mut c, row, registry);
    }
    grades::read_grades(&mut c, settings);
    required::check_required(&mut c, settings.teachers_without_stage);
    row_rules::check_stages(&mut c);
    row_rules::check_classes(&mut c);
    row_rules::check_amounts(&mut c);
    row_rules::check_largest_class(&mut c);
    row_rules::check_bounds(&mut c);
    c.finish()
}

/// A batch being checked: its typed values so far, what is rejected, and the findings.
pub(super) struct Checker {
    raw: RawBatch,
    table: Table,
    columns: &'static [Column],
    /// Where each contract column's text comes from: its position among the raw cells.
    bound: Vec<Option<usize>>,
    values: Vec<Values>,
    /// Columns whose cell had a problem in a row: later rules do not pile on.
    bad_cell: Vec<Vec<bool>>,
    rejected: Vec<bool>,
    county: Vec<Option<String>>,
    school_type: Vec<Option<SchoolType>>,
    findings: Vec<Finding>,
}

impl Checker {
    /// A checker of a batch whose staff are counted in persons (the default).
    #[cfg(test)]
    fn new(raw: RawBatch) -> Checker {
        Checker::with_staff(raw, TeacherCounts::Headcount)
    }

    /// A checker of a batch whose staff are counted as the pipeline says.
    fn with_staff(raw: RawBatch, counts: TeacherCounts) -> Checker {
        let table = raw.file.table;
        let columns = table.columns();
        let rows = raw.len();
        let bound = columns.iter().map(|c| raw.binding.columns.iter().position(|b| b.column.name == c.name)).collect();
        let county = vec![raw.file.county_code.clone(); rows];
        Checker {
            table,
            columns,
            bound,
            // Full-time equivalents are kept as written (`62.50`), as money and areas are: the
            // column's values say so to every later step.
            values: columns
                .iter()
                .map(|c| match counts.fractional(table, c) {
                    true => Values::Decimal(vec![None; rows]),
                    false => Values::for_kind(c.kind, rows),
                })
                .collect(),
            bad_cell: vec![vec![false; rows]; columns.len()],
            rejected: vec![false; rows],
            county,
            school_type: vec![None; rows],
            findings: Vec::new(),
            raw,
        }
    }

    fn rows(&self) -> usize {
        self.raw.len()
    }

    /// The position of a contract column.
    fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The submitted text of a contract column in a row (None when the source has no such column
    /// or the cell is absent).
    fn text(&self, ci: usize, row: usize) -> Option<&str> {
        cells::cell_text(&self.raw.cells, self.bound[ci], row)
    }

    /// The place of a row (and column) in the words of messages.
    fn place(&self, row: usize, ci: Option<usize>) -> String {
        place(&self.raw, row, ci.map(|i| &self.columns[i]))
    }

    /// Record a finding on a row (a column of it, when `ci` is given); an error rejects the row.
    fn report(
        &mut self,
        row: usize,
        ci: Option<usize>,
        value: Option<&str>,
        rule: Rule,
        severity: Severity,
        message: String,
    ) {
        if severity == Severity::Error {
            self.rejected[row] = true;
        }
        let column = ci.map(|i| &self.columns[i]);
        self.findings.push(Finding::at(&self.raw, Some(row), column, value, rule, severity, message));
    }

    /// An error on a cell that could not be read: the row is rejected, and the column's later
    /// rules leave that cell alone.
    fn bad_cell(&mut self, row: usize, ci: usize, value: &str, rule: Rule, message: String) {
        self.bad_cell[ci][row] = true;
        self.report(row, Some(ci), Some(value), rule, Severity::Error, message);
    }

    /// The checked batch: every finding carries the county and year its row was found to have.
    fn finish(self) -> CheckedBatch {
        let Checker { raw, values, county, school_type, rejected, findings, .. } = self;
        let mut batch = CheckedBatch { raw, values, county, school_type, rejected, findings: Vec::new() };
        for mut f in findings {
            if let Some(row) = f.batch_row {
                f.county_code = batch.county[row].clone().or(f.county_code);
                f.year = batch.year(row).or(f.year);
            }
            batch.findings.push(f);
        }
        batch
    }
}

/// Add a finding to a checked batch (after its rows were checked: keys, parents).
fn reject(b: &mut CheckedBatch, row: usize, mut f: Finding) {
    if f.severity == Severity::Error {
        b.rejected[row] = true;
    }
    f.county_code = f.county_code.or_else(|| b.county[row].clone());
    f.year = b.year(row).or(f.year);
    b.findings.push(f);
}

/// A number as a message writes it: whole numbers without a fraction.
fn fmt_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

#[cfg(test)]
pub(super) mod testing {
    //! Batches for the families' unit tests: a file of a table with cells given as text.

    use std::sync::Arc;

    use crate::contract::Table;
    use crate::extract::{BatchBuilder, Binding, BoundColumn, Built, RawBatch, SourceFile};
    use crate::pipeline::{FileOptions, Format, ReadOptions};

    /// A raw batch of `table` from 231182/2018 with these headers (canonical names; `name=sum`
    /// for a column summed from several cells, written `a + b`) and rows.
    pub fn batch(table: Table, options: ReadOptions, headers: &[&str], rows: &[&[&str]]) -> RawBatch {
        let file = Arc::new(SourceFile {
            uri: "memory://t/231182/2018/x.csv".into(),
            location: "231182/2018/x.csv".into(),
            relative: "231182/2018/x.csv".into(),
            table,
            format: Format::Csv,
            sheet: None,
            county_code: Some("231182".into()),
            year: Some(2018),
            size: 0,
            e_tag: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            options: Arc::new(FileOptions::compile(options).unwrap()),
        });
        let columns = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let (name, built) = match h.strip_suffix("=sum") {
                    Some(name) => (name, Built::Sum),
                    None => (*h, Built::Cell),
                };
                BoundColumn {
                    column: table.column(name).unwrap_or_else(|| panic!("{table} has no {name}")),
                    built,
                    header: h.to_string(),
                    index: Some(i),
                    unit: None,
                }
            })
            .collect();
        let binding = Arc::new(Binding { columns, ..Binding::default() });
        let mut builder = BatchBuilder::new(file, None, binding);
        for (i, row) in rows.iter().enumerate() {
            builder.push(i as u64 + 2, row.iter().map(|c| (!c.is_empty()).then(|| c.to_string())).collect());
        }
        builder.finish()
    }

    /// The rule ids of a checked batch's findings, with their source rows.
    pub fn rules(batch: &crate::validate::CheckedBatch) -> Vec<(u64, &'static str)> {
        batch.findings.iter().map(|f| (f.source_row.unwrap_or(0), f.rule.id())).collect()
    }
}
