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

use arrow::array::{Array, RecordBatch};

use crate::contract::{Rule, Severity, Table};
use crate::error::Result;
use crate::extract::layout::Discovery;
use crate::extract::{FileFailure, SourceFile};
use crate::job::Request;
use crate::ledger::{InputKey, InputState, Ledger, SliceRecord};
use crate::load::{Area, KeptSlices, PartitionWriters};
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
    /// Whether a changed file's unchanged county-years may keep the parent's rows: not when
    /// everything is read again (first run, `--force`, another pipeline, settings or junheng).
    pub keep_unchanged_slices: bool,
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
    /// Inputs read again of which some county-years were unchanged: the parent's rows of those
    /// county-years are kept.
    pub kept_slices: HashMap<InputKey, KeptSlices>,
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
        kept_slices: HashMap::new(),
        changed_schools: HashSet::new(),
    };
    // One record per input (about 760 bytes each): allocated once, not by doubling.
    run.ledger.inputs.reserve_exact(files.len() + inputs.discovery.conflicts.len());
    run.ledger.ignored_files = inputs.discovery.ignored.clone();
    run.ledger.warnings.extend(unread_data_files(&inputs.discovery.ignored));
    run.ledger.warnings.extend(inputs.discovery.links.iter().map(|(path, target)| {
        format!(
            "{path}: a symbolic link (to {target}), so it was not read — junheng reads only the files inside the \
             source folder, so that a link cannot publish a file from elsewhere; copy the file there instead"
        )
    }));
    run.conflicts();
    let registry = schools::ingest_schools(&mut run).await?;
    run.changed_schools = run.changed_school_slices();
    run.unchanged();
    files::ingest_files(&mut run, registry).await?;
    run.missing();
    let (records, warnings, removed) =
        evidence::record(inputs.source, &inputs.discovery.evidence, inputs.evidence_sha, inputs.parent).await?;
    run.ledger.evidence = records;
    run.ledger.evidence_removed = removed;
    run.ledger.warnings.extend(warnings);
    let Ingest { ledger, collector, kept, kept_slices, .. } = run;
    let mut findings = collector.findings;
    findings.sort_by(|a, b| (&a.source_file, a.source_row, a.rule).cmp(&(&b.source_file, b.source_row, b.rule)));
    Ok(Ingested { ledger, findings, findings_total: collector.findings_total, kept, kept_slices })
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
    kept_slices: HashMap<InputKey, KeptSlices>,
    /// The county-years whose schools differ from the parent's (their other rows are checked
    /// against other schools, so none of them is kept).
    changed_schools: HashSet<(String, i32)>,
}

