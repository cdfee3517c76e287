//! The official indicators from the published marts: the seed report's figures and the edge
//! cases of methodology §1 and §4.

use crate::common::{edge_output, junheng, published, rows, seed_output, value};

// ---- the seed county (五大连池市): figures quoted from ../shared/seed/ ----

#[tokio::test]
async fn seed_composite_cvs_are_0_548_and_0_346() {
    // "市域内校际间均衡差异系数 小学为0.548，初中为0.346" (2018 census), 3 decimals.
    let ctx = published(&seed_output()).await;
    let got = rows(&ctx, "select stage, round(basic_composite_cv, 3), basic_passes, basic_cvs from balance_summary where year = 2018 order by stage").await;
    assert_eq!(got, vec![vec!["junior", "0.346", "true", "8"], vec!["primary", "0.548", "true", "8"]]);
    // 18 primary schools and 3 nine-year primary parts (teaching points merged) are 21 units;
    // 7 junior schools and 3 nine-year junior parts are 10.
    let units = rows(
        &ctx,
        "select stage, units, students from balance_cv where year = 2018 and indicator = 'b1' order by stage",
    )
    .await;
    assert_eq!(units, vec![vec!["junior", "10", "5145"], vec!["primary", "21", "7370"]]);
}

#[tokio::test]
async fn seed_retention_of_2014_to_2016() {
    // "巩固率小学分别为98.4%、99.6%、100.1%，初中分别为98.1%、98.7%、99.2%" for the school years
    // 2014-2015, 2015-2016, 2016-2017 (census years 2014–2016), one decimal of a percent.
    let ctx = published(&seed_output()).await;
    let got = rows(
        &ctx,
        "select stage, school_year, round(retention_rate * 100, 1) from retention
         where year between 2014 and 2016 and stage in ('primary', 'junior') order by stage desc, year",
    )
    .await;
    let expected = [
        ["primary", "2014-2015", "98.4"],
        ["primary", "2015-2016", "99.6"],
        ["primary", "2016-2017", "100.1"],
        ["junior", "2014-2015", "98.1"],
        ["junior", "2015-2016", "98.7"],
        ["junior", "2016-2017", "99.2"],
    ];
    assert_eq!(got, expected.map(|r| r.map(String::from).to_vec()).to_vec());
}

#[tokio::test]
async fn seed_dropout_of_the_same_school_years() {
    // "小学无辍学现象，初中辍学率分别为0.87%、0.96%、0.89%" for the school years 2014-2015 …
    // 2016-2017: dropouts reported at the censuses ending them (2015–2017) over the enrolment
    // of the census before (methodology §4), two decimals of a percent.
    let ctx = published(&seed_output()).await;
    let got = rows(
        &ctx,
        "select stage, school_year, round(dropout_rate * 100, 2) from dropout
         where school_year in ('2014-2015', '2015-2016', '2016-2017') order by stage desc, year",
    )
    .await;
    let expected = [
        ["primary", "2014-2015", "0.0"],
        ["primary", "2015-2016", "0.0"],
        ["primary", "2016-2017", "0.0"],
        ["junior", "2014-2015", "0.87"],
        ["junior", "2015-2016", "0.96"],
        ["junior", "2016-2017", "0.89"],
    ];
    assert_eq!(got, expected.map(|r| r.map(String::from).to_vec()).to_vec());
}

