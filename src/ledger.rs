//! The run ledger (`runs/<run_id>.json`): what a run read, what it published, what it rejected
//! and why, and its exit status. It is also the commit record of the version it names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A run in a few hundred bytes (`_history/<run_id>.json`, written beside its ledger when it
/// commits): what `junheng runs`, the served `runs` table, the next run's search for its parent
/// and `vacuum` need, so none of them reads every ledger (a national ledger is tens of MB).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RunSummary {
    /// The run.
    pub run_id: String,
    /// The version it committed.
    pub version: u64,
    /// Whether it published that version.
    pub published: bool,
    /// Its status (`published`, `failed` …).
    pub status: String,
    /// When it started and finished (RFC 3339).
    pub started_at: String,
    /// When it finished.
    pub finished_at: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Inputs matched, and of them read.
    pub inputs: u64,
    /// Inputs read.
    pub inputs_read: u64,
    /// Its counts over the whole output.
    pub totals: RunCounts,
    /// Its exit code.
    pub exit_code: i32,
    /// Its counts by county (the sums of the county's slices), for logins that see some counties.
    pub by_county: BTreeMap<String, RunCounts>,
}

/// Rows read, published and quarantined, and warnings.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RunCounts {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows published.
    pub rows_published: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Warning findings.
    pub warnings: u64,
}

impl std::ops::AddAssign for RunCounts {
    fn add_assign(&mut self, other: RunCounts) {
        self.rows_read += other.rows_read;
        self.rows_published += other.rows_published;
        self.rows_quarantined += other.rows_quarantined;
        self.warnings += other.warnings;
    }
}

impl RunSummary {
    /// The summary of a ledger.
    pub fn of(l: &Ledger) -> RunSummary {
        let mut by_county: BTreeMap<String, RunCounts> = BTreeMap::new();
        for slice in l.slices.iter().filter(|s| !s.county_code.is_empty()) {
            *by_county.entry(slice.county_code.clone()).or_default() += RunCounts {
                rows_read: slice.rows_read,
                rows_published: slice.rows_published,
                rows_quarantined: slice.rows_quarantined,
                warnings: slice.warnings_by_rule.values().sum(),
            };
        }
        RunSummary {
            run_id: l.run_id.clone(),
            version: l.version,
            published: l.published,
            status: l.status.as_str().to_owned(),
            started_at: l.started_at.clone(),
            finished_at: l.finished_at.clone(),
            pipeline: l.pipeline.name.clone(),
            inputs: l.inputs.len() as u64,
            inputs_read: l.inputs.iter().filter(|i| i.state == InputState::Read).count() as u64,
            totals: RunCounts {
                rows_read: l.totals.rows_read,
                rows_published: l.totals.rows_published,
                rows_quarantined: l.totals.rows_quarantined,
                warnings: l.totals.warnings,
            },
            exit_code: l.exit_code,
            by_county,
        }
    }
}

