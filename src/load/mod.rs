//! Load: batches → Parquet files of a new, unpublished version; then the commit that publishes it.
//!
//! A run writes everything under `versions/<run_id>/` (staging, quarantine, marts, dictionary),
//! which no documented path points to yet. Publishing is one small object: the run ledger
//! `runs/<run_id>.json`, created with put-if-absent, names the version. Readers that go through
//! junheng (and [`latest`]) trust only committed ledgers. For local output folders the
//! documented paths (`<out>/staging`, `<out>/marts`, …) are symlinks through `<out>/current`,
//! which is switched to the new version with one atomic rename after the commit: a reader sees
//! the old version or the new one, never a mix, and a killed run leaves the old one in place.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

pub mod lock;
pub mod vacuum;

use crate::error::{Error, Result};
use crate::ledger::Ledger;
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

/// A Parquet file written by a run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct WrittenFile {
    /// Path relative to the version folder (`staging/pupils/year=2018/part-0.parquet`).
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
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

    /// Record a file copied into the version from the parent.
    pub fn record_copy(&mut self, relative: &str, rows: u64) {
        self.written.push(WrittenFile { path: relative.to_owned(), rows });
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
                self.written.push(WrittenFile { path: part.relative, rows: part.rows });
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
    Ok(WrittenFile { path: relative.to_owned(), rows })
}

/// Write a small object (dictionary, report page) into the version.
pub async fn write_object(out: &Location, run_id: &str, relative: &str, bytes: Vec<u8>) -> Result<()> {
    let path = out.child(&format!("{VERSIONS}/{run_id}/{relative}"));
    out.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| Error::store("write", &path, e))?;
    Ok(())
}

/// Commit a run: create its ledger with put-if-absent. After this the version is published.
pub async fn commit(out: &Location, ledger: &Ledger) -> Result<()> {
    let path = out.child(&format!("{RUNS}/{}.json", ledger.run_id));
    // Written into blocks, not one growing buffer: a national ledger is a few hundred MB of JSON,
    // and a doubling Vec would hold up to twice that at once.
    let mut payload = Blocks(object_store::PutPayloadMut::new().with_block_size(1 << 20));
    serde_json::to_writer_pretty(&mut payload, ledger)
        .map_err(|source| Error::Json { context: "run ledger".into(), source })?;
    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    match out.store.put_opts(&path, payload.0.freeze(), options).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            Err(Error::Conflict(format!("run {} was already committed to {}", ledger.run_id, out.url)))
        }
        Err(e) => Err(Error::store("commit", &path, e)),
    }
}

/// An upload built in fixed-size blocks, written to as a file.
struct Blocks(object_store::PutPayloadMut);

impl std::io::Write for Blocks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every committed ledger under the output root, oldest first.
pub async fn ledgers(out: &Location) -> Result<Vec<Ledger>> {
    let prefix = out.child(RUNS);
    let metas: Vec<_> =
        out.store.list(Some(&prefix)).try_collect().await.map_err(|e| Error::store("list", &prefix, e))?;
    let mut ledgers = Vec::new();
    for meta in metas {
        if !meta.location.as_ref().ends_with(".json") {
            continue;
        }
        let bytes = out.store.get(&meta.location).await.map_err(|e| Error::store("read", &meta.location, e))?;
        let bytes = bytes.bytes().await.map_err(|e| Error::store("read", &meta.location, e))?;
        let mut ledger: Ledger = serde_json::from_slice(&bytes)
            .map_err(|source| Error::Json { context: meta.location.to_string(), source })?;
        ledger.tidy_layouts();
        ledgers.push(ledger);
    }
    ledgers.sort_by(|a, b| (a.version, &a.run_id).cmp(&(b.version, &b.run_id)));
    Ok(ledgers)
}

