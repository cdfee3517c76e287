//! Carrying rows forward: a run that reads only what changed takes the rows of every other input
//! from the parent version. A partition filled only by kept inputs is copied whole (a hard link
//! locally, a server-side copy on object stores); a partition mixing kept and replaced rows is
//! read back and rewritten without the replaced inputs' rows.

use std::collections::HashSet;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
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

/// Copy or rewrite the parent's partitions so the new version holds the kept inputs' rows.
pub async fn carry_forward(
    out: &Location,
    parent: &Ledger,
    kept: &HashSet<InputKey>,
    teacher_counts: TeacherCounts,
    writers: &mut PartitionWriters,
) -> Result<()> {
    // Parent rows are kept by the URI of the file they came from.
    let kept_uris: HashSet<&str> =
        parent.inputs.iter().filter(|i| kept.contains(&i.key())).map(|i| i.uri.as_str()).collect();
    let all_uris: HashSet<&str> = parent.inputs.iter().map(|i| i.uri.as_str()).collect();
    let rows = RowFilter { kept_uris, all_uris };
    for file in &parent.files_written {
        let Some((area, table, year)) = partition_of(file) else { continue };
        // Which inputs filled this partition (from the parent's per-input slices).
        let sources: Vec<&InputRecord> = parent
            .inputs
            .iter()
            .filter(|i| i.table == table.name() && i.slices.iter().any(|s| s.year == year))
            .collect();
        if sources.iter().all(|i| !kept.contains(&i.key())) {
            continue; // every row of it is replaced or removed
        }
        let all_kept = sources.iter().all(|i| kept.contains(&i.key()));
        if all_kept && !writers.has(area, table.name(), year) {
            copy_from(out, &parent.run_id, writers.run_id(), &file.path).await?;
            writers.record_copy(&file.path, file.rows);
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

/// Which rows of a parent partition stay: those of kept inputs, and those whose file the parent
/// no longer knows (they cannot be replaced).
struct RowFilter<'a> {
    kept_uris: HashSet<&'a str>,
    all_uris: HashSet<&'a str>,
}

impl RowFilter<'_> {
    fn keep(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let Some(column) = batch.column_by_name("source_uri") else { return Ok(None) };
        let uris = arrow::compute::cast(column, &DataType::Utf8).map_err(|e| Error::arrow("carry-forward", e))?;
        let Some(uris) = uris.as_any().downcast_ref::<StringArray>() else { return Ok(None) };
        Ok(Some(
            uris.iter()
                .map(|u| Some(u.is_none_or(|u| self.kept_uris.contains(u) || !self.all_uris.contains(u))))
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
