//! What analysts and statisticians use: `junheng query`, the HTML report in headless Chromium,
//! the error workbook, `junheng explain`, and the run summary as JSON.

use std::io::Write;
use std::process::{Command, Stdio};

use calamine::{Data, Reader};

use crate::common::{junheng, published, rows, seed_output};

#[test]
fn query_answers_sql_over_the_committed_marts_in_every_format() {
    let out = seed_output();
    let out = out.to_str().unwrap();
    let table = junheng(&[
        "query",
        "--out",
        out,
        "select stage, round(basic_composite_cv, 3) as cv from balance_summary where year = 2018 order by stage",
    ]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let cells: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(cells, [["stage", "cv"], ["junior", "0.346"], ["primary", "0.548"]], "{}", table.stdout);
    let csv = junheng(&[
        "query",
        "--out",
        out,
        "--format",
        "csv",
        "select school_code, students from school_indicators where year = 2018 and unit_id = '2123118001:primary'",
    ]);
    // 984 = the six grade rows of 2123118001 in fixtures/wudalianchi/231182/2018/pupils.csv, summed with awk.
    assert_eq!(csv.stdout, "school_code,students\n2123118001,984\n");
    let json = junheng(&[
        "query",
        "--out",
        out,
        "--format",
        "json",
        "select year, satisfaction_rate from county_overview where year = 2018",
    ]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed[0]["satisfaction_rate"], 0.96);
    // Staging by name, quarantine, the run history.
    let names =
        junheng(&["query", "--out", out, "--format", "csv", "select count(*) as n from pupils where year = 2018"]);
    assert_eq!(names.stdout, "n\n250\n");
    let runs = junheng(&["query", "--out", out, "--format", "csv", "select version, exit_code from runs"]);
    assert_eq!(runs.stdout, "version,exit_code\n1,0\n");
    // Parquet to a file, read back.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cv.parquet");
    let parquet = junheng(&[
        "query",
        "--out",
        out,
        "--format",
        "parquet",
        "--output",
        file.to_str().unwrap(),
        "select * from balance_cv",
    ]);
    assert_eq!(parquet.code, 0, "{}", parquet.stderr);
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    assert_eq!(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows(), 300);
    // Statements piped on stdin; an error names the problem and exits 2.
    let mut child = Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(["query", "--out", out, "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"select 1 as a; select 2 as b;").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "a\n1\nb\n2\n");
    // Read-only: nothing can be written into the published version or onto the disk.
    let dir2 = tempfile::tempdir().unwrap();
    let copied = dir2.path().join("x.csv");
    for sql in [
        "insert into runs (run_id) values ('x')".to_owned(),
        format!("copy (select 1) to '{}'", copied.display()),
        "create external table x stored as csv location '/etc/passwd'".to_owned(),
    ] {
        let refused = junheng(&["query", "--out", out, &sql]);
        assert!(refused.code == 2 && refused.stderr.contains("not supported"), "{sql}: {}", refused.stderr);
    }
    assert!(!copied.exists());
    let bad = junheng(&["query", "--out", out, "select * from no_such_table"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no_such_table"), "{}", bad.stderr);
}

/// Chromium, when the machine has it (scripts/test sets JUNHENG_CHROMIUM).
pub(crate) fn chromium() -> Option<String> {
    match std::env::var("JUNHENG_CHROMIUM") {
        Ok(c) => Some(c),
        Err(_) if std::env::var_os("JUNHENG_REQUIRE_ALL").is_some() => panic!("JUNHENG_CHROMIUM is not set"),
        Err(_) => {
            eprintln!("skipped: set JUNHENG_CHROMIUM to Debian's chromium (.ci/run installs it)");
            None
        }
    }
}

pub(crate) fn headless(chromium: &str, profile: &std::path::Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[tokio::test]
async fn the_report_renders_in_chromium_with_every_chart_and_the_marts_figures() {
    let out = seed_output();
    let page = out.join("report/231182.html");
    assert!(page.exists() && out.join("report/index.html").exists() && out.join("report/dictionary.html").exists());
    // The headline paragraph says what county_overview says.
    let ctx = published(&out).await;
    let html = std::fs::read_to_string(&page).unwrap();
    let figures = rows(
        &ctx,
        "select students, students_urban, posts_established, staff_on_payroll from county_overview where year = 2018",
    )
    .await;
    let grouped = |n: &str| junheng::report::svg::group_thousands(n.parse().unwrap());
    for n in &figures[0] {
        assert!(html.contains(&grouped(n)), "headline lacks {n}");
    }
    assert!(html.contains("校际间均衡差异系数小学为0.548，初中为0.346") && html.contains("公众满意度为96%"));
    assert!(
        html.contains("2015年未实现教育“三个增长”") && html.contains("15582.0万元"),
        "findings name the failed legs and the gap"
    );
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Loaded by a real browser: the DOM it built, its console, and a screenshot.
    let dom = headless(&chromium, &dir.path().join("p1"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let console: Vec<&str> = std::str::from_utf8(&dom.stderr)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let charts = dom_text.matches("<svg class=\"chart\"").count();
    assert!(charts >= 12, "{charts} charts");
    for id in [
        "enrolment-stage",
        "enrolment-area",
        "retention",
        "dropout",
        "cv-primary",
        "cv-junior",
        "funding-growth",
        "equipment",
        "investment",
    ] {
        let start = dom_text.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("chart {id} is missing"));
        let chart = &dom_text[start..start + dom_text[start..].find("</svg>").unwrap()];
        assert!(
            chart.contains("<path class=\"series\" d=\"M") || chart.contains("<rect class=\"bar\""),
            "chart {id} is empty"
        );
    }
    assert!(dom_text.contains("class=\"threshold\""), "CVs carry their threshold lines");
    let shot = dir.path().join("report.png");
    let screenshot = headless(&chromium, &dir.path().join("p2"))
        .args(["--window-size=1280,3000", &format!("--screenshot={}", shot.display())])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    assert!(std::fs::metadata(&shot).unwrap().len() > 50_000, "a screenshot with content");
    // Kept for people to look at after a CI run.
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("junheng-report-231182.png"));
}

#[test]
fn report_writes_the_pages_of_a_committed_version() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("pages");
    let run = junheng(&["report", "--out", seed_output().to_str().unwrap(), "--to", to.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let index = std::fs::read_to_string(to.join("index.html")).unwrap();
    assert!(index.contains("231182.html") && index.contains("dictionary.html"));
    let dictionary = std::fs::read_to_string(to.join("dictionary.html")).unwrap();
    assert!(dictionary.contains("balance_cv") && dictionary.contains("差异系数"));
}

/// Cells of the first sheet of a workbook, as text.
fn sheet(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_error_workbook_lists_each_fault_where_the_submitter_will_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors");
    let run = junheng(&["validate", "--quiet", "--source", "fixtures/bad", "--errors", errors.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let rows = sheet(&errors.join("990101_2018_问题清单.xlsx"));
    assert_eq!(rows[0][..6], ["严重程度", "表", "文件", "工作表", "行", "列"]);
    let find =
        |file: &str, row: &str, rule: &str| rows.iter().find(|r| r[2] == file && r[4] == row && r[8] == rule).cloned();
    for (file, row, rule) in crate::faults::EXPECTED_ERRORS {
        let r = find(file, &row.to_string(), rule)
            .unwrap_or_else(|| panic!("{file} row {row} {rule} is not in the workbook"));
        assert_eq!(r[0], "错误");
    }
    // The cell, Chinese column label and submitted value of a bad number.
    let r = find("990101/2018/pupils.csv", "4", "not_a_whole_number").unwrap();
    assert_eq!((r[5].as_str(), r[6].as_str(), r[7].as_str()), ("在校生数", "D4", "12o"));
    // Sorted as a submitter fixes them: by file, then row.
    let order: Vec<(String, u64)> = rows[1..].iter().map(|r| (r[2].clone(), r[4].parse().unwrap_or(0))).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    // The file that could not be read has its own workbook.
    assert!(sheet(&errors.join("990102_2018_问题清单.xlsx")).iter().any(|r| r[8] == "unreadable_file"));
}

#[test]
fn submitted_values_are_written_as_text_never_as_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src/990601/2018");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("schools.csv"),
        "school_code,school_name,school_type,area_type\n9906010001,学校,primary,urban\n",
    )
    .unwrap();
    std::fs::write(src.join("pupils.csv"), "school_code,grade,students,classes\n9906010001,1,=1+1,1\n9906010001,2,@SUM(A1),1\n9906010001,3,+1,1\n9906010001,4,-2,1\n").unwrap();
    let errors = dir.path().join("errors");
    junheng(&[
        "validate",
        "--quiet",
        "--source",
        dir.path().join("src").to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]);
    let path = errors.join("990601_2018_问题清单.xlsx");
    let values: Vec<String> = sheet(&path).into_iter().skip(1).map(|r| r[7].clone()).collect();
    assert!(
        values.contains(&"=1+1".to_owned())
            && values.contains(&"@SUM(A1)".to_owned())
            && values.contains(&"-2".to_owned()),
        "{values:?}"
    );
    // No cell of the workbook is a formula.
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let formulas = book.worksheet_formula("问题清单").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "a formula was written");
}

#[test]
fn explain_takes_a_cv_a_rate_and_a_funding_leg_apart_down_to_source_rows() {
    let out = seed_output();
    let out = out.to_str().unwrap();
    let explain_cv = |indicator: &str| {
        junheng(&[
            "explain",
            "--out",
            out,
            "cv",
            "--county",
            "231182",
            "--year",
            "2018",
            "--stage",
            "junior",
            "--indicator",
            indicator,
        ])
    };
    let cv = explain_cv("b3");
    assert_eq!(cv.code, 0, "{}", cv.stderr);
    // The report's junior b3 CV of the fixture is 0.40 (fixtures/README.md); ten units.
    assert!(
        cv.stdout.contains("CV = 0.400000") && cv.stdout.contains("over 10 units, P = 5145 pupils"),
        "{}",
        cv.stdout
    );
    assert!(
        cv.stdout.contains("231182/2018/facilities.csv row") && cv.stdout.contains("231182/2018/pupils.csv rows"),
        "{}",
        cv.stdout
    );
    assert_eq!(cv.stdout.lines().filter(|l| l.contains(":junior ")).count(), 10, "one line per unit");
    // 1692 = the grade-6 students of fixtures/wudalianchi/231182/2016/pupils.csv summed over its
    // schools; 1690 = the grade-1 entrants of its 2011/pupils.csv summed the same way.
    let retention =
        junheng(&["explain", "--out", out, "retention", "--county", "231182", "--year", "2016", "--stage", "primary"]);
    assert!(
        retention.stdout.contains("= 1692 grade-6 pupils in 2016 ÷ 1690 grade-1 entrants in 2011"),
        "{}",
        retention.stdout
    );
    assert!(retention.stdout.contains("231182/2011/pupils.csv row"), "{}", retention.stdout);
    // From finance.csv: education_appropriation 2015 (347 420 000) scaled by recurrent revenue
    // 2016 ÷ 2015 (810 000 000 ÷ 540 000 000), less the 2016 appropriation (365 310 000).
    let funding = junheng(&["explain", "--out", out, "funding", "--county", "231182", "--year", "2016"]);
    assert!(
        funding
            .stdout
            .contains("appropriation_gap = 347420000.00 × 810000000.00 / 540000000.00 − 365310000.00 = 155820000.00"),
        "{}",
        funding.stdout
    );
    let missing = explain_cv("z9");
    assert_eq!(missing.code, 2, "an indicator that does not exist is a usage error");
    assert!(missing.stderr.contains("b1…b8"), "{}", missing.stderr);
    // A figure that is not published is a miss, exit 3, saying what is published.
    let absent = junheng(&["explain", "--out", out, "funding", "--county", "231182", "--year", "2030"]);
    assert_eq!(absent.code, 3, "{}", absent.stderr);
    assert!(absent.stderr.contains("it has counties 231182 (2009–2018)"), "{}", absent.stderr);
    // The seed has no grade-1 entrants before 2009: 2012's primary cohort (first year 2007) has
    // no rate, and says why in words, never as 0, -0 or a bare dash.
    let unreported =
        junheng(&["explain", "--out", out, "retention", "--county", "231182", "--year", "2012", "--stage", "primary"]);
    assert_eq!(unreported.code, 0, "{}", unreported.stderr);
    assert!(
        unreported.stdout.contains("published: no rate — the grade-1 entrants of 2007 were not reported"),
        "{}",
        unreported.stdout
    );
    assert!(unreported.stdout.contains("entrants, grade 1, 2007: not reported"), "{}", unreported.stdout);
    assert!(!unreported.stdout.contains("-0") && !unreported.stdout.contains(": —"), "{}", unreported.stdout);
    // Printing into a pipe that closes early (`| head -1`) ends quietly, never with a panic.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(["explain", "--out", out, "retention", "--county", "231182", "--year", "2012", "--stage", "primary"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let ended = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn run_json_prints_the_ledger_for_schedulers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "--json", "--source", "fixtures/edge", "--out", out.to_str().unwrap()]);
    let ledger: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(ledger["exit_code"], run.code);
    assert!(ledger["totals"]["rows_read"].as_u64().unwrap() > 0);
}

#[test]
fn the_final_summary_says_which_standards_fail_and_where_the_report_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The quality CVs of 2018 above 0.50 (primary) and 0.45 (junior), as the report's table shows them
    // (balance_cv is checked against the seed report in tests/it/seed.rs and indicators.rs).
    assert!(run.stdout.contains("standards missed in the latest year: 2"), "{}", run.stdout);
    assert!(run.stdout.contains("231182 2018 primary: quality CVs above 0.5: q1, q4, q5, q6"), "{}", run.stdout);
    assert!(run.stdout.contains("231182 2018 junior: quality CVs above 0.45: q7"), "{}", run.stdout);
    let report = out.join("report/index.html");
    assert!(run.stdout.contains(&format!("report: {}", report.display())), "{}", run.stdout);
    assert!(report.exists());
}
