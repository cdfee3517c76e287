//! A source built like a foreign one (fixtures/foreign/: a US state's school enrolment files in
//! two schema generations, codes glued to names or stripped of their zeros, subtotal, grand-total
//! and footer rows, grades as columns): every row read or a finding, never a silent loss.
//!
//! The fixture's figures, worked out by hand from how it was written: school k (1–4, in file
//! order: 001015, 001027, 002003, 002041) has 10·g + k + (year − 2015) pupils in grade g (1–6).
//! A school-year is 210 + 6k + 6(year − 2015) pupils, so the four schools are
//! 900 + 24(year − 2015) a year: 900 (2015), 924, 948, 972 (2018) — the files' own Grand Total
//! rows (2015: 50 + 90 + 130 + 170 + 210 + 250 = 900). District 001 (k = 1, 2) has
//! 2·210 + 6·(1 + 2) + 12(year − 2015) = 438 + 12(year − 2015), as its subtotal rows say (2015:
//! 23 + 43 + 63 + 83 + 103 + 123 = 438). Only the 2017–2018 files have pupils with
//! disabilities: school k has k, so 1 + 2 + 3 + 4 = 10 a year.

use std::path::{Path, PathBuf};

use crate::common::{self, junheng};

/// fixtures/foreign.toml with `edit` applied, written beside a copy of the fixture (so a test may
/// change the files too); returns the pipeline's path and the copy's folder.
fn variant(dir: &Path, edit: impl Fn(String) -> String) -> (PathBuf, PathBuf) {
    let data = dir.join("foreign");
    for folder in ["enrollment", "finance", "staff"] {
        std::fs::create_dir_all(data.join(folder)).unwrap();
        for entry in std::fs::read_dir(common::repo().join("fixtures/foreign").join(folder)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), data.join(folder).join(entry.file_name())).unwrap();
        }
    }
    let text = std::fs::read_to_string(common::repo().join("fixtures/foreign.toml")).unwrap();
    let pipeline = dir.join("foreign.toml");
    std::fs::write(&pipeline, edit(text)).unwrap();
    (pipeline, data)
}

/// Replace `from` by `to` in a file of the copy (the files are Windows-1252, not UTF-8, so the
/// edit is made on bytes; both strings are ASCII).
fn edit_file(file: &Path, from: &str, to: &str) {
    let bytes = std::fs::read(file).unwrap();
    let at = bytes.windows(from.len()).position(|w| w == from.as_bytes()).unwrap_or_else(|| panic!("no {from:?}"));
    let edited = [&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]].concat();
    std::fs::write(file, edited).unwrap();
}

fn rules_of(ledger: &serde_json::Value, severity: &str) -> serde_json::Value {
    ledger["totals"][format!("{severity}_by_rule")].clone()
}

