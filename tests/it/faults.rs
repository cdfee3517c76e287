//! The fault corpus (`fixtures/bad/`): every bad row quarantined with the right rule and source
//! row, every other row published with the right value, and the counts adding up.

use crate::common::{junheng, ledger, published, rows, value};

/// (file, row, rule) of every rejected row in fixtures/bad, as listed in fixtures/README.md.
pub(crate) const EXPECTED_ERRORS: &[(&str, i64, &str)] = &[
    ("990101/2018/facilities.csv", 3, "bound_violated"),
    ("990101/2018/investments.csv", 3, "amount_not_positive"),
    ("990101/2018/investments.csv", 4, "unknown_enum_value"),
    ("990101/2018/investments.csv", 5, "county_mismatch"),
    ("990101/2018/pupils.csv", 4, "not_a_whole_number"),
    ("990101/2018/pupils.csv", 5, "negative_value"),
    ("990101/2018/pupils.csv", 6, "duplicate_key"),
    ("990101/2018/pupils.csv", 7, "unknown_school_code"),
    ("990101/2018/pupils.csv", 8, "grade_not_allowed"),
    ("990101/2018/pupils.csv", 9, "bound_violated"),
    ("990101/2018/pupils.csv", 10, "classes_zero_with_students"),
    ("990101/2018/pupils.csv", 14, "unknown_school_code"),
    ("990101/2018/schools.csv", 6, "unknown_parent_school"),
    ("990101/2018/schools.csv", 7, "parent_is_teaching_point"),
    ("990101/2018/schools.csv", 8, "missing_parent_school"),
    ("990101/2018/schools.csv", 9, "required_value_missing"),
    ("990101/2018/schools.csv", 10, "invalid_school_code"),
    ("990101/2018/schools.csv", 11, "unknown_enum_value"),
    ("990101/2018/schools.csv", 12, "duplicate_key"),
    ("990101/2018/schools.csv", 13, "year_mismatch"),
    ("990101/2018/schools.csv", 15, "parent_in_other_county"),
    ("990101/2018/survey.csv", 2, "bound_violated"),
    ("990101/2018/teachers.csv", 3, "stage_required"),
    ("990101/2018/teachers.csv", 6, "stage_not_offered"),
    ("990101/2018/teachers.csv", 7, "bound_violated"),
];

#[tokio::test]
async fn each_fault_is_quarantined_with_its_rule_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = junheng(&["run", "--source", "fixtures/bad", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "rows were rejected: exit 1\n{}\n{}", run.stdout, run.stderr);
    let ctx = published(&out).await;
    let mut got = Vec::new();
    for table in ["schools", "pupils", "teachers", "facilities", "investments", "survey"] {
        let sql = format!(
            "select regexp_replace(source_uri, '.*/fixtures/bad/', ''), source_row, rule from quarantine_{table}
             where severity = 'error' and source_row is not null"
        );
        for r in rows(&ctx, &sql).await {
            got.push((r[0].clone(), r[1].parse::<i64>().unwrap(), r[2].clone()));
        }
    }
    got.sort();
    let mut expected: Vec<(String, i64, String)> =
        EXPECTED_ERRORS.iter().map(|(f, r, x)| (f.to_string(), *r, x.to_string())).collect();
    expected.sort();
    assert_eq!(got, expected);
    // The file that cannot be decoded fails only its own slice, with one quarantine row saying why.
    let unreadable =
        rows(&ctx, "select rule, message from quarantine_pupils where source_row is null and severity = 'error'").await;
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0][0], "unreadable_file");
    assert!(
        unreadable[0][1].contains("990102/2018/pupils.csv") && unreadable[0][1].contains("offset 58"),
        "{}",
        unreadable[0][1]
    );
    // …and the same county's schools are still published.
    assert_eq!(value(&ctx, "select count(*) from staging_schools where county_code = '990102'").await, "1");
}

#[tokio::test]
async fn messages_name_file_row_and_chinese_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    junheng(&["run", "--source", "fixtures/bad", "--out", out.to_str().unwrap()]);
    let ctx = published(&out).await;
    let message = value(&ctx, "select message from quarantine_pupils where rule = 'not_a_whole_number'").await;
    assert_eq!(message, "990101/2018/pupils.csv row 4, column 在校生数: \"12o\" is not a whole number");
    // The rejected row's cells travel into quarantine as text.
    let cells = rows(&ctx, "select school_code, grade, students, \"column\", value from quarantine_pupils where rule = 'not_a_whole_number'").await;
    assert_eq!(
        cells,
        vec![vec!["9901010001", "3", "12o", "students", "12o"].into_iter().map(String::from).collect::<Vec<_>>()]
    );
}

