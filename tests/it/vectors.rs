//! methodology.md §7's test vectors, run through the real SQL models: each model is fed its
//! input as an in-memory table (as dbt unit-tests a model) and its output is checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use junheng::pipeline::Pipeline;
use junheng::transform::{Model, views_session};

use crate::common::rows;

/// Replace a table (or model view) of the session by `batch`.
fn replace(ctx: &SessionContext, name: &str, batch: RecordBatch) {
    ctx.deregister_table(name).unwrap();
    ctx.register_table(name, Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap())).unwrap();
}

/// Run a model's SQL and register its result under its name (so the next model reads it).
async fn run(ctx: &SessionContext, models: &[Model], name: &str) {
    let model = models.iter().find(|m| m.name == name).unwrap();
    let df = ctx.sql(&model.sql).await.unwrap();
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap();
    ctx.deregister_table(name).unwrap();
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches]).unwrap())).unwrap();
}

/// One row of `int_unit_indicator_values`: (stage, scheme, indicator, unit, pupils, value).
type UnitValue = (&'static str, &'static str, &'static str, String, f64, f64);

/// `int_unit_indicator_values` rows.
fn unit_values(rows: &[UnitValue]) -> RecordBatch {
    let text =
        |f: &dyn Fn(&UnitValue) -> String| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(f))) };
    RecordBatch::try_from_iter(vec![
        ("county_code", text(&|_| "340100".into())),
        ("year", Arc::new(datafusion::arrow::array::Int32Array::from(vec![2023; rows.len()])) as ArrayRef),
        ("stage", text(&|r| r.0.into())),
        ("unit_id", text(&|r| r.3.clone())),
        ("scheme", text(&|r| r.1.into())),
        ("indicator", text(&|r| r.2.into())),
        ("pupils", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))) as ArrayRef),
        ("value", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.5))) as ArrayRef),
    ])
    .unwrap()
}

/// Two units of equal size with values 1 − c and 1 + c: weighted mean 1, population SD c, CV c.
fn units_with_cv(
    stage: &'static str,
    scheme: &'static str,
    indicator: &'static str,
    cv: f64,
) -> Vec<(&'static str, &'static str, &'static str, String, f64, f64)> {
    vec![
        (stage, scheme, indicator, format!("a:{indicator}"), 100.0, 1.0 - cv),
        (stage, scheme, indicator, format!("b:{indicator}"), 100.0, 1.0 + cv),
    ]
}

async fn session() -> (SessionContext, Vec<Model>) {
    views_session(&Pipeline::standard("unused"), &BTreeSet::new()).await.unwrap()
}

#[tokio::test]
async fn the_weighted_cv_of_five_schools_books_is_0_515257_not_the_unweighted_one() {
    // methodology.md §7: books per pupil of 小学1–5 with 45, 37, 89, 76, 55 pupils and 279, 137,
    // 935, 160, 402 books. X̄ = 1913 / 302 = 6.334437; S = 3.263861; CV = 0.515257. The
    // unweighted CV of the same data (population SD) is 0.48877 — the wrong answer.
    let (ctx, models) = session().await;
    let schools = [(45.0, 279.0), (37.0, 137.0), (89.0, 935.0), (76.0, 160.0), (55.0, 402.0)];
    let input: Vec<_> = schools
        .iter()
        .enumerate()
        .map(|(i, (p, books))| ("primary", "basic", "b5", format!("小学{}", i + 1), *p, books / p))
        .collect();
    replace(&ctx, "int_unit_indicator_values", unit_values(&input));
    run(&ctx, &models, "int_unit_cv_terms").await;
    run(&ctx, &models, "int_weighted_cv").await;
    run(&ctx, &models, "balance_cv").await;
    let got =
        rows(&ctx, "select units, students, round(mean, 6), round(sd, 6), round(cv, 6), cv from balance_cv").await;
    assert_eq!(got[0][..5], ["5", "302", "6.334437", "3.263861", "0.515257"]);
    let cv: f64 = got[0][5].parse().unwrap();
    assert!((cv - 0.48877).abs() > 0.02, "an unweighted CV came out: {cv}");
}

