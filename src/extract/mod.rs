//! Extract: source files → batches of cells as text, each row with its provenance.
//!
//! Extract finds a submission's files (the standard layout, or a pipeline's path templates),
//! reads them through the object store as a stream (decoding any encoding to UTF-8), finds the
//! header row, binds headers to the contract and hands out [`RawBatch`]es of at most a few
//! thousand rows. It never interprets a cell: `"12o"` travels on as `"12o"` for validate to judge.

pub mod csv;
pub mod decode;
pub mod header;
pub mod json;
pub mod layout;
pub mod rows;
pub mod xlsx;

use std::io::Read;
use std::sync::Arc;

use arrow::array::{Array, StringArray, StringBuilder};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};
use sha2::Digest;

use crate::contract::{Rule, Table};
use crate::pipeline::{FileOptions, Format};
pub use header::{Binding, BoundColumn, Built, HeaderIndex, SUM_SEPARATOR};
pub use rows::check_binding;

/// Rows per batch handed from extract to validate.
pub const BATCH_ROWS: usize = 8192;

/// Most bytes a text reader (CSV, JSON) reads without completing a row: past it the file is not
/// what its name says (a 100 MB field, an unbalanced quote swallowing the rest, a 1 GiB JSON
/// line), and reading stops before memory grows.
pub const MAX_RECORD_BYTES: usize = 8 << 20;

/// Counts the bytes read since the last complete row (the reader resets `since_row` after each)
/// and fails the read beyond [`MAX_RECORD_BYTES`], with `hint` saying what is likely wrong.
struct RowGuard<R> {
    inner: R,
    since_row: std::rc::Rc<std::cell::Cell<usize>>,
    hint: &'static str,
}

impl<R> RowGuard<R> {
    fn new(inner: R, hint: &'static str) -> RowGuard<R> {
        RowGuard { inner, since_row: std::rc::Rc::new(std::cell::Cell::new(0)), hint }
    }
}

impl<R: Read> Read for RowGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_row.get() + n;
        self.since_row.set(total);
        if total > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {} MB without the end of a row; {}", MAX_RECORD_BYTES >> 20, self.hint),
            ));
        }
        Ok(n)
    }
}

/// One source file of one table, found by discovery.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Full URL, as recorded in provenance (`file:///…/231182/2018/pupils.csv`).
    pub uri: String,
    /// The object's path inside the store.
    pub location: object_store::path::Path,
    /// The object's path relative to the source root, for messages (`231182/2018/pupils.csv`).
    pub relative: String,
    /// The table it holds.
    pub table: Table,
    /// CSV, JSON or a workbook.
    pub format: Format,
    /// The sheet, for a table held by a workbook.
    pub sheet: Option<String>,
    /// County code taken from the path, if the path has one.
    pub county_code: Option<String>,
    /// Year taken from the path, if the path has one.
    pub year: Option<i32>,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag, when it has one.
    pub e_tag: Option<String>,
    /// Last modification time.
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// How to read it (shared by the files of one path pattern).
    pub options: Arc<FileOptions>,
}

impl SourceFile {
    /// Its identity across runs: path, sheet and table (what the ledger keys inputs by).
    pub fn key(&self) -> crate::ledger::InputKey {
        (self.relative.clone(), self.sheet.clone(), self.table.name().to_owned())
    }

    /// The file name, for messages (`pupils.csv`).
    pub fn name(&self) -> &str {
        self.relative.rsplit('/').next().unwrap_or(&self.relative)
    }
}

/// Rows of one source file as text cells, columns bound to the contract.
#[derive(Debug, Clone)]
pub struct RawBatch {
    /// Where the rows come from.
    pub file: Arc<SourceFile>,
    /// Sheet name for workbooks (None for CSV and JSON).
    pub sheet: Option<Arc<str>>,
    /// What each column of `cells` is.
    pub binding: Arc<Binding>,
    /// One text column per bound column, in `binding.columns` order (null = cell absent).
    pub cells: Vec<StringArray>,
    /// 1-based row (line) number in the source of each row.
    pub source_rows: Vec<u64>,
}

impl RawBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.source_rows.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.source_rows.is_empty()
    }

    /// The text of a canonical column in a row (None if the column is absent or the cell missing).
    pub fn cell(&self, column: &str, row: usize) -> Option<&str> {
        let i = self.binding.columns.iter().position(|b| b.column.name == column)?;
        let array = &self.cells[i];
        (!array.is_null(row)).then(|| array.value(row))
    }
}

