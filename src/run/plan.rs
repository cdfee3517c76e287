//! The plan: what a run has to do, decided before it does anything — which inputs are new or
//! changed since the last committed run, which are unchanged (their rows are kept) and which
//! are gone.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::contract::Table;
use crate::error::Result;
use crate::extract::SourceFile;
use crate::extract::layout::{self, Discovery};
use crate::job::Request;
use crate::ledger::{EvidenceRecord, InputKey, InputRecord, InputState, Ledger};
use crate::storage::{self, Location};

/// What a run will do, decided before it does anything.
#[derive(Debug)]
pub struct Plan {
    /// The last committed run of the output, if any.
    pub parent: Option<Ledger>,
    /// Why every input is read again, when it is (first run, pipeline changed, `--force` …).
    pub full_reason: Option<String>,
    /// Inputs to read, with the reason (`new`, `changed`, `schools of 231182/2018 changed` …).
    pub read: Vec<(String, String)>,
    /// Inputs unchanged since the last run: their rows are kept.
    pub unchanged: usize,
    /// Inputs of the last run that are gone from the source.
    pub removed: Vec<String>,
    /// Evidence files new, changed or gone since the last run, with what happened to each.
    pub evidence_changes: Vec<(String, EvidenceChange)>,
    /// The SHA-256 of evidence files already known (unchanged since the last run, or hashed
    /// while planning), by path: ingest hashes only the others.
    pub(crate) evidence_sha: HashMap<String, String>,
    /// Every file of the source.
    pub(super) discovery: Discovery,
    /// The identities of the inputs to read.
    pub(super) to_read: HashSet<InputKey>,
    /// The source store.
    pub(super) source: Location,
    /// The output store (None when validating).
    pub(super) output: Option<Location>,
}

impl Plan {
    /// Whether there is nothing to do: every input unchanged, nothing removed.
    pub fn nothing_changed(&self) -> bool {
        self.parent.is_some()
            && self.full_reason.is_none()
            && self.to_read.is_empty()
            && self.removed.is_empty()
            && self.discovery.conflicts.is_empty()
            && self.evidence_changes.is_empty()
    }

    /// The plan in a few lines a person reads before the run replaces anything.
    pub fn describe(&self, allow_removals: bool) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if self.nothing_changed() {
            let parent =
                self.parent.as_ref().map_or(String::new(), |p| format!(" (run {}, version {})", p.run_id, p.version));
            let _ = writeln!(out, "nothing changed since the last run{parent}: {} inputs unchanged", self.unchanged);
            return out;
        }
        if let Some(why) = &self.full_reason {
            let _ = writeln!(out, "reading every input ({why})");
        } else {
            let _ = writeln!(
                out,
                "{} inputs unchanged (their rows are kept); reading {}:",
                self.unchanged,
                self.read.len()
            );
            for (path, why) in self.read.iter().take(50) {
                let _ = writeln!(out, "  {path}: {why}");
            }
            if self.read.len() > 50 {
                let _ = writeln!(out, "  … and {} more", self.read.len() - 50);
            }
            let several =
                self.discovery.files.iter().any(|f| f.county_code.is_none() && self.to_read.contains(&f.key()));
            if several {
                let _ = writeln!(
                    out,
                    "  (a file holding several counties is read whole; its county-years whose rows and schools \
                     are unchanged keep the rows published before)"
                );
            }
        }
        for path in &self.removed {
            let what = if allow_removals {
                "its rows will be removed"
            } else {
                "its rows are kept (use --allow-removals to remove them)"
            };
            let _ = writeln!(out, "  {path}: gone from the source; {what}");
        }
        if !self.evidence_changes.is_empty() {
            let _ = writeln!(out, "evidence (佐证材料) since the last run:");
            for (path, change) in self.evidence_changes.iter().take(50) {
                let _ = writeln!(out, "  {path}: {}", change.as_str());
            }
            if self.evidence_changes.len() > 50 {
                let _ = writeln!(out, "  … and {} more", self.evidence_changes.len() - 50);
            }
        }
        out
    }
}