#[tokio::test]
async fn the_composite_is_the_plain_mean_of_the_eight_cvs() {
    // methodology.md §7, published county tables: b1 … b8 and the composite (3 decimals).
    let counties = [
        ("primary", [0.881, 1.299, 0.977, 0.379, 0.170, 0.334, 0.286, 0.408], "0.592", "true"), // 合肥庐阳区
        ("junior", [0.505, 0.484, 0.325, 0.275, 0.199, 0.715, 0.421, 1.021], "0.493", "true"),  // 合肥蜀山区
        ("primary", [0.393, 0.578, 0.372, 0.246, 0.208, 0.311, 0.311, 0.455], "0.359", "true"), // 长春南关区
    ];
    for (stage, cvs, composite, passes) in counties {
        let (ctx, models) = session().await;
        let names = ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"];
        // Two units per indicator give each CV exactly (values may go below 0; the formula does not care).
        let input: Vec<_> = names.iter().zip(cvs).flat_map(|(n, cv)| units_with_cv(stage, "basic", n, cv)).collect();
        replace(&ctx, "int_unit_indicator_values", unit_values(&input));
        run(&ctx, &models, "int_unit_cv_terms").await;
        run(&ctx, &models, "int_weighted_cv").await;
        run(&ctx, &models, "balance_cv").await;
        run(&ctx, &models, "balance_summary").await;
        let got = rows(&ctx, "select basic_cvs, round(basic_composite_cv, 3), basic_passes from balance_summary").await;
        assert_eq!(got, vec![vec!["8".to_owned(), composite.to_owned(), passes.to_owned()]], "{stage} {cvs:?}");
    }
}

#[tokio::test]
async fn quality_fails_on_one_indicator_although_the_mean_is_low() {
    // methodology.md §7: 鸠江区 2023 primary, q1 … q7. The mean 0.367503 is far below 0.50 but
    // q2 = 0.501787 > 0.50, so the resource part fails: the test is per indicator.
    let (ctx, models) = session().await;
    let cvs = [0.297929, 0.501787, 0.401952, 0.288419, 0.375450, 0.312782, 0.394205];
    let names = ["q1", "q2", "q3", "q4", "q5", "q6", "q7"];
    let input: Vec<_> = names.iter().zip(cvs).flat_map(|(n, cv)| units_with_cv("primary", "quality", n, cv)).collect();
    replace(&ctx, "int_unit_indicator_values", unit_values(&input));
    run(&ctx, &models, "int_unit_cv_terms").await;
    run(&ctx, &models, "int_weighted_cv").await;
    run(&ctx, &models, "balance_cv").await;
    run(&ctx, &models, "balance_summary").await;
    let got = rows(&ctx, "select quality_cvs, round(quality_mean_cv, 6), round(quality_max_cv, 6), quality_failing_indicators, quality_resource_passes from balance_summary").await;
    assert_eq!(got, vec![vec!["7", "0.367503", "0.501787", "q2", "false"]]);
    let q2 = rows(&ctx, "select threshold, passes from balance_cv where indicator = 'q2'").await;
    assert_eq!(q2, vec![vec!["0.5", "false"]]);
}

