//! The run: the only module that calls the stages in order.
//!
//! ```text
//! plan:    discover ─► fingerprint every input against the last committed run ─► what changed
//! execute: lock ─► extract ─► validate ─► normalise ─► load (versions/<run_id>/) ◄─ unchanged rows
//!          ─► transform (sql/ → marts) ─► ledger = commit ─► switch `current` ─► unlock
//! ```
//!
//! A run is incremental: inputs whose fingerprint (size and ETag, else SHA-256) matches the last
//! committed run keep their rows — partitions they alone fill are copied, others are rewritten
//! without the rows of the inputs that changed — and only new or changed inputs are read. When
//! nothing changed, nothing is written. Schools are always read (every other table is checked
//! against them); when a county-year's schools change, its other tables are read again too.
//! Files are processed in parallel on blocking threads while one task writes their batches in
//! file order; a file's rows are published only if the whole file could be read, and when a file
//! fails (or disappears without `--allow-removals`), the rows it had are kept.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::contract::{Severity, Table};
use crate::error::{Error, Result};
use crate::extract::layout::Discovery;
use crate::extract::{self, FileFailure, FileReport, RawBatch, SourceFile, layout};
use crate::ledger::{Failure, InputRecord, Layout, Ledger, PipelineRecord, SliceRecord};
use crate::load::{self, Area, PartitionWriters};
use crate::pipeline::Pipeline;
use crate::storage::{self, Location};
use crate::validate::{self, CheckedBatch, Finding, KeySet, SchoolRegistry};
use crate::{dictionary, normalise, quarantine, transform};

/// How many findings a run keeps in memory to show; all of them are in quarantine.
pub const FINDINGS_SHOWN: usize = 1000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The pipeline (a file's, or the zero-config standard layout).
    pub pipeline: Pipeline,
    /// Output URL; None to validate only (nothing is written).
    pub output: Option<String>,
    /// The run's id (injected: tests fix it, the binary makes one from the clock).
    pub run_id: String,
    /// The run's start time.
    pub started_at: DateTime<Utc>,
    /// Drop the rows of inputs that disappeared from the source (otherwise they are kept).
    pub allow_removals: bool,
    /// Read every input again, changed or not.
    pub force: bool,
    /// Wait this long for another run on the same output to finish (default: fail at once).
    pub wait_for_lock: Option<Duration>,
    /// How many findings to keep in [`Outcome::findings`] (all of them are in quarantine).
    pub findings_limit: usize,
    /// Told about progress (files read, marts built), for progress bars.
    pub progress: Option<Progress>,
    /// Where the SQL models run (this process, or a Ballista cluster).
    pub engine: transform::Engine,
    /// Bytes the local SQL engine may hold before spilling (None: no limit).
    pub memory_limit: Option<usize>,
    /// The SQL runs over groups of whole counties of at most this many staging rows at a time
    /// (its memory follows the group, not the country).
    pub transform_rows: u64,
}

/// Staging rows per county group of the SQL stage, unless told otherwise: about 40 counties of
/// the generated national data. 356 counties took 0.62 GB at this size and 1.13 GB at 1 000 000
/// rows per group (peak RSS), 36 s and 34 s.
pub const TRANSFORM_ROWS: u64 = 250_000;

/// What a run tells a progress display.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// Reading starts: how many files will be read.
    Reading(u64),
    /// A file was read (its path relative to the source).
    FileRead(String),
    /// The SQL models are being built.
    BuildingMarts(u64),
    /// A model was built.
    ModelBuilt(String),
    /// The run is committed (or failed).
    Finished,
}

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(ProgressEvent) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl Progress {
    fn tell(progress: &Option<Progress>, event: ProgressEvent) {
        if let Some(p) = progress {
            (p.0)(event);
        }
    }
}

impl Request {
    /// A request with the defaults: incremental, keep removed inputs, do not wait for a lock.
    pub fn new(pipeline: Pipeline, output: Option<String>, run_id: String, started_at: DateTime<Utc>) -> Self {
        Request {
            pipeline,
            output,
            run_id,
            started_at,
            allow_removals: false,
            force: false,
            wait_for_lock: None,
            findings_limit: FINDINGS_SHOWN,
            progress: None,
            engine: transform::Engine::Local,
            memory_limit: None,
            transform_rows: TRANSFORM_ROWS,
        }
    }
}

/// How a run ended, when it ended without an infrastructure error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything read, nothing rejected beyond tolerance (or nothing changed): exit 0.
    Success,
    /// Finished, but rows or files were rejected beyond the pipeline's tolerance: exit 1.
    Rejected,
}

/// The identity of an input across runs: its path, sheet and table.
type FileKey = (String, Option<String>, String);

fn key_of(file: &SourceFile) -> FileKey {
    (file.relative.clone(), file.sheet.clone(), file.table.name().to_owned())
}

fn key_of_record(input: &InputRecord) -> FileKey {
    (input.path.clone(), input.sheet.clone(), input.table.clone())
}

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
    discovery: Discovery,
    to_read: HashSet<FileKey>,
    source: Location,
    output: Option<Location>,
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

/// The result of a run or a validation.
#[derive(Debug)]
pub struct Outcome {
    /// The ledger (committed when the run published; the last run's when nothing changed).
    pub ledger: Ledger,
    /// The first findings, sorted by file and row (all of them are in quarantine).
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub findings_total: u64,
    /// Success or rejected.
    pub status: Status,
    /// The output location, when the run published.
    pub output: Option<Location>,
    /// True when nothing had changed and nothing was written.
    pub nothing_changed: bool,
}