/// The whole ledger of one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ledger {
    /// The run's id (`20181130T010203Z-3fa1`), also the name of its version folder.
    pub run_id: String,
    /// 1 for the first published version of an output, then +1 per published run.
    pub version: u64,
    /// The run whose version this one started from, if any.
    pub parent_run_id: Option<String>,
    /// Whether this run published a version (false for failed runs).
    pub published: bool,
    /// How the run ended.
    pub status: RunStatus,
    /// The exit code the run ended with (outputs.md).
    pub exit_code: i32,
    /// junheng's version.
    pub junheng_version: String,
    /// Pipeline name, file hash, source, output, settings and standards.
    pub pipeline: PipelineRecord,
    /// Start time (UTC, RFC 3339).
    pub started_at: String,
    /// End time (UTC, RFC 3339).
    pub finished_at: String,
    /// Every input file, with its fingerprint and how it was read.
    pub inputs: Vec<InputRecord>,
    /// Objects under the source root that are not part of any table.
    pub ignored_files: Vec<String>,
    /// Per table, county and year: rows read, published and quarantined, by rule.
    pub slices: Vec<SliceRecord>,
    /// Totals over all slices.
    pub totals: Totals,
    /// Parquet files of the version (paths relative to `versions/<run_id>/`).
    pub files_written: Vec<WrittenFile>,
    /// Marts rebuilt, with row counts.
    pub marts: Vec<MartRecord>,
    /// Run-level warnings in words (files that failed, conflicts, schools merged or closed …).
    pub warnings: Vec<String>,
    /// How a table's columns differ from one year (or file) of a source to the next.
    pub schema_changes: Vec<SchemaChange>,
    /// Standards missed in each county's latest year (balance, satisfaction, retention, funding).
    #[serde(default)]
    pub thresholds_failed: Vec<String>,
    /// Verdicts of each county's latest year that could not be judged because their inputs are
    /// absent (`231182 2018: balance not assessable …`): never counted as met.
    #[serde(default)]
    pub not_assessable: Vec<String>,
    /// The report's pages (paths relative to `versions/<run_id>/`), empty when `[report]` is off.
    #[serde(default)]
    pub report_pages: Vec<String>,
    /// The distinct header layouts of the inputs, each stored once (inputs name theirs by index):
    /// a country's 180 000 files share a few dozen layouts.
    #[serde(default)]
    pub layouts: Vec<Layout>,
    /// Every evidence file (佐证材料) of the source, with its SHA-256: what a county submitted for
    /// the items judged from documents, never read as data.
    #[serde(default)]
    pub evidence: Vec<EvidenceRecord>,
    /// Evidence files of the last run that are gone from the source (paths).
    #[serde(default)]
    pub evidence_removed: Vec<String>,
    /// The Delta version of each published table this run made (`staging/pupils` → 3): the
    /// version of `tables/staging/pupils/` that holds exactly this run's files. Empty for runs
    /// of releases before the Delta tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delta_versions: BTreeMap<String, u64>,
}

/// How a run ended, as its ledger says (`status`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Checked only (`junheng validate`): nothing was published.
    #[default]
    Validated,
    /// Published, nothing rejected beyond the pipeline's tolerance.
    Published,
    /// Published, but rows or files were rejected beyond the tolerance (exit 1).
    PublishedWithRejections,
    /// Stopped before it could publish.
    Failed,
}

impl RunStatus {
    /// As the ledger writes it (`published_with_rejections`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Validated => "validated",
            RunStatus::Published => "published",
            RunStatus::PublishedWithRejections => "published_with_rejections",
            RunStatus::Failed => "failed",
        }
    }
}

/// What a run did with one input (`state` of an input record).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputState {
    /// Read by this run.
    #[default]
    Read,
    /// Unchanged since an earlier run, whose rows this version keeps.
    Unchanged,
    /// Could not be read (or conflicts with another file); the rows of an earlier run are kept.
    Failed,
    /// Gone from the source; the rows of an earlier run are kept.
    Missing,
}

/// The identity of an input across runs: its path, sheet and table.
pub type InputKey = (String, Option<String>, String);

/// A Parquet file written by a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WrittenFile {
    /// Path relative to the version folder (`staging/pupils/year=2018/part-0.parquet`).
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// The run that wrote these bytes, when it is not this one (a partition carried forward
    /// unchanged): the file's Delta table holds it under that run's name, so an unchanged
    /// partition stays the same Delta file from version to version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl WrittenFile {
    /// A file this run wrote.
    pub fn new(path: impl Into<String>, rows: u64) -> WrittenFile {
        WrittenFile { path: path.into(), rows, origin: None }
    }

    /// The run that wrote the file's bytes: its origin, else the run whose ledger lists it.
    pub fn written_by<'a>(&'a self, run_id: &'a str) -> &'a str {
        self.origin.as_deref().unwrap_or(run_id)
    }
}

/// How one input's headers were bound to contract columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct Layout {
    /// Headers bound to columns: `header → column (unit)`.
    pub columns: Vec<String>,
    /// The same, as contract column → header (what schema drift compares).
    pub column_headers: BTreeMap<String, String>,
}

