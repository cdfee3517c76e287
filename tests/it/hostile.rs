//! Hostile and broken files: each fails only its own (county, year, table), with a message, in
//! bounded time and memory, never a panic — and everything else is still published.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use rust_xlsxwriter::Workbook;

use crate::common::{copy_tree, junheng, ledger, published, rows, value};

/// A small valid workbook: a 学校 sheet with a header and one school.
fn workbook(county: &str) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("学校").unwrap();
    for (c, h) in ["学校标识码", "学校名称", "办学类型", "城乡分类"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in [format!("{county}0001"), "一小".into(), "小学".into(), "城区".into()].iter().enumerate() {
        sheet.write_string(1, c as u16, v).unwrap();
    }
    book.save_to_buffer().unwrap()
}

/// Copy a workbook's zip, replacing or adding parts.
fn rezip(bytes: &[u8], replace: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let data = replace.iter().find(|(n, _)| *n == name).map(|(_, d)| d.clone()).unwrap_or(data);
        out.start_file(name, options).unwrap();
        out.write_all(&data).unwrap();
    }
    for (name, data) in replace {
        if !archive.file_names().any(|n| n.as_deref().ok() == Some(*name)) {
            out.start_file(*name, options).unwrap();
            out.write_all(data).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

/// A sheet: header row, one school, then a million formatted empty rows.
fn sheet_with_empty_rows(county: &str, empty_rows: u32) -> Vec<u8> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    xml.push_str(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>学校标识码</t></is></c><c r="B1" t="inlineStr"><is><t>学校名称</t></is></c><c r="C1" t="inlineStr"><is><t>办学类型</t></is></c><c r="D1" t="inlineStr"><is><t>城乡分类</t></is></c></row>"#);
    xml.push_str(&format!(r#"<row r="2"><c r="A2" t="inlineStr"><is><t>{county}0001</t></is></c><c r="B2" t="inlineStr"><is><t>一小</t></is></c><c r="C2" t="inlineStr"><is><t>小学</t></is></c><c r="D2" t="inlineStr"><is><t>城区</t></is></c></row>"#));
    for r in 3..3 + empty_rows {
        xml.push_str(&format!(r#"<row r="{r}"><c r="A{r}" s="0"/></row>"#));
    }
    xml.push_str("</sheetData></worksheet>");
    xml.into_bytes()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn each_hostile_file_fails_alone_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // 990401: a truncated workbook.
    let good = workbook("990401");
    write(&src.join("990401/2018.xlsx"), &good[..good.len() / 2]);
    // 990402: a zip bomb — a part that inflates to 64 MB from a few dozen KB.
    write(&src.join("990402/2018.xlsx"), &rezip(&workbook("990402"), &[("xl/media/bomb.bin", vec![0u8; 64 << 20])]));
    // 990403: a sheet with a school and then 1 048 574 formatted empty rows (read, not a failure).
    let sheet = sheet_with_empty_rows("990403", 1_048_574);
    write(&src.join("990403/2018.xlsx"), &rezip(&workbook("990403"), &[("xl/worksheets/sheet1.xml", sheet)]));
    // 990404: a CSV with a 100 MB field.
    let mut big = b"school_code,school_name,school_type,area_type\n9904040001,\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100 << 20));
    big.extend_from_slice(b"\",primary,urban\n");
    write(&src.join("990404/2018/schools.csv"), &big);
    // 990405: an unbalanced quote that swallows the rest of a 12 MB file.
    let mut open = b"school_code,school_name,school_type,area_type\n9904050001,\"unclosed,primary,urban\n".to_vec();
    for i in 0..400_000 {
        open.extend_from_slice(format!("99040{i:05},name,primary,urban\n").as_bytes());
    }
    write(&src.join("990405/2018/schools.csv"), &open);
    // 990406: binary noise named .csv.
    let noise: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    write(&src.join("990406/2018/schools.csv"), &noise);
    // 990409: a good county beside them.
    write(
        &src.join("990409/2018/schools.csv"),
        "school_code,school_name,school_type,area_type\n9904090001,好学校,primary,urban\n".as_bytes(),
    );

    let out = dir.path().join("out");
    let started = Instant::now();
    let run = junheng(&["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "files were rejected, the run finished\n{}\n{}", run.stdout, run.stderr);
    assert!(took < Duration::from_secs(180), "took {took:?}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let failures: Vec<(String, String)> = ledger(&out)["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| {
            i["failure"]["message"].as_str().map(|m| (i["path"].as_str().unwrap().to_owned(), m.to_owned()))
        })
        .collect();
    let message = |path: &str| failures.iter().find(|(p, _)| p == path).map(|(_, m)| m.clone()).unwrap_or_default();
    assert!(message("990401/2018.xlsx").contains("truncated"), "{failures:?}");
    assert!(message("990402/2018.xlsx").contains("zip bomb"), "{failures:?}");
    assert!(message("990404/2018/schools.csv").contains("without the end of a row"), "{failures:?}");
    assert!(message("990405/2018/schools.csv").contains("quote"), "{failures:?}");
    assert!(!message("990406/2018/schools.csv").is_empty(), "noise fails: {failures:?}");
    assert_eq!(failures.len(), 5, "{failures:?}");
    // The sheet of a million empty rows is read: its school is published, the rows counted.
    let ctx = published(&out).await;
    let published_schools = rows(&ctx, "select county_code from staging_schools order by county_code").await.concat();
    assert_eq!(published_schools, ["990403", "990409"]);
    let l = ledger(&out);
    let skipped =
        l["inputs"].as_array().unwrap().iter().find(|i| i["path"] == "990403/2018.xlsx").unwrap()["skipped_rows"]
            .to_string();
    assert!(skipped.contains("1048574 blank rows"), "{skipped}");
    assert_eq!(value(&ctx, "select count(*) from quarantine_schools where rule = 'unreadable_file'").await, "5");
}

#[test]
fn a_symbolic_link_in_the_source_is_not_followed_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    copy_tree(&crate::common::repo().join("fixtures/wudalianchi"), &src);
    // A file link to a file outside the source, and a folder link to a copy of a real year.
    let outside = dir.path().join("secret.csv");
    std::fs::write(&outside, "school_code,school_name\nroot:x:0:0,secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, src.join("231182/2018/monitoring_extra.csv")).unwrap();
    std::fs::remove_file(src.join("231182/2018/survey.csv")).unwrap();
    std::os::unix::fs::symlink(&outside, src.join("231182/2018/survey.csv")).unwrap();
    copy_tree(&src.join("231182/2018"), &dir.path().join("elsewhere-2019"));
    std::os::unix::fs::symlink(dir.path().join("elsewhere-2019"), src.join("231182/2019")).unwrap();
    let run = junheng(&["run", "--quiet", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(run.code <= 1, "{}\n{}", run.stdout, run.stderr);
    let ledger = ledger(&out);
    let warnings = ledger["warnings"].to_string();
    assert!(warnings.contains("231182/2018/survey.csv: a symbolic link"), "{warnings}");
    assert!(warnings.contains("231182/2019/schools.csv: a symbolic link"), "{warnings}");
    // Nothing of the linked files was read: no input names them, no row holds their text.
    let inputs = ledger["inputs"].to_string();
    assert!(!inputs.contains("2018/survey.csv") && !inputs.contains("231182/2019"), "{inputs}");
    let years: Vec<i64> = ledger["slices"].as_array().unwrap().iter().map(|s| s["year"].as_i64().unwrap()).collect();
    assert!(!years.contains(&2019), "{years:?}");
    let everything = String::from_utf8_lossy(
        &std::process::Command::new("grep").args(["-r", "-l", "root:x:0"]).arg(&out).output().unwrap().stdout,
    )
    .into_owned();
    assert!(everything.is_empty(), "the linked file's text was published in {everything}");
}

#[test]
fn a_workbook_too_large_to_hold_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    write(&src.join("990410/2018.xlsx"), &workbook("990410"));
    // 3 GB of nothing (a sparse file: no disk is used): the listing's size refuses it.
    std::fs::create_dir_all(src.join("990411")).unwrap();
    std::fs::File::create(src.join("990411/2018.xlsx")).unwrap().set_len(3 << 30).unwrap();
    let started = Instant::now();
    let run = junheng(&["run", "--quiet", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let inputs = ledger(&out)["inputs"].to_string();
    assert!(inputs.contains("the workbook has 3072 MB, more than 200 MB"), "{inputs}");
}

/// Item 8 of the trust issue. Found: a CSV header of 10⁶ stray columns added 19 MB to the
/// ledger (every header listed, one warning each), and every open of the output read every
/// ledger ever written. Now 50 are listed and the rest counted; readers read the runs' small
/// summaries and the one ledger they open — shown here by an earlier run's ledger that no
/// longer parses, which `query` and `runs` do not need.
#[test]
fn a_header_of_a_million_columns_adds_little_and_old_ledgers_are_not_reread() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    copy_tree(&crate::common::repo().join("fixtures/wudalianchi"), &src);
    let first = junheng(&["run", "--quiet", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_ledger = std::fs::read_dir(out.join("runs")).unwrap().next().unwrap().unwrap().path();
    let first_size = std::fs::metadata(&first_ledger).unwrap().len();

    let schools = src.join("231182/2018/schools.csv");
    let text = std::fs::read_to_string(&schools).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let strays: Vec<String> = (0..1_000_000).map(|i| format!("x{i}")).collect();
    std::fs::write(&schools, format!("{header},{}\n{rows}", strays.join(","))).unwrap();
    let second = junheng(&["run", "--quiet", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(second.code <= 1, "{}\n{}", second.stdout, second.stderr);
    let ledger = ledger(&out);
    let input = ledger["inputs"].as_array().unwrap().iter().find(|i| i["path"] == "231182/2018/schools.csv").unwrap();
    let unknown = input["unknown_columns"].as_array().unwrap();
    // 50 headers listed (MAX_UNKNOWN_LISTED) and one entry counting the other 10⁶ − 50.
    assert_eq!(unknown.len(), 51, "{unknown:?}");
    assert_eq!(unknown[50], "(and 999950 more columns matching none of the table's)");
    let second_ledger = out.join("runs").join(format!("{}.json", ledger["run_id"].as_str().unwrap()));
    // 51 short entries add a few kB, where listing all 10⁶ headers added 19 MB; 100 kB leaves
    // room for the second run's other growth and still tells the two apart.
    let grown = std::fs::metadata(&second_ledger).unwrap().len().saturating_sub(first_size);
    assert!(grown < 100_000, "the ledger grew by {grown} bytes");

    // Each committed run has its summary; the first run's ledger is no longer needed to open
    // the output or list its runs.
    for run in std::fs::read_dir(out.join("runs")).unwrap() {
        let name = run.unwrap().file_name();
        assert!(out.join("_history").join(&name).is_file(), "{name:?} has no summary");
    }
    std::fs::write(&first_ledger, "not a ledger").unwrap();
    let query = junheng(&["query", "--out", out.to_str().unwrap(), "select count(*) from runs"]);
    assert_eq!(query.code, 0, "{}", query.stderr);
    assert!(query.stdout.contains("| 2 "), "{}", query.stdout);
    let runs = junheng(&["runs", "--out", out.to_str().unwrap()]);
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    // The header line and the two runs.
    assert_eq!(runs.stdout.lines().count(), 3, "{}", runs.stdout);
}