#[tokio::test]
async fn seed_three_increases_fail_in_2015_and_2016_by_the_reports_arrears() {
    // "2015年、2016年…未能实现教育'三个增长'… 2015年欠拨的7108万元… 2016年欠拨的教育经费15582万元".
    // The fixture's finance rises on every leg in every other year; 2009 has no year before it.
    let ctx = published(&seed_output()).await;
    let got = rows(&ctx, "select year, three_increases_met, appropriation_outpaces_revenue, cast(appropriation_gap as bigint) from funding order by year").await;
    let legs: Vec<(String, String, String, String)> =
        got.into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone())).collect();
    let expected = [
        ("2009", "", "", ""),
        ("2010", "true", "true", "0"),
        ("2011", "true", "true", "0"),
        ("2012", "true", "true", "0"),
        ("2013", "true", "true", "0"),
        ("2014", "true", "true", "0"),
        ("2015", "false", "false", "71080000"),
        ("2016", "false", "false", "155820000"),
        ("2017", "true", "true", "0"),
        ("2018", "true", "true", "0"),
    ];
    assert_eq!(legs, expected.map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into())).to_vec());
    // 2015's 7108万 repaid in 2018 with the first of four parts of 2016's 15582万 (3895.5万):
    // 7108 + 15582 − 7108 − 3895.5 = 11686.5万 outstanding at the end of 2018.
    assert_eq!(
        value(&ctx, "select cast(arrears_outstanding as bigint) from funding where year = 2018").await,
        "116865000"
    );
    // 两个只增不减 applies from 2018.
    assert_eq!(
        value(&ctx, "select count(*) from funding where two_never_decrease is not null and year < 2018").await,
        "0"
    );
    assert_eq!(value(&ctx, "select two_never_decrease from funding where year = 2018").await, "true");
}

#[tokio::test]
async fn seed_investment_totals_per_category() {
    // 7663万 standardisation (to 2017), 3202万 new campus (2018), 6604.4万 renovation (2015–2018),
    // 1858万 equipment with 145 530 units (2015–2018), 267.6万 teacher training (three years).
    let ctx = published(&seed_output()).await;
    let got = rows(
        &ctx,
        "select year, cast(cumulative_standardisation as bigint), cast(investment_new_building as bigint),
                cast(cumulative_renovation as bigint), cast(cumulative_equipment as bigint), cumulative_units_added,
                cast(cumulative_teacher_training as bigint)
         from funding where year in (2017, 2018) order by year",
    )
    .await;
    assert_eq!(got[0][1], "76630000", "standardisation to 2017");
    assert_eq!(got[1][1..], ["76630000", "32020000", "66044000", "18580000", "145530", "2676000"]);
}

// ---- edge cases: fixtures/edge (hand-written; numbers worked out in fixtures/README.md) ----

#[tokio::test]
async fn a_unit_without_pupils_is_excluded_and_reported() {
    // 乙学校 (nine-year) has junior teachers but no junior pupils in 2018.
    let ctx = published(&edge_output()).await;
    let unit = rows(&ctx, "select students, in_balance, excluded_reason from school_indicators where year = 2018 and unit_id = '9902010002:junior'").await;
    assert_eq!(unit, vec![vec!["0", "false", "no_pupils"]]);
    let summary = rows(&ctx, "select units_total, units_excluded_no_pupils from balance_summary where county_code = '990201' and year = 2018 and stage = 'junior'").await;
    assert_eq!(summary, vec![vec!["1", "1"]]);
    assert_eq!(value(&ctx, "select units from balance_cv where county_code = '990201' and year = 2018 and stage = 'junior' and indicator = 'b1'").await, "1");
}

#[tokio::test]
async fn a_teaching_point_merges_into_its_nine_year_parent() {
    // 丙教学点 (12 pupils in 2018) belongs to 乙学校 (109 primary pupils): one unit of 121.
    let ctx = published(&edge_output()).await;
    let unit = rows(&ctx, "select member_school_codes, teaching_points_merged, students from school_indicators where year = 2018 and unit_id = '9902010002:primary'").await;
    assert_eq!(unit, vec![vec!["9902010002,9902010003", "1", "121"]]);
    assert_eq!(value(&ctx, "select count(*) from school_indicators where unit_id like '9902010003%'").await, "0");
    // b1 of 2018 primary: 甲小学 711 m² / 237 = 3.0; 乙+丙 (400 + 20) / 121 = 3.471074;
    // X̄ = 1131 / 358 = 3.159218; S = 0.222830; CV = 0.070533.
    assert_eq!(value(&ctx, "select round(cv, 6) from balance_cv where county_code = '990201' and year = 2018 and stage = 'primary' and indicator = 'b1'").await, "0.070533");
}

