//! Excel workbooks (XLSX, and old XLS) through calamine: one sheet per table, cells turned into
//! text as a person reads them, merged cells filled from their top-left cell, and every row
//! handed to the row [`Assembler`] (title rows, unit rows, notes and 合计 rows as for CSV).
//!
//! Workbooks arrive from strangers, so reading is bounded: the file size, the uncompressed size
//! of every part of the zip (a zip bomb fails before it is inflated), and the number of cells
//! (a sheet of a million formatted empty rows fails in bounded time instead of hanging).

use std::io::{Cursor, Read};
use std::sync::Arc;

use calamine::{Data, DataRef, Reader, Xls, Xlsx};

use super::rows::Assembler;
use super::{FileFailure, FileReport, RawBatch, ReadJob};
use crate::contract::{Rule, Table};

/// Largest workbook read (bytes on disk).
pub const MAX_WORKBOOK_BYTES: u64 = 200 << 20;
/// Largest uncompressed part of an XLSX (a sheet's XML, the shared strings).
pub const MAX_PART_BYTES: u64 = 1 << 30;
/// Largest compression ratio of a sizeable part; beyond it the file is treated as a zip bomb.
pub const MAX_RATIO: u64 = 200;
/// Most cells (empty ones included) read from one sheet.
pub const MAX_CELLS: u64 = 50_000_000;

/// Read a workbook's bytes from its stream, bounded.
pub fn read_bytes(reader: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader.take(MAX_WORKBOOK_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_WORKBOOK_BYTES {
        return Err(format!(
            "the workbook is larger than {} MB; split it by county and year",
            MAX_WORKBOOK_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// Open a workbook from bytes, after checking an XLSX's zip is not a bomb.
enum Book {
    Xlsx(Box<Xlsx<Cursor<Vec<u8>>>>),
    Xls(Box<Xls<Cursor<Vec<u8>>>>),
}

fn open(bytes: Vec<u8>) -> Result<Book, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        check_zip(&bytes)?;
        let book = Xlsx::new(Cursor::new(bytes)).map_err(|e| {
            format!("not a readable XLSX workbook ({e}); is it truncated or damaged? Save it again from Excel")
        })?;
        Ok(Book::Xlsx(Box::new(book)))
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        let book = Xls::new(Cursor::new(bytes))
            .map_err(|e| format!("not a readable XLS workbook ({e}); save it as XLSX from Excel"))?;
        Ok(Book::Xls(Box::new(book)))
    } else {
        Err("not an Excel workbook (neither XLSX nor XLS); if it is CSV, give it a .csv name".into())
    }
}

fn check_zip(bytes: &[u8]) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("the workbook's zip structure is damaged ({e}); is the file truncated?"))?;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| format!("the workbook's zip structure is damaged ({e})"))?;
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        if size > MAX_PART_BYTES || (size > 50 << 20 && size / packed > MAX_RATIO) {
            return Err(format!(
                "part {} of the workbook inflates to {} MB from {} KB; refusing to read what looks like a zip bomb",
                entry.name().map(|n| n.into_owned()).unwrap_or_default(),
                size >> 20,
                packed >> 10
            ));
        }
    }
    Ok(())
}

/// The sheet names of a workbook (for discovery).
pub fn sheet_names(bytes: Vec<u8>) -> Result<Vec<String>, String> {
    Ok(match open(bytes)? {
        Book::Xlsx(b) => b.sheet_names(),
        Book::Xls(b) => b.sheet_names(),
    })
}

/// The table a sheet holds, by its name: the table's English or Chinese name as a whole name, once
/// a numbering label (`表2 `, `2.`, `（二）`) and a describing suffix (`情况`, `基本情况表` …) are
/// taken off — never a part of another name, so `学校经费` is school funds and not finance.
pub fn table_of_sheet(name: &str) -> Option<Table> {
    let name = name.trim();
    Table::from_name(name).or_else(|| Table::from_name(strip_suffix(strip_numbering(name))))
}

/// Words that follow a table's name in template sheet names (longest first).
const SHEET_SUFFIXES: [&str; 10] =
    ["基本情况表", "基本情况", "情况统计表", "统计表", "情况表", "明细表", "信息表", "情况", "信息", "表"];

fn strip_numbering(name: &str) -> &str {
    let rest = name.strip_prefix('表').unwrap_or(name);
    let rest = rest.trim_start_matches(|c: char| {
        c.is_ascii_digit() || c.is_whitespace() || "一二三四五六七八九十、.．-_（）()".contains(c)
    });
    if rest.is_empty() { name } else { rest }
}

