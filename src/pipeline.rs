//! Pipeline files (`pipelines/*.toml`) → a typed [`Pipeline`]; pure parsing, no I/O beyond
//! reading the file itself.
//!
//! A pipeline says where submissions are (a URL and, unless they follow the standard layout,
//! a path template per table), how to read them (format, encoding, delimiter, extra header
//! aliases, null markers), the methodology settings and provincial standards, and where to
//! publish. Unknown keys are errors that name the key and the file: a typo must never silently
//! fall back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::contract::{SchoolSystem, Table, Unit};
use crate::error::{Error, Result};

/// A whole pipeline: sources, reading options, settings, output.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    /// Name shown in the ledger and logs (the file stem when not given).
    pub name: String,
    /// SHA-256 of the pipeline file's bytes (empty for the zero-config standard layout).
    pub hash: String,
    /// Where the submissions are.
    pub source: Source,
    /// Where to publish (None: must be given with `--out`).
    pub output: Option<String>,
    /// How to reach the output's store.
    pub output_storage: crate::storage::StorageOptions,
    /// When `junheng schedule` runs the pipeline (a cron expression), if it is scheduled.
    pub schedule: Option<String>,
    /// Whether a run writes the HTML report into the version it publishes (default true).
    pub report: bool,
    /// Methodology settings (methodology.md), recorded in every run ledger.
    pub settings: Settings,
    /// Overrides of the reference thresholds and standards (`sql/reference/thresholds.csv`),
    /// keyed by threshold id, then by stage (`primary`, `junior` or `all`).
    pub standards: BTreeMap<String, BTreeMap<String, f64>>,
    /// How many rows may be rejected at `error` severity before the run exits with status 1.
    pub max_rejected_rows: u64,
}

/// Where submissions are and how to read them.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The root URL (a folder or object-store prefix).
    pub url: String,
    /// Per table: where its files are, relative to `url`, and how to read them (a table may come
    /// from several kinds of file, e.g. primary and junior statistics). Empty: the standard layout.
    pub tables: BTreeMap<Table, Vec<TableSource>>,
    /// Reading options that apply to every table unless the table overrides them.
    pub defaults: ReadOptions,
    /// How to reach the source's store (endpoint, region …); credentials come from the environment.
    pub storage: crate::storage::StorageOptions,
}

impl Source {
    /// Whether the standard layout (inputs.md) is used for discovery.
    pub fn is_standard_layout(&self) -> bool {
        self.tables.is_empty()
    }
}

/// One table's files: a path template and reading options.
#[derive(Debug, Clone, Serialize)]
pub struct TableSource {
    /// Path template relative to the source URL, with `{county_code}`, `{year}`, `{table}` and `*`.
    pub path: String,
    /// How to read the files.
    pub options: ReadOptions,
}

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
    /// The sheet of a workbook to read (name, or 1-based position as text); default: the
    /// sheet named after the table (Chinese or English).
    pub sheet: Option<String>,
    /// Contract columns this source does not have: not required, published as null. Saying so
    /// here is how a pipeline records what a foreign source lacks.
    #[serde(default)]
    pub absent: Vec<String>,
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
        for (k, v) in &self.values {
            merged.values.entry(k.clone()).or_default().extend(v.clone());
        }
        merged
    }
}

/// How teaching points enter the balance indicators (methodology §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeachingPoints {
    /// Added to the parent school's primary unit (default).
    #[default]
    MergeIntoParent,
    /// Each teaching point is a unit of its own.
    Separate,
    /// Left out of balance indicators (still counted in county totals).
    Exclude,
}

/// Which retention formula (methodology §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionDefinition {
    /// Final-grade students ÷ the cohort's entrants (default; may exceed 100 %).
    #[default]
    Cohort,
    /// Denominator adjusted by transfers in and out along the cohort's path.
    Adjusted,
}

