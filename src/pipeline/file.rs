//! The pipeline file as written (TOML), and how it becomes a [`Pipeline`]: every key checked,
//! unknown keys named, relative paths resolved against the file's folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::options::{ReadOptions, check_options};
use super::{Pipeline, Settings, Source, TableSource, Years, parse_cron};
use crate::contract::{Stage, Table};

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
    #[serde(default = "yes")]
    enabled: bool,
    /// The report's language: `zh` (default) or `en`.
    #[serde(default)]
    language: crate::report::Language,
}

fn yes() -> bool {
    true
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
    /// The evidence folder of a county-year (`{county_code}/{year}/佐证材料`).
    evidence: Option<String>,
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
    /// The years this entry claims, by the path's `{year}`.
    years: Option<YearsToml>,
    #[serde(flatten)]
    options: ReadOptions,
}

/// `years = "2005-2012"`, `years = 2016` or `years = [2016, 2018]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum YearsToml {
    One(i32),
    Text(String),
    List(Vec<i32>),
}

impl YearsToml {
    fn years(&self) -> Result<Years, String> {
        match self {
            YearsToml::One(y) => Years::parse(&y.to_string()),
            YearsToml::Text(t) => Years::parse(t),
            YearsToml::List(ys) if ys.is_empty() => Err("an empty list claims no year".into()),
            YearsToml::List(ys) => Years::parse(&ys.iter().map(i32::to_string).collect::<Vec<_>>().join(",")),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityToml {
    #[serde(default)]
    max_rejected_rows: u64,
}

/// Parse pipeline TOML. Errors are plain messages; [`Pipeline::load`] adds the file name.
pub(super) fn parse(text: &str, base_dir: &Path, default_name: &str) -> Result<Pipeline, String> {
    let file: PipelineToml = toml::from_str(text).map_err(|e| explain_error(text, &e))?;
    let defaults = file.source.defaults;
    if let Some(schedule) = &file.schedule {
        parse_cron(&schedule.cron).map_err(|e| format!("schedule.cron = {:?}: {e}", schedule.cron))?;
    }
    check_options("source", &defaults, None)?;
    let specs = table_specs(text, file.tables)?;
    let tables = table_sources(file.source.layout.as_deref(), file.source.path.as_deref(), &defaults, &specs)?;
    let standards = standards(file.standards)?;
    check_settings(&file.settings)?;
    Ok(Pipeline {
        name: file.name.unwrap_or_else(|| default_name.to_owned()),
        hash: String::new(),
        source: Source {
            url: crate::storage::resolve_relative(&file.source.url, base_dir),
            tables,
            defaults,
            storage: file.source.storage,
            evidence: file.source.evidence,
        },
        output: file.output.as_ref().map(|o| crate::storage::resolve_relative(&o.url, base_dir)),
        output_storage: file.output.map(|o| o.storage).unwrap_or_default(),
        schedule: file.schedule.map(|s| s.cron),
        report: file.report.as_ref().is_none_or(|r| r.enabled),
        report_language: file.report.map(|r| r.language).unwrap_or_default(),
        settings: file.settings,
        standards,
        max_rejected_rows: file.quality.max_rejected_rows,
    })
}

/// The keys of `[source]` besides the reading options.
const SOURCE_KEYS: [&str; 5] = ["url", "layout", "path", "storage", "evidence"];
/// The keys of a `[tables.<name>]` entry besides the reading options.
const TABLE_KEYS: [&str; 2] = ["path", "years"];

/// The keys a struct read from TOML accepts, asked of serde itself (so the list cannot drift
/// from the code): the field names its derived `Deserialize` hands `deserialize_struct`.
fn keys_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    struct FieldNames<'a>(&'a mut Vec<&'static str>);
    impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("field names only"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(serde::de::Error::custom("field names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut names = Vec::new();
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// Every key a section of a pipeline file accepts (`source`, `tables.<name>`), for messages and
/// the reference; None for sections whose errors already list them.
pub(super) fn section_keys(section: &str) -> Option<Vec<&'static str>> {
    let own: &[&str] = match section {
        "source" => &SOURCE_KEYS,
        s if s.starts_with("tables.") => &TABLE_KEYS,
        _ => return None,
    };
    Some(own.iter().copied().chain(keys_of::<ReadOptions>()).collect())
}

/// Every section of the file with the keys its parser accepts (for the reference's test, so
/// [`super::keys`] cannot drift from the structs that read the file).
#[cfg(test)]
pub(super) fn accepted_keys() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("", keys_of::<PipelineToml>()),
        ("source", section_keys("source").unwrap_or_default()),
        ("source.storage", keys_of::<crate::storage::StorageOptions>()),
        ("tables.<table>", section_keys("tables.pupils").unwrap_or_default()),
        ("reading options", keys_of::<ReadOptions>()),
        ("wide", keys_of::<super::options::WideGrades>()),
        ("output", keys_of::<OutputToml>()),
        ("output.storage", keys_of::<crate::storage::StorageOptions>()),
        ("settings", keys_of::<Settings>()),
        ("standards", Vec::new()),
        ("quality", keys_of::<QualityToml>()),
        ("schedule", keys_of::<ScheduleToml>()),
        ("report", keys_of::<ReportToml>()),
    ]
}

/// A TOML error as a person can act on it: an unknown key of a section whose keys serde cannot
/// list (they are flattened) is named with its line and the section's keys.
fn explain_error(text: &str, error: &toml::de::Error) -> String {
    let section = error.span().map(|span| section_at(text, span.start)).unwrap_or_default();
    unknown_key(text, error, &section).unwrap_or_else(|| in_words(error.to_string().trim_end()))
}

/// serde's names of Rust types (`expected usize`) in words a pipeline's author knows.
fn in_words(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, words) in [
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
    ] {
        out = out.replace(rust, words);
    }
    out
}

/// "line 3: unknown key `encodng` in [source]; its keys are: …", when the error is an unknown key.
fn unknown_key(text: &str, error: &toml::de::Error, section: &str) -> Option<String> {
    let message = error.message();
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    if message.contains("expected") {
        return None;
    }
    let keys = section_keys(section)?;
    let header = |l: &str| l.trim_start().starts_with('[');
    // The key's line: the first line of the section that sets it (or, failing that, any).
    let mut current = String::new();
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        if header(line) {
            current = line.trim().trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            continue;
        }
        let t = line.trim_start();
        let t = t.strip_prefix('"').unwrap_or(t);
        let sets = t.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            rest.trim_start().starts_with('=')
        });
        if sets && (found.is_none() || current == section) {
            found = Some(i + 1);
            if current == section {
                break;
            }
        }
    }
    let at = found.map_or(String::new(), |n| format!("line {n}: "));
    Some(format!(
        "{at}unknown key `{key}` in [{section}]; its keys are: {} (`junheng pipeline keys` says what each does)",
        keys.join(", ")
    ))
}