fn strip_suffix(name: &str) -> &str {
    SHEET_SUFFIXES.iter().find_map(|suffix| name.strip_suffix(suffix).filter(|s| !s.is_empty())).unwrap_or(name).trim()
}

/// Spreadsheet column letters of a 0-based index: 0 → A, 26 → AA.
pub fn column_letters(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push((b'A' + (index % 26) as u8) as char);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.iter().rev().collect()
}

/// Read one sheet of a workbook as the file's table.
pub fn read(job: ReadJob<'_>) -> Result<FileReport, FileFailure> {
    let file = job.file;
    // The workbook readers can panic on damaged input (calamine multiplies a cell reference like
    // `A99999999999` without checking, an overflow panic in debug builds): a damaged file fails
    // alone with its name, never takes the run down.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_workbook(job))) {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(FileFailure::in_file(
                file,
                Rule::UnreadableFile,
                format!("the workbook is damaged: its reader stopped ({why}); open it in Excel and save it again"),
            ))
        }
    }
}

/// [`read`], without the guard.
fn read_workbook(job: ReadJob<'_>) -> Result<FileReport, FileFailure> {
    let ReadJob { reader, file, index, on_batch } = job;
    let fail = |msg: String| FileFailure::in_file(file, Rule::UnreadableFile, msg);
    let bytes = read_bytes(reader).map_err(fail)?;
    let mut book = open(bytes).map_err(fail)?;
    let names = match &book {
        Book::Xlsx(b) => b.sheet_names(),
        Book::Xls(b) => b.sheet_names(),
    };
    let wanted = file.options.sheet.clone().or_else(|| file.sheet.clone());
    let sheet = match wanted {
        Some(w) => match w.parse::<usize>() {
            Ok(n) if n >= 1 && n <= names.len() && !names.contains(&w) => names[n - 1].clone(),
            _ => names
                .iter()
                .find(|n| n.trim() == w.trim())
                .cloned()
                .ok_or_else(|| fail(format!("has no sheet \"{w}\" (sheets: {})", names.join(", "))))?,
        },
        None => names.iter().find(|n| table_of_sheet(n) == Some(file.table)).cloned().ok_or_else(|| {
            fail(format!(
                "has no sheet for {} ({}); sheets: {}",
                file.table,
                file.table.chinese_name(),
                names.join(", ")
            ))
        })?,
    };
    let sheet_name: Arc<str> = Arc::from(sheet.as_str());
    let mut assembler = Assembler::new(file, index, Some(sheet_name.clone()));
    let sheet_fail =
        |msg: String| FileFailure::new(Rule::UnreadableFile, format!("{} sheet {sheet}: {msg}", file.relative));
    match &mut book {
        Book::Xlsx(b) => {
            let merged = b.merge_cells_by_sheet_name(&sheet).unwrap_or_default();
            let regions: Vec<Region> = merged.iter().map(|d| (d.start, d.end)).collect();
            let mut region_values: Vec<Option<String>> = vec![None; regions.len()];
            let mut cells =
                b.worksheet_cells_reader(&sheet).map_err(|e| sheet_fail(format!("cannot read the sheet ({e})")))?;
            let mut row: Vec<String> = Vec::new();
            let mut current: Option<u32> = None;
            let mut seen: u64 = 0;
            loop {
                let next = cells.next_cell().map_err(|e| sheet_fail(format!("damaged sheet XML ({e})")))?;
                let Some(cell) = next else { break };
                seen += 1;
                if seen > MAX_CELLS {
                    return Err(sheet_fail(format!(
                        "more than {MAX_CELLS} cells; is the sheet full of formatted empty rows? Delete them and save again"
                    )));
                }
                let (r, c) = cell.get_position();
                if current != Some(r) {
                    if let Some(prev) = current {
                        emit(&mut assembler, prev, std::mem::take(&mut row), &regions, &region_values, on_batch)?;
                    }
                    current = Some(r);
                }
                let text = ref_text(cell.get_value());
                for (i, (start, _)) in regions.iter().enumerate() {
                    if *start == (r, c) {
                        region_values[i] = Some(text.clone());
                    }
                }
                let c = c as usize;
                if row.len() <= c {
                    if c > 16_384 {
                        continue; // beyond Excel's last column: a damaged reference
                    }
                    row.resize(c + 1, String::new());
                }
                row[c] = text;
            }
            if let Some(prev) = current {
                emit(&mut assembler, prev, row, &regions, &region_values, on_batch)?;
            }
        }
        Book::Xls(b) => {
            let range = b.worksheet_range(&sheet).map_err(|e| sheet_fail(format!("cannot read the sheet ({e})")))?;
            let merged = b.merge_cells_by_sheet_name(&sheet).unwrap_or_default();
            let regions: Vec<Region> = merged.iter().map(|d| (d.start, d.end)).collect();
            let region_values: Vec<Option<String>> =
                regions.iter().map(|(s, _)| range.get_value(*s).map(data_text)).collect();
            let (start_row, start_col) = range.start().unwrap_or((0, 0));
            for (i, cells) in range.rows().enumerate() {
                let mut row = vec![String::new(); start_col as usize];
                row.extend(cells.iter().map(data_text));
                emit(&mut assembler, start_row + i as u32, row, &regions, &region_values, on_batch)?;
            }
        }
    }
    let mut report = assembler.finish(on_batch)?;
    report.sheet = Some(sheet);
    Ok(report)
}

