//! JSON files: an array of objects (row = the object's 1-based position in the array) or
//! newline-delimited objects (row = the line number). Both are streamed: an array is walked
//! element by element, never parsed whole. Keys are headers; scalar values become cell text.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::decode::{DecodingReader, sniff};
use super::rows::Mapper;
use super::{BATCH_ROWS, BatchBuilder, FileFailure, FileReport, HeaderIndex, RawBatch, ReadJob, RowGuard, SourceFile};
use crate::contract::Rule;

/// Read a JSON or NDJSON file (see the module doc).
pub fn read(job: ReadJob<'_>) -> Result<FileReport, FileFailure> {
    let ReadJob { reader, file, index, on_batch } = job;
    let fail = |rule: Rule, msg: String| FileFailure::in_file(file, rule, msg);
    let (head, detected) = sniff(reader, file)?;
    let first = head[detected.bom..].iter().copied().find(|b| !b.is_ascii_whitespace());
    let decoded = RowGuard::new(
        DecodingReader::new(std::io::Cursor::new(head).chain(reader), &detected),
        "is this a JSON file of rows?",
    );
    let since_row = decoded.since_row.clone();
    let mut rows = Rows::new(file.clone(), index.clone());
    let mut report = FileReport { header_row: None, ..FileReport::default() }.read_in(&detected);
    match first {
        None => {}
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_reader(decoded);
            let mut error: Option<FileFailure> = None;
            let visitor = ArrayVisitor { rows: &mut rows, on_batch, error: &mut error, since_row: since_row.clone() };
            de.deserialize_seq(visitor).map_err(|e| {
                error.take().unwrap_or_else(|| fail(Rule::UnreadableFile, format!("not valid JSON: {e}")))
            })?;
            if let Some(e) = error {
                return Err(e);
            }
        }
        Some(_) => {
            for (i, line) in BufReader::new(decoded).lines().enumerate() {
                let line = line.map_err(|e| fail(Rule::UnreadableFile, e.to_string()))?;
                if line.trim().is_empty() {
                    continue;
                }
                let object: Map<String, Value> = serde_json::from_str(&line)
                    .map_err(|e| fail(Rule::UnreadableFile, format!("line {} is not a JSON object: {e}", i + 1)))?;
                rows.push(i as u64 + 1, object, on_batch)?;
                since_row.set(0);
            }
        }
    }
    rows.flush(on_batch)?;
    report.rows = rows.count;
    report.skipped_rows = std::mem::take(&mut rows.skipped);
    let mut unknown: Vec<String> = rows.unknown_reported.into_iter().collect();
    unknown.sort();
    report.unknown_columns = super::capped_unknown(unknown);
    if let Some(mapper) = &rows.mapper {
        report.lacking_columns = mapper.binding().lacking.clone();
        report.columns =
            mapper.binding().columns.iter().map(|b| (b.header.clone(), b.column.name.to_owned(), None)).collect();
    }
    Ok(report)
}

/// Objects collected into batches; the binding grows as new keys appear.
struct Rows {
    file: Arc<SourceFile>,
    index: HeaderIndex,
    keys: Vec<String>,
    known: HashSet<String>,
    mapper: Option<Mapper>,
    pending: Vec<(u64, Map<String, Value>)>,
    unknown_reported: HashSet<String>,
    count: u64,
    /// Objects the pipeline's `skip_where` skips, with the reason.
    skipped: Vec<(u64, String)>,
}

impl Rows {
    fn new(file: Arc<SourceFile>, index: HeaderIndex) -> Self {
        Rows {
            file,
            index,
            keys: Vec::new(),
            known: HashSet::new(),
            mapper: None,
            pending: Vec::new(),
            unknown_reported: HashSet::new(),
            count: 0,
            skipped: Vec::new(),
        }
    }

    fn push(
        &mut self,
        row: u64,
        object: Map<String, Value>,
        on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
    ) -> Result<(), FileFailure> {
        for key in object.keys() {
            if self.known.insert(key.clone()) {
                self.keys.push(key.clone());
            }
        }
        self.pending.push((row, object));
        self.count += 1;
        if self.pending.len() >= BATCH_ROWS {
            self.flush(on_batch)?;
        }
        Ok(())
    }

    fn flush(&mut self, on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>) -> Result<(), FileFailure> {
        if self.pending.is_empty() && self.mapper.is_some() {
            return Ok(());
        }
        // The keys seen so far are the header; a key first seen later joins from its batch on.
        let mapper = Mapper::new(&self.index, &self.keys, &self.file)?;
        for (_, key) in &mapper.binding().unknown {
            self.unknown_reported.insert(key.clone());
        }
        let mut builder = BatchBuilder::new(self.file.clone(), None, mapper.binding().clone());
        for (row, object) in self.pending.drain(..) {
            let cells: Vec<String> =
                self.keys.iter().map(|k| object.get(k).map(cell_text).unwrap_or_default()).collect();
            if let Some(why) = mapper.skipped_by(&cells) {
                self.skipped.push((row, why));
                self.count -= 1;
                continue;
            }
            for mapped in mapper.map(&cells) {
                builder.push(row, mapped);
            }
        }
        self.mapper = Some(mapper);
        if builder.is_empty() {
            return Ok(());
        }
        on_batch(builder.finish())
            .map_err(|e| FileFailure::new(Rule::UnreadableFile, format!("{}: {e}", self.file.relative)))
    }
}