/// The table header (`source`, `tables.pupils`) in force at a byte offset of the file.
fn section_at(text: &str, offset: usize) -> String {
    let mut section = String::new();
    for line in text[..offset.min(text.len())].lines().chain(text[offset.min(text.len())..].lines().take(1)) {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
    }
    section
}

/// `[tables.<name>]` entries (one, or several as `[[tables.<name>]]`), each checked.
fn table_specs(text: &str, tables: BTreeMap<String, toml::Value>) -> Result<Vec<(Table, String, TableToml)>, String> {
    let mut specs = Vec::new();
    for (name, value) in tables {
        let table = Table::from_name(&name).ok_or_else(|| {
            format!("[tables.{name}]: unknown table; expected one of {}", Table::ALL.map(|t| t.name()).join(", "))
        })?;
        let items = match value {
            toml::Value::Array(items) => items,
            other => vec![other],
        };
        let several = items.len() > 1;
        for (i, item) in items.into_iter().enumerate() {
            let label = if several { format!("[[tables.{name}]] #{}", i + 1) } else { format!("[tables.{name}]") };
            let spec: TableToml = item.try_into().map_err(|e: toml::de::Error| {
                let at = format!("tables.{name}");
                unknown_key(text, &e, &at).unwrap_or_else(|| format!("{label}: {}", e.to_string().trim_end()))
            })?;
            check_options(&format!("tables.{name}"), &spec.options, Some(table))?;
            specs.push((table, label, spec));
        }
    }
    Ok(specs)
}

