//! Ingest: every input the plan reads goes through extract → validate → normalise → load, and
//! every input of the source (read or not) gets its ledger record.
//!
//! Schools come first, a year at a time (every other table is checked against them); then the
//! other files, read and validated in parallel on blocking threads while one task writes their
//! batches in file order. A file's rows are published only if the whole file could be read;
//! when a file fails (or disappears without `--allow-removals`, or conflicts with another), the
//! rows it had in the parent version are kept and the load stage carries them forward.

mod evidence;
mod files;
pub mod records;
mod schools;

use std::collections::{HashMap, HashSet};

use arrow::array::RecordBatch;

use crate::contract::{Rule, Severity, Table};
use crate::error::Result;
use crate::extract::layout::Discovery;
use crate::extract::{FileFailure, SourceFile};
use crate::job::Request;
use crate::ledger::{InputKey, InputState, Ledger, SliceRecord};
use crate::load::{Area, PartitionWriters};
use crate::normalise::{self, quarantine};
use crate::storage::Location;
use crate::validate::{CheckedBatch, Finding};
use records::{Previous, Slices};

/// What ingest reads: the source's files as discovered, which of them to read, and the parent
/// version whose rows the others keep.
pub struct Inputs<'a> {
    /// Every file of the source.
    pub discovery: &'a Discovery,
    /// The files the plan reads (schools are always read).
    pub to_read: &'a HashSet<InputKey>,
    /// The last committed run of the output.
    pub parent: Option<&'a Ledger>,
    /// The source store.
    pub source: &'a Location,
    /// The SHA-256 of evidence files the plan already knows, by path.
    pub evidence_sha: &'a HashMap<String, String>,
}

/// What ingest hands the next stages.
pub struct Ingested {
    /// The ledger with a record for every input.
    pub ledger: Ledger,
    /// The first findings (all of them are in quarantine).
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub findings_total: u64,
    /// Inputs whose rows the parent version holds and this version keeps.
    pub kept: HashSet<InputKey>,
}

/// Ingest the plan's inputs into the partition writers (or only check them, with none).
pub async fn ingest(
    request: &Request,
    inputs: Inputs<'_>,
    ledger: Ledger,
    writers: Option<&mut PartitionWriters>,
) -> Result<Ingested> {
    let files = &inputs.discovery.files;
    let reading = files.iter().filter(|f| f.table == Table::Schools || inputs.to_read.contains(&f.key())).count();
    request.tell(crate::job::ProgressEvent::Reading(reading as u64));
    let previous: Previous = inputs.parent.iter().flat_map(|p| p.inputs.iter()).map(|i| (i.key(), i.clone())).collect();
    let mut run = Ingest {
        request,
        inputs: &inputs,
        previous,
        ledger,
        collector: Collector { findings_limit: request.findings_limit, ..Collector::default() },
        writers,
        kept: HashSet::new(),
    };
    // One record per input (about 760 bytes each): allocated once, not by doubling.
    run.ledger.inputs.reserve_exact(files.len() + inputs.discovery.conflicts.len());
    run.ledger.ignored_files = inputs.discovery.ignored.clone();
    run.ledger.warnings.extend(unread_data_files(&inputs.discovery.ignored));
    run.conflicts();
    let registry = schools::ingest_schools(&mut run).await?;
    run.unchanged();
    files::ingest_files(&mut run, registry).await?;
    run.missing();
    let (records, warnings, removed) =
        evidence::record(inputs.source, &inputs.discovery.evidence, inputs.evidence_sha, inputs.parent).await?;
    run.ledger.evidence = records;
    run.ledger.evidence_removed = removed;
    run.ledger.warnings.extend(warnings);
    let Ingest { ledger, collector, kept, .. } = run;
    let mut findings = collector.findings;
    findings.sort_by(|a, b| (&a.source_file, a.source_row, a.rule).cmp(&(&b.source_file, b.source_row, b.rule)));
    Ok(Ingested { ledger, findings, findings_total: collector.findings_total, kept })
}

/// The state of one ingest: the ledger being written, the findings, the writers.
struct Ingest<'a> {
    request: &'a Request,
    inputs: &'a Inputs<'a>,
    previous: Previous,
    ledger: Ledger,
    collector: Collector,
    writers: Option<&'a mut PartitionWriters>,
    kept: HashSet<InputKey>,
}