impl Ingest<'_> {
    /// The county-years whose schools rows differ from the parent version's: compared slice by
    /// slice (digests of the rows as read), both ways, so a county-year that lost its schools
    /// counts too.
    fn changed_school_slices(&self) -> HashSet<(String, i32)> {
        let digests = |slices: &mut dyn Iterator<Item = &SliceRecord>| -> HashMap<(String, i32), Option<String>> {
            slices
                .filter(|s| s.table == Table::Schools.name())
                .map(|s| ((s.county_code.clone(), s.year), s.rows_digest.clone()))
                .collect()
        };
        let now = digests(&mut self.ledger.inputs.iter().flat_map(|i| &i.slices));
        let before = digests(&mut self.previous.values().flat_map(|i| &i.slices));
        let mut changed: HashSet<(String, i32)> =
            now.iter().filter(|(k, d)| d.is_none() || before.get(*k) != Some(*d)).map(|(k, _)| k.clone()).collect();
        changed.extend(before.keys().filter(|k| !now.contains_key(*k)).cloned());
        changed
    }

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

    /// The county-years of a changed file holding several counties that are as the parent
    /// version read them: the same source rows (by digest and count), no finding about the
    /// whole file among them, and their schools unchanged. Their rows are kept rather than
    /// published again; none are when everything is read again, or when only checking.
    fn unchanged_slices(&self, file: &SourceFile, pending: &[BatchOutput], file_findings: &[Finding]) -> Slices {
        let eligible = self.publish() && self.inputs.keep_unchanged_slices && file.county_code.is_none();
        let Some(previous) = self.previous.get(&file.key()).filter(|p| eligible && p.failure.is_none()) else {
            return Slices::new();
        };
        // The parent's slices of this input, by county-year (looked up once per slice).
        let before: HashMap<(&str, i32), &SliceRecord> =
            previous.slices.iter().map(|p| ((p.county_code.as_str(), p.year), p)).collect();
        let mut now = Slices::new();
        for output in pending {
            for (key, s) in &output.slices {
                records::slice_entry(&mut now, key.clone()).absorb(s);
            }
        }
        let filed: HashSet<SliceKey> = records::file_finding_slices(file_findings, file).into_keys().collect();
        now.into_iter()
            .filter(|(key, _)| !filed.contains(key) && !self.changed_schools.contains(&(key.1.clone(), key.2)))
            .filter_map(|(key, s)| {
                let p = before.get(&(key.1.as_str(), key.2))?;
                let same = p.rows_digest.is_some()
                    && p.rows_digest == s.rows_digest
                    && p.rows_read == s.rows_read
                    && !p.file_failed;
                same.then(|| (key, (*p).clone()))
            })
            .collect()
    }

    /// Keep the parent's rows of a re-read file's unchanged county-years (with the parent's
    /// records of them): take their rows out of the batches to write, and file the records
    /// (saying which run's rows they are) for the input's ledger record and for carry-forward.
    fn keep_slices(&mut self, file: &SourceFile, pending: Vec<BatchOutput>, kept: Slices) -> Result<Vec<BatchOutput>> {
        let mut rows: HashSet<u64> = HashSet::new();
        for output in &pending {
            for (key, slice_rows) in &output.rows_by_slice {
                if kept.contains_key(key) {
                    rows.extend(slice_rows);
                }
            }
        }
        let mut outputs = Vec::with_capacity(pending.len());
        for mut output in pending {
            output.slices.retain(|key, _| !kept.contains_key(key));
            output.findings.retain(|f| f.source_row.is_none_or(|r| !rows.contains(&r)));
            for (_, batch) in output.staging.iter_mut().chain(output.quarantine.iter_mut()) {
                *batch = without_rows(batch, &rows)?;
            }
            output.staging.retain(|(_, b)| b.num_rows() > 0);
            output.quarantine.retain(|(_, b)| b.num_rows() > 0);
            outputs.push(output);
        }
        let parent_run = self.parent().map(|p| p.run_id.clone());
        let years = kept.keys().map(|(_, _, year)| *year).collect();
        let mut records = kept;
        for record in records.values_mut() {
            record.kept_from = record.kept_from.take().or_else(|| parent_run.clone());
        }
        self.collector.kept.insert(file.key(), records);
        self.kept_slices.insert(file.key(), KeptSlices { uri: file.uri.clone(), rows, years });
        Ok(outputs)
    }

    /// Record a file that was read (or failed): its ledger record, its progress tick.
    fn record(&mut self, file: &SourceFile, report: &std::result::Result<crate::extract::FileReport, FileFailure>) {
        let mut slices = self.collector.per_file.remove(&file.key());
        if let Some(kept) = self.collector.kept.remove(&file.key()) {
            slices.get_or_insert_default().extend(kept);
        }
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
        let output = BatchOutput {
            table: file.table,
            staging: Vec::new(),
            quarantine,
            slices,
            findings: vec![finding],
            rows_by_slice: HashMap::new(),
        };
        self.take(file.key(), output).await
    }

    /// Findings about a whole file that was read (unknown columns, total rows that disagree).
    async fn file_findings(&mut self, file: &SourceFile, findings: Vec<Finding>) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let quarantine = quarantine::batches(file.table, &findings, None, &self.request.run_id)?;
        let slices = records::file_finding_slices(&findings, file);
        let output = BatchOutput {
            table: file.table,
            staging: Vec::new(),
            quarantine,
            slices,
            findings,
            rows_by_slice: HashMap::new(),
        };
        self.take(file.key(), output).await
    }
}