#[tokio::test]
async fn tricky_valid_cells_are_published_with_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    junheng(&["run", "--source", "fixtures/bad", "--out", out.to_str().unwrap()]);
    let ctx = published(&out).await;
    let pupils = |school: &'static str, grade: i32| {
        let ctx = ctx.clone();
        async move {
            rows(&ctx, &format!("select students, dropouts, stage from staging_pupils where school_code = '{school}' and grade = {grade}")).await
        }
    };
    // pupils.csv row 2: full-width "４５" is 45 and "-" is not reported (null), never 0.
    assert_eq!(pupils("9901010001", 1).await, vec![vec!["45", "", "primary"]]);
    // row 3: "1,234" with a thousands separator; "—" is null.
    assert_eq!(pupils("9901010001", 2).await, vec![vec!["1234", "", "primary"]]);
    // row 11: 初一 at a nine-year school is grade 7 under 6-3, a junior grade.
    assert_eq!(pupils("9901010002", 7).await, vec![vec!["50", "0", "junior"]]);
    // facilities.csv row 2: 12.5 万元 → 125 000.00 元; "3,000" books.
    let f = rows(
        &ctx,
        "select cast(equipment_value as varchar), books from staging_facilities where school_code = '9901010001'",
    )
    .await;
    assert_eq!(f, vec![vec!["125000.00", "3000"]]);
    // finance.csv: "1,000,000.50" 元 stays exact.
    assert_eq!(value(&ctx, "select cast(recurrent_revenue as varchar) from staging_finance").await, "1000000.50");
    // investments.csv: 12.34 万元 → 123 400.00 元.
    assert_eq!(value(&ctx, "select cast(amount as varchar) from staging_investments").await, "123400.00");
    // schools.csv: Chinese enums and booleans; 民办 is a private school.
    let s = rows(&ctx, "select school_code, school_type, area_type, is_public from staging_schools where county_code = '990101' order by school_code").await;
    let s: Vec<String> = s.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        s,
        [
            "9901010001 primary urban true",
            "9901010002 nine_year town true",
            "9901010003 junior urban true",
            "9901010004 teaching_point rural true",
            "9901010013 primary urban false"
        ]
    );
    // A warning publishes its row: full-time teachers above payroll (teachers.csv row 2).
    assert_eq!(
        value(&ctx, "select full_time_teachers from staging_teachers where school_code = '9901010001'").await,
        "9"
    );
    assert_eq!(value(&ctx, "select severity from quarantine_teachers where source_row = 2").await, "warning");
    // A single-stage school's teachers get the school's stage.
    assert_eq!(value(&ctx, "select stage from staging_teachers where school_code = '9901010001'").await, "primary");
}

#[tokio::test]
async fn counts_add_up_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    junheng(&["run", "--source", "fixtures/bad", "--out", out.to_str().unwrap()]);
    let l = ledger(&out);
    // Worked out from fixtures/README.md: 45 data rows, 25 rejected, 20 published.
    assert_eq!(l["totals"]["rows_read"], 45);
    assert_eq!(l["totals"]["rows_quarantined"], 25);
    assert_eq!(l["totals"]["rows_published"], 20);
    assert_eq!(l["totals"]["files_failed"], 1);
    assert_eq!(l["status"], "published_with_rejections");
    for slice in l["slices"].as_array().unwrap() {
        assert_eq!(
            slice["rows_read"].as_u64().unwrap(),
            slice["rows_published"].as_u64().unwrap() + slice["rows_quarantined"].as_u64().unwrap(),
            "{slice}"
        );
    }
    let warnings = &l["totals"]["warnings_by_rule"];
    assert_eq!(warnings["unknown_column"], 1, "pupils.csv has a 备注 column");
    assert_eq!(warnings["total_row_mismatch"], 1, "facilities.csv's 合计 row says 150 computers, the rows sum to 140");
}

#[test]
fn validate_prints_findings_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = junheng(&["validate", "--source", "fixtures/bad"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(
            "990101/2018/pupils.csv row 4, column 在校生数: \"12o\" is not a whole number [not_a_whole_number]"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("nothing published"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