#[tokio::test]
async fn whole_school_facilities_are_apportioned_by_own_enrolment() {
    // 2017: 乙学校 reports 760 m² teaching rooms without a stage; its own pupils are 109 primary
    // and 81 junior. w = 1: primary 760·109/190 = 436 (+ 30 of 丙教学点 = 466), junior 324.
    let ctx = published(&edge_output()).await;
    let got = rows(&ctx, "select unit_id, teaching_aux_area_m2 from school_indicators where year = 2017 and school_code = '9902010002' order by unit_id").await;
    assert_eq!(got, vec![vec!["9902010002:junior", "324.0"], vec!["9902010002:primary", "466.0"]]);
    // w = 1.1: primary 760·109/(109 + 1.1·81) = 418.17 (+ 30 = 448.17), junior 341.83.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("w.toml");
    let source = crate::common::repo().join("fixtures/edge");
    std::fs::write(&pipeline, format!("[source]\nurl = {:?}\n[settings]\napportion_junior_weight = 1.1\nschool_system_by_county = {{ \"990202\" = \"5-4\" }}\n", source.display().to_string())).unwrap();
    let out = dir.path().join("out");
    assert_eq!(junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]).code, 0);
    let ctx = published(&out).await;
    let got = rows(&ctx, "select unit_id, round(teaching_aux_area_m2, 2) from school_indicators where year = 2017 and school_code = '9902010002' order by unit_id").await;
    assert_eq!(got, vec![vec!["9902010002:junior", "341.83"], vec!["9902010002:primary", "448.17"]]);
    let ledger = crate::common::ledger(&out);
    assert_eq!(ledger["pipeline"]["settings"]["apportion_junior_weight"], 1.1);
}

#[tokio::test]
async fn schools_that_close_and_open_mid_series() {
    let ctx = published(&edge_output()).await;
    let got = rows(
        &ctx,
        "select year, school_code, event from school_changes where county_code = '990201' order by year, school_code",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["2017", "9902010004", "closed"],
            vec!["2017", "9902010005", "opened"],
            vec!["2018", "9902010006", "opened"]
        ]
    );
    // Units exist while their school does: 丁小学 in 2016 only, 戊中学 from 2017.
    let years = |code: &'static str| {
        let ctx = ctx.clone();
        async move {
            rows(&ctx, &format!("select year from school_indicators where school_code = '{code}' order by year"))
                .await
                .concat()
        }
    };
    assert_eq!(years("9902010004").await, ["2016"]);
    assert_eq!(years("9902010005").await, ["2017", "2018"]);
}

#[tokio::test]
async fn a_cohort_without_its_start_year_has_no_rate_and_adjusted_retention_uses_transfers() {
    let ctx = published(&edge_output()).await;
    // 990201 starts in 2016: primary 2018 needs 2013 (missing) → null, never guessed, though its
    // grade-6 pupils are known (甲 35 + 乙 18 = 53); junior 2018 = 29 grade-9 pupils ÷ 30 grade-7
    // entrants of 2016 = 0.966667.
    // The cohort definition's denominator (retention_base) is the entrants themselves.
    let got = rows(&ctx, "select stage, cohort_start_year, cohort_entrants, retention_base, final_grade_students, round(retention_rate, 6) from retention where county_code = '990201' and year = 2018 order by stage").await;
    assert_eq!(
        got,
        vec![
            vec!["junior", "2016", "30", "30", "29", "0.966667"],
            vec!["nine_year", "2010", "", "", "29", ""],
            vec!["primary", "2013", "", "", "53", ""]
        ]
    );
    // Adjusted: transfers along the cohort's path, grade 8 in 2017 (+2 − 0) and grade 9 in 2018
    // (+1 − 2): net +1, so the denominator is 30 + 1 = 31 and the rate 29 ÷ 31 = 0.935484.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("adjusted.toml");
    let source = crate::common::repo().join("fixtures/edge");
    std::fs::write(&pipeline, format!("[source]\nurl = {:?}\n[settings]\nretention_definition = \"adjusted\"\nschool_system_by_county = {{ \"990202\" = \"5-4\" }}\n", source.display().to_string())).unwrap();
    let out = dir.path().join("out");
    assert_eq!(junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]).code, 0);
    let ctx = published(&out).await;
    let got = rows(&ctx, "select net_transfers, retention_base, round(retention_rate, 6), retention_definition from retention where county_code = '990201' and year = 2018 and stage = 'junior'").await;
    assert_eq!(got, vec![vec!["1", "31", "0.935484", "adjusted"]]);
    // quality_assessment's e1 takes the same denominator (one formula, in retention).
    let got = rows(&ctx, "select numerator, denominator from quality_assessment where county_code = '990201' and year = 2018 and item = 'e1'").await;
    assert_eq!(got, vec![vec!["29.0", "31.0"]]);
}

