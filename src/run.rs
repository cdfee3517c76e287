//! The run: the only module that calls the stages in order.
//!
//! ```text
//! discover ─► extract ─► validate ─► normalise ─► load (versions/<run_id>/staging, quarantine)
//!                                                   │
//!                         transform (sql/ → marts) ◄┘ ─► ledger ─► commit ─► switch `current`
//! ```
//!
//! Schools are read first (every other table refers to them); the other files are processed in
//! parallel on blocking threads while one task writes their batches in file order, so output is
//! deterministic. A file's rows are published only if the whole file could be read; when a file
//! fails, the slice it would have replaced is carried over from the previous version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::contract::{Severity, Table};
use crate::error::{Error, Result};
use crate::extract::{self, FileFailure, FileReport, RawBatch, SourceFile, layout};
use crate::ledger::{Failure, InputRecord, Ledger, PipelineRecord, SliceRecord};
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
}

/// How a run ended, when it ended without an infrastructure error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything read, nothing rejected beyond tolerance: exit 0.
    Success,
    /// Finished, but rows or files were rejected beyond the pipeline's tolerance: exit 1.
    Rejected,
}

/// The result of a run or a validation.
#[derive(Debug)]
pub struct Outcome {
    /// The ledger (committed when the run published).
    pub ledger: Ledger,
    /// The first findings, sorted by file and row (all of them are in quarantine).
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub findings_total: u64,
    /// Success or rejected.
    pub status: Status,
    /// The output location, when the run published.
    pub output: Option<Location>,
}

/// Make a run id from a time and a little randomness: `20261130T005229Z-3fa1`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), h.finish() & 0xffff)
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

