//! How a table's files are read: the options a pipeline file sets per source or table (format,
//! encoding, header row, aliases, units, constants, sums, grades as columns, value maps, code
//! patterns), and the same compiled once for the files of one path pattern ([`FileOptions`]).

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::contract::{Table, Unit};

/// File formats junheng reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or `;`, tab) separated values.
    Csv,
    /// A JSON array of objects, or newline-delimited objects.
    Json,
    /// An Excel workbook (XLSX or XLS); one sheet per table.
    #[serde(alias = "xlsx", alias = "xls")]
    Workbook,
}

impl Format {
    /// The format a file extension implies.
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "csv" | "txt" | "tsv" => Some(Format::Csv),
            "json" | "ndjson" | "jsonl" => Some(Format::Json),
            "xlsx" | "xlsm" | "xls" => Some(Format::Workbook),
            _ => None,
        }
    }
}

/// How to read a table's files. Every field is optional: unset means "detect".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// `csv` or `json` (default: from the file extension).
    pub format: Option<Format>,
    /// `utf-8`, `gbk`, `gb18030`, `utf-16le`… (default: detected from BOM and bytes).
    pub encoding: Option<String>,
    /// `,`, `;` or `\t` (default: detected from the header line).
    pub delimiter: Option<String>,
    /// 1-based row of the header (default: detected; title rows above it are skipped).
    pub header_row: Option<usize>,
    /// Extra cell values meaning "not reported" (`N/A`, `No Data`, `†` …), on top of the standard ones.
    #[serde(default)]
    pub null_markers: Vec<String>,
    /// Extra header aliases: canonical column → accepted headers.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Units of columns whose headers do not state them (`equipment_value = "万元"`).
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    /// Values for columns the files lack (`county_code = "231182"`).
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Years are written in the Republic-of-China calendar (`113` = 2024).
    pub roc_years: Option<bool>,
    /// Rows at the top of the file (or sheet) to ignore before looking for the header.
    pub skip_rows: Option<usize>,
    /// Values inside cells: a contract column → a regular expression whose first group (or whole
    /// match) is the value (`school_code = "^(\\d{6})"` takes `001015` out of
    /// `"001015 Adams Elementary"`). A cell it does not match is read as written, so validation
    /// names it. Templates in `constants` take the same form per cell: `{DISTRICT:^(\\d{3})}`.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// Zero-padding of digit values to a width (`school_code = 6`: `1015` → `001015`), after
    /// `extract`: codes whose leading zeros a spreadsheet dropped.
    #[serde(default)]
    pub pad: BTreeMap<String, usize>,
    /// Rows that are not data, by pattern: a column (its contract name, or the file's header) →
    /// regular expressions; a row whose cell matches one is skipped and listed in the ledger with
    /// the pattern (`skip_where = { school_name = ["^District [0-9]+ total"] }`).
    #[serde(default)]
    pub skip_where: BTreeMap<String, Vec<String>>,
    /// Total rows besides 合计/总计/小计/Total: regular expressions matched against the first
    /// cells of a row (`total_rows = ["^TOTALS for ", "^Grand Total$"]`). A total row is checked
    /// against the rows above it (since the previous total row, or all of them) and not published.
    #[serde(default)]
    pub total_rows: Vec<String>,
    /// The sheet of a workbook to read (name, or 1-based position as text); default: the
    /// sheet named after the table (Chinese or English).
    pub sheet: Option<String>,
    /// Contract columns this source does not have: not required, published as null. Saying so
    /// here is how a pipeline records what a foreign source lacks.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Contract columns some files of this source have and others lack (two schema
    /// generations under one entry): a file without one reads it as `absent`, with no finding; a
    /// file with it reads it as usual. Any other declared column a file lacks is a finding.
    #[serde(default)]
    pub optional: Vec<String>,
    /// Columns that are the sum of several source columns (`full_time_teachers = ["男專任教師", "女專任教師"]`).
    #[serde(default)]
    pub sums: BTreeMap<String, Vec<String>>,
    /// Grades given as columns (one row per school) instead of rows.
    pub wide: Option<WideGrades>,
    /// Source values meaning a contract value (`area_type = { "偏遠" = "rural" }`); the key ""
    /// fills empty cells.
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// A regular expression school codes must match instead of the contract's 10 digits
    /// (foreign sources: NYC's `01M015`, Taiwan's 6-character codes).
    pub school_code_pattern: Option<String>,
    /// A regular expression county codes must match instead of the contract's 6 digits.
    pub county_code_pattern: Option<String>,
}

