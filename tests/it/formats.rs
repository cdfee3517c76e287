//! The same county in the forms counties really send — GBK CSV with Chinese headers and money
//! in 万元, and one XLSX workbook per year with title rows — publishes marts identical to the
//! canonical CSV, with no pipeline file.

use std::path::Path;

use junheng::contract::{Kind, Table};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use crate::common::{junheng, published, repo, rows};

/// Money in 元 with up to 2 decimals → the same amount in 万元, exactly (a decimal-point shift).
fn yuan_to_wan(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = format!("{int}{frac:0<2}");
    let digits = format!("{digits:0>7}");
    let (head, tail) = digits.split_at(digits.len() - 6);
    let tail = tail.trim_end_matches('0');
    let head = head.trim_start_matches('0');
    let head = if head.is_empty() { "0" } else { head };
    if tail.is_empty() { head.to_owned() } else { format!("{head}.{tail}") }
}

/// A canonical CSV file of the seed fixture: (table, header, rows).
fn canonical(dir: &Path) -> Vec<(Table, Vec<String>, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for table in Table::ALL {
        // The assessment's tables are in the fixture under their Chinese names (学校经费.csv).
        let english = dir.join(format!("{}.csv", table.name()));
        let path = if english.exists() { english } else { dir.join(format!("{}.csv", table.chinese_name())) };
        let Ok(mut reader) = csv::Reader::from_path(&path) else { continue };
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        out.push((table, header, rows));
    }
    out
}

/// The contract column of a header of the seed fixture (English names, or Chinese with a unit).
fn column(table: Table, header: &str) -> &'static junheng::contract::Column {
    let index = junheng::extract::HeaderIndex::new(table, &Default::default());
    index.lookup(header).unwrap_or_else(|| panic!("{table}: {header}")).0
}

/// Copy a county-year's evidence folder (佐证材料 are files, whatever form the tables take).
fn copy_evidence(year_dir: &Path, target: &Path) {
    fn copy(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let dest = to.join(path.file_name().unwrap());
            if path.is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
                copy(&path, &dest);
            } else {
                std::fs::copy(&path, &dest).unwrap();
            }
        }
    }
    let evidence = year_dir.join("evidence");
    if evidence.is_dir() {
        std::fs::create_dir_all(target.join("evidence")).unwrap();
        copy(&evidence, &target.join("evidence"));
    }
}

/// Rewrite the canonical county as GBK CSV: Chinese labels, money in 万元, CRLF, a title row
/// above the header and a 合计 row under the pupils.
fn write_gbk(source: &Path, target: &Path) {
    for year_dir in std::fs::read_dir(source).unwrap() {
        let year_dir = year_dir.unwrap().path();
        let year = year_dir.file_name().unwrap().to_string_lossy().into_owned();
        let out_dir = target.join(&year);
        std::fs::create_dir_all(&out_dir).unwrap();
        copy_evidence(&year_dir, &out_dir);
        for (table, header, rows) in canonical(&year_dir) {
            let columns: Vec<_> = header.iter().map(|h| column(table, h)).collect();
            let labels: Vec<String> = columns
                .iter()
                .map(|c| if c.kind == Kind::Money { format!("{}（万元）", c.label) } else { c.label.to_owned() })
                .collect();
            let mut text = format!("五大连池市{year}年{}情况表\r\n{}\r\n", table.chinese_name(), labels.join(","));
            let mut students_total = 0i64;
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&columns)
                    .map(|(v, c)| {
                        if c.kind == Kind::Money && !header.iter().any(|h| h.contains("万元")) {
                            yuan_to_wan(v)
                        } else {
                            v.clone()
                        }
                    })
                    .collect();
                if table == Table::Pupils {
                    students_total += row[3].parse::<i64>().unwrap();
                }
                text.push_str(&cells.join(","));
                text.push_str("\r\n");
            }
            if table == Table::Pupils {
                text.push_str(&format!("合计,,,{students_total}\r\n"));
            }
            let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
            assert!(!bad, "the fixture is representable in GBK");
            std::fs::write(out_dir.join(format!("{}.csv", table.chinese_name())), bytes).unwrap();
        }
    }
}