#[tokio::test]
async fn two_schema_generations_chosen_by_years_publish_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "fixtures/foreign.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let ledger = common::ledger(&out);
    let t = &ledger["totals"];
    // 4 schools × 4 years, and 6 grades of each: 16 + 96 rows, 2 districts' finance in
    // 2017–2018: 4 rows, and 4 schools' staff in 2017–2018: 8 rows; none rejected.
    assert_eq!((t["rows_read"].as_u64(), t["rows_published"].as_u64()), (Some(124), Some(124)), "{t}");
    assert_eq!(t["rows_quarantined"], 0);
    assert!(rules_of(&ledger, "errors").as_object().is_none_or(|m| m.is_empty()), "{t}");
    // A constant that quotes a cell (county_name = "District {DISTRICT}") reads that cell: it is
    // not warned about as an unknown column.
    let unknown: Vec<String> = ledger["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["table"] == "schools")
        .flat_map(|i| i["unknown_columns"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(!unknown.iter().any(|h| h == "DISTRICT" || h == "District Code"), "{unknown:?}");

    let ctx = common::published(&out).await;
    let by_year = common::rows(
        &ctx,
        "select year, sum(students), sum(special_needs), count(distinct school_code) from staging_pupils \
         group by year order by year",
    )
    .await;
    let want =
        [["2015", "900", "", "4"], ["2016", "924", "", "4"], ["2017", "948", "10", "4"], ["2018", "972", "10", "4"]];
    let got: Vec<Vec<&str>> = by_year.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    assert_eq!(got, want.map(|r| r.to_vec()).to_vec());
    // Codes taken out of "001-North County" and "001015   Adams Elementary" (2015–2016) and
    // zero-padded from 1 and 1015 (2017–2018) are the same schools every year.
    let schools = common::rows(
        &ctx,
        "select school_code, min(school_name), max(school_name), count(*), min(county_code) from staging_schools \
         group by school_code order by school_code",
    )
    .await;
    let want = [
        ["001015", "Adams Elementary", "Adams Elementary", "4", "001"],
        ["001027", "Baker Elementary", "Baker Elementary", "4", "001"],
        ["002003", "Clark Elementary", "Clark Elementary", "4", "002"],
        ["002041", "Dunn’s Elementary", "Dunn’s Elementary", "4", "002"],
    ];
    let got: Vec<Vec<&str>> = schools.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    assert_eq!(got, want.map(|r| r.to_vec()).to_vec());
    // The files are Windows-1252 ("Dunn’s": 0x92 0x73 is also a GBK pair, 抯): detected, never
    // read as Chinese, and the ledger says how it was told.
    let enrolment =
        ledger["inputs"].as_array().unwrap().iter().filter(|i| i["path"].as_str().unwrap().starts_with("enrollment/"));
    for input in enrolment {
        assert_eq!(input["encoding"], "windows-1252", "{input}");
        let basis = input["encoding_basis"].as_str().unwrap();
        assert!(basis.starts_with("detected by chardetng") && basis.ends_with("(high)"), "{basis}");
    }
    let names =
        common::rows(&ctx, "select distinct county_name from staging_schools where year = 2015 order by 1").await;
    assert_eq!(names, vec![vec!["North County".to_owned()], vec!["South County".to_owned()]]);

    // The files give no school type (school_type absent): every school teaches grades 1–6, so
    // each is a primary school, derived and said to be.
    let types = junheng(&[
        "query",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "select school_type, school_type_from_grades, count(*) as n from int_schools group by 1, 2",
    ]);
    // 4 schools × 4 years = 16 school-years, each primary.
    assert_eq!(types.stdout.trim(), "school_type,school_type_from_grades,n\nprimary,true,16", "{}", types.stderr);
    let primary = common::rows(&ctx, "select sum(schools_primary) from county_overview").await;
    assert_eq!(primary, vec![vec!["16".to_owned()]]);
    // The state does not classify its schools by area (area_type absent): every pupil is in the
    // unknown figure, none is claimed urban, town or rural, and the report says so.
    let areas = common::rows(
        &ctx,
        "select sum(students), sum(students_unknown), sum(students_urban + students_town + students_rural) \
         from county_overview",
    )
    .await;
    // 900 + 924 + 948 + 972 = 3 744 pupils over the four years (the header's figures).
    assert_eq!(areas, vec![vec!["3744".to_owned(), "3744".to_owned(), "0".to_owned()]]);
    // Staff are full-time equivalents (teacher_counts = "fte"): read as written, published as
    // float64, never rounded to persons. Each year's sum is the staff file's own Grand Total row
    // (2017: 12.50 + 15.00 + 17.75 + 20.25 = 65.50; 2018: 13.00 + 15.50 + 18.25 + 20.75 = 67.50).
    let staff = common::rows(
        &ctx,
        "select year, cast(sum(full_time_teachers) as varchar), cast(sum(teachers_above_degree) as varchar), \
         arrow_typeof(sum(full_time_teachers)) from county_overview o join (select county_code, year, \
         sum(teachers_above_degree) as teachers_above_degree from staging_teachers group by 1, 2) t using (county_code, year) \
         group by year order by year",
    )
    .await;
    let want = [["2017", "65.5", "30.75", "Float64"], ["2018", "67.5", "32.5", "Float64"]];
    let got: Vec<Vec<&str>> = staff.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    assert_eq!(got, want.map(|r| r.to_vec()).to_vec());
    // District 001's page is of its latest year: 438 + 12 · (2018 − 2015) = 474 pupils.
    let page = std::fs::read_to_string(out.join("current/report/001.html")).unwrap();
    assert!(page.contains("在校生474人（学校未按城乡分类）") && !page.contains("城区0人"), "{page}");

    // Finance is in US dollars with the symbol in each cell ("$7,884"): read as written, never
    // converted, and every amount says its currency. District 002's appropriation grew
    // 315 500 / 310 000 − 1 = 1.77 % against revenue's 2.04 %: short by
    // 310 000 × 1 000 000 / 980 000 − 315 500 = 826.53 dollars (not 万元).
    let funding = common::rows(
        &ctx,
        "select county_code, year, cast(exp_per_pupil_primary as varchar), cast(round(appropriation_gap, 2) as varchar), currency \
         from funding order by 1, 2",
    )
    .await;
    let want = [
        ["001", "2017", "7884.0", "", "USD"],
        ["001", "2018", "8010.0", "0.0", "USD"],
        ["002", "2017", "7120.0", "", "USD"],
        ["002", "2018", "7350.0", "826.53", "USD"],
    ];
    let got: Vec<Vec<&str>> = funding.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    assert_eq!(got, want.map(|r| r.to_vec()).to_vec());
    assert!(
        run.stdout.contains("002 2018: three increases (三个增长) not met, leg 1, appropriation short by USD 826.53"),
        "{}",
        run.stdout
    );
    // The report writes the amounts in dollars, never as 万元.
    let page = std::fs::read_to_string(out.join("current/report/002.html")).unwrap();
    // The report rounds the 826.53 to whole dollars.
    assert!(page.contains("应增拨（USD）") && page.contains("教育财政拨款应再增加827 USD"), "{page}");
    assert!(!page.contains("万元"), "{page}");
    let dictionary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("current/dictionary.json")).unwrap()).unwrap();
    let unit = |table: &str, column: &str| {
        let t = dictionary["tables"].as_array().unwrap().iter().find(|t| t["name"] == table).unwrap();
        t["columns"].as_array().unwrap().iter().find(|c| c["name"] == column).unwrap()["unit"].clone()
    };
    assert_eq!(
        (unit("finance", "recurrent_revenue"), unit("funding", "appropriation_gap")),
        ("USD".into(), "USD".into())
    );

    // Rows that are not data are listed, each with its reason; the totals agreed with the rows.
    assert!(rules_of(&ledger, "warnings").get("total_row_mismatch").is_none(), "{t}");
    let skipped = |path: &str, table: &str| -> Vec<String> {
        let input = ledger["inputs"].as_array().unwrap().iter().find(|i| i["path"] == path && i["table"] == table);
        input.unwrap()["skipped_rows"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let old = skipped("enrollment/2015.csv", "pupils");
    assert_eq!(old.iter().filter(|r| r.contains("total row, checked")).count(), 3, "{old:?}");
    assert_eq!(old.iter().filter(|r| r.contains("footer below the last data row")).count(), 1, "{old:?}");
    let new = skipped("enrollment/2018.csv", "pupils");
    assert_eq!(new.iter().filter(|r| r.contains("skip_where: District Code matches")).count(), 2, "{new:?}");
    assert_eq!(new.iter().filter(|r| r.contains("total row, checked")).count(), 1, "{new:?}");

    // No teachers, facilities or finance: the verdicts are not assessable, never "met".
    assert!(!run.stdout.contains("every county meets them"), "{}", run.stdout);
    assert!(run.stdout.contains("not assessable"), "{}", run.stdout);
    let not_assessable = ledger["not_assessable"].as_array().unwrap();
    assert_eq!(not_assessable.len(), 2, "{not_assessable:?}");
    assert!(not_assessable[0].as_str().unwrap().starts_with("001 2018: not assessable: the balance"));
}

#[test]
fn a_file_claimed_by_two_entries_of_one_table_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    // Without `years`, both pupils entries (and both schools entries) claim every file: one of
    // them would be read, the other's rows lost.
    let (pipeline, _) =
        variant(dir.path(), |t| t.lines().filter(|l| !l.starts_with("years")).collect::<Vec<_>>().join("\n"));
    let run = junheng(&["validate", pipeline.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for needle in ["enrollment/2015.csv", "[[tables.pupils]] #1", "[[tables.pupils]] #2", "years"] {
        assert!(run.stderr.contains(needle), "no {needle:?} in: {}", run.stderr);
    }
    // The same error stops a run before anything is published.
    let out = dir.path().join("out");
    let run = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(!out.join("runs").exists() || std::fs::read_dir(out.join("runs")).unwrap().next().is_none());
}

#[test]
fn a_declared_column_a_file_lacks_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    // The disabilities column is no longer optional: the 2015–2016 files lack it.
    let (pipeline, data) = variant(dir.path(), |t| t.replace("optional = [\"special_needs\"]\n", ""));
    // And a misspelt grade header in 2018: grade 4's pupils would vanish without a word.
    edit_file(&data.join("enrollment/2018.csv"), ",Gr4,", ",Gr 4th,");
    let out = dir.path().join("out");
    let run = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "a lost column is never a success: {}\n{}", run.stdout, run.stderr);
    let ledger = common::ledger(&out);
    // 2015 and 2016 lack special_needs (2 findings), 2018 lacks Gr4 (1).
    assert_eq!(rules_of(&ledger, "errors")["declared_column_missing"], 3, "{}", ledger["totals"]);
    assert!(run.stdout.contains("grade 4 (column \"Gr4\" of wide.columns.students)"), "{}", run.stdout);
    assert!(run.stdout.contains("enrollment/2015.csv: the pipeline file declares"), "{}", run.stdout);
    // Rows are still accounted for: 2018 has 5 grade rows a school now (4 × 5 = 20, not 24), so
    // 112 − 4 enrolment rows, the 4 finance rows and the 8 staff rows: 120.
    let t = &ledger["totals"];
    assert_eq!(t["rows_read"], 120);
    assert_eq!(
        t["rows_read"].as_u64(),
        Some(t["rows_published"].as_u64().unwrap() + t["rows_quarantined"].as_u64().unwrap())
    );
}

#[test]
fn a_source_with_nothing_to_read_is_not_a_success() {
    // The fixture is not in the standard layout: read without its pipeline, no file is a table.
    let run = junheng(&["validate", "--source", "fixtures/foreign"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for needle in
        ["nothing to read", "8 file(s) that no table claims", "enrollment/2015.csv", "expected: the standard layout"]
    {
        assert!(run.stderr.contains(needle), "no {needle:?} in: {}", run.stderr);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "--source", "fixtures/foreign", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(!out.join("current.json").exists() && !out.join("runs").exists(), "nothing may be published");
    // An empty folder says so; a pipeline's templates are listed as what was expected.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = junheng(&["validate", "--source", empty.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the folder is empty"), "{}", run.stderr);
    let run = junheng(&["validate", "fixtures/foreign.toml", "--source", empty.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pupils: enrollment/{year}.csv (years 2017-2018)"), "{}", run.stderr);
}

#[test]
fn a_subtotal_that_disagrees_with_its_rows_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, data) = variant(dir.path(), |t| t);
    // District 002's 2016 subtotal of grade 1: 13 + 14 + 2 = 29, written 30.
    edit_file(
        &data.join("enrollment/2016.csv"),
        "TOTALS for 002-South County,,29,",
        "TOTALS for 002-South County,,30,",
    );
    let run = junheng(&["validate", pipeline.to_str().unwrap()]);
    // A total row that disagrees is a warning (the rows are published, the total is not).
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("enrollment/2016.csv row 7, column 在校生数: the total row says 30 + 49 + 69 + 89 + 109 + 129")
            && run.stdout.contains("since the previous total row"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_file_whose_encoding_cannot_be_told_is_refused_until_declared() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, data) = variant(dir.path(), |t| t);
    // "Größe": in Windows-1252, "öß" is 0xF6 0xDF — also the GB2312 character 鲞. The Chinese and
    // the generic reading disagree and both are plausible: the file is refused, never guessed.
    let file = data.join("enrollment/2018.csv");
    let bytes = std::fs::read(&file).unwrap();
    let at = bytes.windows(5).position(|w| w == b"Clark").unwrap();
    let ambiguous = [&bytes[..at], b"Gr\xF6\xDFe \xC4\xD6", &bytes[at..]].concat();
    std::fs::write(&file, &ambiguous).unwrap();
    let run = junheng(&["validate", pipeline.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    for needle in ["enrollment/2018.csv", "encoding cannot be told", "GBK/GB18030", "encoding = \"windows-1252\""] {
        assert!(run.stdout.contains(needle), "no {needle:?} in: {}", run.stdout);
    }
    // Declared, the same bytes are read as declared: every row published.
    let (pipeline, _) = variant(dir.path(), |t| t.replace("[source]\n", "[source]\nencoding = \"windows-1252\"\n"));
    std::fs::write(&file, &ambiguous).unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let ledger = common::ledger(&out);
    let input = ledger["inputs"].as_array().unwrap().iter().find(|i| i["path"] == "enrollment/2018.csv").unwrap();
    assert_eq!(
        (input["encoding"].as_str(), input["encoding_basis"].as_str()),
        (Some("windows-1252"), Some("declared (certain)"))
    );
    assert_eq!(ledger["totals"]["rows_quarantined"], 0);
}

#[test]
fn dollar_amounts_under_the_default_currency_are_findings_never_yuan() {
    let dir = tempfile::tempdir().unwrap();
    // Without `currency = "USD"` the pipeline's amounts are 元: "$7,884" is not read as 7 884 元.
    let (pipeline, _) = variant(dir.path(), |t| t.replace("currency = \"USD\"\n", ""));
    let run = junheng(&["validate", pipeline.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("finance/2017.csv row 2, column 财政经常性收入: \"$1,250,000\" is marked $ (USD or TWD or HKD or CAD or AUD), but the pipeline's currency is CNY"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("currency_mismatch 12"), "3 amounts × 2 districts × 2 years: {}", run.stdout);
}

/// Whether a text has a Chinese character (CJK ideographs, or the full-width punctuation of
/// Chinese sentences: ，。（）：).
fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
            || ('\u{3000}'..='\u{303f}').contains(&c)
            || ('\u{ff00}'..='\u{ffef}').contains(&c)
    })
}

#[test]
fn a_source_that_is_not_chinese_gets_its_report_in_english() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, _) = variant(dir.path(), |text| text + "\n[report]\nlanguage = \"en\"\n");
    let out = dir.path().join("out");
    let run = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The ledger says which language the report is in, so `junheng report` writes it again so.
    assert_eq!(common::ledger(&out)["pipeline"]["report_language"], "en");
    let page = |folder: &Path, name: &str| std::fs::read_to_string(folder.join(name)).unwrap();
    let published = out.join("current/report");
    // Not a Chinese character on the index or a county page: the state's names are English, and
    // every word of the page is the English table's (the 32 items' words from the catalogue).
    for name in ["index.html", "001.html", "002.html"] {
        let html = page(&published, name);
        assert!(
            !has_chinese(&html),
            "{name}: {:?}",
            html.chars().filter(|c| has_chinese(&c.to_string())).collect::<String>()
        );
        assert!(html.contains("<html lang=\"en\">"), "{name}");
    }
    // District 001's headline, of its latest year: 438 + 12 · 3 = 474 pupils, in no area type.
    let first = page(&published, "001.html");
    assert!(first.contains("It has 474 pupils (the schools are not classified as urban, town or rural)."), "{first}");
    assert!(first.contains("Balance indicators, 2018: enrolment-weighted difference coefficients"), "{first}");
    // The first assessment item as the catalogue words it, and a status in English.
    assert!(first.contains("Teachers above the required qualification per 100 pupils (difference coefficient)"));
    assert!(first.contains("\">to fill in</span>"), "{first}");
    // District 002 is short 826.53 dollars (see the first test): in dollars, rounded, never 万.
    let second = page(&published, "002.html");
    assert!(second.contains("Appropriation short (USD)"), "{second}");
    assert!(second.contains("the education appropriation should rise by a further 827 USD."), "{second}");
    // The dictionary's units are English too; its column of Chinese names is what it says it is.
    let dictionary = page(&published, "dictionary.html");
    assert!(dictionary.contains("<td class=\"text\">persons</td><td class=\"text\">在校生数</td>"));
    assert!(dictionary.contains("<th class=\"text\">Chinese name</th>"));

    // `junheng report` takes the run's language, or the one asked for.
    let again = dir.path().join("again");
    let report = junheng(&["report", "--out", out.to_str().unwrap(), "--to", again.to_str().unwrap()]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert_eq!(page(&again, "001.html"), first, "the same page from the same version");
    let chinese = dir.path().join("zh");
    let report =
        junheng(&["report", "--out", out.to_str().unwrap(), "--to", chinese.to_str().unwrap(), "--language", "zh"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(page(&chinese, "001.html").contains("在校生474人（学校未按城乡分类）"));
    let wrong =
        junheng(&["report", "--out", out.to_str().unwrap(), "--to", chinese.to_str().unwrap(), "--language", "fr"]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("use zh or en"), "{}", wrong.stderr);

    // A browser lays the English page out as a document in English.
    let Some(chromium) = crate::surface::chromium() else { return };
    let dom = crate::surface::headless(&chromium, &dir.path().join("profile"))
        .arg("--dump-dom")
        .arg(format!("file://{}", published.join("001.html").display()))
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"headline\"") && dom.contains("It has 474 pupils"), "{dom}");
}

/// `junheng query --format csv` over an output.
fn query_csv(out: &Path, sql: &str) -> common::Output {
    junheng(&["query", "--out", out.to_str().unwrap(), "--format", "csv", sql])
}

/// Each line of a CSV answer, sorted (two runs may write a mart's rows in another order).
fn sorted_lines(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn a_changed_file_of_several_counties_republishes_only_the_county_years_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    // One rejected cell (2017, Adams, grade 1: "13x") is tolerated, so that a kept county-year's
    // quarantine is seen to be kept too.
    let (pipeline, data) = variant(dir.path(), |text| text + "\n[quality]\nmax_rejected_rows = 1\n");
    edit_file(&data.join("enrollment/2017.csv"), "Adams Elementary,13,", "Adams Elementary,13x,");
    let (out, full) = (dir.path().join("out"), dir.path().join("full"));
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = junheng(&args);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        run
    };
    run(&out, &[]);
    let first = common::ledger(&out)["run_id"].as_str().unwrap().to_owned();
    // District 002 corrects two of its 2018 grade-1 figures (Clark 16 → 17, Dunn 17 → 16): its
    // total, and so the file's Grand Total row, stays as it was; district 001's rows are untouched.
    let file = data.join("enrollment/2018.csv");
    edit_file(&file, "Clark Elementary,16,", "Clark Elementary,17,");
    edit_file(&file, "Elementary,17,27,37,47,57,67,4", "Elementary,16,27,37,47,57,67,4");
    let second = run(&out, &[]);
    let ledger = common::ledger(&out);
    let id = ledger["run_id"].as_str().unwrap().to_owned();
    // The file is read whole; of its pupils only 002/2018's rows are published again. 001/2018
    // keeps the first run's rows, digest and counts, and says so.
    let input = ledger["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "enrollment/2018.csv" && i["table"] == "pupils")
        .unwrap();
    let slice =
        |county: &str| input["slices"].as_array().unwrap().iter().find(|s| s["county_code"] == county).unwrap().clone();
    assert_eq!(
        (slice("001")["kept_from"].as_str(), slice("001")["rows_read"].as_u64()),
        (Some(first.as_str()), Some(12))
    );
    assert_eq!((slice("002")["kept_from"].as_str(), slice("002")["rows_read"].as_u64()), (None, Some(12)));
    assert_ne!(slice("001")["rows_digest"], slice("002")["rows_digest"]);
    // The other years' files were read again (the schools file holds both districts, so the
    // plan cannot tell which county-years' schools changed) and kept every county-year: pupils
    // 2 districts × 4 years − 002/2018 = 7, staff and finance 2 districts × 2017–2018 = 4 each,
    // so 7 + 4 + 4 = 15 kept.
    assert!(
        second.stdout.contains("1 county-years changed (002 2018 pupils), 15 unchanged and kept as published"),
        "{}",
        second.stdout
    );
    // Every row is counted once: read = published + quarantined, the rejected cell among them.
    let t = &ledger["totals"];
    assert_eq!(
        (t["rows_read"].as_u64(), t["rows_published"].as_u64(), t["rows_quarantined"].as_u64()),
        (Some(124), Some(123), Some(1)),
        "{t}"
    );
    let rejected = query_csv(
        &out,
        "select county_code, year, source_row, rule, run_id from quarantine_pupils where severity = 'error'",
    );
    // Adams is line 3 of the 2017 file (header, district heading, then Adams).
    let want = format!("county_code,year,source_row,rule,run_id\n001,2017,3,not_a_whole_number,{first}");
    assert_eq!(rejected.stdout.trim(), want, "{}", rejected.stderr);
    let loaded =
        query_csv(&out, "select county_code, year, run_id, count(*) as n from pupils group by 1, 2, 3 order by 1, 2");
    let want: Vec<String> = ["001", "002"]
        .iter()
        .flat_map(|c| (2015..=2018).map(move |y| (c, y)))
        .map(|(c, y)| {
            let by = if (*c, y) == ("002", 2018) { &id } else { &first };
            // Adams's grade-1 row of 2017 is in quarantine.
            let n = if (*c, y) == ("001", 2017) { 11 } else { 12 };
            format!("{c},{y},{by},{n}")
        })
        .collect();
    assert_eq!(loaded.stdout.lines().skip(1).collect::<Vec<_>>(), want, "{}", loaded.stderr);
    // 002's 2018 pupils are as corrected: grade 1 is 17 + 16 = 33, as before the edit (16 + 17).
    let grade_one = query_csv(
        &out,
        "select school_code, students from pupils where year = 2018 and grade = 1 and county_code = '002' order by 1",
    );
    assert_eq!(grade_one.stdout.trim(), "school_code,students\n002003,17\n002041,16", "{}", grade_one.stderr);

    // A county-year whose schools change is checked against its new schools: 002 renames Clark
    // (a schools column; the pupils entry does not read the name), so 002/2018's pupils are
    // published again though their own cells did not change, and 001's stay the first run's.
    edit_file(&file, "Clark Elementary", "Clarke Elementary");
    run(&out, &[]);
    let third = common::ledger(&out)["run_id"].as_str().unwrap().to_owned();
    let by_county = query_csv(
        &out,
        "select county_code, min(run_id) as run_id from pupils where year = 2018 group by 1 order by 1",
    );
    assert_eq!(
        by_county.stdout.trim(),
        format!("county_code,run_id\n001,{first}\n002,{third}"),
        "{}",
        by_county.stderr
    );

    // The marts equal those of a full rebuild of the same source.
    run(&full, &["--force"]);
    for mart in
        ["county_overview", "enrolment_trend", "retention", "funding", "quality_assessment", "school_indicators"]
    {
        let sql = format!("select * from {mart}");
        let of = |o: &Path| query_csv(o, &sql).stdout;
        assert_eq!(sorted_lines(&of(&out)), sorted_lines(&of(&full)), "{mart}");
    }
    // A run told to read everything again keeps nothing: every row is its own.
    run(&out, &["--force"]);
    let rebuilt = common::ledger(&out);
    assert!(
        rebuilt["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["slices"].as_array().unwrap())
            .all(|s| s.get("kept_from").is_none())
    );
}
