//! The error workbook sent back to a submitter: one XLSX per county and year listing every
//! rejected or warned cell — where it is (file, sheet, row, column, cell), the Chinese column
//! label, the value as submitted, the rule and a message a county statistician understands —
//! sorted as they would fix it (file by file, top to bottom, left to right), with a summary
//! sheet. Submitted values are written as text, never as formulas: a cell beginning with `=`,
//! `+`, `-` or `@` is inert.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, FormatAlign, Workbook, Worksheet, XlsxError};

use crate::contract::{Rule, Severity};
use crate::error::{Error, Result};
use crate::extract::xlsx::column_letters;
use crate::validate::Finding;

/// The columns of the findings sheet.
const HEADERS: [&str; 11] =
    ["严重程度", "表", "文件", "工作表", "行", "列", "单元格", "填报值", "规则", "说明", "县区代码"];

fn xlsx_error(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::Io {
        operation: "write workbook",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Write one workbook per (county, year) of `findings` under `dir`; returns the files written.
pub fn write(findings: &[Finding], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut groups: BTreeMap<(String, i32), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        // By submission: the county-year of the file (a row dated 2017 in 2018's file is 2018's to fix).
        let year = f.path_year.or(f.year).unwrap_or(0);
        groups.entry((f.county_code.clone().unwrap_or_else(|| "unknown".into()), year)).or_default().push(f);
    }
    crate::storage::create_folder(dir)?;
    let mut written = Vec::new();
    for ((county, year), mut group) in groups {
        // As a submitter fixes them: file by file, top to bottom, left to right; file-level first.
        group.sort_by(|a, b| {
            (&a.source_file, &a.source_sheet, a.source_row, a.source_column, a.rule).cmp(&(
                &b.source_file,
                &b.source_sheet,
                b.source_row,
                b.source_column,
                b.rule,
            ))
        });
        let path = dir.join(format!("{}_{year}_问题清单.xlsx", crate::text::file_name_part(&county)));
        write_one(&group, &path, &county, year)?;
        written.push(path);
    }
    Ok(written)
}

fn write_one(findings: &[&Finding], path: &Path, county: &str, year: i32) -> Result<()> {
    let err = xlsx_error(path);
    let mut book = Workbook::new();
    let bold = Format::new().set_bold().set_background_color("#DDE7F3").set_align(FormatAlign::Center);
    let wrap = Format::new().set_text_wrap();
    let error = Format::new().set_font_color("#C00000").set_bold();
    let warning = Format::new().set_font_color("#9C5700");

    let sheet = book.add_worksheet().set_name("问题清单").map_err(&err)?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(&err)?;
    }
    for (i, f) in findings.iter().enumerate() {
        let r = (i + 1) as u32;
        let (label, format) = match f.severity {
            Severity::Error => ("错误", &error),
            Severity::Warning => ("警告", &warning),
        };
        let column_label = f.column.and_then(|c| f.table.column(c)).map(|c| c.label.to_owned()).unwrap_or_default();
        let cell = match (f.source_row, f.source_column) {
            (Some(row), Some(col)) => format!("{}{row}", column_letters(col)),
            _ => String::new(),
        };
        let values = [
            f.table.chinese_name().to_owned(),
            f.source_file.clone(),
            f.source_sheet.clone().unwrap_or_default(),
            f.source_row.map(|r| r.to_string()).unwrap_or_default(),
            column_label,
            cell,
            f.value.clone().unwrap_or_default(),
            f.rule.id().to_owned(),
            f.message.clone(),
            f.county_code.clone().unwrap_or_default(),
        ];
        sheet.write_string_with_format(r, 0, label, format).map_err(&err)?;
        write_texts(sheet, r, 1, &values, &wrap).map_err(&err)?;
    }
    for (c, width) in [8, 10, 28, 10, 6, 18, 8, 16, 22, 70, 10].iter().enumerate() {
        sheet.set_column_width(c as u16, *width).map_err(&err)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(&err)?;
    sheet.autofilter(0, 0, findings.len() as u32, (HEADERS.len() - 1) as u16).map_err(&err)?;

    // A summary a statistician reads first.
    let summary = book.add_worksheet().set_name("汇总").map_err(&err)?;
    summary.write_string_with_format(0, 0, format!("{county} {year} 年报送数据问题汇总"), &bold).map_err(&err)?;
    // By table, rule, then `error` before `warning`.
    let mut counts: BTreeMap<(&str, Rule, &str), u64> = BTreeMap::new();
    for f in findings {
        *counts.entry((f.table.chinese_name(), f.rule, f.severity.as_str())).or_default() += 1;
    }
    for (c, h) in ["表", "规则", "规则说明", "严重程度", "处数"].iter().enumerate() {
        summary.write_string_with_format(2, c as u16, *h, &bold).map_err(&err)?;
    }
    for (i, ((table, rule, severity), n)) in counts.iter().enumerate() {
        let r = (i + 3) as u32;
        let severity = if *severity == Severity::Error.as_str() { "错误" } else { "警告" };
        let texts = [table.to_string(), rule.id().to_owned(), rule.meaning_zh().to_owned(), severity.to_owned()];
        write_texts(summary, r, 0, &texts, &Format::new()).map_err(&err)?;
        summary.write_number(r, 4, *n as f64).map_err(&err)?;
    }
    summary
        .write_string(counts.len() as u32 + 4, 0, "错误：该行未被采用，请改正后重新报送；警告：该行已采用，请核实。")
        .map_err(&err)?;
    summary.set_column_width(0, 14).map_err(&err)?;
    summary.set_column_width(1, 28).map_err(&err)?;
    summary.set_column_width(2, 28).map_err(&err)?;
    book.save(path).map_err(&err)?;
    Ok(())
}

/// Write cells as text — never a formula, whatever the first character.
fn write_texts(
    sheet: &mut Worksheet,
    row: u32,
    first_col: u16,
    values: &[String],
    format: &Format,
) -> std::result::Result<(), XlsxError> {
    for (i, v) in values.iter().enumerate() {
        sheet.write_string_with_format(row, first_col + i as u16, v, format)?;
    }
    Ok(())
}