/// Run a pipeline: validate, and when an output is given, publish.
pub async fn run(request: Request) -> Result<Outcome> {
    let pipeline = Arc::new(request.pipeline.clone());
    let source = storage::open(&pipeline.source.url, false)?;
    let out = match &request.output {
        Some(url) => Some(storage::open(url, true)?),
        None => None,
    };
    let parent = match &out {
        Some(out) => {
            load::repair_current(out).await?;
            load::latest(out).await?
        }
        None => None,
    };
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
        ..Ledger::default()
    };
    let discovery = layout::discover(&source, &pipeline).await?;
    tracing::info!(files = discovery.files.len(), ignored = discovery.ignored.len(), "discovered {}", source.url);
    ledger.ignored_files = discovery.ignored.clone();
    let mut state = State {
        slices: Slices::new(),
        findings: Vec::new(),
        findings_total: 0,
        counties: BTreeSet::new(),
        failed_slices: BTreeSet::new(),
    };
    for conflict in &discovery.conflicts {
        let message = format!(
            "{} for county {} year {} is given by more than one file ({}); none of them is read — keep one",
            conflict.table,
            conflict.county_code,
            conflict.year,
            conflict.files.join(", ")
        );
        ledger.warnings.push(message);
        let slice = state.slice(conflict.table, &conflict.county_code, conflict.year);
        slice.file_failed = true;
        *slice.quarantined_by_rule.entry("conflicting_files".into()).or_default() += 1;
        state.failed_slices.insert((conflict.table, conflict.county_code.clone(), conflict.year));
    }
    let mut writers = out.as_ref().map(|o| PartitionWriters::new(o.clone(), &request.run_id));
    let handle = tokio::runtime::Handle::current();
    let run_id: Arc<str> = Arc::from(request.run_id.as_str());
    let publish = out.is_some();

    // 1. Schools: all files, then the two-pass check (teaching points' parents may be anywhere).
    let school_files: Vec<Arc<SourceFile>> =
        discovery.files.iter().filter(|f| f.table == Table::Schools).cloned().collect();
    let mut school_batches = Vec::new();
    let reads = futures::stream::iter(school_files.into_iter().map(|file| {
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
    for read in reads {
        let (file, (report, batches)) = read.map_err(|e| Error::Config(format!("a reader thread failed: {e}")))?;
        match &report {
            Ok(_) => school_batches.extend(batches),
            Err(failure) => state.file_failed(&file, failure, &mut writers, &run_id).await?,
        }
        ledger.inputs.push(input_record(&file, &report));
    }
    let mut keys = KeySet::default();
    let (checked, registry) = validate::check_schools(school_batches, &pipeline.settings, &mut keys);
    for batch in &checked {
        let output = finish_batch(batch, &pipeline, &run_id, publish)?;
        state.take(output, &mut writers).await?;
    }
    drop(checked);
    let registry = Arc::new(registry);

    // 2. Every other file: workers validate and normalise, this task writes in file order.
    let shared_keys: Arc<Mutex<HashMap<Table, KeySet>>> = Arc::default();
    let other_files: Vec<Arc<SourceFile>> =
        discovery.files.iter().filter(|f| f.table != Table::Schools).cloned().collect();
    let mut receivers = futures::stream::iter(other_files.into_iter().map(|file| {
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
        match &report {
            Ok(_) => {
                for output in pending {
                    state.take(output, &mut writers).await?;
                }
                if !total_findings.is_empty() {
                    let q = quarantine::batches(file.table, &total_findings, None, &run_id)?;
                    let slices = account_file_findings(&total_findings, &file);
                    state
                        .take(
                            BatchOutput {
                                table: file.table,
                                staging: Vec::new(),
                                quarantine: q,
                                slices,
                                findings: total_findings,
                            },
                            &mut writers,
                        )
                        .await?;
                }
            }
            Err(failure) => state.file_failed(&file, failure, &mut writers, &run_id).await?,
        }
        ledger.inputs.push(input_record(&file, &report));
    }
    drop(receivers);

    // 3. Slices whose file failed keep what the previous version published for them.
    if let (Some(out), Some(parent), Some(w)) = (&out, &parent, writers.as_mut()) {
        carry_over(out, parent, &state.failed_slices, w, &mut ledger).await?;
    }
    for conflict in &discovery.conflicts {
        state.counties.insert(conflict.county_code.clone());
    }

    let rows_rejected: u64 = state.slices.values().map(|s| s.rows_quarantined).sum();
    let files_failed = ledger.inputs.iter().filter(|i| i.failure.is_some()).count() + discovery.conflicts.len();
    let status =
        if rows_rejected > pipeline.max_rejected_rows || files_failed > 0 { Status::Rejected } else { Status::Success };
    ledger.slices = std::mem::take(&mut state.slices).into_values().collect();
    ledger.inputs.sort_by(|a, b| (&a.path, &a.sheet, &a.table).cmp(&(&b.path, &b.sheet, &b.table)));
    ledger.schema_changes = crate::ledger::schema_changes(&ledger.inputs);
    state.findings.sort_by(|a, b| (&a.source_file, a.source_row, a.rule).cmp(&(&b.source_file, b.source_row, b.rule)));
    ledger.status = match status {
        Status::Success => "published".into(),
        Status::Rejected => "published_with_rejections".into(),
    };
    ledger.exit_code = match status {
        Status::Success => 0,
        Status::Rejected => 1,
    };
    for input in ledger.inputs.iter().filter(|i| i.failure.is_some()) {
        if let Some(f) = &input.failure {
            ledger.warnings.push(f.message.clone());
        }
    }

    let (Some(out), Some(writers)) = (out, writers) else {
        ledger.total_up();
        ledger.status = "validated".into();
        ledger.finished_at = Utc::now().to_rfc3339();
        return Ok(Outcome {
            ledger,
            findings: state.findings,
            findings_total: state.findings_total,
            status,
            output: None,
        });
    };

    // 4. Close the files, run the SQL project, write the dictionary, commit, switch.
    ledger.files_written = writers.finish().await?;
    let ctx = transform::session(&out, &request.run_id).await?;
    transform::reference::register(&ctx, &pipeline, &state.counties)?;
    let models = transform::project(&ctx)?;
    let (marts, mart_files) = transform::run_models(&ctx, &out, &request.run_id, &models).await?;
    ledger.marts = marts;
    ledger.files_written.extend(mart_files);
    ledger.warnings.extend(school_change_warnings(&ctx).await?);
    let dictionary = dictionary::build(&models, &ctx).await?;
    let bytes = serde_json::to_vec_pretty(&dictionary)
        .map_err(|source| Error::Json { context: "dictionary".into(), source })?;
    load::write_object(&out, &request.run_id, "dictionary.json", bytes).await?;
    ledger.total_up();
    ledger.published = true;
    ledger.finished_at = Utc::now().to_rfc3339();
    load::commit(&out, &ledger).await?;
    load::switch_current(&out, &request.run_id)?;
    Ok(Outcome { ledger, findings: state.findings, findings_total: state.findings_total, status, output: Some(out) })
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
        let (t, c, y) = key(row);
        let s = slices.entry((t, c.clone(), y)).or_insert_with(|| SliceRecord {
            table: t.name().into(),
            county_code: c,
            year: y,
            ..SliceRecord::default()
        });
        s.rows_read += 1;
        if batch.rejected[row] {
            s.rows_quarantined += 1;
        } else {
            s.rows_published += 1;
        }
    }
    for f in &batch.findings {
        let (t, c, y) = f.batch_row.map(key).unwrap_or((table, path_county.clone(), path_year));
        let s = slices.entry((t, c.clone(), y)).or_insert_with(|| SliceRecord {
            table: t.name().into(),
            county_code: c,
            year: y,
            ..SliceRecord::default()
        });
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

fn account_file_findings(findings: &[Finding], file: &SourceFile) -> Slices {
    let mut slices = Slices::new();
    for f in findings {
        let c = f.county_code.clone().or_else(|| file.county_code.clone()).unwrap_or_default();
        let y = f.year.or(file.year).unwrap_or(0);
        let s = slices.entry((file.table, c.clone(), y)).or_insert_with(|| SliceRecord {
            table: file.table.name().into(),
            county_code: c,
            year: y,
            ..SliceRecord::default()
        });
        let by_rule = if f.severity == Severity::Error { &mut s.quarantined_by_rule } else { &mut s.warnings_by_rule };
        *by_rule.entry(f.rule.into()).or_default() += 1;
    }
    slices
}

/// What the writer task accumulates.
struct State {
    slices: Slices,
    findings: Vec<Finding>,
    findings_total: u64,
    counties: BTreeSet<String>,
    failed_slices: BTreeSet<(Table, String, i32)>,
}

impl State {
    fn slice(&mut self, table: Table, county: &str, year: i32) -> &mut SliceRecord {
        self.slices.entry((table, county.to_owned(), year)).or_insert_with(|| SliceRecord {
            table: table.name().into(),
            county_code: county.into(),
            year,
            ..SliceRecord::default()
        })
    }

    /// Merge a batch's counts and findings, and write its rows.
    async fn take(&mut self, output: BatchOutput, writers: &mut Option<PartitionWriters>) -> Result<()> {
        for ((t, c, y), s) in output.slices {
            if !c.is_empty() {
                self.counties.insert(c.clone());
            }
            let into = self.slice(t, &c, y);
            into.rows_read += s.rows_read;
            into.rows_published += s.rows_published;
            into.rows_quarantined += s.rows_quarantined;
            for (rule, n) in s.quarantined_by_rule {
                *into.quarantined_by_rule.entry(rule).or_default() += n;
            }
            for (rule, n) in s.warnings_by_rule {
                *into.warnings_by_rule.entry(rule).or_default() += n;
            }
        }
        self.findings_total += output.findings.len() as u64;
        let room = FINDINGS_SHOWN.saturating_sub(self.findings.len());
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
        let county = file.county_code.clone().unwrap_or_default();
        let year = file.year.unwrap_or(0);
        self.failed_slices.insert((file.table, county.clone(), year));
        let slice = self.slice(file.table, &county, year);
        slice.file_failed = true;
        *slice.quarantined_by_rule.entry(failure.rule.into()).or_default() += 1;
        let finding = Finding {
            table: file.table,
            source_uri: file.uri.clone(),
            source_file: file.relative.clone(),
            source_sheet: None,
            source_row: None,
            column: None,
            value: None,
            rule: failure.rule,
            severity: Severity::Error,
            message: failure.message.clone(),
            county_code: file.county_code.clone(),
            year: file.year,
            batch_row: None,
        };
        if let Some(w) = writers.as_mut() {
            for (y, batch) in quarantine::batches(file.table, std::slice::from_ref(&finding), None, run_id)? {
                w.write(Area::Quarantine, file.table.name(), y, &batch).await?;
            }
        }
        self.findings_total += 1;
        if self.findings.len() < FINDINGS_SHOWN {
            self.findings.push(finding);
        }
        if !county.is_empty() {
            self.counties.insert(county);
        }
        Ok(())
    }
}

/// Copy the previous version's rows of failed slices into the new version.
async fn carry_over(
    out: &Location,
    parent: &Ledger,
    failed: &BTreeSet<(Table, String, i32)>,
    writers: &mut PartitionWriters,
    ledger: &mut Ledger,
) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    let ctx = transform::session(out, &parent.run_id).await?;
    for (table, county, year) in failed {
        for (area, schema) in
            [(Area::Staging, normalise::schema(*table)), (Area::Quarantine, quarantine::schema(*table))]
        {
            let name = format!("previous_{}_{}", area.name(), table.name());
            let dir = format!("{}/{}/{}/", load::version_path(&parent.run_id), area.name(), table.name());
            transform::register_parquet(&ctx, out, &dir, &name, Some(schema.clone()), true).await?;
            let columns: Vec<String> = schema.fields().iter().map(|f| format!("\"{}\"", f.name())).collect();
            let sql = format!(
                "select {} from {name} where county_code = '{}' and year = {year}",
                columns.join(", "),
                county.replace('\'', "''")
            );
            let batches = ctx
                .sql(&sql)
                .await
                .map_err(|e| Error::Sql { model: name.clone(), file: "carry-over".into(), source: Box::new(e) })?
                .collect()
                .await
                .map_err(|e| Error::Sql { model: name.clone(), file: "carry-over".into(), source: Box::new(e) })?;
            let mut rows = 0;
            for batch in batches {
                rows += batch.num_rows();
                let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                    .map_err(|e| Error::arrow("carry-over", e))?;
                writers.write(area, table.name(), *year, &batch).await?;
            }
            if area == Area::Staging && rows > 0 {
                ledger.warnings.push(format!(
                    "{table} of county {county} for {year}: the new file could not be read, so the {rows} rows published by run {} are kept",
                    parent.run_id
                ));
            }
        }
    }
    Ok(())
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

fn input_record(file: &SourceFile, report: &std::result::Result<FileReport, FileFailure>) -> InputRecord {
    let mut record = InputRecord {
        uri: file.uri.clone(),
        path: file.relative.clone(),
        table: file.table.name().into(),
        county_code: file.county_code.clone(),
        year: file.year,
        size: file.size,
        e_tag: file.e_tag.clone(),
        last_modified: file.last_modified.to_rfc3339(),
        ..InputRecord::default()
    };
    match report {
        Ok(r) => {
            record.sha256 = r.sha256.clone();
            record.encoding = r.encoding.clone();
            record.delimiter = r.delimiter.clone();
            record.sheet = r.sheet.clone();
            record.header_row = r.header_row;
            record.rows = r.rows;
            record.columns = r
                .columns
                .iter()
                .map(|(h, c, u)| match u {
                    Some(u) => format!("{h} → {c} ({u})"),
                    None => format!("{h} → {c}"),
                })
                .collect();
            record.column_headers = r.columns.iter().map(|(h, c, _)| (c.clone(), h.clone())).collect();
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
