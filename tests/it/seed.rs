//! The seed county: `junheng run pipelines/wudalianchi.toml` reproduces the report's figures.

use crate::common::{junheng, ledger, published, rows, value};

#[tokio::test]
async fn the_seed_county_reproduces_the_reports_overview() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "pipelines/wudalianchi.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let ctx = published(&out).await;
    // Every figure below is quoted from ../shared/seed/wudalianchi-2019-report.txt (2018 census):
    // 28 schools (18 primary, 3 nine-year, 7 junior) and 28 teaching points; 1669 posts, 1575
    // staff (94 vacant); 12 515 pupils = 市直 7597 (4409 primary + 3188 junior) + 乡镇 4918
    // (2961 + 1957); site 887 483.4 m²; buildings 149 922.45 m²; 96 % satisfied; 0.114 computers
    // per pupil. 乡镇 schools are town (镇区), their teaching points rural (乡村).
    let got = rows(
        &ctx,
        "select schools, schools_primary, schools_nine_year, schools_junior, schools_teaching_point,
                students, students_urban, students_primary_urban, students_junior_urban,
                students_town + students_rural, students_primary_town + students_primary_rural,
                students_junior_town + students_junior_rural, students_primary, students_junior,
                posts_established, staff_on_payroll, posts_vacant,
                cast(round(site_area_m2 * 100) as bigint), cast(round(building_area_m2 * 100) as bigint),
                round(satisfaction_rate, 2), round(computers_per_pupil, 3)
         from county_overview where county_code = '231182' and year = 2018",
    )
    .await;
    let expected = [
        "28", "18", "3", "7", "28", "12515", "7597", "4409", "3188", "4918", "2961", "1957", "7370", "5145", "1669",
        "1575", "94", "88748340", "14992245", "0.96", "0.114",
    ];
    assert_eq!(got, vec![expected.map(String::from).to_vec()]);
    // 46 schools before the consolidation (the report: 原有的46所义务教育学校调整为28所).
    assert_eq!(value(&ctx, "select schools from county_overview where year = 2009").await, "46");
    // Ten years, one row each.
    assert_eq!(value(&ctx, "select count(*) from county_overview").await, "10");
}

#[tokio::test]
async fn every_source_row_is_published_or_quarantined_and_the_ledger_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "pipelines/wudalianchi.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let l = ledger(&out);
    assert_eq!(l["status"], "published");
    assert_eq!(l["exit_code"], 0);
    // 7 tables × 10 years less finance-only gaps (62), and the assessment's 学校经费 and 县级指标 of
    // 2016–2018 and 质量监测 of 2017–2018 (8).
    assert_eq!(l["inputs"].as_array().unwrap().len(), 70, "the example's 70 files");
    for slice in l["slices"].as_array().unwrap() {
        let (read, published, quarantined) =
            (slice["rows_read"].as_u64(), slice["rows_published"].as_u64(), slice["rows_quarantined"].as_u64());
        assert_eq!(read.unwrap(), published.unwrap() + quarantined.unwrap(), "{slice}");
    }
    // The ledger's published counts are the rows in staging, table by table.
    let ctx = published(&out).await;
    for table in ["schools", "pupils", "teachers", "facilities", "finance", "investments", "survey"] {
        let in_ledger: u64 = l["slices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["table"] == table)
            .map(|s| s["rows_published"].as_u64().unwrap())
            .sum();
        let in_parquet = value(&ctx, &format!("select count(*) from staging_{table}")).await;
        assert_eq!(in_parquet, in_ledger.to_string(), "{table}");
    }
    // Each input has its checksum, and the pipeline's settings are recorded.
    assert!(l["inputs"].as_array().unwrap().iter().all(|i| i["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(l["pipeline"]["settings"]["school_system"], "6-3");
    assert_eq!(l["pipeline"]["standards"]["building_area_per_pupil_min"]["primary"], 4.1);
    // Schools merged and closed are visible (the report: 46 → 28 schools).
    let notes =
        l["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect::<Vec<_>>().join("\n");
    assert!(notes.contains("code changed"), "{notes}");
    // The dictionary documents every published column with a Chinese label.
    let dictionary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("dictionary.json")).unwrap()).unwrap();
    for table in dictionary["tables"].as_array().unwrap() {
        for column in table["columns"].as_array().unwrap() {
            assert!(
                !column["label"].as_str().unwrap().is_empty(),
                "{}.{} has no Chinese label",
                table["name"],
                column["name"]
            );
            assert!(
                !column["meaning"].as_str().unwrap().is_empty(),
                "{}.{} has no meaning",
                table["name"],
                column["name"]
            );
        }
    }
}

#[tokio::test]
async fn money_in_wan_yuan_and_chinese_headers_are_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(junheng(&["run", "pipelines/wudalianchi.toml", "--out", out.to_str().unwrap()]).code, 0);
    let ctx = published(&out).await;
    // investments.csv states 金额(万元): 3202万 for the new campus in 2018 is 32 020 000.00 元.
    let amount = value(
        &ctx,
        "select cast(amount as varchar) from staging_investments where year = 2018 and category = 'new_building'",
    )
    .await;
    assert_eq!(amount, "32020000.00");
    // Codes keep their text form; money is decimal(18,2).
    let types =
        rows(&ctx, "select arrow_typeof(school_code), arrow_typeof(equipment_value) from staging_facilities limit 1")
            .await;
    assert!(types[0][0].contains("Utf8"), "{types:?}");
    assert_eq!(types[0][1], "Decimal128(18, 2)");
}

#[tokio::test]
async fn the_seed_countys_shortcomings_are_the_reports() {
    let ctx = published(&crate::common::seed_output()).await;
    // The latest year's shortcomings, from the seed report's 存在的不足 and the fixture
    // (fixtures/README.md): quality CVs above 0.5 (primary: q1, q4, q5, q6) and 0.45 (junior:
    // q7); arrears outstanding in 2018 = 7 108万 + 15 582万 committed − 7 108万 − 15 582万 ÷ 4
    // repaid = 11 686.5万 = 116 865 000 元.
    let latest = rows(
        &ctx,
        "select stage, shortcoming, detail, cast(round(value * 1000) as bigint) from shortcomings
         where latest order by stage, shortcoming",
    )
    .await;
    let expected = [
        ["all", "arrears_outstanding", "", "116865000000"],
        ["junior", "quality_cv", "q7", "482"],
        ["primary", "quality_cv", "q1,q4,q5,q6", "779"],
    ];
    assert_eq!(latest, expected.map(|r| r.map(String::from).to_vec()));
    // 三个增长 failed in 2015 and 2016 on leg 1 alone, short by the report's arrears (7 108万, 15 582万).
    let legs = rows(
        &ctx,
        "select year, detail, cast(gap as bigint) from shortcomings where shortcoming = 'three_increases' order by year",
    )
    .await;
    assert_eq!(legs, [["2015", "1", "71080000"], ["2016", "1", "155820000"]].map(|r| r.map(String::from).to_vec()));
}
