//! Ledger builders: how a run's inputs, slices and status are written into its ledger.
//!
//! The ledger itself ([`crate::ledger`]) is plain data below the stages; these builders know
//! the stages' results (what extract reported about a file, what validate counted per slice)
//! and turn them into ledger records, so they sit above extract, validate and load.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::contract::{Rule, Severity, Table};
use crate::exit::ExitStatus;
use crate::extract::layout::Conflict;
use crate::extract::{FileFailure, FileReport, SourceFile};
use crate::job::Request;
use crate::ledger::{
    Failure, InputKey, InputRecord, InputState, Layout, Ledger, PipelineRecord, RunStatus, SliceRecord,
};
use crate::storage::Location;
use crate::validate::Finding;

/// Counts of one (table, county, year) slice, accumulated by workers and merged in order.
pub type Slices = BTreeMap<(Table, String, i32), SliceRecord>;

/// The ledger a run starts from: its identity, its pipeline and the parent it builds on.
pub fn new_ledger(
    request: &Request,
    parent: Option<&Ledger>,
    source: &Location,
    out: Option<&Location>,
) -> crate::error::Result<Ledger> {
    let pipeline = &request.pipeline;
    let mut ledger = Ledger {
        run_id: request.run_id.clone(),
        version: parent.map_or(1, |p| p.version + 1),
        parent_run_id: parent.map(|p| p.run_id.clone()),
        junheng_version: env!("CARGO_PKG_VERSION").into(),
        started_at: request.started_at.to_rfc3339(),
        pipeline: PipelineRecord {
            name: pipeline.name.clone(),
            hash: pipeline.hash.clone(),
            source_url: source.url.clone(),
            output_url: out.map(|o| o.url.clone()).unwrap_or_default(),
            settings: pipeline.settings_record()?,
            standards: pipeline.standards_record()?,
            report_language: pipeline.report_language,
        },
        ..Ledger::default()
    };
    // Records carried from the parent name its layouts by index: start from the same list.
    if let Some(p) = parent {
        ledger.layouts = p.layouts.clone();
    }
    Ok(ledger)
}

/// The slice a row or finding counts in.
pub fn slice_entry(slices: &mut Slices, (table, county, year): (Table, String, i32)) -> &mut SliceRecord {
    slices.entry((table, county.clone(), year)).or_insert_with(|| SliceRecord {
        table: table.name().into(),
        county_code: county,
        year,
        ..SliceRecord::default()
    })
}

/// Count a finding under its rule in a slice.
pub fn count_finding(slice: &mut SliceRecord, finding: &Finding) {
    let by_rule =
        if finding.severity == Severity::Error { &mut slice.quarantined_by_rule } else { &mut slice.warnings_by_rule };
    *by_rule.entry(finding.rule.id().into()).or_default() += 1;
}

/// The slices of findings about a whole file (no row of a batch): its county and year.
pub fn file_finding_slices(findings: &[Finding], file: &SourceFile) -> Slices {
    let mut slices = Slices::new();
    for f in findings {
        let c = f.county_code.clone().or_else(|| file.county_code.clone()).unwrap_or_default();
        let y = f.year.or(file.year).unwrap_or(0);
        count_finding(slice_entry(&mut slices, (file.table, c, y)), f);
    }
    slices
}

/// The ledger record of an input this run read (or tried to).
pub fn input_record(
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
        Ok(r) => describe_read(&mut record, r, ledger),
        Err(f) => record.failure = Some(Failure { rule: f.rule.id().into(), message: f.message.clone() }),
    }
    record
}