impl Ingest<'_> {
    fn publish(&self) -> bool {
        self.writers.is_some()
    }

    fn parent(&self) -> Option<&Ledger> {
        self.inputs.parent
    }

    /// Tables given by several files for one county-year: none is read; their records fail.
    fn conflicts(&mut self) {
        for conflict in &self.inputs.discovery.conflicts {
            let message = records::conflict_message(conflict);
            self.ledger.warnings.push(message.clone());
            for path in &conflict.files {
                let parent = self.inputs.parent;
                let record = records::conflict_record(conflict, path, &message, &self.previous, parent, &mut self.kept);
                self.ledger.inputs.push(record);
            }
        }
    }

    /// Inputs the plan does not read keep their earlier records and rows.
    fn unchanged(&mut self) {
        let unchanged = self
            .inputs
            .discovery
            .files
            .iter()
            .filter(|f| f.table != Table::Schools && !self.inputs.to_read.contains(&f.key()));
        for file in unchanged {
            let key = file.key();
            let record = self.previous.get(&key).cloned().unwrap_or_default();
            self.ledger.inputs.push(records::carried(&record, InputState::Unchanged, self.parent()));
            self.kept.insert(key);
        }
    }

    /// Inputs that disappeared: kept unless the run was told to remove them.
    fn missing(&mut self) {
        let present: HashSet<InputKey> = self.ledger.inputs.iter().map(|i| i.key()).collect();
        let mut gone: Vec<_> = self.previous.iter().filter(|(k, _)| !present.contains(*k)).collect();
        gone.sort_by(|a, b| a.0.cmp(b.0));
        for (key, record) in gone {
            if self.request.allow_removals {
                self.ledger
                    .warnings
                    .push(format!("{} is gone from the source; its rows were removed (--allow-removals)", record.path));
                continue;
            }
            let record = records::carried(record, InputState::Missing, self.parent());
            self.ledger.warnings.push(format!(
                "{} is gone from the source; its rows from run {} are kept (run with --allow-removals to remove them)",
                record.path,
                record.carried_from.as_deref().unwrap_or("?")
            ));
            self.kept.insert(key.clone());
            self.ledger.inputs.push(record);
        }
    }

    /// Record a file that was read (or failed): its ledger record, its progress tick.
    fn record(&mut self, file: &SourceFile, report: &std::result::Result<crate::extract::FileReport, FileFailure>) {
        let slices = self.collector.per_file.remove(&file.key());
        let record = records::input_record(file, report, slices, &mut self.ledger);
        let parent = self.inputs.parent;
        self.ledger.inputs.push(records::keep_on_failure(record, &self.previous, parent, &mut self.kept));
        self.request.tell(crate::job::ProgressEvent::FileRead(file.relative.clone()));
    }

    /// Merge a batch's counts and findings into its file's, and write its rows.
    async fn take(&mut self, file: InputKey, output: BatchOutput) -> Result<()> {
        self.collector.count(file, output.slices, output.findings);
        if let Some(w) = self.writers.as_mut() {
            for (area, batches) in [(Area::Staging, output.staging), (Area::Quarantine, output.quarantine)] {
                for (year, batch) in batches {
                    w.write(area, output.table.name(), year, &batch).await?;
                }
            }
        }
        Ok(())
    }

    /// Record a file that could not be read: its slice fails, one quarantine row says why.
    async fn file_failed(&mut self, file: &SourceFile, failure: &FileFailure) -> Result<()> {
        let finding = Finding::about_file(file, failure.rule, Severity::Error, failure.message.clone());
        let mut slices = records::file_finding_slices(std::slice::from_ref(&finding), file);
        for s in slices.values_mut() {
            s.file_failed = true;
        }
        let quarantine = quarantine::batches(file.table, std::slice::from_ref(&finding), None, &self.request.run_id)?;
        let output =
            BatchOutput { table: file.table, staging: Vec::new(), quarantine, slices, findings: vec![finding] };
        self.take(file.key(), output).await
    }

    /// Findings about a whole file that was read (unknown columns, total rows that disagree).
    async fn file_findings(&mut self, file: &SourceFile, findings: Vec<Finding>) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let quarantine = quarantine::batches(file.table, &findings, None, &self.request.run_id)?;
        let slices = records::file_finding_slices(&findings, file);
        let output = BatchOutput { table: file.table, staging: Vec::new(), quarantine, slices, findings };
        self.take(file.key(), output).await
    }
}

