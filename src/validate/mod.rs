//! Validate: does each row satisfy the contract? Reads every cell, applies every rule of
//! inputs.md, and records the answer as data.
//!
//! Validate decides; it never changes a value. A cell that cannot be read, a row that breaks a
//! rule, a key seen twice, a school that does not exist — each becomes a [`Finding`] with a
//! stable rule id and a message in plain words naming the file, row and Chinese column label.
//! `error` findings reject the row (it goes to quarantine); `warning` findings are recorded and
//! the row is published. Nothing here is an `Err`: bad input is the normal case.

pub mod cell;
pub mod registry;
mod rules;

use crate::contract::{Column, Kind, Rule, SchoolType, Severity, Table};
use crate::extract::{Built, RawBatch, SourceFile};
pub use cell::Decimal;
pub use registry::{KeySet, School, SchoolInfo, SchoolRegistry};
pub use rules::{Context, RunningSums, check_batch, check_schools, check_totals};

/// One finding about a source row (or a whole file, when `source_row` is None).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// The table the row belongs to.
    pub table: Table,
    /// Full URL of the source file.
    pub source_uri: String,
    /// The source file relative to the source root, as named in messages.
    pub source_file: String,
    /// Sheet of a workbook.
    pub source_sheet: Option<String>,
    /// 1-based source row; None for a file-level finding.
    pub source_row: Option<u64>,
    /// Canonical column, None for a row-level rule.
    pub column: Option<&'static str>,
    /// 0-based position of that column in the source row (a spreadsheet's column letter).
    pub source_column: Option<usize>,
    /// The offending value as text.
    pub value: Option<String>,
    /// The rule it breaks (`not_a_whole_number`, `duplicate_key`, …).
    pub rule: Rule,
    /// `error` rejects the row; `warning` publishes it.
    pub severity: Severity,
    /// The message a county statistician reads.
    pub message: String,
    /// County of the row, when known.
    pub county_code: Option<String>,
    /// Year of the row, when known.
    pub year: Option<i32>,
    /// Year of the submission the file belongs to (from its path), when the path says.
    pub path_year: Option<i32>,
    /// Index of the row inside its batch (to carry its cells into quarantine).
    #[serde(skip)]
    pub batch_row: Option<usize>,
}

/// The typed values of one column of a batch, as submitted (units not yet converted).
#[derive(Debug, Clone)]
pub enum Values {
    /// Counts, grades and years.
    Int(Vec<Option<i64>>),
    /// Money and areas, exactly as written.
    Decimal(Vec<Option<Decimal>>),
    /// Codes, text and enum values (canonical English for enums).
    Text(Vec<Option<String>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn for_kind(kind: Kind, rows: usize) -> Values {
        match kind {
            Kind::Year | Kind::Count | Kind::Grade | Kind::Level => Values::Int(vec![None; rows]),
            Kind::Area | Kind::Money | Kind::Rate => Values::Decimal(vec![None; rows]),
            Kind::Bool => Values::Bool(vec![None; rows]),
            Kind::CountyCode | Kind::SchoolCode | Kind::Text | Kind::Enum(_) => Values::Text(vec![None; rows]),
        }
    }

    /// The integer at a row, for Int columns.
    pub fn int(&self, row: usize) -> Option<i64> {
        match self {
            Values::Int(v) => v[row],
            _ => None,
        }
    }

    /// The text at a row, for Text columns.
    pub fn text(&self, row: usize) -> Option<&str> {
        match self {
            Values::Text(v) => v[row].as_deref(),
            _ => None,
        }
    }

    /// The number at a row as f64 (Int or Decimal columns), for comparisons.
    pub fn number(&self, row: usize) -> Option<f64> {
        match self {
            Values::Int(v) => v[row].map(|x| x as f64),
            Values::Decimal(v) => v[row].map(Decimal::to_f64),
            _ => None,
        }
    }

    /// Whether the row has a value.
    pub fn is_present(&self, row: usize) -> bool {
        match self {
            Values::Int(v) => v[row].is_some(),
            Values::Decimal(v) => v[row].is_some(),
            Values::Text(v) => v[row].is_some(),
            Values::Bool(v) => v[row].is_some(),
        }
    }
}

/// A batch after validation: typed values for every contract column, what was rejected, why.
#[derive(Debug, Clone)]
pub struct CheckedBatch {
    /// The rows as extracted (their text goes to quarantine).
    pub raw: RawBatch,
    /// One entry per column of the table's contract, in contract order.
    pub values: Vec<Values>,
    /// The county each row belongs to (from its cell, the path, or its school).
    pub county: Vec<Option<String>>,
    /// The type of the school each row refers to (per-school tables), for stage filling.
    pub school_type: Vec<Option<SchoolType>>,
    /// Rows rejected by an `error` finding.
    pub rejected: Vec<bool>,
    /// Every finding on these rows.
    pub findings: Vec<Finding>,
}

impl CheckedBatch {
    /// The table.
    pub fn table(&self) -> Table {
        self.raw.file.table
    }

    /// The values of a contract column.
    pub fn column(&self, name: &str) -> &Values {
        let i = self
            .table()
            .columns()
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{} has no column {name}", self.table()));
        &self.values[i]
    }