/// Grades laid out as columns: each source row becomes one row per grade.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WideGrades {
    /// The grades (`[1, 2, 3, 4, 5, 6]`).
    pub grades: Vec<i64>,
    /// Per contract column, header patterns with `{g}` (grade number) or `{g_zh}` (一…九):
    /// `students = ["grade{g}"]`; several patterns are summed (boys + girls).
    pub columns: BTreeMap<String, Vec<String>>,
    /// Columns stated once per source row (school totals): kept on the first emitted grade row
    /// only, so sums over the school stay right.
    #[serde(default)]
    pub once: Vec<String>,
    /// A grade whose columns are all 0 is not taught (sources that write 0 for "not offered").
    #[serde(default)]
    pub zero_means_not_taught: bool,
}

impl ReadOptions {
    /// Whether a file may lack this contract column without a finding (`absent` or `optional`).
    pub fn may_lack(&self, column: &str) -> bool {
        self.absent.iter().chain(&self.optional).any(|c| c == column)
    }

    /// These options with every unset field taken from `defaults`.
    pub fn or(&self, defaults: &ReadOptions) -> ReadOptions {
        let mut merged = ReadOptions {
            format: self.format.or(defaults.format),
            encoding: self.encoding.clone().or_else(|| defaults.encoding.clone()),
            delimiter: self.delimiter.clone().or_else(|| defaults.delimiter.clone()),
            header_row: self.header_row.or(defaults.header_row),
            null_markers: defaults.null_markers.iter().chain(&self.null_markers).cloned().collect(),
            aliases: defaults.aliases.clone(),
            units: defaults.units.clone(),
            constants: defaults.constants.clone(),
            roc_years: self.roc_years.or(defaults.roc_years),
            skip_rows: self.skip_rows.or(defaults.skip_rows),
            sheet: self.sheet.clone().or_else(|| defaults.sheet.clone()),
            absent: defaults.absent.iter().chain(&self.absent).cloned().collect(),
            skip_where: defaults.skip_where.clone(),
            extract: defaults.extract.clone(),
            pad: defaults.pad.clone(),
            total_rows: defaults.total_rows.iter().chain(&self.total_rows).cloned().collect(),
            optional: defaults.optional.iter().chain(&self.optional).cloned().collect(),
            sums: defaults.sums.clone(),
            wide: self.wide.clone().or_else(|| defaults.wide.clone()),
            values: defaults.values.clone(),
            school_code_pattern: self.school_code_pattern.clone().or_else(|| defaults.school_code_pattern.clone()),
            county_code_pattern: self.county_code_pattern.clone().or_else(|| defaults.county_code_pattern.clone()),
        };
        for (k, v) in &self.aliases {
            merged.aliases.entry(k.clone()).or_default().extend(v.iter().cloned());
        }
        merged.units.extend(self.units.clone());
        merged.constants.extend(self.constants.clone());
        merged.sums.extend(self.sums.clone());
        merged.extract.extend(self.extract.clone());
        merged.pad.extend(self.pad.clone());
        for (k, v) in &self.skip_where {
            merged.skip_where.entry(k.clone()).or_default().extend(v.iter().cloned());
        }
        for (k, v) in &self.values {
            merged.values.entry(k.clone()).or_default().extend(v.clone());
        }
        merged
    }
}

/// A table source's reading options with what can be prepared once for all its files: units
/// parsed, code patterns compiled. Files of one path pattern share one (behind an `Arc`).
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// The options as the pipeline file wrote them.
    pub read: ReadOptions,
    /// `units`, parsed.
    pub units: BTreeMap<String, Unit>,
    /// `school_code_pattern`, compiled.
    pub school_code: Option<regex::Regex>,
    /// `county_code_pattern`, compiled.
    pub county_code: Option<regex::Regex>,
    /// `extract`, compiled.
    pub extract: BTreeMap<String, regex::Regex>,
    /// `skip_where`, compiled: (column or header, patterns).
    pub skip_where: Vec<(String, Vec<regex::Regex>)>,
    /// `total_rows`, compiled.
    pub total_rows: Vec<regex::Regex>,
}