impl Ledger {
    /// The index of `layout` in [`Ledger::layouts`], adding it when new.
    pub fn intern_layout(&mut self, layout: Layout) -> usize {
        match self.layouts.iter().position(|l| *l == layout) {
            Some(i) => i,
            None => {
                self.layouts.push(layout);
                self.layouts.len() - 1
            }
        }
    }

    /// An input's layout (none for a file that could not be read).
    pub fn layout_of<'a>(&'a self, input: &'a InputRecord) -> Option<&'a Layout> {
        input.layout.and_then(|i| self.layouts.get(i))
    }

    /// Bring a ledger to the stored form: layouts written inline (ledgers of junheng before
    /// 0.1 layouts) move into [`Ledger::layouts`], and layouts no input uses are dropped.
    pub fn tidy_layouts(&mut self) {
        let old = std::mem::take(&mut self.layouts);
        let mut inputs = std::mem::take(&mut self.inputs);
        for input in &mut inputs {
            let layout = match input.layout.and_then(|i| old.get(i)) {
                Some(l) => Some(l.clone()),
                None if !input.columns.is_empty() || !input.column_headers.is_empty() => Some(Layout {
                    columns: std::mem::take(&mut input.columns),
                    column_headers: std::mem::take(&mut input.column_headers),
                }),
                None => None,
            };
            input.layout = layout.map(|l| self.intern_layout(l));
        }
        self.inputs = inputs;
    }
}

/// Columns that changed between two consecutive inputs of the same table (and county).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SchemaChange {
    /// Table.
    pub table: String,
    /// County (from the path), empty when files are not per county.
    pub county_code: String,
    /// The earlier input (its year, or its path when the path has no year).
    pub from: String,
    /// The later input.
    pub to: String,
    /// Contract columns the later input has and the earlier did not.
    pub added: Vec<String>,
    /// Contract columns the earlier input had and the later does not.
    pub removed: Vec<String>,
    /// Contract columns read from a differently named header: `column: old → new`.
    pub renamed: Vec<String>,
    /// Source columns outside the contract that appeared.
    pub unmapped_added: Vec<String>,
    /// Source columns outside the contract that disappeared.
    pub unmapped_removed: Vec<String>,
}

/// The schema changes between consecutive inputs of each table and county.
pub fn schema_changes(ledger: &Ledger) -> Vec<SchemaChange> {
    static NO_HEADERS: BTreeMap<String, String> = BTreeMap::new();
    fn headers<'a>(ledger: &'a Ledger, input: &'a InputRecord) -> &'a BTreeMap<String, String> {
        ledger.layout_of(input).map_or(&NO_HEADERS, |l| &l.column_headers)
    }
    let inputs = &ledger.inputs;
    let mut groups: BTreeMap<(String, String), Vec<&InputRecord>> = BTreeMap::new();
    for input in inputs.iter().filter(|i| i.failure.is_none()) {
        groups.entry((input.table.clone(), input.county_code.clone().unwrap_or_default())).or_default().push(input);
    }
    let mut out = Vec::new();
    for ((table, county_code), mut group) in groups {
        group.sort_by(|a, b| (a.year, &a.path).cmp(&(b.year, &b.path)));
        for pair in group.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let label = |i: &InputRecord| i.year.map_or_else(|| i.path.clone(), |y| y.to_string());
            let mut change = SchemaChange {
                table: table.clone(),
                county_code: county_code.clone(),
                from: label(a),
                to: label(b),
                ..SchemaChange::default()
            };
            let (a_headers, b_headers) = (headers(ledger, a), headers(ledger, b));
            for (column, header) in b_headers {
                match a_headers.get(column) {
                    None => change.added.push(column.clone()),
                    Some(old) if old != header => change.renamed.push(format!("{column}: {old} → {header}")),
                    Some(_) => {}
                }
            }
            change.removed = a_headers.keys().filter(|c| !b_headers.contains_key(*c)).cloned().collect();
            change.unmapped_added =
                b.unknown_columns.iter().filter(|c| !a.unknown_columns.contains(c)).cloned().collect();
            change.unmapped_removed =
                a.unknown_columns.iter().filter(|c| !b.unknown_columns.contains(c)).cloned().collect();
            let changed = !(change.added.is_empty()
                && change.removed.is_empty()
                && change.renamed.is_empty()
                && change.unmapped_added.is_empty()
                && change.unmapped_removed.is_empty());
            if changed {
                out.push(change);
            }
        }
    }
    out
}