/// Why a source with no file of any table is not a run: what was found, and what was expected.
fn nothing_to_read(url: &str, pipeline: &crate::pipeline::Pipeline, discovery: &Discovery) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{url}: no file here is a table of the submission, so there is nothing to read");
    match discovery.ignored.len() {
        0 => out.push_str("; the folder is empty (or holds only hidden files and evidence)"),
        n => {
            let _ = write!(out, "; found {n} file(s) that no table claims:");
            for path in discovery.ignored.iter().take(10) {
                let _ = write!(out, "\n  {path}");
            }
            if n > 10 {
                let _ = write!(out, "\n  … and {} more", n - 10);
            }
        }
    }
    out.push_str("\nexpected: ");
    if pipeline.source.is_standard_layout() {
        out.push_str(
            "the standard layout, {county_code}/{year}/{table}.csv|json|xlsx (e.g. 231182/2018/schools.csv or \
             231182/2018/学校.csv), or one workbook {county_code}/{year}.xlsx; for another layout, give each \
             table a path template in a pipeline file (README: Using it on your own county)",
        );
    } else {
        for (table, sources) in &pipeline.source.tables {
            for s in sources {
                let years = s.years.as_ref().map_or(String::new(), |y| format!(" (years {y})"));
                let _ = write!(out, "\n  {table}: {}{years}  from {}", s.path, s.label);
            }
        }
    }
    out
}

/// Decide what a run has to do: which inputs are new or changed since the last committed run.
pub async fn plan(request: &Request) -> Result<Plan> {
    let pipeline = &request.pipeline;
    let source = storage::open_with(&pipeline.source.url, false, &pipeline.source.storage)?;
    let output = match &request.output {
        Some(url) => Some(storage::open_with(url, true, &pipeline.output_storage)?),
        None => None,
    };
    let parent = match &output {
        Some(out) => crate::publish::latest(out).await?,
        None => None,
    };
    let discovery = layout::discover(&source, pipeline).await?;
    tracing::info!(files = discovery.files.len(), ignored = discovery.ignored.len(), "discovered {}", source.url);
    if discovery.files.is_empty() && discovery.conflicts.is_empty() {
        return Err(crate::error::Error::NothingToRead(nothing_to_read(&source.url, pipeline, &discovery)));
    }
    let full_reason = full_reason(request, parent.as_ref(), output.is_some())?;
    let previous: HashMap<InputKey, &InputRecord> =
        parent.iter().flat_map(|p| p.inputs.iter()).map(|i| (i.key(), i)).collect();
    let mut read = Vec::new();
    let mut unchanged = 0;
    for file in &discovery.files {
        let why = match &full_reason {
            Some(_) => Some("read again".to_owned()),
            None => why_read(&source, file, previous.get(&file.key()).copied()).await?,
        };
        match why {
            Some(w) => read.push((file.key(), w)),
            None => unchanged += 1,
        }
    }
    let mut reading: HashSet<InputKey> = read.iter().map(|(k, _)| k.clone()).collect();
    if full_reason.is_none() {
        for key in schools_changed(&discovery, &reading) {
            reading.insert(key.clone());
            read.push((key, "its schools changed".to_owned()));
            unchanged -= 1;
        }
    }
    let removed = removed_inputs(&discovery, parent.as_ref(), request.allow_removals);
    let (evidence_changes, evidence_sha) = evidence_changes(&source, &discovery, parent.as_ref()).await?;
    let read = read
        .into_iter()
        .map(|((path, sheet, table), why)| {
            (sheet.map_or(format!("{path} ({table})"), |s| format!("{path} sheet {s} ({table})")), why)
        })
        .collect();
    Ok(Plan {
        parent,
        full_reason,
        read,
        unchanged,
        removed,
        evidence_changes,
        evidence_sha,
        discovery,
        to_read: reading,
        source,
        output,
    })
}

/// Why every input is read again, if it is: a first run, `--force`, or something that changes
/// every figure (the pipeline file, the settings, the standards, junheng itself).
fn full_reason(request: &Request, parent: Option<&Ledger>, publishing: bool) -> Result<Option<String>> {
    let pipeline = &request.pipeline;
    let Some(p) = parent else {
        return Ok(Some(if publishing { "first run of this output" } else { "validation" }.to_owned()));
    };
    Ok(if request.force {
        Some("--force".to_owned())
    } else if p.pipeline.hash != pipeline.hash || p.pipeline.name != pipeline.name {
        Some("the pipeline file changed".to_owned())
    } else if p.pipeline.settings != pipeline.settings_record()? {
        Some("the methodology settings changed".to_owned())
    } else if p.pipeline.standards != pipeline.standards_record()? {
        Some("the standards changed".to_owned())
    } else if p.junheng_version != env!("CARGO_PKG_VERSION") {
        Some(format!("junheng changed ({} → {})", p.junheng_version, env!("CARGO_PKG_VERSION")))
    } else {
        None
    })
}

