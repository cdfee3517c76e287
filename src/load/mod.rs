//! Load: batches → Parquet files of a new, unpublished version.
//!
//! A run writes everything under `versions/<run_id>/` (staging, quarantine, marts, dictionary),
//! which no documented path points to yet: until [`crate::publish`] commits the version, no
//! reader sees any of it. The rows of inputs a run does not read again are carried forward from
//! the parent version ([`carry_forward`]): whole partitions copied, mixed ones rewritten.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

mod carry;

pub use carry::{Keep, KeptSlices, carry_forward};

use crate::error::{Error, Result};
use crate::ledger::WrittenFile;
use crate::storage::Location;

/// Rows per Parquet row group: large enough for good compression and pruning, small enough that
/// a writer's buffer stays a few megabytes.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Folder of all versions under the output root.
pub const VERSIONS: &str = "versions";

/// Folder of run ledgers (commit records) under the output root.
pub const RUNS: &str = "runs";

/// The published top-level entries that point into the current version (local outputs).
pub const PUBLISHED_ENTRIES: [&str; 5] = ["staging", "quarantine", "marts", "dictionary.json", "report"];

/// Writer properties for every Parquet file junheng writes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("junheng {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Where one area of data goes (`staging`, `quarantine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// Normalised accepted rows.
    Staging,
    /// Rejected rows and warnings.
    Quarantine,
}

impl Area {
    /// The folder name.
    pub fn name(self) -> &'static str {
        match self {
            Area::Staging => "staging",
            Area::Quarantine => "quarantine",
        }
    }
}

/// A Parquet file being written: its writer, path in the version, and rows so far.
struct OpenPart {
    writer: AsyncArrowWriter<BufWriter>,
    relative: String,
    rows: u64,
}

/// Parquet writers for the year partitions of staging and quarantine tables of one version.
/// A partition closed early (its year is done) and written again gets another part file.
pub struct PartitionWriters {
    out: Location,
    run_id: String,
    version: String,
    open: BTreeMap<(Area, String, i32), OpenPart>,
    parts: BTreeMap<(Area, String, i32), u32>,
    written: Vec<WrittenFile>,
}

impl PartitionWriters {
    /// Writers into `versions/<run_id>/` of `out`.
    pub fn new(out: Location, run_id: &str) -> Self {
        PartitionWriters {
            out,
            run_id: run_id.into(),
            version: format!("{VERSIONS}/{run_id}"),
            open: BTreeMap::new(),
            parts: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    /// The run whose version is being written.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether rows were written to `<area>/<table>/year=<year>/` (so it cannot simply be copied).
    pub fn has(&self, area: Area, table: &str, year: i32) -> bool {
        self.parts.contains_key(&(area, table.to_owned(), year))
    }

    /// Record a file copied into the version from the parent, whose bytes `origin` wrote.
    pub fn record_copy(&mut self, relative: &str, rows: u64, origin: &str) {
        self.written.push(WrittenFile { path: relative.to_owned(), rows, origin: Some(origin.to_owned()) });
    }

    /// Append a batch to `<area>/<table>/year=<year>/`.
    pub async fn write(&mut self, area: Area, table: &str, year: i32, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let key = (area, table.to_owned(), year);
        if !self.open.contains_key(&key) {
            let part = self.parts.entry(key.clone()).or_insert(0);
            let relative = format!("{}/{table}/year={year}/part-{part}.parquet", area.name());
            *part += 1;
            let writer = self.writer(&relative, batch.schema())?;
            self.open.insert(key.clone(), OpenPart { writer, relative, rows: 0 });
        }
        let part = self.open.get_mut(&key).expect("inserted above");
        part.writer.write(batch).await.map_err(|source| Error::Parquet { location: part.relative.clone(), source })?;
        part.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn writer(&self, relative: &str, schema: SchemaRef) -> Result<AsyncArrowWriter<BufWriter>> {
        let path = self.out.child(&format!("{}/{relative}", self.version));
        let object = BufWriter::new(self.out.store.clone(), path);
        AsyncArrowWriter::try_new(object, schema, Some(writer_properties()))
            .map_err(|source| Error::Parquet { location: relative.to_owned(), source })
    }

    /// Close the files of years before `year` (all files with `i32::MAX`): input read year by
    /// year keeps a year's writers and their buffers in memory, not ten years'.
    pub async fn close_years_before(&mut self, year: i32) -> Result<()> {
        let done: Vec<_> = self.open.keys().filter(|k| k.2 < year).cloned().collect();
        for key in done {
            if let Some(part) = self.open.remove(&key) {
                part.writer
                    .close()
                    .await
                    .map_err(|source| Error::Parquet { location: part.relative.clone(), source })?;
                self.written.push(WrittenFile::new(part.relative, part.rows));
            }
        }
        Ok(())
    }

    /// Close every file; returns all files written, sorted by path.
    pub async fn finish(mut self) -> Result<Vec<WrittenFile>> {
        self.close_years_before(i32::MAX).await?;
        self.written.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(self.written)
    }
}

/// Write a stream of batches to one Parquet file of the version (marts).
pub async fn write_stream<S>(
    out: &Location,
    run_id: &str,
    relative: &str,
    schema: SchemaRef,
    mut stream: S,
) -> Result<WrittenFile>
where
    S: Stream<Item = Result<RecordBatch>> + Unpin,
{
    let path = out.child(&format!("{VERSIONS}/{run_id}/{relative}"));
    let object = BufWriter::new(out.store.clone(), path);
    let mut writer = AsyncArrowWriter::try_new(object, schema, Some(writer_properties()))
        .map_err(|source| Error::Parquet { location: relative.to_owned(), source })?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await.map_err(|source| Error::Parquet { location: relative.to_owned(), source })?;
    }
    writer.close().await.map_err(|source| Error::Parquet { location: relative.to_owned(), source })?;
    Ok(WrittenFile::new(relative, rows))
}

/// Write a small object (dictionary, report page) into the version.
pub async fn write_object(out: &Location, run_id: &str, relative: &str, bytes: Vec<u8>) -> Result<()> {
    let path = out.child(&format!("{VERSIONS}/{run_id}/{relative}"));
    out.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| Error::store("write", &path, e))?;
    Ok(())
}

/// Copy a file of the parent version into the new one unchanged (a hard link on local disks, a
/// server-side copy on object stores).
pub async fn copy_from(out: &Location, parent_run_id: &str, run_id: &str, relative: &str) -> Result<()> {
    let from = out.child(&format!("{VERSIONS}/{parent_run_id}/{relative}"));
    let to = out.child(&format!("{VERSIONS}/{run_id}/{relative}"));
    out.store.copy(&from, &to).await.map_err(|e| Error::store("copy", &from, e))
}

/// The path of a version folder relative to the output root.
pub fn version_path(run_id: &str) -> String {
    format!("{VERSIONS}/{run_id}")
}