/// The pipeline as the ledger records it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PipelineRecord {
    /// Pipeline name.
    pub name: String,
    /// SHA-256 of what the pipeline file says — its TOML as parsed, comments and layout aside
    /// (empty for the zero-config standard layout).
    pub hash: String,
    /// Source URL.
    pub source_url: String,
    /// Output URL.
    pub output_url: String,
    /// Methodology settings in effect.
    pub settings: serde_json::Value,
    /// Threshold and standard overrides in effect.
    pub standards: serde_json::Value,
    /// The language of the run's report (`zh` when an older ledger does not say).
    #[serde(default)]
    pub report_language: crate::report::Language,
}

/// One input file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InputRecord {
    /// Full URL.
    pub uri: String,
    /// Path relative to the source root.
    pub path: String,
    /// Table.
    pub table: String,
    /// County code from the path.
    pub county_code: Option<String>,
    /// Year from the path.
    pub year: Option<i32>,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Last modified (RFC 3339).
    pub last_modified: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Encoding read.
    pub encoding: Option<String>,
    /// How the encoding was established and how sure that is (`declared (certain)`,
    /// `detected by chardetng … (high)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_basis: Option<String>,
    /// Delimiter (CSV).
    pub delimiter: Option<String>,
    /// Sheet (workbooks).
    pub sheet: Option<String>,
    /// 1-based header row.
    pub header_row: Option<u64>,
    /// Data rows read.
    pub rows: u64,
    /// Index of its layout in [`Ledger::layouts`] (headers bound to columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<usize>,
    /// Ledgers before layouts were shared: headers bound to columns, inline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Ledgers before layouts were shared: contract column → header, inline.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub column_headers: BTreeMap<String, String>,
    /// Headers matching no column.
    pub unknown_columns: Vec<String>,
    /// Rows skipped as not data, with the reason.
    pub skipped_rows: Vec<String>,
    /// Why the file could not be read, if it could not.
    pub failure: Option<Failure>,
    /// What this run did with the file.
    pub state: InputState,
    /// The run that read the rows this version holds for the file, when it was not this run.
    pub carried_from: Option<String>,
    /// What the file contributed, per table, county and year.
    pub slices: Vec<SliceRecord>,
}

impl InputRecord {
    /// The input's identity across runs.
    pub fn key(&self) -> InputKey {
        (self.path.clone(), self.sheet.clone(), self.table.clone())
    }

    /// The input as a plan or a warning names it: its path, and its sheet when it has one.
    pub fn display_path(&self) -> String {
        match &self.sheet {
            Some(s) => format!("{} sheet {s}", self.path),
            None => self.path.clone(),
        }
    }
}

/// One evidence file (佐证材料) under a county-year's `evidence/` folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EvidenceRecord {
    /// Path relative to the source root.
    pub path: String,
    /// Full URL.
    pub uri: String,
    /// County code from the path.
    pub county_code: Option<String>,
    /// Year from the path.
    pub year: Option<i32>,
    /// The assessment item its folder names (`g1`, `e3` …); None: the folder names no item, and
    /// the file is not counted.
    pub item: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag.
    pub e_tag: Option<String>,
    /// Last modified (RFC 3339).
    pub last_modified: String,
    /// SHA-256 of the content: what lets an inspection team see the file has not changed.
    pub sha256: String,
    /// New, changed or unchanged since the last run.
    pub state: EvidenceState,
}

/// What an evidence file is to the last run (`state` of an evidence record).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceState {
    /// Not in the last run (or there is no last run).
    #[default]
    New,
    /// Its content differs from the last run's.
    Changed,
    /// The same content as in the last run.
    Unchanged,
}

/// A file-level failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    /// Rule id.
    pub rule: String,
    /// Message.
    pub message: String,
}