#[tokio::test]
async fn the_first_year_of_a_series_has_no_change_and_no_rate() {
    let ctx = published(&edge_output()).await;
    // Totals: 2016 = 216 (甲) + 195 (乙) + 11 (丙) + 19 (丁) = 441; 2017 = 226 + 190 + 11 + 30 (戊) = 457.
    let got = rows(&ctx, "select year, students, change, round(change_rate, 6) from enrolment_trend where county_code = '990201' and stage = 'all' and area_type = 'all' order by year").await;
    assert_eq!(got[0], ["2016", "441", "", ""]);
    assert_eq!(got[1], ["2017", "457", "16", "0.036281"]);
    // Dropout: none in 2016 (first year); junior 2017 = 1 ÷ 85 (2016 junior) = 0.011765; junior
    // 2018 = 2 ÷ 111 = 0.018018; primary 2017 = 0 reported ÷ 356 (2016: 216 + 110 + 11 + 19) = 0;
    // primary 2018 reports no dropout cell at all, so its dropouts and rate are null (not zero)
    // over the 346 primary pupils of 2017 (226 + 109 + 11).
    let got = rows(&ctx, "select year, stage, dropouts, base_students, round(dropout_rate, 6) from dropout where county_code = '990201' order by year, stage").await;
    assert_eq!(
        got,
        vec![
            vec!["2016", "junior", "", "", ""],
            vec!["2016", "primary", "", "", ""],
            vec!["2017", "junior", "1", "85", "0.011765"],
            vec!["2017", "primary", "0", "356", "0.0"],
            vec!["2018", "junior", "2", "111", "0.018018"],
            vec!["2018", "primary", "", "346", ""],
        ]
    );
    // Funding: 2016 is the first fiscal year and 2017 is missing, so neither 2016 nor 2018 has legs.
    let legs = rows(&ctx, "select year, appropriation_outpaces_revenue, three_increases_met, appropriation_gap from funding where county_code = '990201' order by year").await;
    assert_eq!(legs, vec![vec!["2016", "", "", ""], vec!["2018", "", "", ""]]);
}

#[tokio::test]
async fn the_five_four_school_system() {
    // 990202 is 5-4 (fixtures/edge.toml): 初一 is grade 6, a junior grade; primary is grades 1–5.
    let ctx = published(&edge_output()).await;
    let got = rows(
        &ctx,
        "select students_primary, students_junior from county_overview where county_code = '990202' and year = 2018",
    )
    .await;
    assert_eq!(got, vec![vec!["144", "155"]]); // 28+29+30+29+28; 39+37+40+39
    assert_eq!(
        value(&ctx, "select stage from staging_pupils where school_code = '9902020002' and year = 2018 and grade = 6")
            .await,
        "junior"
    );
    // Junior retention: grade 9 of 2018 (39) ÷ grade-6 entrants of 2015 (40) = 0.975, four junior years.
    let got = rows(&ctx, "select school_system, entry_grade, cohort_start_year, round(retention_rate, 6) from retention where county_code = '990202' and year = 2018 and stage = 'junior'").await;
    assert_eq!(got, vec![vec!["5-4", "6", "2015", "0.975"]]);
    // Primary retention of 2018 starts in 2014, before the data: null.
    assert_eq!(value(&ctx, "select cohort_start_year || ':' || coalesce(cast(retention_rate as varchar), 'null') from retention where county_code = '990202' and year = 2018 and stage = 'primary'").await, "2014:null");
}