/// Rewrite the canonical county as one XLSX workbook per year: sheets named in Chinese, a
/// merged title row, Chinese headers with units, numbers as numeric cells, codes as text, the
/// year as a date cell, and a unit row (万元) under the facilities header.
fn write_xlsx(source: &Path, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for year_dir in std::fs::read_dir(source).unwrap() {
        let year_dir = year_dir.unwrap().path();
        let year = year_dir.file_name().unwrap().to_string_lossy().into_owned();
        copy_evidence(&year_dir, &target.join(&year));
        let mut workbook = Workbook::new();
        let notes = workbook.add_worksheet();
        notes.set_name("填表说明").unwrap();
        notes.write_string(0, 0, "本表由县教育局统计填报").unwrap();
        for (table, header, rows) in canonical(&year_dir) {
            let sheet = workbook.add_worksheet();
            sheet.set_name(table.chinese_name()).unwrap();
            let columns: Vec<_> = header.iter().map(|h| column(table, h)).collect();
            let unit_row = table == Table::Facilities;
            sheet
                .merge_range(
                    0,
                    0,
                    0,
                    (columns.len() - 1) as u16,
                    &format!("五大连池市{year}年{}", table.chinese_name()),
                    &Format::new(),
                )
                .unwrap();
            for (c, col) in columns.iter().enumerate() {
                let label = match col.kind {
                    Kind::Money if !unit_row => format!("{}(万元)", col.label),
                    Kind::Area => format!("{}（平方米）", col.label),
                    _ => col.label.to_owned(),
                };
                sheet.write_string(1, c as u16, label).unwrap();
                if unit_row {
                    let unit = match col.kind {
                        Kind::Money => "万元",
                        Kind::Area => "平方米",
                        Kind::Count => "个",
                        _ => "",
                    };
                    sheet.write_string(2, c as u16, unit).unwrap();
                }
            }
            let first = if unit_row { 3 } else { 2 };
            for (r, row) in rows.iter().enumerate() {
                let r = (first + r) as u32;
                for (c, (value, col)) in row.iter().zip(&columns).enumerate() {
                    let c = c as u16;
                    if value.is_empty() {
                        continue;
                    }
                    match col.kind {
                        Kind::Year if table == Table::Schools => {
                            sheet
                                .write_datetime_with_format(
                                    r,
                                    c,
                                    ExcelDateTime::from_ymd(value.parse().unwrap(), 9, 1).unwrap(),
                                    &date,
                                )
                                .unwrap();
                        }
                        Kind::Money if !header.iter().any(|h| h.contains("万元")) => {
                            sheet.write_number(r, c, yuan_to_wan(value).parse::<f64>().unwrap()).unwrap();
                        }
                        // A grade written 四年级 stays text, as a county types it.
                        Kind::Count | Kind::Year | Kind::Grade | Kind::Money | Kind::Area
                            if value.parse::<f64>().is_ok() =>
                        {
                            sheet.write_number(r, c, value.parse::<f64>().unwrap()).unwrap();
                        }
                        _ => {
                            sheet.write_string(r, c, value).unwrap();
                        }
                    }
                }
            }
        }
        workbook.save(target.join(format!("{year}.xlsx"))).unwrap();
    }
}

/// Every mart of two outputs, row for row: text and integers exactly, floating-point values to
/// 1e-12 relative (DataFusion adds partial sums in whatever order parallel partitions finish,
/// which moves the last bit of a double).
async fn assert_same_marts(a: &Path, b: &Path) {
    let ca = published(a).await;
    let cb = published(b).await;
    for mart in std::fs::read_dir(a.join("marts")).unwrap() {
        let name = mart.unwrap().file_name().to_string_lossy().into_owned();
        let left = rows(&ca, &format!("select * from {name}")).await;
        let right = rows(&cb, &format!("select * from {name}")).await;
        assert_eq!(left.len(), right.len(), "{name}: row counts differ");
        for (l, r) in left.iter().zip(&right) {
            let same = l.len() == r.len()
                && l.iter().zip(r).all(|(x, y)| {
                    x == y
                        || match (x.parse::<f64>(), y.parse::<f64>()) {
                            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                            _ => false,
                        }
                });
            assert!(same, "{name} differs:\n{l:?}\n{r:?}");
        }
    }
}