/// The methodology settings (methodology.md), with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// School system of every county not listed in `school_system_by_county`.
    pub school_system: SchoolSystem,
    /// Per-county school systems (`"231182" = "5-4"`).
    pub school_system_by_county: BTreeMap<String, SchoolSystem>,
    /// Weight w of junior pupils when apportioning facilities without a stage.
    pub apportion_junior_weight: f64,
    /// How teaching points enter balance indicators.
    pub teaching_points: TeachingPoints,
    /// Retention formula.
    pub retention_definition: RetentionDefinition,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            school_system: SchoolSystem::SixThree,
            school_system_by_county: BTreeMap::new(),
            apportion_junior_weight: 1.0,
            teaching_points: TeachingPoints::MergeIntoParent,
            retention_definition: RetentionDefinition::Cohort,
        }
    }
}

impl Settings {
    /// The school system of a county.
    pub fn school_system(&self, county_code: Option<&str>) -> SchoolSystem {
        county_code.and_then(|c| self.school_system_by_county.get(c).copied()).unwrap_or(self.school_system)
    }
}

// ---- the TOML file, as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineToml {
    name: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    source: SourceToml,
    output: Option<OutputToml>,
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    standards: BTreeMap<String, StandardToml>,
    /// `[tables.<name>]`, or `[[tables.<name>]]` for a table read from several kinds of file.
    #[serde(default)]
    tables: BTreeMap<String, toml::Value>,
    #[serde(default)]
    quality: QualityToml,
    schedule: Option<ScheduleToml>,
    report: Option<ReportToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportToml {
    /// Write report/ with each run (default true).
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceToml {
    url: String,
    /// `standard` (default when no table has a path) or `templates`.
    layout: Option<String>,
    /// A path template for every table (`{county_code}/{year}/{table}.csv`).
    path: Option<String>,
    /// How to reach the store.
    #[serde(default)]
    storage: crate::storage::StorageOptions,
    #[serde(flatten)]
    defaults: ReadOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputToml {
    url: String,
    #[serde(default)]
    storage: crate::storage::StorageOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleToml {
    /// A cron expression: `0 2 * * *` (minute hour day month weekday) or with seconds first.
    cron: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StandardToml {
    All(f64),
    ByStage(BTreeMap<String, f64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableToml {
    path: Option<String>,
    #[serde(flatten)]
    options: ReadOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityToml {
    #[serde(default)]
    max_rejected_rows: u64,
}

impl Pipeline {
    /// The zero-config pipeline: the standard layout under `source_url`, default settings.
    pub fn standard(source_url: &str) -> Pipeline {
        Pipeline {
            name: "standard".into(),
            hash: String::new(),
            source: Source {
                url: source_url.into(),
                tables: BTreeMap::new(),
                defaults: ReadOptions::default(),
                storage: Default::default(),
            },
            output: None,
            output_storage: Default::default(),
            schedule: None,
            report: true,
            settings: Settings::default(),
            standards: BTreeMap::new(),
            max_rejected_rows: 0,
        }
    }

    /// Read and check a pipeline file. Relative local URLs inside it are relative to its folder.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Pipeline { path: path.into(), message: format!("cannot read: {e}") })?;
        let text = String::from_utf8(bytes.clone()).map_err(|e| Error::Pipeline {
            path: path.into(),
            message: format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut pipeline =
            Pipeline::parse(&text, &base, &stem).map_err(|message| Error::Pipeline { path: path.into(), message })?;
        pipeline.hash = crate::ledger::sha256_hex(&bytes);
        Ok(pipeline)
    }

    /// Parse pipeline TOML. Errors are plain messages; [`Pipeline::load`] adds the file name.
    pub fn parse(text: &str, base_dir: &Path, default_name: &str) -> std::result::Result<Pipeline, String> {
        let file: PipelineToml = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let defaults = file.source.defaults;
        if let Some(schedule) = &file.schedule {
            crate::schedule::parse_cron(&schedule.cron)
                .map_err(|e| format!("schedule.cron = {:?}: {e}", schedule.cron))?;
        }
        check_options("source", &defaults, None)?;
        let mut tables = BTreeMap::new();
        let mut specs: Vec<(Table, String, TableToml)> = Vec::new();
        for (name, value) in file.tables {
            let table = Table::from_name(&name).ok_or_else(|| {
                format!("[tables.{name}]: unknown table; expected one of {}", Table::ALL.map(|t| t.name()).join(", "))
            })?;
            let items = match value {
                toml::Value::Array(items) => items,
                other => vec![other],
            };
            for item in items {
                let spec: TableToml = item
                    .try_into()
                    .map_err(|e: toml::de::Error| format!("[tables.{name}]: {}", e.to_string().trim_end()))?;
                check_options(&format!("tables.{name}"), &spec.options, Some(table))?;
                specs.push((table, name.clone(), spec));
            }
        }
        let template_layout = match file.source.layout.as_deref() {
            None => file.source.path.is_some() || specs.iter().any(|(_, _, s)| s.path.is_some()),
            Some("standard") => false,
            Some("templates") => true,
            Some(other) => {
                return Err(format!("source.layout = {other:?}: expected \"standard\" or \"templates\""));
            }
        };
        if template_layout {
            for table in Table::ALL {
                let mine: Vec<&TableToml> = specs.iter().filter(|(t, _, _)| *t == table).map(|(_, _, s)| s).collect();
                if mine.is_empty() {
                    if let Some(path) = &file.source.path {
                        tables.insert(table, vec![TableSource { path: path.clone(), options: defaults.clone() }]);
                    }
                    continue;
                }
                let mut sources = Vec::new();
                for spec in mine {
                    let Some(path) = spec.path.clone().or_else(|| file.source.path.clone()) else { continue };
                    sources.push(TableSource { path, options: spec.options.or(&defaults) });
                }
                if !sources.is_empty() {
                    tables.insert(table, sources);
                }
            }
            if tables.is_empty() {
                return Err("source.layout = \"templates\" but no table has a path".into());
            }
        } else if let Some((_, name, _)) = specs.iter().find(|(_, _, s)| s.path.is_some()) {
            return Err(format!("[tables.{name}] has a path but source.layout = \"standard\""));
        }
        let mut standards = BTreeMap::new();
        for (id, value) in file.standards {
            let by_stage = match value {
                StandardToml::All(v) => BTreeMap::from([("all".to_owned(), v)]),
                StandardToml::ByStage(m) => m,
            };
            if let Some(stage) = by_stage.keys().find(|s| !matches!(s.as_str(), "primary" | "junior" | "all")) {
                return Err(format!("standards.{id}.{stage}: stage must be primary, junior or all"));
            }
            standards.insert(id, by_stage);
        }
        if file.settings.apportion_junior_weight.is_nan() || file.settings.apportion_junior_weight <= 0.0 {
            return Err("settings.apportion_junior_weight must be > 0".into());
        }
        for county in file.settings.school_system_by_county.keys() {
            if county.len() != 6 || !county.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("settings.school_system_by_county: {county:?} is not a 6-digit county code"));
            }
        }
        Ok(Pipeline {
            name: file.name.unwrap_or_else(|| default_name.to_owned()),
            hash: String::new(),
            source: Source {
                url: crate::storage::resolve_relative(&file.source.url, base_dir),
                tables,
                defaults,
                storage: file.source.storage,
            },
            output: file.output.as_ref().map(|o| crate::storage::resolve_relative(&o.url, base_dir)),
            output_storage: file.output.map(|o| o.storage).unwrap_or_default(),
            schedule: file.schedule.map(|s| s.cron),
            report: file.report.is_none_or(|r| r.enabled),
            settings: file.settings,
            standards,
            max_rejected_rows: file.quality.max_rejected_rows,
        })
    }

    /// The pipeline a committed run used, rebuilt from its ledger (settings and standards), for
    /// re-reading a published version with the same reference tables.
    pub fn from_record(record: &crate::ledger::PipelineRecord) -> Pipeline {
        let mut p = Pipeline::standard(&record.source_url);
        p.name = record.name.clone();
        p.hash = record.hash.clone();
        p.settings = serde_json::from_value(record.settings.clone()).unwrap_or_default();
        p.standards = serde_json::from_value(record.standards.clone()).unwrap_or_default();
        p
    }

    /// The reading options of a table (its first source's, or the source defaults).
    pub fn read_options(&self, table: Table) -> ReadOptions {
        self.source
            .tables
            .get(&table)
            .and_then(|t| t.first())
            .map(|t| t.options.clone())
            .unwrap_or_else(|| self.source.defaults.clone())
    }
}

/// Check that names inside reading options refer to real columns and units.
fn check_options(at: &str, options: &ReadOptions, table: Option<Table>) -> std::result::Result<(), String> {
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
        .chain(options.sums.keys())
        .chain(options.values.keys())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Pipeline, String> {
        Pipeline::parse(text, Path::new("/p"), "test")
    }

    #[test]
    fn minimal_pipeline_is_the_standard_layout() {
        let p = parse("[source]\nurl = \"data\"\n").unwrap();
        assert!(p.source.is_standard_layout());
        assert_eq!(p.source.url, "/p/data");
        assert_eq!(p.name, "test");
        assert_eq!(p.settings, Settings::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[source]\nurl = \"x\"\n[settings]\nschool_sytem = \"5-4\"\n").unwrap_err();
        assert!(err.contains("school_sytem"), "{err}");
        let err = parse("[source]\nurl = \"x\"\nencodng = \"gbk\"\n").unwrap_err();
        assert!(err.contains("encodng"), "{err}");
        let err = parse("[source]\nurl = \"x\"\n[tables.pupil]\npath = \"a.csv\"\n").unwrap_err();
        assert!(err.contains("pupil"), "{err}");
    }

    #[test]
    fn settings_and_templates_are_typed() {
        let p = parse(
            r#"
            name = "demo"
            [source]
            url = "s"
            path = "{county_code}/{year}/{table}.csv"
            encoding = "gbk"
            [tables.pupils]
            path = "{county_code}/{year}/学生.csv"
            delimiter = ";"
            aliases = { students = ["学生人数"] }
            [settings]
            school_system = "5-4"
            school_system_by_county = { "231182" = "6-3" }
            apportion_junior_weight = 1.1
            teaching_points = "separate"
            retention_definition = "adjusted"
            [standards]
            building_area_per_pupil = { primary = 4.1, junior = 5.2 }
            satisfaction_min = 0.9
            [quality]
            max_rejected_rows = 5
            "#,
        )
        .unwrap();
        assert_eq!(p.source.tables.len(), 7);
        let pupils = &p.source.tables[&Table::Pupils][0];
        assert_eq!(pupils.path, "{county_code}/{year}/学生.csv");
        assert_eq!(pupils.options.encoding.as_deref(), Some("gbk"));
        assert_eq!(pupils.options.delimiter.as_deref(), Some(";"));
        assert_eq!(p.settings.school_system(Some("231182")), SchoolSystem::SixThree);
        assert_eq!(p.settings.school_system(Some("110101")), SchoolSystem::FiveFour);
        assert_eq!(p.settings.teaching_points, TeachingPoints::Separate);
        assert_eq!(p.standards["building_area_per_pupil"]["junior"], 5.2);
        assert_eq!(p.standards["satisfaction_min"]["all"], 0.9);
        assert_eq!(p.max_rejected_rows, 5);
    }

    #[test]
    fn a_table_may_come_from_several_kinds_of_file() {
        let p = parse(
            "[source]\nurl = \"s\"\n[[tables.pupils]]\npath = \"primary.csv\"\nconstants = { grade = \"1\" }\n[[tables.pupils]]\npath = \"junior.csv\"\nconstants = { grade = \"7\" }\n",
        )
        .unwrap();
        let pupils = &p.source.tables[&Table::Pupils];
        assert_eq!(pupils.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["primary.csv", "junior.csv"]);
        assert_eq!(pupils[1].options.constants["grade"], "7");
        let err = parse("[source]\nurl = \"s\"\n[[tables.pupils]]\npath = \"a.csv\"\nconstant = {}\n").unwrap_err();
        assert!(err.contains("tables.pupils") && err.contains("constant"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse("[source]\nurl = \"x\"\nencoding = \"klingon\"\n").unwrap_err().contains("klingon"));
        assert!(parse("[source]\nurl = \"x\"\nunits = { students = \"万元\" }\n").is_ok());
        assert!(parse("[source]\nurl = \"x\"\nunits = { nothing = \"万元\" }\n").unwrap_err().contains("nothing"));
        assert!(parse("[source]\nurl = \"x\"\n[settings]\nteaching_points = \"merge\"\n").is_err());
        assert!(parse("[source]\nurl = \"x\"\n[standards]\nx = { senior = 1.0 }\n").unwrap_err().contains("senior"));
    }
}