/// Make a run id from a time and a little randomness: `20261130T005229Z-3fa1`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), h.finish() & 0xffff)
}

/// Plan, then run the plan (what `junheng run` does, without printing the plan).
pub async fn run(request: Request) -> Result<Outcome> {
    let planned = plan(&request).await?;
    execute(&request, planned).await
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
        Some(out) => load::latest(out).await?,
        None => None,
    };
    let discovery = layout::discover(&source, pipeline).await?;
    tracing::info!(files = discovery.files.len(), ignored = discovery.ignored.len(), "discovered {}", source.url);
    let full_reason = match &parent {
        None if output.is_some() => Some("first run of this output".to_owned()),
        None => Some("validation".to_owned()),
        Some(_) if request.force => Some("--force".to_owned()),
        Some(p) if p.pipeline.hash != pipeline.hash || p.pipeline.name != pipeline.name => {
            Some("the pipeline file changed".to_owned())
        }
        Some(p) if p.pipeline.settings != serde_json::to_value(&pipeline.settings).unwrap_or_default() => {
            Some("the methodology settings changed".to_owned())
        }
        Some(p) if p.pipeline.standards != serde_json::to_value(&pipeline.standards).unwrap_or_default() => {
            Some("the standards changed".to_owned())
        }
        Some(p) if p.junheng_version != env!("CARGO_PKG_VERSION") => {
            Some(format!("junheng changed ({} → {})", p.junheng_version, env!("CARGO_PKG_VERSION")))
        }
        Some(_) => None,
    };
    let previous: HashMap<FileKey, &InputRecord> =
        parent.iter().flat_map(|p| p.inputs.iter()).map(|i| (key_of_record(i), i)).collect();
    let mut read = Vec::new();
    let mut unchanged = 0;
    for file in &discovery.files {
        let why = if full_reason.is_some() {
            Some("read again".to_owned())
        } else {
            match previous.get(&key_of(file)) {
                None => Some("new".to_owned()),
                Some(p) if p.failure.is_some() => Some("could not be read last time".to_owned()),
                Some(p) if p.size == file.size && p.e_tag.is_some() && p.e_tag == file.e_tag => None,
                Some(p) if p.size != file.size => Some("changed".to_owned()),
                Some(p) => {
                    // Same size, another ETag (copied, touched): compare the content itself.
                    let sha = fingerprint(&source, file).await?;
                    (sha != p.sha256).then(|| "changed".to_owned())
                }
            }
        };
        match why {
            Some(w) => read.push((key_of(file), w)),
            None => unchanged += 1,
        }
    }
    // Every other table is checked against its county-year's schools: when those change, read
    // the county-year again (all of it, if the schools file is not per county-year).
    // (A set, not a scan of `read` per file: the country has 176 700 inputs.)
    let mut reading: HashSet<FileKey> = read.iter().map(|(k, _)| k.clone()).collect();
    let changed_schools: Vec<&Arc<SourceFile>> =
        discovery.files.iter().filter(|f| f.table == Table::Schools && reading.contains(&key_of(f))).collect();
    if full_reason.is_none() && !changed_schools.is_empty() {
        let everything = changed_schools.iter().any(|f| f.county_code.is_none() || f.year.is_none());
        let slices: BTreeSet<(Option<String>, Option<i32>)> =
            changed_schools.iter().map(|f| (f.county_code.clone(), f.year)).collect();
        for file in &discovery.files {
            let key = key_of(file);
            if reading.contains(&key) {
                continue;
            }
            if everything || slices.contains(&(file.county_code.clone(), file.year)) {
                reading.insert(key.clone());
                read.push((key, "its schools changed".to_owned()));
                unchanged -= 1;
            }
        }
    }
    let present: HashSet<FileKey> = discovery.files.iter().map(|f| key_of(f)).collect();
    let conflicted: HashSet<String> = discovery.conflicts.iter().flat_map(|c| c.files.iter().cloned()).collect();
    let removed = parent
        .iter()
        .flat_map(|p| p.inputs.iter())
        // An input already kept as missing is news again only when removals are now allowed.
        .filter(|i| !present.contains(&key_of_record(i)) && !conflicted.contains(&i.path))
        .filter(|i| i.state != "missing" || request.allow_removals)
        .map(|i| match &i.sheet {
            Some(s) => format!("{} sheet {s}", i.path),
            None => i.path.clone(),
        })
        .collect();
    let to_read = reading;
    let read = read
        .into_iter()
        .map(|((path, sheet, table), why)| {
            (sheet.map_or(format!("{path} ({table})"), |s| format!("{path} sheet {s} ({table})")), why)
        })
        .collect();
    Ok(Plan { parent, full_reason, read, unchanged, removed, discovery, to_read, source, output })
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

/// Counts of one slice, accumulated by workers and merged in order.
type Slices = BTreeMap<(Table, String, i32), SliceRecord>;

/// What a worker hands the writer for one batch.
struct BatchOutput {
    table: Table,
    staging: Vec<(i32, RecordBatch)>,
    quarantine: Vec<(i32, RecordBatch)>,
    slices: Slices,
    findings: Vec<Finding>,
}

enum Message {
    Batch(Box<BatchOutput>),
    Done(Box<std::result::Result<FileReport, FileFailure>>, Vec<Finding>),
}