#[test]
fn wan_yuan_conversion_is_exact() {
    assert_eq!(yuan_to_wan("617858.14"), "61.785814");
    assert_eq!(yuan_to_wan("71080000.00"), "7108");
    assert_eq!(yuan_to_wan("9000"), "0.9");
    assert_eq!(yuan_to_wan("0.50"), "0.00005");
}

#[tokio::test]
async fn gbk_csv_with_chinese_headers_and_wan_yuan_publishes_the_same_marts() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("fixtures/wudalianchi/231182");
    write_gbk(&source, &dir.path().join("gbk/231182"));
    let (canonical, gbk) = (dir.path().join("out-canonical"), dir.path().join("out-gbk"));
    assert_eq!(junheng(&["run", "--source", "fixtures/wudalianchi", "--out", canonical.to_str().unwrap()]).code, 0);
    let run = junheng(&["run", "--source", dir.path().join("gbk").to_str().unwrap(), "--out", gbk.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_same_marts(&canonical, &gbk).await;
    let ledger = crate::common::ledger(&gbk);
    let inputs = ledger["inputs"].as_array().unwrap();
    assert!(inputs.iter().all(|i| i["encoding"] == "gb18030"), "GBK detected");
    // The 合计 row of every pupils file matched its rows and was not published.
    assert!(
        inputs.iter().filter(|i| i["table"] == "pupils").all(|i| i["skipped_rows"].to_string().contains("total row"))
    );
    assert_eq!(ledger["totals"]["warnings"], 0);
}

#[tokio::test]
async fn xlsx_workbooks_with_title_rows_publish_the_same_marts() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("fixtures/wudalianchi/231182");
    write_xlsx(&source, &dir.path().join("xlsx/231182"));
    let (canonical, xlsx) = (dir.path().join("out-canonical"), dir.path().join("out-xlsx"));
    assert_eq!(junheng(&["run", "--source", "fixtures/wudalianchi", "--out", canonical.to_str().unwrap()]).code, 0);
    let run = junheng(&["run", "--source", dir.path().join("xlsx").to_str().unwrap(), "--out", xlsx.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_same_marts(&canonical, &xlsx).await;
    // Provenance names the sheet; the notes sheet is listed as ignored, not silently skipped.
    let ctx = published(&xlsx).await;
    let sheets = rows(&ctx, "select distinct source_sheet from staging_pupils").await;
    assert_eq!(sheets, vec![vec!["学生".to_owned()]]);
    let ledger = crate::common::ledger(&xlsx);
    assert!(ledger["ignored_files"].to_string().contains("2018.xlsx sheet 填表说明"), "{}", ledger["ignored_files"]);
}

#[tokio::test]
async fn a_finding_in_a_workbook_names_the_sheet_and_cell() {
    let dir = tempfile::tempdir().unwrap();
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("学校").unwrap();
    for (c, h) in ["学校标识码", "学校名称", "办学类型", "城乡分类"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["0123456789", "零号小学", "小学", "乡村"].iter().enumerate() {
        sheet.write_string(1, c as u16, *v).unwrap();
    }
    let sheet = workbook.add_worksheet();
    sheet.set_name("学生").unwrap();
    for (c, h) in ["学校标识码", "年级", "在校生数", "班数"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    // Rows 2–16 are left empty (blank rows); row 17 has 在校生数 "12o" in column C.
    sheet.write_string(16, 0, "0123456789").unwrap();
    sheet.write_number(16, 1, 1).unwrap();
    sheet.write_string(16, 2, "12o").unwrap();
    sheet.write_number(16, 3, 1).unwrap();
    std::fs::create_dir_all(dir.path().join("src/990301")).unwrap();
    workbook.save(dir.path().join("src/990301/2018.xlsx")).unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "--source", dir.path().join("src").to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let ctx = published(&out).await;
    let message =
        crate::common::value(&ctx, "select message from quarantine_pupils where rule = 'not_a_whole_number'").await;
    assert_eq!(message, "990301/2018.xlsx 学生!C17, column 在校生数: \"12o\" is not a whole number");
    // A code written as text keeps its leading zero.
    assert_eq!(crate::common::value(&ctx, "select school_code from staging_schools").await, "0123456789");
}
