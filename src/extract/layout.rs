//! Discovery: which objects under the source root are which table, county and year.
//!
//! The standard layout (inputs.md) needs no configuration:
//! `<root>/{county_code}/{year}/{table}.csv|json|ndjson` with the table named in English or
//! Chinese. A pipeline file may instead give a path template per table, with `{county_code}`,
//! `{year}`, `{table}`, `*` (within a folder) and `**` (across folders). Objects that match
//! nothing are listed as ignored, so a misnamed file is visible rather than silently skipped.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use regex::Regex;

use super::SourceFile;
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::pipeline::{FileOptions, Format, Pipeline};
use crate::storage::Location;

/// The files of a submission, sorted by year, county and table.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read.
    pub files: Vec<Arc<SourceFile>>,
    /// Objects under the root that are not a table of the submission (relative paths).
    pub ignored: Vec<String>,
    /// (table, county, year) slices with more than one file: none of them is read.
    pub conflicts: Vec<Conflict>,
    /// Evidence files (佐证材料) of the quality-balance assessment, sorted by path: never read as
    /// data, only recorded.
    pub evidence: Vec<EvidenceFile>,
    /// Files of a local source reached through a symbolic link (relative path, where it points):
    /// never read, so that a link cannot publish a file from outside the source folder.
    pub links: Vec<(String, String)>,
}

/// A file under a county-year's evidence folder (`{county_code}/{year}/evidence/{item}…/`).
#[derive(Debug, Clone)]
pub struct EvidenceFile {
    /// Full URL.
    pub uri: String,
    /// The object's path inside the store.
    pub location: object_store::path::Path,
    /// Path relative to the source root.
    pub relative: String,
    /// County code from the path.
    pub county_code: Option<String>,
    /// Year from the path.
    pub year: Option<i32>,
    /// The item its folder names (`g1`, `e3` …); None when the folder names no evidence item.
    pub item: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Last modification time.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// The evidence item a folder under `evidence/` names: its name starts with the item id
/// (case-insensitive) not followed by a digit — `g10-编制` names g10, `g1-规划` g1, `g12` nothing.
pub fn evidence_item(folder: &str, items: &[String]) -> Option<String> {
    let lower = folder.to_lowercase();
    items
        .iter()
        .find(|id| lower.starts_with(id.as_str()) && !lower[id.len()..].starts_with(|c: char| c.is_ascii_digit()))
        .cloned()
}

/// Two or more files claiming the same table of the same county and year.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The table.
    pub table: Table,
    /// The county code from the path.
    pub county_code: String,
    /// The year from the path.
    pub year: i32,
    /// The files (relative paths).
    pub files: Vec<String>,
}

/// A compiled path pattern: for one table, or (None) for a workbook holding several.
#[derive(Debug)]
struct Pattern {
    table: Option<Table>,
    regex: Regex,
    /// The pipeline entry it comes from, for messages (`[[tables.pupils]] #2`).
    label: String,
    /// The path template as written.
    template: String,
    /// The years the entry claims (None: all).
    years: Option<crate::pipeline::Years>,
    /// Shared by every file the pattern finds (a country has 176 700).
    options: Arc<FileOptions>,
}

/// Where a submission's evidence files are: the county-year's evidence folder, everything below it.
fn evidence_pattern(pipeline: &Pipeline) -> Result<Regex> {
    let pattern = match &pipeline.source.evidence {
        Some(root) => {
            let anchored = template_regex(root.trim_end_matches('/'), Table::Schools)
                .map_err(|message| Error::Template { template: root.clone(), message })?;
            format!("{}/(?P<rest>.+)$", anchored.as_str().trim_end_matches('$'))
        }
        None => r"^(?:.*/)?(?P<county_code>[0-9]{6})/(?P<year>[0-9]{4})/evidence/(?P<rest>.+)$".to_owned(),
    };
    Regex::new(&pattern).map_err(|e| Error::Template { template: pattern.clone(), message: e.to_string() })
}

/// An object under an evidence folder, as an evidence file.
fn evidence_file(
    source: &Location,
    meta: &object_store::ObjectMeta,
    relative: &str,
    caps: &regex::Captures,
) -> Result<EvidenceFile> {
    let items = crate::sql_files::evidence_items()?;
    let rest = caps.name("rest").map_or("", |m| m.as_str());
    let item = rest.split_once('/').and_then(|(folder, _)| evidence_item(folder, items));
    Ok(EvidenceFile {
        uri: source.url_of(&meta.location),
        location: meta.location.clone(),
        relative: relative.to_owned(),
        county_code: caps.name("county_code").map(|m| m.as_str().to_owned()),
        year: caps.name("year").and_then(|m| m.as_str().parse().ok()),
        item,
        size: meta.size,
        e_tag: meta.e_tag.clone(),
        last_modified: meta.last_modified,
    })
}

