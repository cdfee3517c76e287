//! Property tests over the parsers that meet hostile input: cell readers, CSV, workbooks.
//! A fixed budget of cases runs in CI; a failing case is saved by proptest under
//! `tests/it/proptest-regressions/` and replayed first on every later run.

use std::sync::Arc;

use junheng::contract::{SchoolSystem, Table};
use junheng::extract::{HeaderIndex, SourceFile};
use junheng::pipeline::{Format, ReadOptions};
use junheng::validate::cell;
use proptest::prelude::*;

fn file(table: Table, format: Format) -> Arc<SourceFile> {
    Arc::new(SourceFile {
        uri: "memory://fuzz/x".into(),
        location: "x".into(),
        relative: "x".into(),
        table,
        format,
        sheet: None,
        county_code: Some("990501".into()),
        year: Some(2018),
        size: 0,
        e_tag: None,
        last_modified: chrono::DateTime::UNIX_EPOCH,
        options: Arc::new(junheng::pipeline::FileOptions::compile(ReadOptions::default()).unwrap()),
    })
}

fn read(bytes: &[u8], format: Format) -> Result<u64, String> {
    let f = file(Table::Pupils, format);
    let index = HeaderIndex::new(Table::Pupils, &f.options);
    let mut rows = 0u64;
    let mut on_batch = |b: junheng::extract::RawBatch| {
        rows += b.len() as u64;
        Ok(())
    };
    let mut reader = bytes;
    let job = junheng::extract::ReadJob { reader: &mut reader, file: &f, index: &index, on_batch: &mut on_batch };
    let result = match format {
        Format::Csv => junheng::extract::csv::read(job),
        Format::Workbook => junheng::extract::xlsx::read(job),
        Format::Json => junheng::extract::json::read(job),
    };
    result.map(|r| r.rows).map_err(|e| e.message)
}

fn small_workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("学生").unwrap();
    for (c, h) in ["学校标识码", "年级", "在校生数", "班数"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..4u32 {
        sheet.write_string(r, 0, "9905010001").unwrap();
        sheet.write_number(r, 1, r).unwrap();
        sheet.write_number(r, 2, 30 + r).unwrap();
        sheet.write_number(r, 3, 1).unwrap();
    }
    book.save_to_buffer().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cell_readers_never_panic(text in "\\PC{0,40}") {
        let folded = junheng::text::fold(&text);
        let _ = cell::read_decimal(&folded);
        let _ = cell::read_count(&folded);
        let _ = cell::read_year(&folded, false);
        let _ = cell::read_year(&folded, true);
        let _ = cell::read_grade(&folded, SchoolSystem::FiveFour);
        let _ = cell::read_code(&folded, 10);
        let _ = cell::read_bool(&folded);
    }

    #[test]
    fn numbers_read_back_as_written(n in any::<i64>(), scale in 0u32..7, thousands in any::<bool>()) {
        let digits = n.unsigned_abs().to_string();
        let (int, frac) = if scale as usize >= digits.len() { ("0".to_owned(), format!("{digits:0>width$}", width = scale as usize)) } else { let (a, b) = digits.split_at(digits.len() - scale as usize); (a.to_owned(), b.to_owned()) };
        let int = if thousands {
            let chars: Vec<char> = int.chars().collect();
            chars.rchunks(3).rev().map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(",")
        } else { int };
        let text = format!("{}{int}{}{frac}", if n < 0 { "-" } else { "" }, if scale > 0 { "." } else { "" });
        let d = cell::read_decimal(&text).unwrap();
        prop_assert_eq!(d.rescale(scale), Some(n as i128));
    }

    #[test]
    fn csv_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read(&bytes, Format::Csv);
    }

    #[test]
    fn csv_rows_are_all_counted(cells in proptest::collection::vec(("[0-9]{1,3}", "\\PC{0,8}"), 1..40)) {
        let mut text = String::from("学校标识码,年级,在校生数,班数,备注\n");
        for (n, note) in &cells {
            let note = note.replace(['"', '\n', '\r'], "");
            text.push_str(&format!("9905010001,1,{n},1,\"{note}\"\n"));
        }
        // A row whose only text is a note-like word is skipped as a note; others are all rows.
        prop_assert_eq!(read(text.as_bytes(), Format::Csv), Ok(cells.len() as u64));
    }

    #[test]
    fn damaged_workbooks_never_panic(at in 0usize..10_000, byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = small_workbook();
        let at = at % bytes.len();
        if cut { bytes.truncate(at) } else { bytes[at] = byte }
        let _ = read(&bytes, Format::Workbook);
    }

    #[test]
    fn json_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut with_start = b"[{\"school_code\":".to_vec();
        with_start.extend(bytes);
        let _ = read(&with_start, Format::Json);
    }
}

#[test]
fn the_small_workbook_reads() {
    assert_eq!(read(&small_workbook(), Format::Workbook), Ok(3));
}
