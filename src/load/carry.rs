//! Carrying rows forward: a run that reads only what changed takes the rows of every other input
//! from the parent version — and, of a changed file holding several counties, the rows of the
//! county-years that did not change. A partition filled only by kept inputs is copied whole (a
//! hard link locally, a server-side copy on object stores); a partition mixing kept and replaced
//! rows is read back and rewritten without the replaced rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Area, PartitionWriters, copy_from, version_path};
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::ledger::{InputKey, InputRecord, Ledger, WrittenFile};
use crate::normalise::{self, quarantine};
use crate::pipeline::TeacherCounts;
use crate::storage::Location;

/// The county-years of a re-read file whose rows the parent version holds and this version
/// keeps: the file, its rows (by source row number) and the years they are in.
#[derive(Debug, Clone, Default)]
pub struct KeptSlices {
    /// The file's URI (the rows' `source_uri`).
    pub uri: String,
    /// The source rows of the kept county-years.
    pub rows: HashSet<u64>,
    /// The years of the kept county-years.
    pub years: BTreeSet<i32>,
}

/// What the new version keeps of the parent's rows: whole inputs, and county-years of inputs
/// read again.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// Inputs whose every row is kept.
    pub inputs: &'a HashSet<InputKey>,
    /// Inputs read again, with the county-years of them that are kept.
    pub slices: &'a HashMap<InputKey, KeptSlices>,
}

/// Copy or rewrite the parent's partitions so the new version holds the kept inputs' rows.
pub async fn carry_forward(
    out: &Location,
    parent: &Ledger,
    keep: Keep<'_>,
    teacher_counts: TeacherCounts,
    writers: &mut PartitionWriters,
) -> Result<()> {
    let kept = keep.inputs;
    // Parent rows are kept by the URI of the file they came from (and, of a file read again,
    // by their row in it).
    let kept_uris: HashSet<&str> =
        parent.inputs.iter().filter(|i| kept.contains(&i.key())).map(|i| i.uri.as_str()).collect();
    let kept_rows: HashMap<&str, &HashSet<u64>> = keep.slices.values().map(|k| (k.uri.as_str(), &k.rows)).collect();
    let all_uris: HashSet<&str> = parent.inputs.iter().map(|i| i.uri.as_str()).collect();
    let rows = RowFilter { kept_uris, kept_rows, all_uris };
    for file in &parent.files_written {
        let Some((area, table, year)) = partition_of(file) else { continue };
        // Which inputs filled this partition (from the parent's per-input slices).
        let sources: Vec<&InputRecord> = parent
            .inputs
            .iter()
            .filter(|i| i.table == table.name() && i.slices.iter().any(|s| s.year == year))
            .collect();
        let keeps_some = |i: &InputRecord| {
            kept.contains(&i.key()) || keep.slices.get(&i.key()).is_some_and(|k| k.years.contains(&year))
        };
        if !sources.iter().any(|i| keeps_some(i)) {
            continue; // every row of it is replaced or removed
        }
        let all_kept = sources.iter().all(|i| kept.contains(&i.key()));
        if all_kept && !writers.has(area, table.name(), year) {
            copy_from(out, &parent.run_id, writers.run_id(), &file.path).await?;
            writers.record_copy(&file.path, file.rows, file.written_by(&parent.run_id));
            continue;
        }
        let schema = match area {
            Area::Staging => normalise::schema(table, teacher_counts),
            Area::Quarantine => quarantine::schema(table),
        };
        rewrite(out, parent, file, (area, table, year, &schema), &rows, writers).await?;
    }
    Ok(())
}

/// The area, table and year of a staging or quarantine file (`staging/pupils/year=2018/part-0.parquet`).
fn partition_of(file: &WrittenFile) -> Option<(Area, Table, i32)> {
    let mut parts = file.path.split('/');
    let area = match parts.next()? {
        "staging" => Area::Staging,
        "quarantine" => Area::Quarantine,
        _ => return None,
    };
    let table = Table::from_name(parts.next()?)?;
    let year = parts.next()?.strip_prefix("year=")?.parse().ok()?;
    Some((area, table, year))
}

/// Which rows of a parent partition stay: those of kept inputs, those of the kept county-years
/// of inputs read again (by their source row), and those whose file the parent no longer knows
/// (they cannot be replaced).
struct RowFilter<'a> {
    kept_uris: HashSet<&'a str>,
    kept_rows: HashMap<&'a str, &'a HashSet<u64>>,
    all_uris: HashSet<&'a str>,
}

impl RowFilter<'_> {
    fn keep(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let Some(column) = batch.column_by_name("source_uri") else { return Ok(None) };
        let uris = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| Error::arrow("carry-forward", e))?;
        let Some(uris) = uris.as_any().downcast_ref::<StringArray>() else { return Ok(None) };
        let source_rows = match batch.column_by_name("source_row") {
            Some(c) => Some(arrow::compute::cast(c, &DataType::Int64).map_err(|e| Error::arrow("carry-forward", e))?),
            None => None,
        };
        let source_rows = source_rows.as_ref().and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let row_kept = |uri: &str, i: usize| {
            self.kept_rows
                .get(uri)
                .is_some_and(|rows| source_rows.is_some_and(|r| !r.is_null(i) && rows.contains(&(r.value(i) as u64))))
        };
        Ok(Some(
            uris.iter()
                .enumerate()
                .map(|(i, u)| {
                    Some(u.is_none_or(|u| self.kept_uris.contains(u) || row_kept(u, i) || !self.all_uris.contains(u)))
                })
                .collect(),
        ))
    }
}

/// Read a parent partition file and write the rows that stay into the new version.
async fn rewrite(
    out: &Location,
    parent: &Ledger,
    file: &WrittenFile,
    (area, table, year, schema): (Area, Table, i32, &SchemaRef),
    rows: &RowFilter<'_>,
    writers: &mut PartitionWriters,
) -> Result<()> {
    let path = out.child(&format!("{}/{}", version_path(&parent.run_id), file.path));
    let parquet_error = |source| Error::Parquet { location: path.to_string(), source };
    // One partition file, read compressed into memory and decoded a row group at a time.
    let bytes = out.store.get(&path).await.map_err(|e| Error::store("read", &path, e))?;
    let bytes = bytes.bytes().await.map_err(|e| Error::store("read", &path, e))?;
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet_error)?.build().map_err(parquet_error)?;
    for batch in reader {
        let batch = batch.map_err(|e| Error::arrow("carry-forward", e))?;
        let Some(keep) = rows.keep(&batch)? else { continue };
        let filtered =
            arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| Error::arrow("carry-forward", e))?;
        if filtered.num_rows() == 0 {
            continue;
        }
        let batch = conform(&filtered, schema, &file.path)?;
        writers.write(area, table.name(), year, &batch).await?;
    }
    Ok(())
}

/// A parent batch in the schema this junheng writes (column order and types).
fn conform(batch: &RecordBatch, schema: &SchemaRef, path: &str) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let c = batch.column_by_name(f.name()).ok_or_else(|| Error::Unreadable {
                uri: path.to_owned(),
                message: format!("the parent version's file lacks column {}", f.name()),
            })?;
            arrow::compute::cast(c, f.data_type()).map_err(|e| Error::arrow("carry-forward", e))
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::arrow("carry-forward", e))
}