/// Where `relative` (a file under the local folder `root`) leads when it, or a folder on its way,
/// is a symbolic link; `None` for a plain file. Folders found plain are remembered.
fn linked(
    root: &std::path::Path,
    relative: &str,
    plain_folders: &mut std::collections::HashSet<String>,
) -> Option<String> {
    let parts: Vec<&str> = relative.split('/').collect();
    for depth in 1..=parts.len() {
        let prefix = parts[..depth].join("/");
        let is_file = depth == parts.len();
        if !is_file && plain_folders.contains(&prefix) {
            continue;
        }
        let path = root.join(&prefix);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                return Some(target);
            }
            Ok(_) if !is_file => {
                plain_folders.insert(prefix);
            }
            _ => {}
        }
    }
    None
}

/// List the source root and classify every object.
pub async fn discover(source: &Location, pipeline: &Pipeline) -> Result<Discovery> {
    let patterns = patterns(pipeline)?;
    let evidence_root = evidence_pattern(pipeline)?;
    let mut evidence = Vec::new();
    let objects: Vec<object_store::ObjectMeta> = source
        .store
        .list(Some(&source.prefix))
        .try_collect()
        .await
        .map_err(|e| Error::store("list", &source.url, e))?;
    let mut found: BTreeMap<(i32, String, Table, String), Arc<SourceFile>> = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut overlaps = Vec::new();
    let mut links = Vec::new();
    let mut plain_folders = std::collections::HashSet::new();
    for meta in objects {
        let Some(relative) = source.relative(&meta.location) else {
            continue;
        };
        if relative.split('/').any(|part| part.starts_with('.') || part.starts_with('_')) {
            continue; // hidden files and folders (.DS_Store, _SUCCESS, ~$ lock files below)
        }
        if let Some(root) = &source.local_root
            && let Some(target) = linked(root, &relative, &mut plain_folders)
        {
            links.push((relative, target));
            continue;
        }
        if let Some(caps) = evidence_root.captures(&relative) {
            evidence.push(evidence_file(source, &meta, &relative, &caps)?);
            continue;
        }
        let matches: Vec<(&Pattern, regex::Captures)> = patterns
            .iter()
            .filter_map(|p| p.regex.captures(&relative).map(|c| (p, c)))
            .filter(|(p, c)| claims_year(p, c))
            .collect();
        let overlap = overlapping_entries(&relative, &matches);
        if !overlap.is_empty() {
            overlaps.extend(overlap);
            continue;
        }
        if matches.is_empty() {
            ignored.push(relative);
            continue;
        }
        if relative.rsplit('/').next().is_some_and(|n| n.starts_with("~$")) {
            continue; // Excel's lock file of an open workbook
        }
        // One object may hold several tables (a national file read as schools and as pupils).
        for (pattern, caps) in matches {
            let extension = relative.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            let Some(format) = pattern.options.format.or_else(|| Format::from_extension(extension)) else {
                ignored.push(relative.clone());
                continue;
            };
            let county_code = caps.name("county_code").map(|m| m.as_str().to_owned());
            let year = caps.name("year").and_then(|m| m.as_str().parse().ok());
            let file = SourceFile {
                uri: source.url_of(&meta.location),
                location: meta.location.clone(),
                relative: relative.clone(),
                table: pattern.table.unwrap_or(Table::Schools),
                format,
                sheet: None,
                county_code: county_code.clone(),
                year,
                size: meta.size,
                e_tag: meta.e_tag.clone(),
                last_modified: meta.last_modified,
                options: pattern.options.clone(),
            };
            // A workbook's tables are its sheets, named after them (or the one the pipeline names).
            let tables: Vec<(Table, Option<String>)> = match (format, pattern.table) {
                (Format::Workbook, table) if file.options.sheet.is_none() => {
                    match workbook_sheets(source, &meta.location, meta.size).await {
                        Ok(sheets) => {
                            let mut out = Vec::new();
                            for sheet in sheets {
                                match super::xlsx::table_of_sheet(&sheet) {
                                    Some(t) if table.is_none_or(|want| want == t) => out.push((t, Some(sheet))),
                                    _ => ignored.push(format!("{relative} sheet {sheet}")),
                                }
                            }
                            out
                        }
                        // An unreadable workbook still becomes a file, so its failure is reported.
                        Err(_) => vec![(table.unwrap_or(Table::Schools), None)],
                    }
                }
                (_, table) => vec![(table.unwrap_or(Table::Schools), None)],
            };
            for (table, sheet) in tables {
                let name = match &sheet {
                    Some(s) => format!("{relative}#{s}"),
                    None => relative.clone(),
                };
                let file = SourceFile { table, sheet, ..file.clone() };
                found.insert((year.unwrap_or(0), county_code.clone().unwrap_or_default(), table, name), Arc::new(file));
            }
        }
    }
    if !overlaps.is_empty() {
        return Err(overlap_error(overlaps));
    }
    ignored.sort();
    // One file per (table, county, year) when the path names county and year.
    let mut slices: BTreeMap<(Table, String, i32), Vec<Arc<SourceFile>>> = BTreeMap::new();
    let mut files = Vec::new();
    for file in found.into_values() {
        match (&file.county_code, file.year) {
            (Some(c), Some(y)) => slices.entry((file.table, c.clone(), y)).or_default().push(file),
            _ => files.push(file),
        }
    }
    let mut conflicts = Vec::new();
    for ((table, county_code, year), group) in slices {
        if group.len() == 1 {
            files.extend(group);
        } else {
            conflicts.push(Conflict {
                table,
                county_code,
                year,
                files: group.iter().map(|f| f.relative.clone()).collect(),
            });
        }
    }
    files.sort_by(|a, b| {
        (a.year, &a.county_code, a.table, &a.relative).cmp(&(b.year, &b.county_code, b.table, &b.relative))
    });
    evidence.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(Discovery { files, ignored, conflicts, evidence, links })
}