#[tokio::test]
async fn private_schools_count_in_totals_but_not_in_balance() {
    let ctx = published(&edge_output()).await;
    assert_eq!(
        value(&ctx, "select excluded_reason from school_indicators where unit_id = '9902010006:primary'").await,
        "private"
    );
    let got = rows(&ctx, "select units_total, units_private from balance_summary where county_code = '990201' and year = 2018 and stage = 'primary'").await;
    assert_eq!(got, vec![vec!["2", "1"]]);
    let got = rows(
        &ctx,
        "select schools_private, students from county_overview where county_code = '990201' and year = 2018",
    )
    .await;
    // 237 (甲) + 109 (乙) + 12 (丙) + 84 (戊) + 15 (己, private) = 457.
    assert_eq!(got, vec![vec!["1", "457"]]);
}

#[tokio::test]
async fn teaching_points_can_be_units_of_their_own_or_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let source = crate::common::repo().join("fixtures/edge");
    for (mode, expected) in [
        // A unit of its own, in balance, but below the 50-pupil minimum of the standards test.
        ("separate", vec!["9902010003:primary", "12", "true", "", "false"]),
        // Out of the balance indicators (still in county totals).
        ("exclude", vec!["9902010003:primary", "12", "false", "teaching_point_excluded", "false"]),
    ] {
        let pipeline = dir.path().join(format!("{mode}.toml"));
        std::fs::write(&pipeline, format!("[source]\nurl = {:?}\n[settings]\nteaching_points = {mode:?}\nschool_system_by_county = {{ \"990202\" = \"5-4\" }}\n", source.display().to_string())).unwrap();
        let out = dir.path().join(mode);
        assert_eq!(junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]).code, 0);
        let ctx = published(&out).await;
        let got = rows(
            &ctx,
            "select i.unit_id, i.students, i.in_balance, i.excluded_reason, s.in_standards_test
             from school_indicators i join school_standards s on i.unit_id = s.unit_id and i.year = s.year
             where i.year = 2018 and i.school_code = '9902010003'",
        )
        .await;
        assert_eq!(got, vec![expected.into_iter().map(String::from).collect::<Vec<_>>()], "{mode}");
        // 乙学校's primary unit no longer includes the teaching point's 12 pupils.
        assert_eq!(
            value(&ctx, "select students from school_indicators where year = 2018 and unit_id = '9902010002:primary'")
                .await,
            "109",
            "{mode}"
        );
        assert_eq!(
            value(&ctx, "select students from county_overview where county_code = '990201' and year = 2018").await,
            "457",
            "{mode}: county totals keep it"
        );
        assert_eq!(crate::common::ledger(&out)["pipeline"]["settings"]["teaching_points"], mode);
    }
}

#[tokio::test]
async fn the_provincial_building_standard_is_applied_when_a_pipeline_sets_it() {
    // pipelines/wudalianchi.toml sets 黑龙江's 4.1 m² (primary) and 5.2 m² (junior) per pupil.
    let ctx = published(&seed_output()).await;
    let got = rows(&ctx, "select stage, building_area_per_pupil_min, building_area_meets_standard from equipment_trend where year = 2018 and stage <> 'all' order by stage").await;
    assert_eq!(got, vec![vec!["junior", "5.2", "true"], vec!["primary", "4.1", "true"]]);
    // The standard layout without a pipeline file has no provincial standard.
    let ctx = published(&edge_output()).await;
    assert_eq!(value(&ctx, "select count(building_area_per_pupil_min) from equipment_trend").await, "0");
}
