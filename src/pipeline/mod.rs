//! Pipeline files (`pipelines/*.toml`) → a typed [`Pipeline`]; pure parsing, no I/O beyond
//! reading the file itself.
//!
//! A pipeline says where submissions are (a URL and, unless they follow the standard layout,
//! a path template per table), how to read them (format, encoding, delimiter, extra header
//! aliases, null markers), the methodology settings and provincial standards, and where to
//! publish. Unknown keys are errors that name the key and the file: a typo must never silently
//! fall back to a default.

mod file;
pub mod keys;
mod options;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

pub use options::{FileOptions, Format, ReadOptions, WideGrades};

use crate::contract::{SchoolSystem, Table};
use crate::error::{Error, Result};

/// Parse a cron expression: five fields (`0 2 * * *`: minute hour day month weekday) or six with
/// seconds first (`*/30 * * * * *`).
pub fn parse_cron(expression: &str) -> std::result::Result<Cron, String> {
    CronParser::builder().seconds(Seconds::Optional).build().parse(expression).map_err(|e| e.to_string())
}

/// A whole pipeline: sources, reading options, settings, output.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    /// Name shown in the ledger and logs (the file stem when not given).
    pub name: String,
    /// SHA-256 of what the pipeline file says — its TOML as parsed, comments and layout aside
    /// (empty for the zero-config standard layout).
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
    /// The language the report is written in (default Chinese).
    pub report_language: crate::report::Language,
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
    /// Where the evidence files (佐证材料) are: a folder template with `{county_code}` and `{year}`
    /// relative to `url`. None: `{county_code}/{year}/evidence/` of the standard layout.
    pub evidence: Option<String>,
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
    /// The years this entry claims (by the `{year}` of the path); None: every year.
    pub years: Option<Years>,
    /// How messages name the entry: `[tables.pupils]`, or `[[tables.pupils]] #2` of several.
    pub label: String,
}

/// A set of years, as inclusive ranges (`years = "2005-2012"`, `"2013-"`, `[2016, 2018]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Years(pub Vec<(i32, i32)>);

impl std::fmt::Display for Years {
    /// As a pipeline file writes them: `2015-2016`, `-2016`, `2017-`, `2016, 2018`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(from, to)| match (from, to) {
                (a, b) if a == b => a.to_string(),
                (i32::MIN, b) => format!("-{b}"),
                (a, i32::MAX) => format!("{a}-"),
                (a, b) => format!("{a}-{b}"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

impl Years {
    /// Parse `"2005-2012"`, `"2013-"` (and later), `"-2012"` (and earlier), `"2016"`, or several
    /// of these separated by commas.
    pub fn parse(text: &str) -> std::result::Result<Years, String> {
        let year = |t: &str, open: i32| -> std::result::Result<i32, String> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(open);
            }
            t.parse::<i32>()
                .ok()
                .filter(|y| (1900..=2200).contains(y))
                .ok_or_else(|| format!("{t:?} is not a year (write years = \"2005-2012\", \"2013-\" or [2016, 2018])"))
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((from, to)) => (year(from, i32::MIN)?, year(to, i32::MAX)?),
                None => {
                    let y = year(part, i32::MIN)?;
                    if part.trim().is_empty() {
                        return Err(format!("{text:?}: an empty year"));
                    }
                    (y, y)
                }
            };
            if range.0 > range.1 {
                return Err(format!("{part:?}: the first year is after the last"));
            }
            ranges.push(range);
        }
        Ok(Years(ranges))
    }

    /// Whether a year is one of them.
    pub fn contains(&self, year: i32) -> bool {
        self.0.iter().any(|(from, to)| (*from..=*to).contains(&year))
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

/// What a multi-stage school's teachers row without a stage means (sources that count a school's
/// teachers once, as most foreign ones do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeachersWithoutStage {
    /// A `stage_required` error: each row of a nine-year school must say 小学 or 初中 (default).
    #[default]
    Reject,
    /// The school's teachers, split between its stages by its pupils in whole teachers
    /// (primary = round(T · P_primary / (P_primary + P_junior)), junior = T − primary), or in
    /// hundredths of a full-time equivalent with [`TeacherCounts::Fte`].
    ApportionByPupils,
}

/// How the teachers table counts its staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeacherCounts {
    /// Persons: whole numbers (`62.50` is a `not_a_whole_number` error), published as int64
    /// (default; the census counts persons).
    #[default]
    Headcount,
    /// Full-time equivalents, as most foreign sources state staff (`62.50`): numbers ≥ 0,
    /// published as float64; an apportioned school's parts are rounded to hundredths.
    Fte,
}