/// A merged region: (first row, first column) and (last row, last column), 0-based.
type Region = ((u32, u32), (u32, u32));

/// Hand a sheet row (0-based index) to the assembler, merged regions filled.
fn emit(
    assembler: &mut Assembler<'_>,
    row_index: u32,
    mut row: Vec<String>,
    regions: &[Region],
    values: &[Option<String>],
    on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
) -> Result<(), FileFailure> {
    for ((start, end), value) in regions.iter().zip(values) {
        let Some(value) = value else { continue };
        if (start.0..=end.0).contains(&row_index) {
            for c in start.1..=end.1.min(16_384) {
                let c = c as usize;
                if row.len() <= c {
                    row.resize(c + 1, String::new());
                }
                if row[c].is_empty() {
                    row[c] = value.clone();
                }
            }
        }
    }
    assembler.push(row_index as u64 + 1, row, on_batch)
}

/// A number as a person reads it: integers without `.0`, others in shortest form.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

fn datetime_text(dt: &calamine::ExcelDateTime) -> String {
    match dt.as_datetime() {
        Some(t) if dt.is_datetime() && t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
        Some(t) if dt.is_datetime() => t.to_string(),
        _ => number_text(dt.as_f64()),
    }
}

fn ref_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) => datetime_text(dt),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

fn data_text(value: &Data) -> String {
    match value {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => datetime_text(dt),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
        Data::Empty => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheets_are_recognised_by_table_name() {
        assert_eq!(table_of_sheet("学生"), Some(Table::Pupils));
        assert_eq!(table_of_sheet("Pupils"), Some(Table::Pupils));
        assert_eq!(table_of_sheet("表2 学生情况"), Some(Table::Pupils));
        assert_eq!(table_of_sheet("办学条件"), Some(Table::Facilities));
        assert_eq!(table_of_sheet("填表说明"), None);
        assert_eq!(table_of_sheet("1.学校基本情况"), Some(Table::Schools));
        assert_eq!(table_of_sheet("（三）经费情况表"), Some(Table::Finance));
    }

    #[test]
    fn a_table_name_inside_another_name_is_not_that_table() {
        // 学校经费 holds both 学校 and 经费: it is the school funds table, never finance or schools.
        assert_eq!(table_of_sheet("学校经费"), Some(Table::SchoolFunds));
        assert_eq!(table_of_sheet("表8 学校经费"), Some(Table::SchoolFunds));
        assert_eq!(table_of_sheet("学生经费"), None);
        assert_eq!(table_of_sheet("县级指标"), Some(Table::CountyFacts));
        assert_eq!(table_of_sheet("质量监测情况"), Some(Table::Monitoring));
        assert_eq!(table_of_sheet("School_Funds"), Some(Table::SchoolFunds));
    }

    #[test]
    fn column_letters_count_like_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(3), "D");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn numbers_read_as_written() {
        assert_eq!(number_text(2311820001.0), "2311820001");
        assert_eq!(number_text(12.5), "12.5");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn garbage_and_truncated_workbooks_fail_with_a_message() {
        assert!(open(b"year,students\n".to_vec()).err().unwrap().contains("not an Excel workbook"));
        assert!(open(b"PK\x03\x04garbage".to_vec()).err().unwrap().contains("damaged"));
    }
}