/// Counts of one (table, county, year) slice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SliceRecord {
    /// Table.
    pub table: String,
    /// County code ("" when unknown).
    pub county_code: String,
    /// Year (0 when unknown).
    pub year: i32,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows published to staging.
    pub rows_published: u64,
    /// Rows rejected (in quarantine with an `error` finding).
    pub rows_quarantined: u64,
    /// Error findings by rule.
    pub quarantined_by_rule: BTreeMap<String, u64>,
    /// Warning findings by rule.
    pub warnings_by_rule: BTreeMap<String, u64>,
    /// Whether a file of this slice could not be read at all.
    pub file_failed: bool,
    /// A digest of the slice's source rows (their row numbers and cells), for files holding
    /// several counties and for schools: a re-read of a changed file keeps the slices whose
    /// digest is the parent's ([`RowsDigest`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_digest: Option<String>,
    /// The run whose rows this slice keeps: set when a changed file was re-read and this
    /// county-year of it was not (its rows, digest and counts are that run's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_from: Option<String>,
}

/// A digest of a set of source rows that does not depend on how they were batched: the sum,
/// modulo 2¹²⁸, of the first 128 bits of each row's SHA-256. Two reads of the same rows (same
/// row numbers, same cells) give the same digest; a changed, added, removed or moved row another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowsDigest(pub u128);

impl RowsDigest {
    /// Add one row, given as the bytes that identify it.
    pub fn add_row(&mut self, row: &[u8]) {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(row);
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash[..16]);
        self.0 = self.0.wrapping_add(u128::from_be_bytes(first));
    }

    /// As the ledger writes it (32 hex digits).
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// As the ledger wrote it, if it is one.
    pub fn parse(hex: &str) -> Option<RowsDigest> {
        u128::from_str_radix(hex, 16).ok().map(RowsDigest)
    }

    /// The sum of two written digests (absent ones count as none).
    fn merge(a: Option<&str>, b: Option<&str>) -> Option<String> {
        match (a.and_then(RowsDigest::parse), b.and_then(RowsDigest::parse)) {
            (None, None) => None,
            (x, y) => Some(RowsDigest(x.unwrap_or_default().0.wrapping_add(y.unwrap_or_default().0)).hex()),
        }
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    /// Files read.
    pub files: u64,
    /// Files that could not be read.
    pub files_failed: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows published.
    pub rows_published: u64,
    /// Rows rejected.
    pub rows_quarantined: u64,
    /// Warning findings.
    pub warnings: u64,
    /// Error findings by rule (a row may break several rules).
    pub errors_by_rule: BTreeMap<String, u64>,
    /// Warning findings by rule.
    pub warnings_by_rule: BTreeMap<String, u64>,
}

/// A mart rebuilt by the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MartRecord {
    /// Mart name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// File relative to the version folder; the mart's folder (`marts/<mart>/`, one part per
    /// group) when the SQL ran in county groups.
    pub file: String,
}

impl SliceRecord {
    /// Add another record's counts to this one.
    pub fn absorb(&mut self, other: &SliceRecord) {
        self.rows_read += other.rows_read;
        self.rows_published += other.rows_published;
        self.rows_quarantined += other.rows_quarantined;
        self.file_failed |= other.file_failed;
        self.rows_digest = RowsDigest::merge(self.rows_digest.as_deref(), other.rows_digest.as_deref());
        for (rule, n) in &other.quarantined_by_rule {
            *self.quarantined_by_rule.entry(rule.clone()).or_default() += n;
        }
        for (rule, n) in &other.warnings_by_rule {
            *self.warnings_by_rule.entry(rule.clone()).or_default() += n;
        }
    }
}