/// The latest committed run that published a version, if any.
pub async fn latest(out: &Location) -> Result<Option<Ledger>> {
    // One ledger at a time, newest first: a national ledger is tens of megabytes, and a rerun
    // needs only its parent's.
    let prefix = out.child(RUNS);
    let mut metas: Vec<_> =
        out.store.list(Some(&prefix)).try_collect().await.map_err(|e| Error::store("list", &prefix, e))?;
    metas.retain(|m| m.location.as_ref().ends_with(".json"));
    metas.sort_by(|a, b| b.location.cmp(&a.location));
    let mut best: Option<Ledger> = None;
    for meta in metas {
        let bytes = out.store.get(&meta.location).await.map_err(|e| Error::store("read", &meta.location, e))?;
        let bytes = bytes.bytes().await.map_err(|e| Error::store("read", &meta.location, e))?;
        let mut ledger: Ledger = serde_json::from_slice(&bytes)
            .map_err(|source| Error::Json { context: meta.location.to_string(), source })?;
        if !ledger.published {
            continue;
        }
        // Run ids begin with their start time, so the first published one is the latest —
        // unless a clock went backwards: the version number decides.
        match &best {
            Some(b) if b.version >= ledger.version => break,
            _ => {
                ledger.tidy_layouts();
                best = Some(ledger);
            }
        }
    }
    Ok(best)
}

/// Copy a file of the parent version into the new one unchanged (a hard link on local disks, a
/// server-side copy on object stores).
pub async fn copy_from(out: &Location, parent_run_id: &str, run_id: &str, relative: &str) -> Result<()> {
    let from = out.child(&format!("{VERSIONS}/{parent_run_id}/{relative}"));
    let to = out.child(&format!("{VERSIONS}/{run_id}/{relative}"));
    out.store.copy(&from, &to).await.map_err(|e| Error::store("copy", &from, e))
}

/// Write `current.json`, the pointer to the committed version for readers without symlinks
/// (object stores): `{"run_id": …, "version": …, "prefix": "versions/<run_id>"}`.
pub async fn write_pointer(out: &Location, ledger: &Ledger) -> Result<()> {
    let pointer = serde_json::json!({ "run_id": ledger.run_id, "version": ledger.version, "prefix": version_path(&ledger.run_id) });
    let path = out.child("current.json");
    out.store
        .put(&path, PutPayload::from(pointer.to_string().into_bytes()))
        .await
        .map_err(|e| Error::store("write", &path, e))?;
    Ok(())
}

/// The path of a version folder relative to the output root.
pub fn version_path(run_id: &str) -> String {
    format!("{VERSIONS}/{run_id}")
}

/// Point the documented local paths at a committed version: `<out>/current` is replaced by a
/// new symlink with one rename (atomic on POSIX), and `<out>/staging` etc. are created once as
/// symlinks through `current`. A no-op for object stores (readers go through the ledger there).
pub fn switch_current(out: &Location, run_id: &str) -> Result<()> {
    let Some(root) = &out.local_root else {
        return Ok(());
    };
    let io = |operation: &'static str, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { operation, path, source }
    };
    let tmp = root.join(format!(".current-{run_id}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version_path(run_id), &tmp).map_err(io("create symlink", &tmp))?;
    let current = root.join("current");
    std::fs::rename(&tmp, &current).map_err(io("switch", &current))?;
    for entry in PUBLISHED_ENTRIES {
        let link = root.join(entry);
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(_) => {
                return Err(Error::Config(format!(
                    "{} exists and is not junheng's symlink; move it away (junheng publishes {entry} as a link into current/)",
                    link.display()
                )));
            }
            Err(_) => {
                std::os::unix::fs::symlink(format!("current/{entry}"), &link).map_err(io("create symlink", &link))?
            }
        }
    }
    Ok(())
}

/// Make sure the local `current` link names the latest committed version (repairs a run that
/// was killed between its commit and the switch).
pub async fn repair_current(out: &Location) -> Result<()> {
    if out.local_root.is_none() {
        return Ok(());
    }
    if let Some(latest) = latest(out).await? {
        let root = out.local_root.as_ref().expect("checked");
        let target = std::fs::read_link(root.join("current")).ok();
        if target.as_deref() != Some(std::path::Path::new(&version_path(&latest.run_id))) {
            switch_current(out, &latest.run_id)?;
        }
    }
    Ok(())
}