/// What extract established about a file it read: checksum, encoding, header, layout, skips.
fn describe_read(record: &mut InputRecord, r: &FileReport, ledger: &mut Ledger) {
    record.sha256 = r.sha256.clone();
    record.encoding = r.encoding.clone();
    record.encoding_basis = r.encoding_basis.clone();
    record.delimiter = r.delimiter.clone();
    record.sheet = r.sheet.clone().or(record.sheet.take());
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

/// The inputs of the parent run, by identity.
pub type Previous = HashMap<InputKey, InputRecord>;

/// A record the parent had, kept in this version (`Unchanged`, `Missing`): its rows are the
/// parent's, and it says which run read them.
pub fn carried(record: &InputRecord, state: InputState, parent: Option<&Ledger>) -> InputRecord {
    let mut record = record.clone();
    record.state = state;
    record.carried_from = record.carried_from.clone().or_else(|| parent.map(|p| p.run_id.clone()));
    record
}

/// A file that failed keeps the rows the parent version had for it (a county-year whose new
/// file is broken stays as it was published), and says so.
pub fn keep_on_failure(
    mut record: InputRecord,
    previous: &Previous,
    parent: Option<&Ledger>,
    kept: &mut HashSet<InputKey>,
) -> InputRecord {
    record.state = InputState::Read;
    if record.failure.is_none() {
        return record;
    }
    let key = record.key();
    match previous.get(&key).filter(|p| p.failure.is_none() || !p.slices.is_empty()) {
        Some(p) if p.slices.iter().any(|s| s.rows_read > 0) => {
            record.state = InputState::Failed;
            record.carried_from = p.carried_from.clone().or_else(|| parent.map(|l| l.run_id.clone()));
            let failed_slices = std::mem::replace(&mut record.slices, p.slices.clone());
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

/// The message of a conflict: one county-year's table given by several files.
pub fn conflict_message(conflict: &Conflict) -> String {
    format!(
        "{} for county {} year {} is given by more than one file ({}); none of them is read — keep one",
        conflict.table,
        conflict.county_code,
        conflict.year,
        conflict.files.join(", ")
    )
}

/// The record of one file of a conflict: failed; a slice published before keeps its rows.
pub fn conflict_record(
    conflict: &Conflict,
    path: &str,
    message: &str,
    previous: &Previous,
    parent: Option<&Ledger>,
    kept: &mut HashSet<InputKey>,
) -> InputRecord {
    let (path, sheet) = match path.split_once(" sheet ") {
        Some((p, s)) => (p.to_owned(), Some(s.to_owned())),
        None => (path.to_owned(), None),
    };
    let key = (path.clone(), sheet.clone(), conflict.table.name().to_owned());
    let mut record = previous.get(&key).cloned().unwrap_or_default();
    let keeps = previous.contains_key(&key) && record.slices.iter().any(|s| s.rows_published > 0);
    record.path = path;
    record.sheet = sheet;
    record.table = conflict.table.name().into();
    record.county_code = Some(conflict.county_code.clone());
    record.year = Some(conflict.year);
    let rule = crate::contract::Rule::ConflictingFiles.id();
    record.failure = Some(Failure { rule: rule.into(), message: message.to_owned() });
    record.state = InputState::Failed;
    if keeps {
        record.carried_from = record.carried_from.clone().or_else(|| parent.map(|p| p.run_id.clone()));
        kept.insert(key);
    } else {
        record.slices = vec![SliceRecord {
            table: conflict.table.name().into(),
            county_code: conflict.county_code.clone(),
            year: conflict.year,
            file_failed: true,
            quarantined_by_rule: BTreeMap::from([(rule.into(), 1)]),
            ..SliceRecord::default()
        }];
    }
    record
}

/// Close the ledger's books once every input has a record: sort the inputs, total the slices,
/// find schema changes, warn about failed files, and decide how the run ends.
pub fn close_books(ledger: &mut Ledger, max_rejected_rows: u64) -> ExitStatus {
    let rows_rejected: u64 = ledger.inputs.iter().flat_map(|i| &i.slices).map(|s| s.rows_quarantined).sum();
    let files_failed = ledger.inputs.iter().filter(|i| i.failure.is_some()).count();
    // A declared column a file lacks rejects no row but loses its values: never a success.
    let lacking = Rule::DeclaredColumnMissing.id();
    let columns_lacking =
        ledger.inputs.iter().flat_map(|i| &i.slices).any(|s| s.quarantined_by_rule.contains_key(lacking));
    let status = if rows_rejected > max_rejected_rows || files_failed > 0 || columns_lacking {
        ExitStatus::Rejected
    } else {
        ExitStatus::Success
    };
    ledger.inputs.sort_by(|a, b| (&a.path, &a.sheet, &a.table).cmp(&(&b.path, &b.sheet, &b.table)));
    ledger.schema_changes = crate::ledger::schema_changes(ledger);
    ledger.exit_code = i32::from(status.code());
    let mut warnings = Vec::new();
    for input in ledger.inputs.iter().filter(|i| i.state != InputState::Failed) {
        if let Some(f) = &input.failure {
            warnings.push(f.message.clone());
        }
    }
    for input in ledger.inputs.iter().filter(|i| i.state == InputState::Failed) {
        if let Some(f) = &input.failure {
            let from = input.carried_from.as_deref().unwrap_or("?");
            warnings.push(format!("{} (the rows of run {from} are kept)", f.message));
        }
    }
    ledger.warnings.extend(warnings);
    ledger.total_up();
    ledger.tidy_layouts();
    ledger.status = match status {
        ExitStatus::Success => RunStatus::Published,
        _ => RunStatus::PublishedWithRejections,
    };
    status
}
