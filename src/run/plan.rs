//! The plan: what a run has to do, decided before it does anything — which inputs are new or
//! changed since the last committed run, which are unchanged (their rows are kept) and which
//! are gone.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::extract::SourceFile;
use crate::extract::layout::{self, Discovery};
use crate::job::Request;
use crate::ledger::{InputKey, InputRecord, InputState, Ledger};
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
        }
        for path in &self.removed {
            let what = if allow_removals {
                "its rows will be removed"
            } else {
                "its rows are kept (use --allow-removals to remove them)"
            };
            let _ = writeln!(out, "  {path}: gone from the source; {what}");
        }
        out
    }
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
    let read = read
        .into_iter()
        .map(|((path, sheet, table), why)| {
            (sheet.map_or(format!("{path} ({table})"), |s| format!("{path} sheet {s} ({table})")), why)
        })
        .collect();
    Ok(Plan { parent, full_reason, read, unchanged, removed, discovery, to_read: reading, source, output })
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
            let sha = fingerprint(source, file).await?;
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

/// SHA-256 of an input's content (to tell a touched file from a changed one).
async fn fingerprint(source: &Location, file: &SourceFile) -> Result<String> {
    use object_store::ObjectStoreExt;
    use sha2::Digest;
    let result = source.store.get(&file.location).await.map_err(|e| Error::store("read", &file.uri, e))?;
    let mut stream = result.into_stream();
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.map_err(|e| Error::store("read", &file.uri, e))?);
    }
    Ok(hex::encode(hasher.finalize()))
}