/// Builds [`RawBatch`]es row by row.
pub struct BatchBuilder {
    file: Arc<SourceFile>,
    sheet: Option<Arc<str>>,
    binding: Arc<Binding>,
    builders: Vec<StringBuilder>,
    rows: Vec<u64>,
}

impl BatchBuilder {
    /// A builder for rows bound by `binding`.
    pub fn new(file: Arc<SourceFile>, sheet: Option<Arc<str>>, binding: Arc<Binding>) -> Self {
        let builders = binding.columns.iter().map(|_| StringBuilder::new()).collect();
        BatchBuilder { file, sheet, binding, builders, rows: Vec::new() }
    }

    /// Append a row given the text of each bound column (None: the cell is absent).
    pub fn push(&mut self, source_row: u64, cells: Vec<Option<String>>) {
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            match cell {
                Some(c) => builder.append_value(c),
                None => builder.append_null(),
            }
        }
        self.rows.push(source_row);
    }

    /// How the columns are bound.
    pub fn binding(&self) -> &Arc<Binding> {
        &self.binding
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Hand out the buffered rows as a batch.
    pub fn finish(&mut self) -> RawBatch {
        RawBatch {
            file: self.file.clone(),
            sheet: self.sheet.clone(),
            binding: self.binding.clone(),
            cells: self.builders.iter_mut().map(|b| b.finish()).collect(),
            source_rows: std::mem::take(&mut self.rows),
        }
    }
}

/// What reading a file established, for the ledger.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileReport {
    /// Detected or declared encoding (`UTF-8`, `gb18030`, `UTF-16LE`).
    pub encoding: Option<String>,
    /// How the encoding was established and how sure that is (`valid UTF-8 (certain)`).
    pub encoding_basis: Option<String>,
    /// Delimiter used for CSV.
    pub delimiter: Option<String>,
    /// 1-based row of the header.
    pub header_row: Option<u64>,
    /// Sheet read, for workbooks.
    pub sheet: Option<String>,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Data rows handed to validate.
    pub rows: u64,
    /// Headers bound to the contract: (header as written, canonical column, unit).
    pub columns: Vec<(String, String, Option<String>)>,
    /// Headers that matched no column of the table (reported, their cells not published).
    pub unknown_columns: Vec<String>,
    /// Columns the pipeline declares that the file lacks (each a finding; see [`Binding::lacking`]).
    pub lacking_columns: Vec<String>,
    /// Rows skipped as not data (title rows, a unit row, notes), with the reason.
    pub skipped_rows: Vec<(u64, String)>,
    /// Blank rows skipped (counted, not listed: a sheet may have a million of them).
    pub blank_rows: u64,
    /// 合计/总计 rows: not data, but checked against the sum of the rows (then dropped).
    pub total_rows: Vec<TotalRow>,
}

impl FileReport {
    /// The report with the encoding the file was read in and how it was established.
    pub fn read_in(mut self, detected: &decode::Detected) -> Self {
        self.encoding = Some(detected.encoding.name().to_owned());
        self.encoding_basis = Some(format!("{} ({})", detected.basis.describe(), detected.basis.confidence()));
        self
    }
}

/// A total row (合计, 总计, 小计) as found in a source: its row number and cells by column.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TotalRow {
    /// 1-based row in the source.
    pub row: u64,
    /// (canonical column, cell text) for every bound column.
    pub cells: Vec<(&'static str, String)>,
}

/// Why a whole file could not be read (its table for that county and year fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// The rule (`unreadable_file`, `missing_required_column`, `header_not_found`, …).
    pub rule: Rule,
    /// A message a statistician can act on, naming the file.
    pub message: String,
}

impl FileFailure {
    /// A failure with a rule id and message.
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        FileFailure { rule, message: message.into() }
    }

    /// A failure of a file, its message opening with the file's name.
    pub fn in_file(file: &SourceFile, rule: Rule, message: impl std::fmt::Display) -> Self {
        FileFailure::new(rule, format!("{}: {message}", file.relative))
    }
}