/// Carry out a plan: read what changed, keep what did not, rebuild the marts and commit.
pub async fn execute(request: &Request, plan: Plan) -> Result<Outcome> {
    if plan.nothing_changed() {
        let ledger = plan.parent.clone().expect("nothing_changed implies a parent");
        if let Some(out) = &plan.output {
            load::repair_current(out).await?;
        }
        return Ok(Outcome {
            ledger,
            findings: Vec::new(),
            findings_total: 0,
            status: Status::Success,
            output: plan.output,
            nothing_changed: true,
        });
    }
    let Some(out) = plan.output.clone() else {
        return process(request, plan, None).await;
    };
    let lock = load::lock::acquire(&out, &request.run_id, request.wait_for_lock).await?;
    // Another run may have committed while we waited: plan again under the lock.
    let plan = match load::latest(&out).await? {
        Some(latest) if plan.parent.as_ref().map(|p| &p.run_id) != Some(&latest.run_id) => self::plan(request).await?,
        _ => plan,
    };
    let result = if plan.nothing_changed() {
        let ledger = plan.parent.clone().expect("nothing_changed implies a parent");
        Ok(Outcome {
            ledger,
            findings: Vec::new(),
            findings_total: 0,
            status: Status::Success,
            output: Some(out.clone()),
            nothing_changed: true,
        })
    } else {
        load::repair_current(&out).await?;
        process(request, plan, Some(out)).await
    };
    // The run's own error matters more than a lock that could not be released (it goes stale).
    if let Err(e) = lock.release().await {
        tracing::warn!("{e}");
    }
    result
}