impl TeacherCounts {
    /// Whether a column of a table holds fractions under this setting: the staff counts of the
    /// teachers table when they are full-time equivalents. Validation, the staging schema and the
    /// dictionary all ask this one question.
    pub fn fractional(self, table: Table, column: &crate::contract::Column) -> bool {
        self == TeacherCounts::Fte && table.counts_staff(column)
    }
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
    /// What a multi-stage school's teachers row without a stage means: an error (default), or
    /// the school's teachers, apportioned to its stages by its pupils.
    pub teachers_without_stage: TeachersWithoutStage,
    /// Whether the teachers table counts persons (default) or full-time equivalents.
    pub teacher_counts: TeacherCounts,
    /// The currency of every amount, written as its ISO 4217 code (default CNY). Amounts are
    /// never converted: the marts say which currency they are in, and standards in 元 are not
    /// applied to another.
    #[serde(with = "crate::contract::currency_code")]
    pub currency: &'static crate::contract::Currency,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            school_system: SchoolSystem::SixThree,
            school_system_by_county: BTreeMap::new(),
            apportion_junior_weight: 1.0,
            teaching_points: TeachingPoints::MergeIntoParent,
            retention_definition: RetentionDefinition::Cohort,
            teachers_without_stage: TeachersWithoutStage::Reject,
            teacher_counts: TeacherCounts::Headcount,
            currency: &crate::contract::CURRENCIES[0],
        }
    }
}

impl Settings {
    /// The school system of a county.
    pub fn school_system(&self, county_code: Option<&str>) -> SchoolSystem {
        county_code.and_then(|c| self.school_system_by_county.get(c).copied()).unwrap_or(self.school_system)
    }
}

