//! Real public data nobody here wrote (`../shared/realdata/`), through the pipelines in
//! `pipelines/`. Expected figures are computed in the test straight from the source files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::{junheng, ledger, published, rows, value};

fn realdata() -> Option<PathBuf> {
    let dir = crate::common::repo().join("../shared/realdata");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("JUNHENG_REQUIRE_ALL").is_none(), "../shared/realdata is missing");
    eprintln!("skipped: ../shared/realdata is not beside the repository");
    None
}

/// Records of a CSV file as header → value maps (BOM stripped).
fn records(path: PathBuf, delimiter: u8) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader
        .records()
        .map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(|v| v.trim().to_owned())).collect())
        .collect()
}

fn number(map: &BTreeMap<String, String>, key: &str) -> f64 {
    map.get(key).filter(|v| !v.is_empty()).map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn nyc_doe_two_schema_generations_give_twelve_years_of_enrolment() {
    let Some(data) = realdata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "pipelines/nyc-doe.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // Grades 1–9 summed straight from the files: 2005-06 (semicolons, BOM) and 2017-18 (commas).
    let old = records(data.join("nyc-doe/2006_-_2012_School_Demographics_and_Accountability_Snapshot.csv"), b';');
    let new = records(data.join("nyc-doe/2013_-_2018_Demographic_Snapshot_School.csv"), b',');
    let sum = |rows: &[BTreeMap<String, String>], year_key: &str, year: &str, grade: &str| -> i64 {
        rows.iter()
            .filter(|r| r[year_key] == year)
            .map(|r| (1..=9).map(|g| number(r, &format!("{grade}{g}"))).sum::<f64>())
            .sum::<f64>() as i64
    };
    let ctx = published(&out).await;
    let students = |year: i32| {
        let ctx = ctx.clone();
        async move { value(&ctx, &format!("select students from county_overview where year = {year}")).await }
    };
    assert_eq!(students(2005).await, sum(&old, "schoolyear", "20052006", "grade").to_string());
    assert_eq!(students(2017).await, sum(&new, "Year", "2017-18", "Grade").to_string());
    assert_eq!(value(&ctx, "select count(*) from county_overview").await, "12", "2005–2011 and 2013–2017");
    // 5-4: grades 1–5 primary.
    let primary_2017: i64 = new
        .iter()
        .filter(|r| r["Year"] == "2017-18")
        .map(|r| (1..=5).map(|g| number(r, &format!("Grade{g}"))).sum::<f64>() as i64)
        .sum();
    assert_eq!(
        value(&ctx, "select students_primary from county_overview where year = 2017").await,
        primary_2017.to_string()
    );
    // Grade progression and the spread of special-needs pupils across schools are computed.
    assert!(value(&ctx, "select count(*) from grade_progression").await.parse::<i64>().unwrap() > 50);
    assert_eq!(
        value(&ctx, "select count(*) from equity_cv where indicator = 'special_needs_share' and cv > 0").await,
        "12"
    );
    // The two schema generations: the ledger names what changed between the files.
    let changes = ledger(&out)["schema_changes"].to_string();
    assert!(
        changes.contains("school_name: Name → SchoolName") && changes.contains("year: schoolyear → Year"),
        "{changes}"
    );
}

#[tokio::test]
async fn tw_moe_traditional_chinese_roc_years_and_teachers_per_pupil() {
    let Some(data) = realdata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "pipelines/tw-moe-elementary.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "the two known rows are within the pipeline's tolerance\n{}\n{}", run.stdout, run.stderr);
    let source = records(data.join("tw-moe-elementary/113-107.csv"), b',');
    // The file's path names no year (it comes from 學年度): its file-level warnings (unmapped
    // columns) are filed under the year of its rows, never under a year 0.
    for table in ["pupils", "teachers"] {
        let years: Vec<String> = std::fs::read_dir(out.join("current/quarantine").join(table))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(years, ["year=2024"], "{table}");
    }
    // 一般地區 schools (地區屬性 empty) are unknown, not a made-up town: only 偏遠/特偏/極偏 are rural.
    let ctx = published(&out).await;
    let areas =
        rows(&ctx, "select count(distinct area_type) from staging_schools where area_type not in ('rural', 'unknown')")
            .await;
    assert_eq!(areas, vec![vec!["0".to_owned()]]);
    // 學年度 113 is 2024; 新北市 (縣市代碼 1): pupils of grades 1–6, boys and girls.
    let pupils = |r: &BTreeMap<String, String>| {
        (1..=6).map(|g| number(r, &format!("{g}年級男學生數")) + number(r, &format!("{g}年級女學生數"))).sum::<f64>()
    };
    let new_taipei: Vec<_> = source.iter().filter(|r| r["縣市代碼"] == "1").collect();
    let expected: f64 = new_taipei.iter().map(|r| pupils(r)).sum();
    assert_eq!(
        value(&ctx, "select students from county_overview where county_code = '1' and year = 2024").await,
        (expected as i64).to_string()
    );
    // b6 (teachers per pupil) across 新北市's schools, weighted by enrolment, worked out here
    // from the source: X_i = (男專任教師 + 女專任教師) / P_i; CV = sqrt(Σ (P_i/P)(X_i − X̄)²) / X̄.
    let units: Vec<(f64, f64)> = new_taipei
        .iter()
        .map(|r| (pupils(r), number(r, "男專任教師") + number(r, "女專任教師")))
        .filter(|(p, _)| *p > 0.0)
        .collect();
    let p: f64 = units.iter().map(|u| u.0).sum();
    let mean = units.iter().map(|u| u.1).sum::<f64>() / p;
    let cv = units.iter().map(|(pi, t)| pi / p * (t / pi - mean).powi(2)).sum::<f64>().sqrt() / mean;
    let got: f64 =
        value(&ctx, "select cv from balance_cv where county_code = '1' and indicator = 'b6'").await.parse().unwrap();
    assert!((got - cv).abs() <= 1e-9 * cv, "{got} vs {cv}");
    // Leading zeros of 學校代碼 are kept.
    assert_eq!(
        value(&ctx, "select school_code from staging_schools where school_name = '私立淡江高中附設國小'").await,
        "011301"
    );
    // The two rejected rows: 縣立港口國小 teaches grades 2 and 6 without classes of their own.
    let rejected =
        rows(&ctx, "select message from quarantine_pupils where severity = 'error' order by message").await.concat();
    assert_eq!(rejected.len(), 2);
    assert!(rejected[0].contains("row 2083 (grade 2)") && rejected[1].contains("row 2083 (grade 6)"), "{rejected:?}");
}

#[tokio::test]
async fn cn_nbs_provinces_as_units_of_the_nation() {
    let Some(data) = realdata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "pipelines/cn-nbs-province.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let primary = records(data.join("cn-nbs-province/普通小学基本情况.csv"), b',');
    let ctx = published(&out).await;
    // 万人 → persons, province by province (the source gives 4 decimals: exact to the person).
    let persons = |v: f64| (v * 10_000.0).round() as i64;
    let expected: i64 =
        primary.iter().filter(|r| r["年份"] == "2019").map(|r| persons(number(r, "普通小学在校学生数(万人)"))).sum();
    assert_eq!(
        value(&ctx, "select students_primary from county_overview where county_code = '000000' and year = 2019").await,
        expected.to_string()
    );
    // The CV of teachers per pupil across the 31 provinces, weighted by enrolment.
    assert_eq!(
        value(&ctx, "select units from balance_cv where year = 2019 and stage = 'primary' and indicator = 'b6'").await,
        "31"
    );
    // Heilongjiang's appropriation (万元 → 元) and its growth, 2015 over 2014.
    let finance = records(data.join("cn-nbs-province/教育经费情况.csv"), b',');
    let app = |y: &str| {
        finance
            .iter()
            .find(|r| r["省份编码"] == "230000" && r["年份"] == y)
            .map(|r| number(r, "国家财政性教育经费(万元)"))
            .unwrap()
    };
    let growth: f64 =
        value(&ctx, "select appropriation_growth from funding where county_code = '230000' and year = 2015")
            .await
            .parse()
            .unwrap();
    assert!((growth - (app("2015") - app("2014")) / app("2014")).abs() < 1e-12);
    // Rejected rows are the years the source leaves empty: junior 2000–2010 (31 × 11, pupils and
    // teachers), education funding 2012 and 2019, and the empty cells of the primary file.
    let l = ledger(&out);
    assert_eq!(
        l["totals"]["errors_by_rule"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["required_value_missing"]
    );
    let by_table = |t: &str| -> u64 {
        l["slices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["table"] == t)
            .map(|s| s["rows_quarantined"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(by_table("finance"), 62, "2012 and 2019 for 31 provinces");
}