async fn process(request: &Request, plan: Plan, out: Option<Location>) -> Result<Outcome> {
    let pipeline = Arc::new(request.pipeline.clone());
    let parent = plan.parent.clone();
    let source = plan.source.clone();
    let mut ledger = Ledger {
        run_id: request.run_id.clone(),
        version: parent.as_ref().map_or(1, |p| p.version + 1),
        parent_run_id: parent.as_ref().map(|p| p.run_id.clone()),
        junheng_version: env!("CARGO_PKG_VERSION").into(),
        started_at: request.started_at.to_rfc3339(),
        pipeline: PipelineRecord {
            name: pipeline.name.clone(),
            hash: pipeline.hash.clone(),
            source_url: source.url.clone(),
            output_url: out.as_ref().map(|o| o.url.clone()).unwrap_or_default(),
            settings: serde_json::to_value(&pipeline.settings).unwrap_or_default(),
            standards: serde_json::to_value(&pipeline.standards).unwrap_or_default(),
        },
        ignored_files: plan.discovery.ignored.clone(),
        ..Ledger::default()
    };
    let mut state = State {
        per_file: HashMap::new(),
        findings: Vec::new(),
        findings_total: 0,
        findings_limit: request.findings_limit,
    };
    Progress::tell(
        &request.progress,
        ProgressEvent::Reading(
            plan.discovery
                .files
                .iter()
                .filter(|f| f.table == Table::Schools || plan.to_read.contains(&key_of(f)))
                .count() as u64,
        ),
    );
    let mut writers = out.as_ref().map(|o| PartitionWriters::new(o.clone(), &request.run_id));
    let handle = tokio::runtime::Handle::current();
    let run_id: Arc<str> = Arc::from(request.run_id.as_str());
    let publish = out.is_some();
    // Keys of inputs whose earlier rows this version keeps (unchanged, failed, missing, conflicting).
    let mut kept: HashSet<FileKey> = HashSet::new();
    let previous: HashMap<FileKey, InputRecord> =
        parent.iter().flat_map(|p| p.inputs.iter()).map(|i| (key_of_record(i), i.clone())).collect();
    // One record per input (about 760 bytes each): allocated once, not by doubling.
    ledger.inputs.reserve_exact(plan.discovery.files.len() + plan.discovery.conflicts.len());
    // Records carried from the parent name its layouts by index: start from the same list.
    if let Some(p) = &parent {
        ledger.layouts = p.layouts.clone();
    }

    for conflict in &plan.discovery.conflicts {
        let message = format!(
            "{} for county {} year {} is given by more than one file ({}); none of them is read — keep one",
            conflict.table,
            conflict.county_code,
            conflict.year,
            conflict.files.join(", ")
        );
        ledger.warnings.push(message.clone());
        for path in &conflict.files {
            let (path, sheet) = match path.split_once(" sheet ") {
                Some((p, s)) => (p.to_owned(), Some(s.to_owned())),
                None => (path.clone(), None),
            };
            let key = (path.clone(), sheet.clone(), conflict.table.name().to_owned());
            let mut record = previous.get(&key).cloned().unwrap_or_default();
            // A slice published before keeps its rows while its files conflict.
            let keeps = previous.contains_key(&key) && record.slices.iter().any(|s| s.rows_published > 0);
            record.path = path;
            record.sheet = sheet;
            record.table = conflict.table.name().into();
            record.county_code = Some(conflict.county_code.clone());
            record.year = Some(conflict.year);
            record.failure = Some(Failure { rule: "conflicting_files".into(), message: message.clone() });
            record.state = "failed".into();
            if keeps {
                record.carried_from = record.carried_from.clone().or_else(|| parent.as_ref().map(|p| p.run_id.clone()));
                kept.insert(key);
            } else {
                record.slices = vec![SliceRecord {
                    table: conflict.table.name().into(),
                    county_code: conflict.county_code.clone(),
                    year: conflict.year,
                    file_failed: true,
                    quarantined_by_rule: BTreeMap::from([("conflicting_files".into(), 1)]),
                    ..SliceRecord::default()
                }];
            }
            ledger.inputs.push(record);
        }
    }

    // 1. Schools, a year at a time when every file names its year (a row of another year is
    //    rejected, so a teaching point's parent is in its own year's files): read the year's
    //    files, then the two-pass check. Holding one year, not ten, bounds memory nationally.
    let school_files: Vec<Arc<SourceFile>> =
        plan.discovery.files.iter().filter(|f| f.table == Table::Schools).cloned().collect();
    let mut school_years: BTreeMap<Option<i32>, Vec<Arc<SourceFile>>> = BTreeMap::new();
    if school_files.iter().all(|f| f.year.is_some()) {
        for file in school_files {
            school_years.entry(file.year).or_default().push(file);
        }
    } else {
        school_years.insert(None, school_files);
    }
    let mut registry = SchoolRegistry::default();
    for (_, files) in school_years {
        // A schools key holds its year: a year's keys cannot meet another year's.
        let mut keys = KeySet::default();
        let reads = futures::stream::iter(files.into_iter().map(|file| {
            let store = source.store.clone();
            let handle = handle.clone();
            async move {
                let f = file.clone();
                tokio::task::spawn_blocking(move || {
                    let mut batches = Vec::new();
                    let report = extract::read_file(&handle, &store, &f, &mut |b| {
                        batches.push(b);
                        Ok(())
                    });
                    (report, batches)
                })
                .await
                .map(|r| (file, r))
            }
        }))
        .buffered(workers());
        let reads: Vec<_> = reads.collect().await;
        let mut school_batches = Vec::new();
        let mut school_reports = Vec::new();
        for read in reads {
            let (file, (report, batches)) = read.map_err(|e| Error::Config(format!("a reader thread failed: {e}")))?;
            if report.is_ok() {
                school_batches.extend(batches);
            }
            school_reports.push((file, report));
        }
        let (checked, year_registry) = validate::check_schools(school_batches, &pipeline.settings, &mut keys);
        registry.extend(year_registry);
        for batch in &checked {
            let output = finish_batch(batch, &pipeline, &run_id, publish)?;
            state.take(key_of(&batch.raw.file), output, &mut writers).await?;
        }
        drop(checked);
        if let Some(w) = writers.as_mut() {
            w.close_years_before(i32::MAX).await?;
        }
        for (file, report) in school_reports {
            if let Err(failure) = &report {
                state.file_failed(&file, failure, &mut writers, &run_id).await?;
            }
            let record = input_record(&file, &report, state.per_file.remove(&key_of(&file)), &mut ledger);
            ledger.inputs.push(keep_on_failure(record, &previous, parent.as_ref(), &mut kept));
            Progress::tell(&request.progress, ProgressEvent::FileRead(file.relative.clone()));
        }
    }
    let registry = Arc::new(registry);

    // 2. Every other file that changed: workers validate and normalise, this task writes.
    let shared_keys: Arc<Mutex<HashMap<Table, KeySet>>> = Arc::default();
    let (mut to_read, unchanged): (Vec<Arc<SourceFile>>, Vec<Arc<SourceFile>>) = plan
        .discovery
        .files
        .iter()
        .filter(|f| f.table != Table::Schools)
        .cloned()
        .partition(|f| plan.to_read.contains(&key_of(f)));
    // Year by year (files without a year in their path first), so that a year's partitions can
    // be closed when the next year starts; within a year, in path order.
    to_read.sort_by(|a, b| (a.year, &a.relative).cmp(&(b.year, &b.relative)));
    for file in unchanged {
        let key = key_of(&file);
        let mut record = previous.get(&key).cloned().unwrap_or_default();
        record.state = "unchanged".into();
        record.carried_from = record.carried_from.clone().or_else(|| parent.as_ref().map(|p| p.run_id.clone()));
        kept.insert(key);
        ledger.inputs.push(record);
    }
    let mut receivers = futures::stream::iter(to_read.into_iter().map(|file| {
        let (tx, rx) = mpsc::channel::<Message>(4);
        let store = source.store.clone();
        let handle = handle.clone();
        let pipeline = pipeline.clone();
        let registry = registry.clone();
        let shared_keys = shared_keys.clone();
        let run_id = run_id.clone();
        let f = file.clone();
        tokio::task::spawn_blocking(move || {
            process_file(&handle, &store, &f, &pipeline, &registry, &shared_keys, &run_id, publish, tx)
        });
        async move { (file, rx) }
    }))
    .buffered(workers());
    while let Some((file, mut rx)) = receivers.next().await {
        if let (Some(year), Some(w)) = (file.year, writers.as_mut()) {
            w.close_years_before(year).await?;
        }
        let mut pending: Vec<BatchOutput> = Vec::new();
        let mut report =
            Err(FileFailure::new("unreadable_file", format!("{}: the reader stopped without a result", file.relative)));
        let mut total_findings = Vec::new();
        while let Some(message) = rx.recv().await {
            match message {
                Message::Batch(output) => pending.push(*output),
                Message::Done(r, findings) => {
                    report = *r;
                    total_findings = findings;
                }
            }
        }
        let key = key_of(&file);
        match &report {
            Ok(_) => {
                for output in pending {
                    state.take(key.clone(), output, &mut writers).await?;
                }
                if !total_findings.is_empty() {
                    let q = quarantine::batches(file.table, &total_findings, None, &run_id)?;
                    let slices = account_file_findings(&total_findings, &file);
                    let output = BatchOutput {
                        table: file.table,
                        staging: Vec::new(),
                        quarantine: q,
                        slices,
                        findings: total_findings,
                    };
                    state.take(key.clone(), output, &mut writers).await?;
                }
            }
            Err(failure) => state.file_failed(&file, failure, &mut writers, &run_id).await?,
        }
        let record = input_record(&file, &report, state.per_file.remove(&key), &mut ledger);
        ledger.inputs.push(keep_on_failure(record, &previous, parent.as_ref(), &mut kept));
        Progress::tell(&request.progress, ProgressEvent::FileRead(file.relative.clone()));
    }
    drop(receivers);

    // Inputs that disappeared: kept unless the run was told to remove them.
    let present: HashSet<FileKey> = ledger.inputs.iter().map(key_of_record).collect();
    for (key, record) in &previous {
        if present.contains(key) {
            continue;
        }
        if request.allow_removals {
            ledger
                .warnings
                .push(format!("{} is gone from the source; its rows were removed (--allow-removals)", record.path));
            continue;
        }
        let mut record = record.clone();
        record.state = "missing".into();
        record.carried_from = record.carried_from.clone().or_else(|| parent.as_ref().map(|p| p.run_id.clone()));
        ledger.warnings.push(format!(
            "{} is gone from the source; its rows from run {} are kept (run with --allow-removals to remove them)",
            record.path,
            record.carried_from.as_deref().unwrap_or("?")
        ));
        kept.insert(key.clone());
        ledger.inputs.push(record);
    }

    // 3. Rows of kept inputs come from the parent version: whole partitions are copied,
    //    partitions mixing kept and replaced rows are rewritten.
    if let (Some(out), Some(parent), Some(w)) = (&out, &parent, writers.as_mut()) {
        carry_forward(out, parent, &kept, w).await?;
    }

    let rows_rejected: u64 = ledger.inputs.iter().flat_map(|i| &i.slices).map(|s| s.rows_quarantined).sum();
    let files_failed = ledger.inputs.iter().filter(|i| i.failure.is_some()).count();
    let status =
        if rows_rejected > pipeline.max_rejected_rows || files_failed > 0 { Status::Rejected } else { Status::Success };
    ledger.inputs.sort_by(|a, b| (&a.path, &a.sheet, &a.table).cmp(&(&b.path, &b.sheet, &b.table)));
    ledger.schema_changes = crate::ledger::schema_changes(&ledger);
    state.findings.sort_by(|a, b| (&a.source_file, a.source_row, a.rule).cmp(&(&b.source_file, b.source_row, b.rule)));
    ledger.exit_code = match status {
        Status::Success => 0,
        Status::Rejected => 1,
    };
    for input in ledger.inputs.iter().filter(|i| i.failure.is_some() && i.state != "failed") {
        if let Some(f) = &input.failure {
            ledger.warnings.push(f.message.clone());
        }
    }
    for input in ledger.inputs.iter().filter(|i| i.state == "failed") {
        if let Some(f) = &input.failure {
            ledger.warnings.push(format!(
                "{} (the rows of run {} are kept)",
                f.message,
                input.carried_from.as_deref().unwrap_or("?")
            ));
        }
    }
    ledger.total_up();
    ledger.tidy_layouts();

    let (Some(out), Some(writers)) = (out, writers) else {
        ledger.status = "validated".into();
        ledger.finished_at = Utc::now().to_rfc3339();
        let (findings, findings_total) = (state.findings, state.findings_total);
        return Ok(Outcome { ledger, findings, findings_total, status, output: None, nothing_changed: false });
    };
    ledger.status = match status {
        Status::Success => "published".into(),
        Status::Rejected => "published_with_rejections".into(),
    };

    // 4. Close the files, run the SQL project, write the dictionary, commit, switch.
    // What validation remembered is not needed by the SQL: free it before the engine starts.
    drop((registry, shared_keys, previous, kept, plan));
    ledger.files_written = writers.finish().await?;
    let counties: BTreeSet<String> =
        ledger.slices.iter().map(|s| s.county_code.clone()).filter(|c| !c.is_empty()).collect();
    let ctx = transform::session_on(&out, &request.run_id, &request.engine, request.memory_limit).await?;
    transform::reference::register(&ctx, &pipeline, &counties)?;
    if request.engine.is_distributed() {
        // A cluster cannot read this process's memory: the reference tables go into the version.
        let reference = transform::reference::materialise(&ctx, &out, &request.run_id).await?;
        ledger.files_written.extend(reference);
    }
    let models = transform::project(&ctx)?;
    let mut rows_by_county: BTreeMap<String, u64> = BTreeMap::new();
    for slice in &ledger.slices {
        *rows_by_county.entry(slice.county_code.clone()).or_default() += slice.rows_published;
    }
    let groups = transform::county_groups(&rows_by_county, request.transform_rows);
    Progress::tell(&request.progress, ProgressEvent::BuildingMarts(transform::model_runs(&models, &groups) as u64));
    let progress = request.progress.clone();
    let several = groups.len() > 1;
    let on_model = move |name: &str, group: &transform::CountyGroup| {
        let name = if several { format!("{name} ({})", group.describe()) } else { name.to_owned() };
        Progress::tell(&progress, ProgressEvent::ModelBuilt(name))
    };
    let (marts, mart_files) = transform::run_models(&ctx, &out, &request.run_id, &models, &groups, &on_model).await?;
    ledger.marts = marts;
    ledger.files_written.extend(mart_files);
    ledger.files_written.sort_by(|a, b| a.path.cmp(&b.path));
    ledger.warnings.extend(school_change_warnings(&ctx).await?);
    ledger.thresholds_failed = crate::report::failed_thresholds(&ctx).await?;
    let dictionary = dictionary::build(&models, &ctx).await?;
    let bytes = serde_json::to_vec_pretty(&dictionary)
        .map_err(|source| Error::Json { context: "dictionary".into(), source })?;
    load::write_object(&out, &request.run_id, "dictionary.json", bytes).await?;
    if pipeline.report {
        // A county group at a time: its pages read the group's part of each mart, and are
        // written before the next group's are built.
        let mut report = crate::report::Report::default();
        for index in 0..groups.len() {
            if several {
                transform::register_written(&ctx, &out, &request.run_id, &models, Some(index)).await?;
            }
            for (page, html) in report.county_pages(&ctx, &ledger).await? {
                load::write_object(&out, &request.run_id, &format!("report/{page}"), html.into_bytes()).await?;
                ledger.report_pages.push(format!("report/{page}"));
            }
        }
        if several {
            // Whatever reads the session after the report sees every group again.
            transform::register_written(&ctx, &out, &request.run_id, &models, None).await?;
        }
        for (page, html) in report.finish(&ledger, &dictionary) {
            load::write_object(&out, &request.run_id, &format!("report/{page}"), html.into_bytes()).await?;
            ledger.report_pages.push(format!("report/{page}"));
        }
    }
    ledger.published = true;
    ledger.finished_at = Utc::now().to_rfc3339();
    load::commit(&out, &ledger).await?;
    load::write_pointer(&out, &ledger).await?;
    load::switch_current(&out, &request.run_id)?;
    Progress::tell(&request.progress, ProgressEvent::Finished);
    let (findings, findings_total) = (state.findings, state.findings_total);
    Ok(Outcome { ledger, findings, findings_total, status, output: Some(out), nothing_changed: false })
}