/// `int_teachers_by_school_stage` over three schools' teachers rows — A (nine-year, 45 primary and
/// 15 junior pupils, no stage), B (primary, its stage given, 30 pupils), C (no pupils, no stage) —
/// with `full` full-time and `backbone` backbone teachers each (staging typed as `pipeline`
/// counts staff): (school, stage or "-", full-time, backbone, source row), ordered.
async fn teachers_split(pipeline: &Pipeline, full: [ArrayRef; 2]) -> Vec<Vec<String>> {
    use datafusion::arrow::array::{Int32Array, Int64Array};
    let (ctx, models) = views_session(pipeline, &BTreeSet::new()).await.unwrap();
    let ints = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let texts = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let pupils = RecordBatch::try_from_iter(vec![
        ("year", Arc::new(Int32Array::from(vec![2023, 2023, 2023])) as ArrayRef),
        ("school_code", texts(vec![Some("A"), Some("A"), Some("B")])),
        ("stage", texts(vec![Some("primary"), Some("junior"), Some("primary")])),
        ("students", ints(vec![Some(45), Some(15), Some(30)])),
    ])
    .unwrap();
    replace(&ctx, "int_pupils_by_school_stage", pupils);
    let empty = ctx.table("teachers").await.unwrap().schema().as_arrow().clone();
    let [full_time, backbone] = full;
    let column = |name: &str| -> ArrayRef {
        match name {
            "county_code" => texts(vec![Some("340100"); 3]),
            "year" => Arc::new(Int32Array::from(vec![2023; 3])),
            "school_code" => texts(vec![Some("A"), Some("B"), Some("C")]),
            "stage" => texts(vec![None, Some("primary"), None]),
            "full_time_teachers" => full_time.clone(),
            "backbone_teachers" => backbone.clone(),
            "source_uri" | "run_id" => texts(vec![Some("t.csv"); 3]),
            "source_row" => ints(vec![Some(2), Some(3), Some(4)]),
            other => datafusion::arrow::array::new_null_array(empty.field_with_name(other).unwrap().data_type(), 3),
        }
    };
    let columns: Vec<ArrayRef> = empty.fields().iter().map(|f| column(f.name())).collect();
    replace(&ctx, "teachers", RecordBatch::try_new(Arc::new(empty.clone()), columns).unwrap());
    run(&ctx, &models, "stg_teachers").await;
    run(&ctx, &models, "int_teachers_by_school_stage").await;
    rows(
        &ctx,
        "select school_code, coalesce(stage, '-'), full_time_teachers, backbone_teachers, source_row, \
         arrow_typeof(full_time_teachers) from int_teachers_by_school_stage order by 1, 2 desc",
    )
    .await
}

#[tokio::test]
async fn a_school_counted_once_has_its_teachers_split_by_its_pupils_in_whole_teachers() {
    // School A reports 9 full-time teachers and 4 backbone teachers without a stage: primary
    // round(9 · 45/60) = round(6.75) = 7, junior 9 − 7 = 2; backbone round(4 · 0.75) = 3 and 1.
    // B's row with its stage passes through unchanged; C's, without pupils, keeps its null stage.
    use datafusion::arrow::array::Int64Array;
    let ints = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let full = [ints(vec![Some(9), Some(3), Some(2)]), ints(vec![Some(4), Some(1), None])];
    let got = teachers_split(&Pipeline::standard("unused"), full).await;
    let want = [
        ["A", "primary", "7", "3", "2", "Int64"],
        ["A", "junior", "2", "1", "2", "Int64"],
        ["B", "primary", "3", "1", "3", "Int64"],
        ["C", "-", "2", "", "4", "Int64"],
    ];
    assert_eq!(got, want.map(|r| r.map(str::to_owned).to_vec()).to_vec());
}

#[tokio::test]
async fn full_time_equivalents_are_split_in_hundredths_and_stay_fractional() {
    // With teacher_counts = "fte", A reports 9.5 FTE and 4.25 backbone FTE without a stage:
    // primary round(9.5 · 0.75, 2) = round(7.125, 2) = 7.13 (half away from zero), junior
    // 9.5 − 7.13 = 2.37; backbone round(4.25 · 0.75, 2) = round(3.1875, 2) = 3.19 and 1.06. The
    // parts still add up to what was reported; B's 3.5 and C's 2.25 pass through.
    let mut pipeline = Pipeline::standard("unused");
    pipeline.settings.teacher_counts = junheng::pipeline::TeacherCounts::Fte;
    let floats = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let full = [floats(vec![Some(9.5), Some(3.5), Some(2.25)]), floats(vec![Some(4.25), Some(1.0), None])];
    let got = teachers_split(&pipeline, full).await;
    let number = |s: &str| s.parse::<f64>().ok();
    let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    };
    let want = [
        ("A", "primary", Some(7.13), Some(3.19)),
        ("A", "junior", Some(2.37), Some(1.06)),
        ("B", "primary", Some(3.5), Some(1.0)),
        ("C", "-", Some(2.25), None),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (row, (school, stage, full_time, backbone)) in got.iter().zip(want) {
        assert_eq!((row[0].as_str(), row[1].as_str(), row[5].as_str()), (school, stage, "Float64"), "{got:?}");
        assert!(near(number(&row[2]), full_time) && near(number(&row[3]), backbone), "{got:?}");
    }
}