/// Counts per input and the findings to show, as batches arrive.
#[derive(Default)]
struct Collector {
    per_file: HashMap<InputKey, Slices>,
    findings: Vec<Finding>,
    findings_total: u64,
    findings_limit: usize,
}

impl Collector {
    fn count(&mut self, file: InputKey, slices: Slices, findings: Vec<Finding>) {
        let mine = self.per_file.entry(file).or_default();
        for (key, s) in slices {
            mine.entry(key)
                .or_insert_with(|| SliceRecord {
                    table: s.table.clone(),
                    county_code: s.county_code.clone(),
                    year: s.year,
                    ..SliceRecord::default()
                })
                .absorb(&s);
        }
        self.findings_total += findings.len() as u64;
        let room = self.findings_limit.saturating_sub(self.findings.len());
        self.findings.extend(findings.into_iter().take(room));
    }
}

/// What a worker hands the writer for one batch.
struct BatchOutput {
    table: Table,
    staging: Vec<(i32, RecordBatch)>,
    quarantine: Vec<(i32, RecordBatch)>,
    slices: Slices,
    findings: Vec<Finding>,
}

/// Normalise and quarantine a checked batch and count it per slice (quarantine and staging are
/// built only when the run publishes).
fn finish_batch(batch: &CheckedBatch, request: &Request, publish: bool) -> Result<BatchOutput> {
    let table = batch.table();
    let mut slices = Slices::new();
    let path_county = batch.raw.file.county_code.clone().unwrap_or_default();
    let path_year = batch.raw.file.year.unwrap_or(0);
    let key = |row: usize| {
        (table, batch.county[row].clone().unwrap_or_else(|| path_county.clone()), batch.year(row).unwrap_or(path_year))
    };
    for row in 0..batch.raw.len() {
        let s = records::slice_entry(&mut slices, key(row));
        s.rows_read += 1;
        if batch.rejected[row] {
            s.rows_quarantined += 1;
        } else {
            s.rows_published += 1;
        }
    }
    for f in &batch.findings {
        let at = f.batch_row.map(key).unwrap_or((table, path_county.clone(), path_year));
        records::count_finding(records::slice_entry(&mut slices, at), f);
    }
    let (staging, quarantine) = if publish {
        let run_id = &request.run_id;
        (
            normalise::normalise(batch, &request.pipeline.settings, run_id)?,
            quarantine::batches(table, &batch.findings, Some(&batch.raw), run_id)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(BatchOutput { table, staging, quarantine, slices, findings: batch.findings.clone() })
}

/// Parallel workers for reading and validating files.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// The failure of a reader thread that stopped without saying how the file went.
fn reader_stopped(file: &SourceFile) -> FileFailure {
    FileFailure::new(Rule::UnreadableFile, format!("{}: the reader stopped without a result", file.relative))
}

/// Warnings for data files the source holds but no table claims (`学生情况.csv` where the
/// standard layout expects `pupils.csv` or `学生.csv`): their rows are never read, so they are
/// never counted — the county must hear of them. Other files (README.md, scans) are left alone.
fn unread_data_files(ignored: &[String]) -> Vec<String> {
    const DATA: [&str; 7] = ["csv", "tsv", "xlsx", "xls", "json", "jsonl", "parquet"];
    ignored
        .iter()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            name.rsplit_once('.').is_some_and(|(_, ext)| DATA.contains(&ext.to_ascii_lowercase().as_str()))
        })
        .map(|path| {
            format!(
                "{path}: a data file that names no table, so it was not read — name it after its table \
                 (schools.csv or 学校.csv, pupils.csv or 学生.csv, 学校经费.csv …, see the README) or say in \
                 a pipeline file which table it holds"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::unread_data_files;

    #[test]
    fn a_data_file_no_table_claims_is_a_warning_and_a_readme_is_not() {
        let ignored =
            ["231182/2018/学生情况.CSV".to_owned(), "README.md".to_owned(), "231182/2018/scan.pdf".to_owned()];
        let warnings = unread_data_files(&ignored);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("231182/2018/学生情况.CSV: a data file that names no table"));
    }
}