/// A file that failed keeps the rows the parent version had for it (a county-year whose new
/// file is broken stays as it was published), and says so.
fn keep_on_failure(
    mut record: InputRecord,
    previous: &HashMap<FileKey, InputRecord>,
    parent: Option<&Ledger>,
    kept: &mut HashSet<FileKey>,
) -> InputRecord {
    record.state = "read".into();
    if record.failure.is_none() {
        return record;
    }
    let key = key_of_record(&record);
    match previous.get(&key).filter(|p| p.failure.is_none() || !p.slices.is_empty()) {
        Some(p) if p.slices.iter().any(|s| s.rows_read > 0) => {
            record.state = "failed".into();
            record.carried_from = p.carried_from.clone().or_else(|| parent.map(|l| l.run_id.clone()));
            let failed_slices = record.slices.clone();
            record.slices = p.slices.clone();
            for s in &mut record.slices {
                s.file_failed = true;
            }
            record.slices.extend(failed_slices.into_iter().map(|mut s| {
                s.rows_read = 0;
                s
            }));
            kept.insert(key);
            record
        }
        _ => record,
    }
}

/// Copy or rewrite the parent's partitions so the new version holds the kept inputs' rows.
async fn carry_forward(
    out: &Location,
    parent: &Ledger,
    kept: &HashSet<FileKey>,
    writers: &mut PartitionWriters,
) -> Result<()> {
    // Parent rows are kept by the URI of the file they came from.
    let kept_uris: HashSet<&str> =
        parent.inputs.iter().filter(|i| kept.contains(&key_of_record(i))).map(|i| i.uri.as_str()).collect();
    let all_uris: HashSet<&str> = parent.inputs.iter().map(|i| i.uri.as_str()).collect();
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.runtime_env().register_object_store(
        datafusion::execution::object_store::ObjectStoreUrl::parse(transform::OUTPUT_STORE_URL)
            .map_err(|e| Error::Config(e.to_string()))?
            .as_ref(),
        out.store.clone(),
    );
    for file in
        parent.files_written.iter().filter(|f| f.path.starts_with("staging/") || f.path.starts_with("quarantine/"))
    {
        let mut parts = file.path.split('/');
        let (Some(area), Some(table), Some(year)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let Some(table) = Table::from_name(table) else { continue };
        let Some(year) = year.strip_prefix("year=").and_then(|y| y.parse::<i32>().ok()) else { continue };
        let area = if area == "staging" { Area::Staging } else { Area::Quarantine };
        // Which inputs filled this partition (from the parent's per-input slices).
        let sources: Vec<&InputRecord> = parent
            .inputs
            .iter()
            .filter(|i| i.table == table.name() && i.slices.iter().any(|s| s.year == year))
            .collect();
        let all_kept = sources.iter().all(|i| kept.contains(&key_of_record(i)));
        if sources.iter().all(|i| !kept.contains(&key_of_record(i))) {
            continue; // every row of it is replaced or removed
        }
        if all_kept && !writers.has(area, table.name(), year) {
            load::copy_from(out, &parent.run_id, writers.run_id(), &file.path).await?;
            writers.record_copy(&file.path, file.rows);
            continue;
        }
        let schema = match area {
            Area::Staging => normalise::schema(table),
            Area::Quarantine => quarantine::schema(table),
        };
        let name = format!("parent_{}_{}_{year}", area.name(), table.name());
        let path = out.child(&format!("{}/{}", load::version_path(&parent.run_id), file.path));
        let url = format!("{}/{}", transform::OUTPUT_STORE_URL, path);
        let err = |e| Error::Sql { model: name.clone(), file: file.path.clone(), source: Box::new(e) };
        ctx.register_parquet(&name, &url, datafusion::prelude::ParquetReadOptions::default()).await.map_err(err)?;
        let batches = ctx.table(&name).await.map_err(err)?.collect().await.map_err(err)?;
        ctx.deregister_table(&name).map_err(err)?;
        for batch in batches {
            let uris = batch
                .column_by_name("source_uri")
                .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8))
                .transpose()
                .map_err(|e| Error::arrow("carry-forward", e))?;
            let Some(uris) = uris else { continue };
            let uris = uris.as_any().downcast_ref::<arrow::array::StringArray>().expect("cast to Utf8");
            // A row whose file the parent no longer knows is kept too (it cannot be replaced).
            let keep: arrow::array::BooleanArray =
                uris.iter().map(|u| Some(u.is_none_or(|u| kept_uris.contains(u) || !all_uris.contains(u)))).collect();
            let filtered =
                arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| Error::arrow("carry-forward", e))?;
            if filtered.num_rows() == 0 {
                continue;
            }
            let columns: Vec<arrow::array::ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| {
                    let c = filtered
                        .column_by_name(f.name())
                        .ok_or_else(|| Error::Config(format!("{} lacks column {}", file.path, f.name())))?;
                    arrow::compute::cast(c, f.data_type()).map_err(|e| Error::arrow("carry-forward", e))
                })
                .collect::<Result<_>>()?;
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::arrow("carry-forward", e))?;
            writers.write(area, table.name(), year, &batch).await?;
        }
    }
    Ok(())
}

