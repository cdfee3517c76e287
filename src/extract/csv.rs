//! CSV files: decode, sniff the delimiter, and hand each record to the row [`Assembler`]
//! (header search, unit row, notes, totals, grade columns).

use std::io::{Cursor, Read};

use super::decode::{DecodingReader, sniff};
use super::rows::Assembler;
use super::{FileFailure, FileReport, ReadJob, RowGuard};
use crate::contract::Rule;

/// Longest cell accepted; a longer one is almost always an unbalanced quote swallowing the file.
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// Notes where the line breaks are, for [`Lines`], in what the CSV reader reads.
struct LineBreaks<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Offsets of the line breaks read ahead of the rows handed out.
    breaks: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u64>>>,
}

/// The line a CSV record starts on. The csv crate's record position is where the previous record
/// ended, before the blank lines it skips (and before the `\n` of a CRLF), so it is counted here:
/// a record's last byte is just before the reader's position after it, its line is 1 + the line
/// breaks before that byte, and it starts as many lines earlier as its cells hold line breaks.
struct Lines {
    breaks: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u64>>>,
    passed: u64,
}

impl Lines {
    /// The 1-based line of the record the reader just read (`end`: the reader's byte position).
    fn of(&mut self, record: &::csv::StringRecord, end: u64) -> u64 {
        let last = end.saturating_sub(1);
        let mut breaks = self.breaks.borrow_mut();
        while breaks.front().is_some_and(|&b| b < last) {
            breaks.pop_front();
            self.passed += 1;
        }
        let inside = record.iter().map(|c| c.bytes().filter(|&b| b == b'\n').count() as u64).sum::<u64>();
        (1 + self.passed).saturating_sub(inside)
    }
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.borrow_mut();
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            breaks.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Read a CSV file (see the module doc).
pub fn read(job: ReadJob<'_>) -> Result<FileReport, FileFailure> {
    let ReadJob { reader, file, index, on_batch } = job;
    let fail = |rule: Rule, msg: String| FileFailure::in_file(file, rule, msg);
    let (head, detected) = sniff(reader, file)?;
    let delimiter = match file.options.delimiter.as_deref() {
        Some("\\t") | Some("\t") => b'\t',
        Some(d) => d.as_bytes()[0],
        None => sniff_delimiter(&detected.encoding.decode_without_bom_handling(&head[detected.bom..]).0),
    };
    let decoded = RowGuard::new(
        DecodingReader::new(Cursor::new(head).chain(reader), &detected),
        "is a quote (\") left open, or is this not a CSV file?",
    );
    let since_record = decoded.since_row.clone();
    let breaks = std::rc::Rc::new(std::cell::RefCell::new(std::collections::VecDeque::new()));
    let decoded = LineBreaks { inner: decoded, offset: 0, breaks: breaks.clone() };
    let mut lines = Lines { breaks, passed: 0 };
    let mut csv = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(64 * 1024)
        .from_reader(decoded);
    let read_error = |e: ::csv::Error| {
        let line = e.position().map(|p| format!(" near line {}", p.line())).unwrap_or_default();
        match e.into_kind() {
            ::csv::ErrorKind::Io(io) => fail(Rule::UnreadableFile, format!("{io}{line}")),
            ::csv::ErrorKind::Utf8 { err, .. } => fail(Rule::UnreadableFile, format!("invalid UTF-8{line}: {err}")),
            other => fail(Rule::UnreadableFile, format!("{other:?}{line}")),
        }
    };
    let mut assembler = Assembler::new(file, index, None);
    let mut record = ::csv::StringRecord::new();
    while csv.read_record(&mut record).map_err(read_error)? {
        since_record.set(0);
        let line = lines.of(&record, csv.position().byte());
        if let Some(long) = record.iter().find(|c| c.len() > MAX_FIELD_BYTES) {
            return Err(fail(
                Rule::UnreadableFile,
                format!("row {line} has a cell of {} bytes; is a quote (\") left open above it?", long.len()),
            ));
        }
        assembler.push(line, record.iter().map(str::to_owned).collect(), on_batch)?;
    }
    let mut report = assembler.finish(on_batch)?.read_in(&detected);
    report.delimiter = Some(if delimiter == b'\t' { "\\t".into() } else { (delimiter as char).to_string() });
    Ok(report)
}

/// The delimiter that splits the first lines most consistently: `,`, `;`, tab or `|`.
pub fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(10).collect();
    let mut best = (b',', 0usize);
    for d in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, d)).collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        // Rows that agree with the widest row: the header and data rows, not a title row.
        let agreeing = counts.iter().filter(|&&c| c == most && c > 0).count();
        let score = most * agreeing;
        if score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    line.bytes()
        .filter(|&b| {
            if b == b'"' {
                quoted = !quoted;
            }
            !quoted && b == delimiter
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::contract::{Table, Unit};
    use crate::extract::{HeaderIndex, RawBatch, SourceFile};
    use crate::pipeline::{Format, ReadOptions};

    fn file(table: Table, options: ReadOptions) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            uri: "memory://t/x.csv".into(),
            location: "x.csv".into(),
            relative: "231182/2018/x.csv".into(),
            table,
            format: Format::Csv,
            sheet: None,
            county_code: Some("231182".into()),
            year: Some(2018),
            size: 0,
            e_tag: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            options: Arc::new(crate::pipeline::FileOptions::compile(options).unwrap()),
        })
    }

    fn read_all(bytes: &[u8], table: Table, options: ReadOptions) -> Result<(FileReport, Vec<RawBatch>), FileFailure> {
        let f = file(table, options);
        let index = HeaderIndex::new(table, &f.options);
        let mut batches = Vec::new();
        let mut on_batch = |b| {
            batches.push(b);
            Ok(())
        };
        let report = read(ReadJob { reader: &mut &bytes[..], file: &f, index: &index, on_batch: &mut on_batch })?;
        Ok((report, batches))
    }

    #[test]
    fn title_row_unit_row_notes_and_blank_rows() {
        let text = "五大连池市2018年办学条件统计表,,,\n学校标识码,校舍建筑面积,教学及辅助用房面积,体育运动场馆面积,教学仪器设备值,图书册数,计算机台数\n,平方米,平方米,平方米,万元,册,台\n2311820001,1000,600,800,12.5,3000,40\n,,,,,,\n注：数据截至2018年9月,,,,,,\n";
        let (report, batches) = read_all(text.as_bytes(), Table::Facilities, ReadOptions::default()).unwrap();
        assert_eq!(report.header_row, Some(2));
        assert_eq!(report.rows, 1);
        assert_eq!(batches[0].source_rows, vec![4]);
        assert_eq!(batches[0].cell("equipment_value", 0), Some("12.5"));
        let unit = batches[0].binding.get("equipment_value").unwrap().unit;
        assert_eq!(unit, Some(Unit::TenThousandYuan));
        let reasons: Vec<&str> = report.skipped_rows.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons, ["title row above the header", "unit row under the header", "note row"]);
        assert_eq!(report.blank_rows, 1);
    }

    #[test]
    fn rows_are_numbered_by_their_line_after_blank_lines_crlf_and_quoted_breaks() {
        let header = "学校标识码,年级,在校生数,班数";
        for (text, want) in [
            (format!("{header}\n2311820001,1,45,1\n\n2311820001,2,46,1\n"), vec![2, 4]),
            (format!("{header}\r\n2311820001,1,45,1\r\n\r\n\r\n2311820001,2,46,1\r\n"), vec![2, 5]),
            (format!("{header}\n2311820001,1,\"4\n5\",1\n\n2311820001,2,46,1"), vec![2, 5]),
            (format!("{header}\n\n\n2311820001,1,45,1\n2311820001,2,46,1\n"), vec![4, 5]),
        ] {
            let (_, batches) = read_all(text.as_bytes(), Table::Pupils, ReadOptions::default()).unwrap();
            assert_eq!(batches[0].source_rows, want, "{text:?}");
        }
    }

    #[test]
    fn semicolon_bom_and_crlf() {
        let text = "\u{FEFF}学校标识码;年级;在校生数;班数\r\n2311820001;1;45;1\r\n2311820001;2;\"1,234\";30\r\n";
        let (report, batches) = read_all(text.as_bytes(), Table::Pupils, ReadOptions::default()).unwrap();
        assert_eq!(report.delimiter.as_deref(), Some(";"));
        assert_eq!(batches[0].source_rows, vec![2, 3]);
        assert_eq!(batches[0].cell("students", 1), Some("1,234"));
    }

    #[test]
    fn missing_required_column_fails_the_file_by_name() {
        let text = "学校标识码,年级,班数\n2311820001,1,1\n";
        let err = read_all(text.as_bytes(), Table::Pupils, ReadOptions::default()).unwrap_err();
        assert_eq!(err.rule, Rule::MissingRequiredColumn);
        assert!(err.message.contains("在校生数 (students)"), "{}", err.message);
    }

    #[test]
    fn header_not_found_is_explained() {
        let err = read_all(b"a,b,c\n1,2,3\n", Table::Pupils, ReadOptions::default()).unwrap_err();
        assert_eq!(err.rule, Rule::HeaderNotFound);
        assert!(err.message.contains("学校标识码"), "{}", err.message);
    }

    #[test]
    fn gbk_file_and_invalid_bytes() {
        let (gbk, _, _) = encoding_rs::GBK.encode("学校标识码,年级,在校生数,班数\n2311820001,初一,45,1\n");
        let (report, batches) = read_all(&gbk, Table::Pupils, ReadOptions::default()).unwrap();
        assert_eq!(report.encoding.as_deref(), Some("gb18030"));
        assert_eq!(batches[0].cell("grade", 0), Some("初一"));
        let mut bad = b"school_code,grade,students,classes\n2311820001,1,".to_vec();
        bad.extend_from_slice(&[0xC3, 0x28, b'\n']);
        let options = ReadOptions { encoding: Some("utf-8".into()), ..ReadOptions::default() };
        let err = read_all(&bad, Table::Pupils, options).unwrap_err();
        assert!(err.message.contains("offset 48"), "{}", err.message);
    }

    #[test]
    fn sniffing_prefers_the_consistent_delimiter() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(sniff_delimiter("标题\na,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
    }
}