impl Ledger {
    /// Sum the inputs' slices into the ledger's slices, then recompute the totals.
    pub fn total_up(&mut self) {
        let mut slices: BTreeMap<(String, String, i32), SliceRecord> = BTreeMap::new();
        for input in &self.inputs {
            for s in &input.slices {
                slices
                    .entry((s.table.clone(), s.county_code.clone(), s.year))
                    .or_insert_with(|| SliceRecord {
                        table: s.table.clone(),
                        county_code: s.county_code.clone(),
                        year: s.year,
                        ..SliceRecord::default()
                    })
                    .absorb(s);
            }
        }
        // A county-year's slice sums its inputs' counts; digests belong to one input's rows.
        for s in slices.values_mut() {
            s.rows_digest = None;
        }
        self.slices = slices.into_values().collect();
        let mut t = Totals { files: self.inputs.len() as u64, ..Totals::default() };
        t.files_failed = self.inputs.iter().filter(|i| i.failure.is_some()).count() as u64;
        for s in &self.slices {
            t.rows_read += s.rows_read;
            t.rows_published += s.rows_published;
            t.rows_quarantined += s.rows_quarantined;
            for (rule, n) in &s.quarantined_by_rule {
                *t.errors_by_rule.entry(rule.clone()).or_default() += n;
            }
            for (rule, n) in &s.warnings_by_rule {
                *t.warnings_by_rule.entry(rule.clone()).or_default() += n;
                t.warnings += n;
            }
        }
        self.totals = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(path: &str, year: Option<i32>, columns: &[(&str, &str)], unknown: &[&str]) -> InputRecord {
        InputRecord {
            path: path.into(),
            table: "pupils".into(),
            year,
            column_headers: columns.iter().map(|(c, h)| (c.to_string(), h.to_string())).collect(),
            unknown_columns: unknown.iter().map(|u| u.to_string()).collect(),
            ..InputRecord::default()
        }
    }

    #[test]
    fn schema_changes_name_added_removed_and_renamed_columns() {
        let inputs = vec![
            input(
                "b.csv",
                None,
                &[("school_code", "DBN"), ("school_name", "SchoolName"), ("year", "Year")],
                &["EconomicNeedIndex"],
            ),
            input(
                "a.csv",
                None,
                &[
                    ("school_code", "DBN"),
                    ("school_name", "Name"),
                    ("year", "schoolyear"),
                    ("special_needs", "sped_num"),
                ],
                &["fl_percent"],
            ),
        ];
        // Written inline, as ledgers before shared layouts were: tidying moves them into layouts.
        let mut ledger = Ledger { inputs: inputs.clone(), ..Ledger::default() };
        ledger.tidy_layouts();
        assert_eq!(ledger.layouts.len(), 2);
        assert!(ledger.inputs.iter().all(|i| i.column_headers.is_empty() && i.layout.is_some()));
        let changes = schema_changes(&ledger);
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        assert_eq!((c.from.as_str(), c.to.as_str()), ("a.csv", "b.csv"));
        assert_eq!(c.removed, ["special_needs"]);
        assert_eq!(c.renamed, ["school_name: Name → SchoolName", "year: schoolyear → Year"]);
        assert_eq!(c.unmapped_added, ["EconomicNeedIndex"]);
        assert_eq!(c.unmapped_removed, ["fl_percent"]);
        ledger.inputs.truncate(1);
        assert!(schema_changes(&ledger).is_empty());
    }

    #[test]
    fn inputs_sharing_a_layout_store_it_once() {
        let same = [("school_code", "学校代码"), ("students", "在校生数")];
        let mut ledger = Ledger::default();
        for (i, path) in ["a.csv", "b.csv", "c.csv"].iter().enumerate() {
            let mut record = input(path, Some(2016 + i as i32), &same, &[]);
            let layout = Layout { columns: vec![], column_headers: std::mem::take(&mut record.column_headers) };
            record.layout = Some(ledger.intern_layout(layout));
            ledger.inputs.push(record);
        }
        assert_eq!(ledger.layouts.len(), 1);
        // Stored, the inputs name the layout and do not repeat it; read back, nothing is lost.
        let json = serde_json::to_string(&ledger).unwrap();
        assert_eq!(json.matches("学校代码").count(), 1);
        let mut back: Ledger = serde_json::from_str(&json).unwrap();
        back.tidy_layouts();
        assert_eq!(back, ledger);
        // A layout no input uses any more is dropped.
        ledger.layouts.push(Layout::default());
        ledger.tidy_layouts();
        assert_eq!(ledger.layouts.len(), 1);
    }
}