/// Whether a pattern's entry claims the year its path captured (an entry without `years` claims all).
fn claims_year(pattern: &Pattern, caps: &regex::Captures) -> bool {
    let Some(years) = &pattern.years else { return true };
    caps.name("year").and_then(|m| m.as_str().parse().ok()).is_some_and(|y| years.contains(y))
}

/// The pairs of entries of one table that both claim a file (a file claimed by two entries of one table
/// would be read by only one of them: the other entry's rows would be lost without a word).
fn overlapping_entries(relative: &str, matches: &[(&Pattern, regex::Captures)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (a, _)) in matches.iter().enumerate() {
        if let Some((b, _)) = matches[i + 1..].iter().find(|(b, _)| b.table.is_some() && b.table == a.table) {
            out.push(format!(
                "{relative}: {} (path = {:?}) and {} (path = {:?}) of table {}",
                a.label,
                a.template,
                b.label,
                b.template,
                a.table.map_or("", |t| t.name())
            ));
        }
    }
    out
}

/// The configuration error for files claimed by two entries of one table.
fn overlap_error(mut overlaps: Vec<String>) -> Error {
    overlaps.sort();
    let n = overlaps.len();
    let mut message = String::from(
        "files matched by two entries of one table: a file is read by one entry of a table, so one of them \
         would lose its rows. Narrow one of the paths, or give the entries `years` that do not overlap:",
    );
    for line in overlaps.iter().take(10) {
        message.push_str("\n  ");
        message.push_str(line);
    }
    if n > 10 {
        message.push_str(&format!("\n  … and {} more", n - 10));
    }
    Error::Usage(message)
}

/// The path patterns of a pipeline: the standard layout, or its templates.
fn patterns(pipeline: &Pipeline) -> Result<Vec<Pattern>> {
    let compile = |template: &str, options: &crate::pipeline::ReadOptions| {
        FileOptions::compile(options.clone())
            .map(Arc::new)
            .map_err(|message| Error::Template { template: template.to_owned(), message })
    };
    let regex = |pattern: &str| {
        Regex::new(pattern).map_err(|e| Error::Template { template: pattern.to_owned(), message: e.to_string() })
    };
    if pipeline.source.is_standard_layout() {
        let options = compile("(the standard layout)", &pipeline.source.defaults)?;
        let mut patterns: Vec<Pattern> = Table::ALL
            .into_iter()
            .map(|table| {
                let pattern = format!(
                    r"^(?:.*/)?(?P<county_code>[0-9]{{6}})/(?P<year>[0-9]{{4}})/(?:{}|{})\.(?i:csv|json|ndjson|jsonl|xlsx|xls)$",
                    regex::escape(table.name()),
                    regex::escape(table.chinese_name())
                );
                Ok(Pattern {
                    table: Some(table),
                    regex: regex(&pattern)?,
                    label: "(the standard layout)".into(),
                    template: format!("{{county_code}}/{{year}}/{}.csv", table.name()),
                    years: None,
                    options: options.clone(),
                })
            })
            .collect::<Result<_>>()?;
        // One workbook per county-year, one sheet per table.
        let workbook = r"^(?:.*/)?(?P<county_code>[0-9]{6})/(?P<year>[0-9]{4})\.(?i:xlsx|xls)$";
        patterns.push(Pattern {
            table: None,
            regex: regex(workbook)?,
            label: "(the standard layout's workbook)".into(),
            template: "{county_code}/{year}.xlsx".into(),
            years: None,
            options,
        });
        return Ok(patterns);
    }
    pipeline
        .source
        .tables
        .iter()
        .flat_map(|(table, specs)| specs.iter().map(move |spec| (table, spec)))
        .map(|(table, spec)| {
            let regex = template_regex(&spec.path, *table).map_err(|message| Error::Template {
                template: spec.path.clone(),
                message: format!("{message} (table {table})"),
            })?;
            Ok(Pattern {
                table: Some(*table),
                regex,
                label: spec.label.clone(),
                template: spec.path.clone(),
                years: spec.years.clone(),
                options: compile(&spec.path, &spec.options)?,
            })
        })
        .collect()
}