/// Where each table's files are: none for the standard layout, else a path template per source.
fn table_sources(
    layout: Option<&str>,
    source_path: Option<&str>,
    defaults: &ReadOptions,
    specs: &[(Table, String, TableToml)],
) -> Result<BTreeMap<Table, Vec<TableSource>>, String> {
    let template_layout = match layout {
        None => source_path.is_some() || specs.iter().any(|(_, _, s)| s.path.is_some()),
        Some("standard") => false,
        Some("templates") => true,
        Some(other) => return Err(format!("source.layout = {other:?}: expected \"standard\" or \"templates\"")),
    };
    let mut tables = BTreeMap::new();
    if !template_layout {
        if let Some((_, label, _)) = specs.iter().find(|(_, _, s)| s.path.is_some() || s.years.is_some()) {
            return Err(format!("{label} has a path or years but source.layout = \"standard\""));
        }
        return Ok(tables);
    }
    for table in Table::ALL {
        let mine: Vec<(&String, &TableToml)> =
            specs.iter().filter(|(t, _, _)| *t == table).map(|(_, label, s)| (label, s)).collect();
        if mine.is_empty() {
            if let Some(path) = source_path {
                let label = format!("[source] path (table {table})");
                let source = TableSource { path: path.to_owned(), options: defaults.clone(), years: None, label };
                tables.insert(table, vec![source]);
            }
            continue;
        }
        let mut sources = Vec::new();
        for (label, spec) in mine {
            let Some(path) = spec.path.clone().or_else(|| source_path.map(str::to_owned)) else { continue };
            let years =
                spec.years.as_ref().map(|y| y.years().map_err(|e| format!("{label}.years: {e}"))).transpose()?;
            if years.is_some() && !path.contains("{year}") {
                return Err(format!(
                    "{label}.years: the path {path:?} has no {{year}}; an entry's years are the years of its paths"
                ));
            }
            sources.push(TableSource { path, options: spec.options.or(defaults), years, label: label.clone() });
        }
        if !sources.is_empty() {
            tables.insert(table, sources);
        }
    }
    if tables.is_empty() {
        return Err("source.layout = \"templates\" but no table has a path".into());
    }
    Ok(tables)
}

/// `[standards]`: overrides of known thresholds, by stage (a bare number means every stage).
fn standards(file: BTreeMap<String, StandardToml>) -> Result<BTreeMap<String, BTreeMap<String, f64>>, String> {
    let known = crate::sql_files::threshold_ids().map_err(|e| e.to_string())?;
    let mut standards = BTreeMap::new();
    for (id, value) in file {
        if !known.contains(&id) {
            let ids: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(format!(
                "standards.{id}: unknown threshold or standard; the ids are those of sql/reference/thresholds.csv: {}",
                ids.join(", ")
            ));
        }
        let by_stage = match value {
            StandardToml::All(v) => BTreeMap::from([("all".to_owned(), v)]),
            StandardToml::ByStage(m) => m,
        };
        if let Some(stage) = by_stage.keys().find(|s| s.as_str() != "all" && Stage::parse(s).is_none()) {
            return Err(format!("standards.{id}.{stage}: stage must be primary, junior or all"));
        }
        standards.insert(id, by_stage);
    }
    Ok(standards)
}

/// Methodology settings that parse but cannot be used.
fn check_settings(settings: &Settings) -> Result<(), String> {
    if settings.apportion_junior_weight.is_nan() || settings.apportion_junior_weight <= 0.0 {
        return Err("settings.apportion_junior_weight must be > 0".into());
    }
    for county in settings.school_system_by_county.keys() {
        if county.len() != 6 || !county.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("settings.school_system_by_county: {county:?} is not a 6-digit county code"));
        }
    }
    Ok(())
}