/// The SHA-256 of what a pipeline file says, not how it is written: its TOML as parsed, with
/// keys in order, so that an edited comment, blank lines, re-ordered keys or another quoting
/// leave it — and so the next run, which re-reads everything when the hash changes — as it was.
fn meaning_hash(text: &str) -> Option<String> {
    let value: toml::Value = toml::from_str(text).ok()?;
    // toml's tables are ordered maps (no `preserve_order`), so the JSON is canonical.
    let canonical = serde_json::to_vec(&value).ok()?;
    Some(crate::ledger::sha256_hex(&canonical))
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
                evidence: None,
            },
            output: None,
            output_storage: Default::default(),
            schedule: None,
            report: true,
            report_language: crate::report::Language::Chinese,
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
            file::parse(&text, &base, &stem).map_err(|message| Error::Pipeline { path: path.into(), message })?;
        pipeline.hash = meaning_hash(&text).unwrap_or_else(|| crate::ledger::sha256_hex(&bytes));
        Ok(pipeline)
    }

    /// Parse pipeline TOML (what [`Pipeline::load`] does with a file's text); relative local
    /// URLs are resolved against `base_dir`. Errors are plain messages naming the key.
    pub fn parse(text: &str, base_dir: &Path, default_name: &str) -> std::result::Result<Pipeline, String> {
        file::parse(text, base_dir, default_name)
    }

    /// The pipeline a committed run used, rebuilt from its ledger (settings and standards), for
    /// re-reading a published version with the same reference tables. A ledger whose settings
    /// this junheng cannot read is an error: a default would publish other figures.
    pub fn from_record(record: &crate::ledger::PipelineRecord) -> Result<Pipeline> {
        let json = |what: &str, source| Error::Json { context: format!("the run ledger's pipeline {what}"), source };
        let mut p = Pipeline::standard(&record.source_url);
        p.name = record.name.clone();
        p.hash = record.hash.clone();
        p.settings = serde_json::from_value(record.settings.clone()).map_err(|e| json("settings", e))?;
        p.standards = serde_json::from_value(record.standards.clone()).map_err(|e| json("standards", e))?;
        p.report_language = record.report_language;
        Ok(p)
    }

    /// The methodology settings as the ledger records them.
    pub fn settings_record(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.settings).map_err(|source| Error::Json { context: "settings".into(), source })
    }

    /// The standards as the ledger records them.
    pub fn standards_record(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.standards).map_err(|source| Error::Json { context: "standards".into(), source })
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
    fn comments_and_layout_do_not_change_the_hash_what_it_says_does() {
        let a = "[source]\nurl = \"data\"\nencoding = \"gbk\"\n";
        let b = "# a comment\n[source]\n  encoding = 'gbk'   # why\n\nurl = \"data\"\n";
        let c = "[source]\nurl = \"data\"\nencoding = \"utf-8\"\n";
        assert_eq!(meaning_hash(a), meaning_hash(b));
        assert_ne!(meaning_hash(a), meaning_hash(c));
    }

    #[test]
    fn the_currency_is_read_as_a_known_code_or_refused() {
        let p = parse("[source]\nurl = \"x\"\n[settings]\ncurrency = \"usd\"\n").unwrap();
        assert_eq!(p.settings.currency.code, "USD");
        assert!(parse("[source]\nurl = \"x\"\n").unwrap().settings.currency.is_yuan());
        let err = parse("[source]\nurl = \"x\"\n[settings]\ncurrency = \"XYZ\"\n").unwrap_err();
        assert!(err.contains("\"XYZ\" is not one junheng knows") && err.contains("USD"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_said_in_words_not_rust_types() {
        let err = parse("[source]\nurl = \"x\"\nheader_row = \"3\"\n").unwrap_err();
        assert!(err.contains("expected a whole number ≥ 0") && !err.contains("usize"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_the_keys_of_its_section() {
        let err = parse("# a comment\n[source]\nurl = \"x\"\nencodng = \"gbk\"\n").unwrap_err();
        assert!(err.starts_with("line 4: unknown key `encodng` in [source]; its keys are: url, layout,"), "{err}");
        assert!(err.contains("encoding") && err.contains("skip_where") && err.contains("optional"), "{err}");
        let err = parse("[source]\nurl = \"x\"\n\n[[tables.pupils]]\npath = \"a.csv\"\nconstant = { grade = \"1\" }\n")
            .unwrap_err();
        assert!(
            err.starts_with("line 6: unknown key `constant` in [tables.pupils]; its keys are: path, years,"),
            "{err}"
        );
        assert!(err.contains("constants"), "{err}");
        // Sections serde can list keep its message, which has the line and the keys.
        let err = parse("[source]\nurl = \"x\"\n[settings]\nschool_sytem = \"5-4\"\n").unwrap_err();
        assert!(err.contains("line 4") && err.contains("expected one of `school_system`"), "{err}");
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
            building_area_per_pupil_min = { primary = 4.1, junior = 5.2 }
            satisfaction_min = 0.9
            [quality]
            max_rejected_rows = 5
            "#,
        )
        .unwrap();
        assert_eq!(p.source.tables.len(), Table::ALL.len());
        let pupils = &p.source.tables[&Table::Pupils][0];
        assert_eq!(pupils.path, "{county_code}/{year}/学生.csv");
        assert_eq!(pupils.options.encoding.as_deref(), Some("gbk"));
        assert_eq!(pupils.options.delimiter.as_deref(), Some(";"));
        assert_eq!(p.settings.school_system(Some("231182")), SchoolSystem::SixThree);
        assert_eq!(p.settings.school_system(Some("110101")), SchoolSystem::FiveFour);
        assert_eq!(p.settings.teaching_points, TeachingPoints::Separate);
        assert_eq!(p.standards["building_area_per_pupil_min"]["junior"], 5.2);
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
    fn entries_claim_years_and_may_lack_optional_columns() {
        let y = Years::parse("2005-2012, 2016, 2018-").unwrap();
        assert!(y.contains(2005) && y.contains(2012) && y.contains(2016) && y.contains(2030));
        assert!(!y.contains(2004) && !y.contains(2013) && !y.contains(2017));
        assert_eq!(y.to_string(), "2005-2012, 2016, 2018-");
        assert!(Years::parse("-2012").unwrap().contains(1990));
        assert!(Years::parse("2012-2005").unwrap_err().contains("after"));
        assert!(Years::parse("20x5").unwrap_err().contains("not a year"));
        let p = parse(
            "[source]\nurl = \"s\"\n[[tables.pupils]]\npath = \"{year}/a.csv\"\nyears = [2016, 2018]\noptional = [\"classes\"]\n\
             [[tables.pupils]]\npath = \"{year}/b.csv\"\nyears = 2017\n",
        )
        .unwrap();
        let pupils = &p.source.tables[&Table::Pupils];
        assert_eq!(pupils[0].label, "[[tables.pupils]] #1");
        assert_eq!(pupils[0].years.as_ref().unwrap().to_string(), "2016, 2018");
        assert!(pupils[0].options.may_lack("classes") && !pupils[1].options.may_lack("classes"));
        assert!(pupils[1].years.as_ref().unwrap().contains(2017));
        // Years are the years of the paths: an entry without {year} cannot have them.
        let err = parse("[source]\nurl = \"s\"\n[tables.pupils]\npath = \"a.csv\"\nyears = \"2016-\"\n").unwrap_err();
        assert!(err.contains("[tables.pupils].years") && err.contains("{year}"), "{err}");
        let err = parse("[source]\nurl = \"s\"\n[tables.pupils]\npath = \"{year}.csv\"\noptional = [\"nope\"]\n")
            .unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse("[source]\nurl = \"x\"\nencoding = \"klingon\"\n").unwrap_err().contains("klingon"));
        assert!(parse("[source]\nurl = \"x\"\nunits = { students = \"万元\" }\n").is_ok());
        assert!(parse("[source]\nurl = \"x\"\nunits = { nothing = \"万元\" }\n").unwrap_err().contains("nothing"));
        assert!(parse("[source]\nurl = \"x\"\n[settings]\nteaching_points = \"merge\"\n").is_err());
        let senior = "[source]\nurl = \"x\"\n[standards]\nsatisfaction_min = { senior = 1.0 }\n";
        assert!(parse(senior).unwrap_err().contains("senior"));
        // A standard nobody reads is a typo, named with the ids there are.
        let typo = parse("[source]\nurl = \"x\"\n[standards]\nsatisfaction_minimum = 0.9\n").unwrap_err();
        assert!(typo.contains("standards.satisfaction_minimum") && typo.contains("satisfaction_min,"), "{typo}");
    }
}