    /// Year of each row (None for rows whose year could not be read).
    pub fn year(&self, row: usize) -> Option<i32> {
        self.values[0].int(row).map(|y| y as i32)
    }

    /// Rows that are published.
    pub fn published(&self) -> usize {
        self.rejected.iter().filter(|r| !**r).count()
    }
}

/// Where a cell is, in the words of messages: `231182/2018/pupils.csv row 17, column 在校生数`
/// (the file relative to the source root, so a province-wide run names the county too), or for
/// a workbook `231182/2018.xlsx 学生!D17, column 在校生数`.
pub fn place(raw: &RawBatch, row: usize, column: Option<&Column>) -> String {
    let line = raw.source_rows.get(row).copied().unwrap_or(0);
    // A row made from grade columns says which grade, since one source row gave several.
    let wide_grade =
        raw.binding.get("grade").filter(|b| b.built == Built::WideGrade).and_then(|_| raw.cell("grade", row));
    let line = match wide_grade {
        Some(g) => format!("{line} (grade {g})"),
        None => line.to_string(),
    };
    let bound = column.and_then(|c| raw.binding.get(c.name));
    match (&raw.sheet, column) {
        (Some(sheet), Some(c)) => match bound.and_then(|b| b.index) {
            Some(i) => format!(
                "{} {sheet}!{}{line}, column {}",
                raw.file.relative,
                crate::extract::xlsx::column_letters(i),
                c.label
            ),
            None => format!("{} {sheet} row {line}, column {}", raw.file.relative, c.label),
        },
        (Some(sheet), None) => format!("{} {sheet} row {line}", raw.file.relative),
        (None, Some(c)) => format!("{} row {line}, column {}", raw.file.relative, c.label),
        (None, None) => format!("{} row {line}", raw.file.relative),
    }
}

impl Finding {
    /// A finding about a row of a batch (and a column of it, for a cell rule).
    pub fn at(
        raw: &RawBatch,
        row: Option<usize>,
        column: Option<&'static Column>,
        value: Option<&str>,
        rule: Rule,
        severity: Severity,
        message: String,
    ) -> Finding {
        Finding {
            table: raw.file.table,
            source_uri: raw.file.uri.clone(),
            source_file: raw.file.relative.clone(),
            source_sheet: raw.sheet.as_deref().map(str::to_owned),
            source_row: row.map(|r| raw.source_rows[r]),
            column: column.map(|c| c.name),
            source_column: column.and_then(|c| raw.binding.get(c.name)).and_then(|b| b.index),
            value: value.map(str::to_owned),
            rule,
            severity,
            message,
            county_code: raw.file.county_code.clone(),
            year: raw.file.year,
            path_year: raw.file.year,
            batch_row: row,
        }
    }

    /// A finding about a whole file (no row of a batch): one that could not be read, a header
    /// outside the contract.
    pub fn about_file(file: &SourceFile, rule: Rule, severity: Severity, message: String) -> Finding {
        Finding {
            table: file.table,
            source_uri: file.uri.clone(),
            source_file: file.relative.clone(),
            source_sheet: file.sheet.clone(),
            source_row: None,
            column: None,
            source_column: None,
            value: None,
            rule,
            severity,
            message,
            county_code: file.county_code.clone(),
            year: file.year,
            path_year: file.year,
            batch_row: None,
        }
    }
}

/// The context a batch of a per-school or county table is checked in.
pub fn rules_context<'a>(
    settings: &'a crate::pipeline::Settings,
    registry: &'a SchoolRegistry,
    keys: &'a mut KeySet,
) -> Context<'a> {
    Context { settings, registry, keys }
}

/// Warnings for headers that matched no column: reported, never silently dropped.
pub fn unknown_column_findings(unknown: &[String], file: &SourceFile) -> Vec<Finding> {
    unknown
        .iter()
        .map(|header| {
            let message = format!(
                "{}: column \"{header}\" is not part of the {} table ({}) and is not published; if it is one of the contract's columns under another name, add an alias in the pipeline file",
                file.relative,
                file.table,
                file.table.chinese_name()
            );
            // A header of a file, not of a sheet: the finding names no sheet, as it always has.
            Finding {
                source_sheet: None,
                value: Some(header.clone()),
                ..Finding::about_file(file, Rule::UnknownColumn, Severity::Warning, message)
            }
        })
        .collect()
}

/// One error per column the pipeline declares and the file lacks: its values are not read, so
/// the file's rows are published without them (a grade column's pupils are missing). Declaring
/// the column `optional` (or `absent`) for the entry says this is expected.
pub fn lacking_column_findings(lacking: &[String], file: &SourceFile) -> Vec<Finding> {
    lacking
        .iter()
        .map(|what| {
            let message = format!(
                "{}: the pipeline file declares {what}, which the file does not have, so it is not read; \
                 correct the header or the pipeline, or list the column in the entry's `optional`",
                file.relative
            );
            Finding {
                source_sheet: None,
                ..Finding::about_file(file, Rule::DeclaredColumnMissing, Severity::Error, message)
            }
        })
        .collect()
}