/// Parallel workers for reading and validating files.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// Read, validate and normalise one file (on a blocking thread), sending batches to the writer.
#[allow(clippy::too_many_arguments)]
fn process_file(
    handle: &tokio::runtime::Handle,
    store: &Arc<dyn object_store::ObjectStore>,
    file: &Arc<SourceFile>,
    pipeline: &Pipeline,
    registry: &SchoolRegistry,
    shared_keys: &Mutex<HashMap<Table, KeySet>>,
    run_id: &str,
    publish: bool,
    tx: mpsc::Sender<Message>,
) {
    // Keys of per-school tables cannot collide across counties' files (each school belongs to
    // one county, checked against the registry); other scopes share one set per table.
    let per_file = file.county_code.is_some();
    let mut own_keys = KeySet::default();
    let mut sums: HashMap<&'static str, f64> = HashMap::new();
    let mut on_batch = |raw: RawBatch| -> std::result::Result<(), String> {
        let checked = if per_file {
            validate::check_batch(raw, &mut validate::rules_context(&pipeline.settings, registry, &mut own_keys))
        } else {
            let mut guard = shared_keys.lock().map_err(|_| "key registry poisoned".to_owned())?;
            let keys = guard.entry(file.table).or_default();
            validate::check_batch(raw, &mut validate::rules_context(&pipeline.settings, registry, keys))
        };
        validate::add_to_sums(&checked, &mut sums);
        let output = finish_batch(&checked, pipeline, run_id, publish).map_err(|e| e.to_string())?;
        tx.blocking_send(Message::Batch(Box::new(output))).map_err(|_| "the writer stopped".to_owned())
    };
    let report = extract::read_file(handle, store, file, &mut on_batch);
    let totals = match &report {
        Ok(r) => {
            let mut findings = validate::unknown_column_findings(&r.unknown_columns, file);
            findings.extend(validate::check_totals(&r.total_rows, &sums, file));
            findings
        }
        Err(_) => Vec::new(),
    };
    let _ = tx.blocking_send(Message::Done(Box::new(report), totals));
}