/// Why one input is read again, or None when it is unchanged since the last run.
async fn why_read(source: &Location, file: &SourceFile, previous: Option<&InputRecord>) -> Result<Option<String>> {
    Ok(match previous {
        None => Some("new".to_owned()),
        Some(p) if p.failure.is_some() => Some("could not be read last time".to_owned()),
        Some(p) if p.size == file.size && p.e_tag.is_some() && p.e_tag == file.e_tag => None,
        Some(p) if p.size != file.size => Some("changed".to_owned()),
        Some(p) => {
            // Same size, another ETag (copied, touched): compare the content itself.
            let sha = source.sha256(&file.location).await?;
            (sha != p.sha256).then(|| "changed".to_owned())
        }
    })
}

/// Every other table is checked against its county-year's schools: when those change, the
/// county-year is read again (all of it, if the schools file is not per county-year). These are
/// the inputs that adds, in discovery order. (A set, not a scan of `read` per file: the country
/// has 176 700 inputs.)
fn schools_changed(discovery: &Discovery, reading: &HashSet<InputKey>) -> Vec<InputKey> {
    let changed_schools: Vec<&Arc<SourceFile>> =
        discovery.files.iter().filter(|f| f.table == Table::Schools && reading.contains(&f.key())).collect();
    if changed_schools.is_empty() {
        return Vec::new();
    }
    let everything = changed_schools.iter().any(|f| f.county_code.is_none() || f.year.is_none());
    let slices: BTreeSet<(Option<String>, Option<i32>)> =
        changed_schools.iter().map(|f| (f.county_code.clone(), f.year)).collect();
    discovery
        .files
        .iter()
        .map(|f| (f, f.key()))
        .filter(|(_, key)| !reading.contains(key))
        .filter(|(f, _)| everything || slices.contains(&(f.county_code.clone(), f.year)))
        .map(|(_, key)| key)
        .collect()
}

/// Inputs of the last run that are gone from the source (an input already kept as missing is
/// news again only when removals are now allowed).
fn removed_inputs(discovery: &Discovery, parent: Option<&Ledger>, allow_removals: bool) -> Vec<String> {
    let present: HashSet<InputKey> = discovery.files.iter().map(|f| f.key()).collect();
    let conflicted: HashSet<&String> = discovery.conflicts.iter().flat_map(|c| c.files.iter()).collect();
    parent
        .iter()
        .flat_map(|p| p.inputs.iter())
        .filter(|i| !present.contains(&i.key()) && !conflicted.contains(&i.path))
        .filter(|i| i.state != InputState::Missing || allow_removals)
        .map(InputRecord::display_path)
        .collect()
}

/// What happened to an evidence file since the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceChange {
    /// Not in the last run.
    New,
    /// Another content than the last run's.
    Changed,
    /// Gone from the source.
    Removed,
}

impl EvidenceChange {
    /// In words, for the plan.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceChange::New => "new",
            EvidenceChange::Changed => "changed",
            EvidenceChange::Removed => "removed",
        }
    }
}

/// The evidence files new, changed or removed since the last run, and the SHA-256 of those
/// whose content is known without reading them again (same size and ETag) or was read to tell a
/// touched file from a changed one.
async fn evidence_changes(
    source: &Location,
    discovery: &Discovery,
    parent: Option<&Ledger>,
) -> Result<(Vec<(String, EvidenceChange)>, HashMap<String, String>)> {
    let mut changes = Vec::new();
    let mut known = HashMap::new();
    let Some(parent) = parent else {
        return Ok((changes, known)); // a first run has nothing to compare with
    };
    let previous: HashMap<&str, &EvidenceRecord> = parent.evidence.iter().map(|e| (e.path.as_str(), e)).collect();
    for file in &discovery.evidence {
        let Some(before) = previous.get(file.relative.as_str()) else {
            changes.push((file.relative.clone(), EvidenceChange::New));
            continue;
        };
        if before.size == file.size && before.e_tag.is_some() && before.e_tag == file.e_tag {
            known.insert(file.relative.clone(), before.sha256.clone());
            continue;
        }
        let sha = source.sha256(&file.location).await?;
        if sha != before.sha256 {
            changes.push((file.relative.clone(), EvidenceChange::Changed));
        }
        known.insert(file.relative.clone(), sha);
    }
    let present: HashSet<&str> = discovery.evidence.iter().map(|e| e.relative.as_str()).collect();
    for gone in previous.keys().filter(|p| !present.contains(*p)) {
        changes.push(((*gone).to_owned(), EvidenceChange::Removed));
    }
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((changes, known))
}