/// Counts per input and the findings to show, as batches arrive.
#[derive(Default)]
struct Collector {
    per_file: HashMap<InputKey, Slices>,
    /// The parent's records of the county-years a re-read file keeps.
    kept: HashMap<InputKey, Slices>,
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
    /// The source rows of each slice, for a file holding several counties (whose unchanged
    /// slices a re-read may keep): empty for other files.
    rows_by_slice: HashMap<SliceKey, Vec<u64>>,
}

/// A slice: (table, county, year).
type SliceKey = (Table, String, i32);

/// Whether a file's slices are digested: a file holding several counties (its unchanged
/// county-years may be kept when it changes) and every schools file (whether a county-year's
/// schools changed decides whether its other rows may be kept).
fn digests_slices(file: &SourceFile) -> bool {
    file.county_code.is_none() || file.table == Table::Schools
}

/// The bytes that identify a source row as read: its sheet, row number, and each bound
/// column's name and cell (an absent cell told apart from an empty one).
fn row_identity(raw: &crate::extract::RawBatch, row: usize, buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(raw.sheet.as_deref().unwrap_or_default().as_bytes());
    buffer.push(0);
    buffer.extend_from_slice(&raw.source_rows[row].to_le_bytes());
    for (bound, cells) in raw.binding.columns.iter().zip(&raw.cells) {
        buffer.extend_from_slice(bound.column.name.as_bytes());
        if cells.is_null(row) {
            buffer.push(0);
        } else {
            buffer.push(1);
            let text = cells.value(row);
            buffer.extend_from_slice(&(text.len() as u64).to_le_bytes());
            buffer.extend_from_slice(text.as_bytes());
        }
    }
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
    let digested = digests_slices(&batch.raw.file);
    let keep_rows = digested && table != Table::Schools;
    let mut digests: HashMap<SliceKey, crate::ledger::RowsDigest> = HashMap::new();
    let mut rows_by_slice: HashMap<SliceKey, Vec<u64>> = HashMap::new();
    let mut identity = Vec::new();
    for row in 0..batch.raw.len() {
        let slice = key(row);
        if digested {
            row_identity(&batch.raw, row, &mut identity);
            digests.entry(slice.clone()).or_default().add_row(&identity);
        }
        if keep_rows {
            rows_by_slice.entry(slice.clone()).or_default().push(batch.raw.source_rows[row]);
        }
        let s = records::slice_entry(&mut slices, slice);
        s.rows_read += 1;
        if batch.rejected[row] {
            s.rows_quarantined += 1;
        } else {
            s.rows_published += 1;
        }
    }
    for (slice, digest) in digests {
        records::slice_entry(&mut slices, slice).rows_digest = Some(digest.hex());
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
    Ok(BatchOutput { table, staging, quarantine, slices, findings: batch.findings.clone(), rows_by_slice })
}

/// A batch of staging or quarantine rows without those of some source rows.
fn without_rows(batch: &RecordBatch, rows: &HashSet<u64>) -> Result<RecordBatch> {
    let Some(column) = batch.column_by_name("source_row") else { return Ok(batch.clone()) };
    let Some(source_rows) = column.as_any().downcast_ref::<arrow::array::Int64Array>() else {
        return Ok(batch.clone());
    };
    let keep: arrow::array::BooleanArray = (0..batch.num_rows())
        .map(|i| Some(source_rows.is_null(i) || !rows.contains(&(source_rows.value(i) as u64))))
        .collect();
    arrow::compute::filter_record_batch(batch, &keep)
        .map_err(|e| crate::error::Error::arrow("keeping unchanged county-years", e))
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