/// The sheet names of a workbook in the store.
async fn workbook_sheets(
    source: &Location,
    location: &object_store::path::Path,
    size: u64,
) -> std::result::Result<Vec<String>, String> {
    use object_store::ObjectStoreExt;
    // Too large to hold: not fetched at all (reading it fails it later, with the same limit).
    if size > super::xlsx::MAX_WORKBOOK_BYTES {
        return Err("too large".into());
    }
    let result = source.store.get(location).await.map_err(|e| e.to_string())?;
    let bytes = result.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() as u64 > super::xlsx::MAX_WORKBOOK_BYTES {
        return Err("too large".into());
    }
    tokio::task::spawn_blocking(move || super::xlsx::sheet_names(bytes.to_vec())).await.map_err(|e| e.to_string())?
}

/// Compile a path template into an anchored regex for one table.
pub fn template_regex(template: &str, table: Table) -> std::result::Result<Regex, String> {
    let mut out = String::from("^");
    let mut rest = template.trim_start_matches('/');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{county_code}") {
            out.push_str("(?P<county_code>[0-9]{6})");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{year}") {
            out.push_str("(?P<year>[0-9]{4})");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{table}") {
            out.push_str(&format!("(?:{}|{})", regex::escape(table.name()), regex::escape(table.chinese_name())));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("**") {
            out.push_str(".*");
            rest = after;
        } else if let Some(after) = rest.strip_prefix('*') {
            out.push_str("[^/]*");
            rest = after;
        } else if rest.starts_with('{') {
            let end = rest.find('}').map_or(rest.len(), |i| i + 1);
            return Err(format!("unknown placeholder {}; use {{county_code}}, {{year}} or {{table}}", &rest[..end]));
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push('$');
    Regex::new(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_county_year_and_table() {
        let re = template_regex("{county_code}/{year}/{table}.csv", Table::Pupils).unwrap();
        let caps = re.captures("231182/2018/学生.csv").unwrap();
        assert_eq!(&caps["county_code"], "231182");
        assert_eq!(&caps["year"], "2018");
        assert!(re.is_match("231182/2018/pupils.csv"));
        assert!(!re.is_match("231182/2018/schools.csv"));
        let re = template_regex("nyc/**/*Snapshot*.csv", Table::Pupils).unwrap();
        assert!(re.is_match("nyc/a/b/2013_Demographic_Snapshot_School.csv"));
        assert!(template_regex("{county}/x.csv", Table::Pupils).unwrap_err().contains("{county}"));
    }

    #[tokio::test]
    async fn standard_layout_discovery_sorts_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        for rel in [
            "231182/2018/pupils.csv",
            "231182/2018/学校.csv",
            "231182/2017/schools.json",
            "231182/2018/notes.txt",
            "README.md",
            "231182/2016/pupils.csv",
            "231182/2016/学生.csv",
        ] {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let loc = crate::storage::open(dir.path().to_str().unwrap(), false).unwrap();
        let d = discover(&loc, &Pipeline::standard(&loc.url)).await.unwrap();
        let got: Vec<_> = d.files.iter().map(|f| (f.relative.as_str(), f.table, f.year)).collect();
        assert_eq!(
            got,
            vec![
                ("231182/2017/schools.json", Table::Schools, Some(2017)),
                ("231182/2018/学校.csv", Table::Schools, Some(2018)),
                ("231182/2018/pupils.csv", Table::Pupils, Some(2018)),
            ]
        );
        assert_eq!(d.ignored, vec!["231182/2018/notes.txt".to_owned(), "README.md".to_owned()]);
        assert_eq!(d.conflicts.len(), 1);
        assert_eq!(d.conflicts[0].files.len(), 2);
    }
}