/// What a format's reader is given: the file's bytes, the file, the header index of its table and
/// where its batches go.
pub struct ReadJob<'a> {
    /// The bytes (decompressed, still encoded).
    pub reader: &'a mut dyn Read,
    /// The file being read.
    pub file: &'a Arc<SourceFile>,
    /// Headers → contract columns for the file's table.
    pub index: &'a HeaderIndex,
    /// Called with every batch of at most [`BATCH_ROWS`] rows.
    pub on_batch: &'a mut dyn FnMut(RawBatch) -> Result<(), String>,
}

/// Read one file completely, calling `on_batch` with batches of at most [`BATCH_ROWS`] rows.
/// Runs on a blocking thread: object-store reads are driven with `handle`.
pub fn read_file(
    handle: &tokio::runtime::Handle,
    store: &Arc<dyn ObjectStore>,
    file: &Arc<SourceFile>,
    on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
) -> Result<FileReport, FileFailure> {
    let unreadable = |e: String| FileFailure::new(Rule::UnreadableFile, format!("{}: {e}", file.relative));
    // A workbook is read into memory whole: one the listing says is too large is not opened.
    if file.format == Format::Workbook && file.size > xlsx::MAX_WORKBOOK_BYTES {
        return Err(unreadable(format!(
            "the workbook has {} MB, more than {} MB; split it by county and year",
            file.size >> 20,
            xlsx::MAX_WORKBOOK_BYTES >> 20
        )));
    }
    let result = handle.block_on(store.get(&file.location)).map_err(|e| unreadable(format!("cannot read: {e}")))?;
    let reader: Box<dyn Read + Send> = match result.payload {
        GetResultPayload::File(f, _) => Box::new(f),
        GetResultPayload::Stream(s) => Box::new(StreamReader::new(handle.clone(), s)),
    };
    let mut hashing = HashingReader { inner: reader, hasher: sha2::Sha256::new() };
    let index = HeaderIndex::new(file.table, &file.options);
    // A reader library that panics on a hostile file must fail that file, not the run.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match file.format {
        Format::Csv => csv::read(ReadJob { reader: &mut hashing, file, index: &index, on_batch }),
        Format::Json => json::read(ReadJob { reader: &mut hashing, file, index: &index, on_batch }),
        Format::Workbook => xlsx::read(ReadJob { reader: &mut hashing, file, index: &index, on_batch }),
    }));
    let mut report = match read {
        Ok(result) => result?,
        Err(_) => {
            return Err(unreadable("the reader crashed on this file; it is damaged or not what its name says".into()));
        }
    };
    // Drain what the parser did not need so the checksum covers the whole file.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| unreadable(e.to_string()))?;
    report.sha256 = hex::encode(hashing.hasher.finalize());
    Ok(report)
}

/// Computes the SHA-256 of everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A blocking `Read` over an object store's byte stream (for use on a blocking thread).
struct StreamReader {
    handle: tokio::runtime::Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl StreamReader {
    fn new(handle: tokio::runtime::Handle, stream: BoxStream<'static, object_store::Result<Bytes>>) -> Self {
        StreamReader { handle, stream, current: Bytes::new() }
    }
}

/// Headers matching no column listed one by one, at most: a file with a million stray columns
/// gives this many findings and ledger entries, and one more that counts the rest (it once added
/// 19 MB to a ledger every later run re-read).
pub const MAX_UNKNOWN_LISTED: usize = 50;

/// `unknown` cut to [`MAX_UNKNOWN_LISTED`] headers, the rest counted in a last entry.
pub fn capped_unknown(mut unknown: Vec<String>) -> Vec<String> {
    if unknown.len() > MAX_UNKNOWN_LISTED {
        let more = unknown.len() - MAX_UNKNOWN_LISTED;
        unknown.truncate(MAX_UNKNOWN_LISTED);
        unknown.push(format!("(and {more} more columns matching none of the table's)"));
    }
    unknown
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_headers_past_the_limit_are_counted_not_listed() {
        let few: Vec<String> = (0..3).map(|i| format!("c{i}")).collect();
        assert_eq!(capped_unknown(few.clone()), few);
        let many: Vec<String> = (0..1_000_000).map(|i| format!("c{i}")).collect();
        let capped = capped_unknown(many);
        assert_eq!(capped.len(), MAX_UNKNOWN_LISTED + 1);
        assert_eq!(capped[MAX_UNKNOWN_LISTED - 1], "c49");
        assert_eq!(capped[MAX_UNKNOWN_LISTED], "(and 999950 more columns matching none of the table's)");
    }
}