/// The text of a JSON value as a cell: strings as written, numbers in JSON notation, null as empty.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

struct ArrayVisitor<'a> {
    rows: &'a mut Rows,
    on_batch: &'a mut dyn FnMut(RawBatch) -> Result<(), String>,
    error: &'a mut Option<FileFailure>,
    /// Bytes read since the last row ([`RowGuard`]), reset at each element.
    since_row: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut position = 0u64;
        while let Some(object) = seq.next_element_seed(ObjectSeed)? {
            position += 1;
            self.since_row.set(0);
            if let Err(e) = self.rows.push(position, object, self.on_batch) {
                *self.error = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

struct ObjectSeed;

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Table;
    use crate::pipeline::{Format, ReadOptions};

    fn read_all(text: &str, table: Table) -> Result<(FileReport, Vec<RawBatch>), FileFailure> {
        read_with(text, table, ReadOptions::default())
    }

    fn read_with(text: &str, table: Table, options: ReadOptions) -> Result<(FileReport, Vec<RawBatch>), FileFailure> {
        let f = Arc::new(SourceFile {
            uri: "memory://t/x.json".into(),
            location: "x.json".into(),
            relative: "x.json".into(),
            table,
            format: Format::Json,
            sheet: None,
            county_code: Some("231182".into()),
            year: Some(2018),
            size: 0,
            e_tag: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            options: Arc::new(crate::pipeline::FileOptions::compile(options).unwrap()),
        });
        let index = HeaderIndex::new(table, &f.options);
        let mut batches = Vec::new();
        let mut on_batch = |b| {
            batches.push(b);
            Ok(())
        };
        let report = read(ReadJob { reader: &mut text.as_bytes(), file: &f, index: &index, on_batch: &mut on_batch })?;
        Ok((report, batches))
    }

    #[test]
    fn array_of_objects_by_position() {
        let text = r#"[{"school_code": "0123456789", "grade": 1, "students": 45, "classes": 1, "note": "x"},
                      {"school_code": "0123456789", "grade": "二年级", "students": null, "classes": 1.0}]"#;
        let (report, batches) = read_all(text, Table::Pupils).unwrap();
        assert_eq!(report.rows, 2);
        assert_eq!(report.unknown_columns, vec!["note".to_owned()]);
        let b = &batches[0];
        assert_eq!(b.source_rows, vec![1, 2]);
        assert_eq!(b.cell("school_code", 0), Some("0123456789"));
        assert_eq!(b.cell("grade", 1), Some("二年级"));
        assert_eq!(b.cell("students", 1), Some(""));
        assert_eq!(b.cell("classes", 1), Some("1.0"));
    }

    #[test]
    fn ndjson_by_line_number() {
        let text = "{\"school_code\":\"2311820001\",\"grade\":1,\"students\":45,\"classes\":1}\n\n{\"school_code\":\"2311820001\",\"grade\":2,\"students\":40,\"classes\":1}\n";
        let (_, batches) = read_all(text, Table::Pupils).unwrap();
        assert_eq!(batches[0].source_rows, vec![1, 3]);
    }

    #[test]
    fn skip_where_skips_objects_and_lists_them() {
        let text = "{\"school_code\":\"2311820001\",\"grade\":1,\"students\":45,\"classes\":1}\n{\"school_code\":\"TOTAL\",\"grade\":1,\"students\":45,\"classes\":1}\n";
        let mut options = ReadOptions::default();
        options.skip_where.insert("school_code".into(), vec!["^TOTAL$".into()]);
        let (report, batches) = read_with(text, Table::Pupils, options).unwrap();
        assert_eq!((report.rows, batches[0].source_rows.clone()), (1, vec![1]));
        assert_eq!(report.skipped_rows, vec![(2, "skip_where: school_code matches ^TOTAL$".to_owned())]);
    }

    #[test]
    fn broken_json_fails_the_file() {
        let err = read_all("[{\"school_code\": 1,", Table::Pupils).unwrap_err();
        assert_eq!(err.rule, Rule::UnreadableFile);
        let err = read_all("[{\"grade\": 1, \"students\": 2, \"classes\": 1}]", Table::Pupils).unwrap_err();
        assert_eq!(err.rule, Rule::MissingRequiredColumn);
    }

    #[test]
    fn a_line_or_value_longer_than_a_row_may_be_is_refused_before_it_is_held() {
        let huge = "x".repeat(crate::extract::MAX_RECORD_BYTES + 10);
        for text in [
            format!("{{\"school_code\":\"{huge}\"}}\n"),
            format!("[{{\"school_code\":\"2311820001\"}}, {{\"school_code\":\"{huge}\"}}]"),
        ] {
            let error = read_all(&text, Table::Schools).unwrap_err();
            assert!(format!("{error:?}").contains("without the end of a row"), "{error:?}");
        }
    }
}