/// Normalise and quarantine a checked batch and count it per slice.
fn finish_batch(batch: &CheckedBatch, pipeline: &Pipeline, run_id: &str, publish: bool) -> Result<BatchOutput> {
    let table = batch.table();
    let mut slices = Slices::new();
    let path_county = batch.raw.file.county_code.clone().unwrap_or_default();
    let path_year = batch.raw.file.year.unwrap_or(0);
    let key = |row: usize| {
        (table, batch.county[row].clone().unwrap_or_else(|| path_county.clone()), batch.year(row).unwrap_or(path_year))
    };
    for row in 0..batch.raw.len() {
        let s = slice_entry(&mut slices, key(row));
        s.rows_read += 1;
        if batch.rejected[row] {
            s.rows_quarantined += 1;
        } else {
            s.rows_published += 1;
        }
    }
    for f in &batch.findings {
        let s = slice_entry(&mut slices, f.batch_row.map(key).unwrap_or((table, path_county.clone(), path_year)));
        let by_rule = if f.severity == Severity::Error { &mut s.quarantined_by_rule } else { &mut s.warnings_by_rule };
        *by_rule.entry(f.rule.into()).or_default() += 1;
    }
    let (staging, quarantine) = if publish {
        (
            normalise::normalise(batch, &pipeline.settings, run_id)?,
            quarantine::batches(table, &batch.findings, Some(&batch.raw), run_id)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(BatchOutput { table, staging, quarantine, slices, findings: batch.findings.clone() })
}

fn slice_entry(slices: &mut Slices, (table, county, year): (Table, String, i32)) -> &mut SliceRecord {
    slices.entry((table, county.clone(), year)).or_insert_with(|| SliceRecord {
        table: table.name().into(),
        county_code: county,
        year,
        ..SliceRecord::default()
    })
}

fn account_file_findings(findings: &[Finding], file: &SourceFile) -> Slices {
    let mut slices = Slices::new();
    for f in findings {
        let c = f.county_code.clone().or_else(|| file.county_code.clone()).unwrap_or_default();
        let y = f.year.or(file.year).unwrap_or(0);
        let s = slice_entry(&mut slices, (file.table, c, y));
        let by_rule = if f.severity == Severity::Error { &mut s.quarantined_by_rule } else { &mut s.warnings_by_rule };
        *by_rule.entry(f.rule.into()).or_default() += 1;
    }
    slices
}

/// What the writer task accumulates.
struct State {
    per_file: HashMap<FileKey, Slices>,
    findings: Vec<Finding>,
    findings_total: u64,
    findings_limit: usize,
}

impl State {
    /// Merge a batch's counts and findings into its file's, and write its rows.
    async fn take(&mut self, file: FileKey, output: BatchOutput, writers: &mut Option<PartitionWriters>) -> Result<()> {
        let slices = self.per_file.entry(file).or_default();
        for (key, s) in output.slices {
            slices
                .entry(key)
                .or_insert_with(|| SliceRecord {
                    table: s.table.clone(),
                    county_code: s.county_code.clone(),
                    year: s.year,
                    ..SliceRecord::default()
                })
                .absorb(&s);
        }
        self.findings_total += output.findings.len() as u64;
        let room = self.findings_limit.saturating_sub(self.findings.len());
        self.findings.extend(output.findings.into_iter().take(room));
        if let Some(w) = writers.as_mut() {
            for (area, batches) in [(Area::Staging, output.staging), (Area::Quarantine, output.quarantine)] {
                for (year, batch) in batches {
                    w.write(area, output.table.name(), year, &batch).await?;
                }
            }
        }
        Ok(())
    }

    /// Record a file that could not be read: its slice fails, one quarantine row says why.
    async fn file_failed(
        &mut self,
        file: &SourceFile,
        failure: &FileFailure,
        writers: &mut Option<PartitionWriters>,
        run_id: &str,
    ) -> Result<()> {
        let finding = Finding {
            table: file.table,
            source_uri: file.uri.clone(),
            source_file: file.relative.clone(),
            source_sheet: file.sheet.clone(),
            source_row: None,
            column: None,
            source_column: None,
            value: None,
            rule: failure.rule,
            severity: Severity::Error,
            message: failure.message.clone(),
            county_code: file.county_code.clone(),
            year: file.year,
            path_year: file.year,
            batch_row: None,
        };
        let mut slices = account_file_findings(std::slice::from_ref(&finding), file);
        for s in slices.values_mut() {
            s.file_failed = true;
        }
        let quarantine = quarantine::batches(file.table, std::slice::from_ref(&finding), None, run_id)?;
        let output =
            BatchOutput { table: file.table, staging: Vec::new(), quarantine, slices, findings: vec![finding] };
        self.take(key_of(file), output, writers).await
    }
}

/// Ledger warnings for schools that opened, closed, changed code or changed size threefold.
async fn school_change_warnings(ctx: &datafusion::prelude::SessionContext) -> Result<Vec<String>> {
    let rows = transform::query_text(
        ctx,
        "select county_code, event, count(*) as n from school_changes group by county_code, event order by county_code, event",
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "county {}: {} school(s) or teaching point(s) {} (see marts/school_changes)",
                r[0],
                r[2],
                r[1].replace('_', " ")
            )
        })
        .collect())
}

