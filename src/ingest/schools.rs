//! Schools first: every other table is checked against the schools of its year.
//!
//! A year at a time when every schools file names its year (a row of another year is rejected,
//! so a teaching point's parent is in its own year's files): read the year's files, then the
//! two-pass check (rows and keys, then teaching points' parents). Holding one year, not ten,
//! bounds memory nationally.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;

use super::{Ingest, finish_batch, workers};
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::extract::{self, FileFailure, FileReport, RawBatch, SourceFile};
use crate::validate::{self, KeySet, SchoolRegistry};

/// A schools file as read: its report and its batches (kept until the year is checked).
type SchoolsRead = (Arc<SourceFile>, (std::result::Result<FileReport, FileFailure>, Vec<RawBatch>));

/// Read, check and write every schools file; returns the schools accepted, by year.
pub(super) async fn ingest_schools(run: &mut Ingest<'_>) -> Result<Arc<SchoolRegistry>> {
    let school_files: Vec<Arc<SourceFile>> =
        run.inputs.discovery.files.iter().filter(|f| f.table == Table::Schools).cloned().collect();
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
        let reads = read_all(run, files).await?;
        ingest_year(run, reads, &mut registry).await?;
    }
    Ok(Arc::new(registry))
}

/// Read a year's schools files, two at a time, holding their batches.
async fn read_all(run: &Ingest<'_>, files: Vec<Arc<SourceFile>>) -> Result<Vec<SchoolsRead>> {
    let handle = tokio::runtime::Handle::current();
    let reads = futures::stream::iter(files.into_iter().map(|file| {
        let store = run.inputs.source.store.clone();
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
    reads.into_iter().map(|r| r.map_err(|e| Error::Worker(format!("a schools reader thread failed: {e}")))).collect()
}

/// Check one year's schools (rows, keys, parents), write them, and record every file.
async fn ingest_year(run: &mut Ingest<'_>, reads: Vec<SchoolsRead>, registry: &mut SchoolRegistry) -> Result<()> {
    // A schools key holds its year: a year's keys cannot meet another year's.
    let mut keys = KeySet::default();
    let mut school_batches = Vec::new();
    let mut school_reports = Vec::new();
    for (file, (report, batches)) in reads {
        if report.is_ok() {
            school_batches.extend(batches);
        }
        school_reports.push((file, report));
    }
    let (checked, year_registry) = validate::check_schools(school_batches, &run.request.pipeline.settings, &mut keys);
    registry.extend(year_registry);
    let publish = run.publish();
    for batch in &checked {
        let output = finish_batch(batch, run.request, publish)?;
        run.take(batch.raw.file.key(), output).await?;
    }
    drop(checked);
    if let Some(w) = run.writers.as_mut() {
        w.close_years_before(i32::MAX).await?;
    }
    for (file, report) in school_reports {
        if let Err(failure) = &report {
            run.file_failed(&file, failure).await?;
        }
        run.record(&file, &report);
    }
    Ok(())
}
