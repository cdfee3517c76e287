//! Every other file the plan reads: workers on blocking threads read, validate and normalise,
//! and send their batches to this task, which writes them in file order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::{BatchOutput, Ingest, finish_batch, reader_stopped, workers};
use crate::contract::Table;
use crate::error::Result;
use crate::extract::{self, FileFailure, FileReport, RawBatch, SourceFile};
use crate::job::Request;
use crate::validate::{self, Finding, KeySet, SchoolRegistry};

/// What a worker sends for one file: its batches, then how the file went.
enum Message {
    Batch(Box<BatchOutput>),
    Done(Box<std::result::Result<FileReport, FileFailure>>, Vec<Finding>),
}

/// Keys of tables whose uniqueness scope spans files (files without a county in their path).
type SharedKeys = Arc<Mutex<HashMap<Table, KeySet>>>;

/// Read, validate and write every non-schools file the plan reads.
pub(super) async fn ingest_files(run: &mut Ingest<'_>, registry: Arc<SchoolRegistry>) -> Result<()> {
    let mut to_read: Vec<Arc<SourceFile>> = run
        .inputs
        .discovery
        .files
        .iter()
        .filter(|f| f.table != Table::Schools && run.inputs.to_read.contains(&f.key()))
        .cloned()
        .collect();
    // Year by year (files without a year in their path first), so that a year's partitions can
    // be closed when the next year starts; within a year, in path order.
    to_read.sort_by(|a, b| (a.year, &a.relative).cmp(&(b.year, &b.relative)));
    let shared_keys: SharedKeys = Arc::default();
    let handle = tokio::runtime::Handle::current();
    let request = Arc::new(run.request.clone());
    let publish = run.publish();
    let mut receivers = futures::stream::iter(to_read.into_iter().map(|file| {
        let (tx, rx) = mpsc::channel::<Message>(4);
        let worker = Worker {
            handle: handle.clone(),
            store: run.inputs.source.store.clone(),
            request: request.clone(),
            registry: registry.clone(),
            shared_keys: shared_keys.clone(),
            publish,
        };
        let f = file.clone();
        tokio::task::spawn_blocking(move || worker.process(&f, tx));
        async move { (file, rx) }
    }))
    .buffered(workers());
    while let Some((file, rx)) = receivers.next().await {
        if let (Some(year), Some(w)) = (file.year, run.writers.as_mut()) {
            w.close_years_before(year).await?;
        }
        receive(run, &file, rx).await?;
    }
    Ok(())
}

/// Take one file's batches from its worker; publish them only if the whole file was read.
async fn receive(run: &mut Ingest<'_>, file: &SourceFile, mut rx: mpsc::Receiver<Message>) -> Result<()> {
    let mut pending: Vec<BatchOutput> = Vec::new();
    let mut report = Err(reader_stopped(file));
    let mut file_findings = Vec::new();
    while let Some(message) = rx.recv().await {
        match message {
            Message::Batch(output) => pending.push(*output),
            Message::Done(r, findings) => {
                report = *r;
                file_findings = findings;
            }
        }
    }
    match &report {
        Ok(_) => {
            let kept = run.unchanged_slices(file, &pending, &file_findings);
            if !kept.is_empty() {
                pending = run.keep_slices(file, pending, kept)?;
            }
            for output in pending {
                run.take(file.key(), output).await?;
            }
            run.file_findings(file, file_findings).await?;
        }
        Err(failure) => run.file_failed(file, failure).await?,
    }
    run.record(file, &report);
    Ok(())
}

/// What a worker thread needs to read, validate and normalise a file.
struct Worker {
    handle: tokio::runtime::Handle,
    store: Arc<dyn object_store::ObjectStore>,
    request: Arc<Request>,
    registry: Arc<SchoolRegistry>,
    shared_keys: SharedKeys,
    publish: bool,
}

impl Worker {
    /// Read, validate and normalise one file (on a blocking thread), sending batches to the writer.
    fn process(&self, file: &Arc<SourceFile>, tx: mpsc::Sender<Message>) {
        // Keys of per-school tables cannot collide across counties' files (each school belongs to
        // one county, checked against the registry); other scopes share one set per table.
        let per_file = file.county_code.is_some();
        let settings = &self.request.pipeline.settings;
        let mut own_keys = KeySet::default();
        let mut sums = validate::RunningSums::default();
        // The county and year of the file's first row: where a finding about the whole file is
        // filed when its path names no year (the year comes from a column).
        let mut first_row: Option<(Option<String>, i32)> = None;
        let mut on_batch = |raw: RawBatch| -> std::result::Result<(), String> {
            let checked = if per_file {
                validate::check_batch(raw, &mut validate::rules_context(settings, &self.registry, &mut own_keys))
            } else {
                let mut guard = self.shared_keys.lock().map_err(|_| "key registry poisoned".to_owned())?;
                let keys = guard.entry(file.table).or_default();
                validate::check_batch(raw, &mut validate::rules_context(settings, &self.registry, keys))
            };
            sums.add(&checked);
            if first_row.is_none() {
                first_row = (0..checked.raw.len()).find_map(|r| Some((checked.county[r].clone(), checked.year(r)?)));
            }
            let output = finish_batch(&checked, &self.request, self.publish).map_err(|e| e.to_string())?;
            tx.blocking_send(Message::Batch(Box::new(output))).map_err(|_| "the writer stopped".to_owned())
        };
        let report = extract::read_file(&self.handle, &self.store, file, &mut on_batch);
        let file_findings = match &report {
            Ok(r) => {
                let mut findings = validate::unknown_column_findings(&r.unknown_columns, file);
                findings.extend(validate::lacking_column_findings(&r.lacking_columns, file));
                findings.extend(validate::check_totals(&r.total_rows, &sums, file));
                if let Some((county, year)) = first_row.filter(|_| file.year.is_none()) {
                    for f in findings.iter_mut().filter(|f| f.year.is_none()) {
                        f.year = Some(year);
                        f.county_code = f.county_code.take().or_else(|| county.clone());
                    }
                }
                findings
            }
            Err(_) => Vec::new(),
        };
        let _ = tx.blocking_send(Message::Done(Box::new(report), file_findings));
    }
}