fn input_record(
    file: &SourceFile,
    report: &std::result::Result<FileReport, FileFailure>,
    slices: Option<Slices>,
    ledger: &mut Ledger,
) -> InputRecord {
    let mut record = InputRecord {
        uri: file.uri.clone(),
        path: file.relative.clone(),
        table: file.table.name().into(),
        county_code: file.county_code.clone(),
        year: file.year,
        size: file.size,
        e_tag: file.e_tag.clone(),
        last_modified: file.last_modified.to_rfc3339(),
        sheet: file.sheet.clone(),
        slices: slices.map(|s| s.into_values().collect()).unwrap_or_default(),
        ..InputRecord::default()
    };
    match report {
        Ok(r) => {
            record.sha256 = r.sha256.clone();
            record.encoding = r.encoding.clone();
            record.delimiter = r.delimiter.clone();
            record.sheet = r.sheet.clone().or(record.sheet);
            record.header_row = r.header_row;
            record.rows = r.rows;
            let layout = Layout {
                columns: r
                    .columns
                    .iter()
                    .map(|(h, c, u)| match u {
                        Some(u) => format!("{h} → {c} ({u})"),
                        None => format!("{h} → {c}"),
                    })
                    .collect(),
                column_headers: r.columns.iter().map(|(h, c, _)| (c.clone(), h.clone())).collect(),
            };
            record.layout = Some(ledger.intern_layout(layout));
            record.unknown_columns = r.unknown_columns.clone();
            if r.blank_rows > 0 {
                record.skipped_rows.push(format!("{} blank rows", r.blank_rows));
            }
            record.skipped_rows.extend(
                r.skipped_rows
                    .iter()
                    .map(|(row, why)| format!("row {row}: {why}"))
                    .chain(r.total_rows.iter().map(|t| format!("row {}: total row, checked and not published", t.row))),
            );
        }
        Err(f) => record.failure = Some(Failure { rule: f.rule.into(), message: f.message.clone() }),
    }
    record
}