impl FileOptions {
    /// Prepare reading options (the pipeline file was checked when it was parsed; a pattern that
    /// does not compile is an error here too, naming the option).
    pub fn compile(read: ReadOptions) -> Result<FileOptions, String> {
        let pattern = |name: &str, p: &Option<String>| {
            p.as_deref().map(regex::Regex::new).transpose().map_err(|e| format!("{name}: {e}"))
        };
        let school_code = pattern("school_code_pattern", &read.school_code_pattern)?;
        let county_code = pattern("county_code_pattern", &read.county_code_pattern)?;
        let compile_all = |name: &str, patterns: &[String]| -> Result<Vec<regex::Regex>, String> {
            patterns.iter().map(|p| regex::Regex::new(p).map_err(|e| format!("{name} {p:?}: {e}"))).collect()
        };
        let mut skip_where = Vec::new();
        for (column, patterns) in &read.skip_where {
            skip_where.push((column.clone(), compile_all(&format!("skip_where.{column}"), patterns)?));
        }
        let total_rows = compile_all("total_rows", &read.total_rows)?;
        let mut extract = BTreeMap::new();
        for (column, p) in &read.extract {
            let re = regex::Regex::new(p).map_err(|e| format!("extract.{column} {p:?}: {e}"))?;
            extract.insert(column.clone(), re);
        }
        let mut units = BTreeMap::new();
        for (column, unit) in &read.units {
            let parsed = Unit::parse(unit).ok_or_else(|| format!("units.{column} = {unit:?}: unknown unit"))?;
            units.insert(column.clone(), parsed);
        }
        Ok(FileOptions { read, units, school_code, county_code, extract, skip_where, total_rows })
    }

    /// The unit the pipeline declares for a column, if any.
    pub fn unit(&self, column: &str) -> Option<Unit> {
        self.units.get(column).copied()
    }
}

impl Deref for FileOptions {
    type Target = ReadOptions;

    fn deref(&self) -> &ReadOptions {
        &self.read
    }
}

/// Check that names inside reading options refer to real columns and units.
pub(super) fn check_options(at: &str, options: &ReadOptions, table: Option<Table>) -> std::result::Result<(), String> {
    let known = |column: &str| match table {
        Some(t) => t.column(column).is_some(),
        None => Table::ALL.iter().any(|t| t.column(column).is_some()),
    };
    let wide_columns = options.wide.iter().flat_map(|w| w.columns.keys().chain(w.once.iter()));
    for column in options
        .aliases
        .keys()
        .chain(options.units.keys())
        .chain(options.constants.keys())
        .chain(options.absent.iter())
        .chain(options.optional.iter())
        .chain(options.sums.keys())
        .chain(options.values.keys())
        .chain(options.extract.keys())
        .chain(options.pad.keys())
        .chain(wide_columns)
    {
        if !known(column) {
            return Err(format!(
                "{at}: `{column}` is not a column of {}",
                table.map_or("any table".into(), |t| t.name().to_owned())
            ));
        }
    }
    for (column, unit) in &options.units {
        if Unit::parse(unit).is_none() {
            return Err(format!(
                "{at}.units.{column} = {unit:?}: unknown unit (元, 千元, 万元, 平方米, 公顷, 亩, 万人, %)"
            ));
        }
    }
    if let Some(d) = &options.delimiter
        && !matches!(d.as_str(), "," | ";" | "\t" | "\\t" | "|")
    {
        return Err(format!("{at}.delimiter = {d:?}: expected \",\", \";\", \"\\t\" or \"|\""));
    }
    if let Some(e) = &options.encoding
        && encoding_rs::Encoding::for_label(e.as_bytes()).is_none()
    {
        return Err(format!("{at}.encoding = {e:?}: unknown encoding (utf-8, gbk, gb18030, utf-16le, utf-16be)"));
    }
    if options.header_row == Some(0) {
        return Err(format!("{at}.header_row: rows are counted from 1"));
    }
    for (name, pattern) in
        [("school_code_pattern", &options.school_code_pattern), ("county_code_pattern", &options.county_code_pattern)]
    {
        if let Some(p) = pattern {
            regex::Regex::new(p).map_err(|e| format!("{at}.{name}: {e}"))?;
        }
    }
    for (column, patterns) in &options.skip_where {
        for p in patterns {
            regex::Regex::new(p).map_err(|e| format!("{at}.skip_where.{column}: {p:?}: {e}"))?;
        }
    }
    for (column, p) in &options.extract {
        regex::Regex::new(p).map_err(|e| format!("{at}.extract.{column}: {p:?}: {e}"))?;
    }
    if let Some((column, _)) = options.pad.iter().find(|(_, w)| **w == 0 || **w > 40) {
        return Err(format!("{at}.pad.{column}: a width of 1 to 40 digits"));
    }
    for p in &options.total_rows {
        regex::Regex::new(p).map_err(|e| format!("{at}.total_rows: {p:?}: {e}"))?;
    }
    if let Some(wide) = &options.wide {
        if wide.grades.iter().any(|g| !(1..=9).contains(g)) {
            return Err(format!("{at}.wide.grades: grades are 1–9"));
        }
        if wide.columns.values().flatten().any(|p| !p.contains("{g}") && !p.contains("{g_zh}")) {
            return Err(format!("{at}.wide.columns: every pattern needs {{g}} or {{g_zh}} (the grade)"));
        }
    }
    Ok(())
}
