//! The quality-balance assessment (assessment.md): the statuses of the example county worked out
//! by hand from its fixture, the status precedence on a small county sent as counties send it
//! (GBK, Chinese headers, levels written Ⅲ级 / III / 水平Ⅳ, rates written 14.9%), a submission
//! without any of the new inputs, evidence in the ledger (SHA-256, changed and removed files),
//! `explain item`, and the application workbook read back by openpyxl.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common::{edge_output, junheng, ledger, published, rows, seed_output};
use crate::interop::python;

/// (status, value rounded to 4 decimals) of an item of `quality_assessment`.
async fn status(
    ctx: &datafusion::prelude::SessionContext,
    county: &str,
    year: i32,
    item: &str,
    stage: &str,
) -> (String, String) {
    let r = rows(
        ctx,
        &format!(
            "select status, coalesce(cast(round(value, 4) as varchar), 'null') from quality_assessment \
             where county_code = '{county}' and year = {year} and item = '{item}' and stage = '{stage}'"
        ),
    )
    .await;
    assert_eq!(r.len(), 1, "{county} {year} {item} {stage}: {r:?}");
    (r[0][0].clone(), r[0][1].clone())
}

fn s(status: &str, value: &str) -> (String, String) {
    (status.to_owned(), value.to_owned())
}

#[tokio::test]
async fn the_example_county_shows_every_status_worked_out_by_hand() {
    let ctx = published(&seed_output()).await;
    let c = "231182";
    // County ratios, from fixtures/wudalianchi/231182/<year>/县级指标.csv:
    // g7 = 特殊教育学校公用经费 ÷ 在校生数: 2017 230 000 ÷ 40 = 5 750 < 6 000; 2018 268 800 ÷ 42 = 6 400;
    // 2016 has no special-education pupils (0): nothing to assess.
    assert_eq!(status(&ctx, c, 2016, "g7", "all").await, s("not_applicable", "null"));
    assert_eq!(status(&ctx, c, 2017, "g7", "all").await, s("not_met", "5750.0"));
    assert_eq!(status(&ctx, c, 2018, "g7", "all").await, s("met", "6400.0"));
    // g14 = 分配到初中学校的招生名额 ÷ 招生计划数: 2017 270 ÷ 600 = 0.45 < 0.5; 2018 320 ÷ 600 = 0.5333;
    // 2016 plan 0.
    assert_eq!(status(&ctx, c, 2016, "g14", "all").await, s("not_applicable", "null"));
    assert_eq!(status(&ctx, c, 2017, "g14", "all").await, s("not_met", "0.45"));
    assert_eq!(status(&ctx, c, 2018, "g14", "all").await, s("met", "0.5333"));
    // e2 = 残疾儿童少年入学人数 ÷ 适龄残疾儿童少年数: 2017 55 ÷ 60 = 0.9167; 2018 60 ÷ 62 = 0.9677;
    // 2016 left both blank.
    assert_eq!(status(&ctx, c, 2016, "e2", "all").await, s("not_reported", "null"));
    assert_eq!(status(&ctx, c, 2017, "e2", "all").await, s("not_met", "0.9167"));
    assert_eq!(status(&ctx, c, 2018, "e2", "all").await, s("met", "0.9677"));
    // g8 = finance 教职工年人均工资 ÷ 公务员平均工资收入: 2017 51 800 ÷ 52 600 = 0.9848;
    // 2018 54 400 ÷ 53 800 = 1.0112; 2016 has no civil-servant salary.
    assert_eq!(status(&ctx, c, 2016, "g8", "all").await, s("not_reported", "null"));
    assert_eq!(status(&ctx, c, 2017, "g8", "all").await, s("not_met", "0.9848"));
    assert_eq!(status(&ctx, c, 2018, "g8", "all").await, s("met", "1.0112"));
    // e9 = monitoring rows with level ≥ Ⅲ and rate < 0.15 ÷ rows (质量监测.csv): 2017 科学 and 德育 at
    // 三级 / Ⅲ / 四级 / IV with rates 0.06–0.12: 4 of 4; 2018 体育 grade 8 at 水平Ⅱ: 3 of 4; 2016 no
    // monitoring table.
    assert_eq!(status(&ctx, c, 2016, "e9", "all").await, s("not_reported", "null"));
    assert_eq!(status(&ctx, c, 2017, "e9", "all").await, s("met", "1.0"));
    assert_eq!(status(&ctx, c, 2018, "e9", "all").await, s("not_met", "0.75"));
    // s1 = 满意问卷数 ÷ 有效问卷 (survey.csv 2018): 936 ÷ 975 = 0.96.
    assert_eq!(status(&ctx, c, 2018, "s1", "all").await, s("met", "0.96"));
    // g5 junior, 2018: 第一中学's grade 9 has a class of 52 > 50, one of the 30 junior grade rows.
    assert_eq!(status(&ctx, c, 2018, "g5", "junior").await, s("not_met", "0.9667"));
    // g6, 2018: 北山村教学点 (8 pupils) has 4 800 元, below 100 × 600 元; 27 of 28 small schools meet.
    assert_eq!(status(&ctx, c, 2018, "g6", "all").await, s("not_met", "0.9643"));
    // g3, 2017: 第一小学 has one music room too few (its art rooms not reported) — the failure wins
    // over 兴隆镇中学, which reported neither.
    let g3 = rows(
        &ctx,
        "select status, assessed, failing, missing from quality_assessment where year = 2017 and item = 'g3'",
    )
    .await;
    assert_eq!(g3[0][0], "not_met");
    assert_eq!((g3[0][2].as_str(), g3[0][3].as_str()), ("1", "1"), "{g3:?}");
    // 2016 has no room columns at all: not reported, never zero.
    assert_eq!(status(&ctx, c, 2016, "g3", "all").await.0, "not_reported");
    // Evidence: 2017 has g1 only; 2018 has six of the eight document items (e6, e8 missing).
    assert_eq!(status(&ctx, c, 2017, "g1", "all").await, s("evidence_submitted", "1.0"));
    assert_eq!(status(&ctx, c, 2017, "g2", "all").await, s("evidence_missing", "0.0"));
    assert_eq!(status(&ctx, c, 2018, "g1", "all").await, s("evidence_submitted", "2.0"));
    assert_eq!(status(&ctx, c, 2018, "e6", "all").await.0, "evidence_missing");
    // Before 2016 nothing new was collected: the items needing new inputs are not reported, the
    // ones computable from the basic tables (g4, e1, s1, q1–q7) are decided.
    assert_eq!(status(&ctx, c, 2015, "g9", "all").await, s("not_reported", "null"));
    assert_eq!(status(&ctx, c, 2015, "g4", "all").await.0, "met");
    // Every status occurs.
    let statuses = rows(&ctx, "select distinct status from quality_assessment order by status").await;
    let statuses: Vec<&str> = statuses.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        statuses,
        ["evidence_missing", "evidence_submitted", "met", "not_applicable", "not_met", "not_reported"]
    );
    // The summary counts computed rows per part. 2018 has 44 rows, 8 of them evidence items, so 36
    // computed: not met are the CVs q1, q4, q5, q6 primary and q7 junior (balance_cv), q_units of both
    // stages, g5 junior, g6 and e9 (above) — 10; nothing is left to fill in, so 26 are met. Evidence:
    // g1, g2, g10, e3, e5, e7 submitted, e6 and e8 missing (fixtures/README.md).
    let summary = rows(
        &ctx,
        "select resources_met + government_met + quality_met + recognition_met,
                resources_not_met + government_not_met + quality_not_met + recognition_not_met,
                resources_not_reported + government_not_reported + quality_not_reported + recognition_not_reported,
                evidence_submitted, evidence_missing, computed_met, evidence_complete
         from quality_assessment_summary where year = 2018",
    )
    .await;
    assert_eq!(summary, vec![vec!["26", "10", "0", "6", "2", "false", "false"]]);
}

/// A county-year folder written as a county sends it: GBK, Chinese headers.
fn write_gbk(dir: &Path, name: &str, lines: &[&str]) {
    let text = lines.join("\r\n") + "\r\n";
    let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A small county (990301, 2018) for the status precedence; `rooms` is 甲小学's music and art
/// rooms (`"0,"`: one too few and art not reported).
fn small_county(root: &Path, rooms_of_jia: &str) {
    let d = root.join("990301/2018");
    write_gbk(
        &d,
        "schools.csv",
        &[
            "年份,县区代码,县区名称,学校标识码,学校名称,办学类型,城乡分类,所属学校标识码,是否公办,是否寄宿制学校",
            "2018,990301,均衡县,9903010001,甲小学,primary,urban,,是,否",
            "2018,990301,均衡县,9903010002,乙小学,primary,rural,,是,否",
            "2018,990301,均衡县,9903010003,丙教学点,teaching_point,rural,9903010002,是,否",
            "2018,990301,均衡县,9903010004,丁中学,junior,town,,是,是",
        ],
    );
    let mut pupils = vec!["年份,学校标识码,年级,在校生数,班数,招生数,最大班额,划片入学人数".to_owned()];
    for g in 1..=6 {
        // 甲: 90 pupils in 2 classes a grade, a class of 46 in grade 3 (over 45); entrants 90, all by catchment.
        let largest = if g == 3 { 46 } else { 45 };
        let entry = if g == 1 { "90,45,90" } else { ",45," };
        let entry = if g == 1 { entry.to_owned() } else { format!(",{largest},") };
        pupils.push(format!("2018,9903010001,{g},90,2,{entry}"));
        pupils.push(format!("2018,9903010002,{g},40,1,{},40,", if g == 1 { "40" } else { "" }));
    }
    pupils.push("2018,9903010003,1,5,1,5,5,".into());
    pupils.push("2018,9903010003,2,5,1,,5,".into());
    for g in 7..=9 {
        pupils.push(format!(
            "2018,9903010004,{g},100,2,{},50,{}",
            if g == 7 { "100" } else { "" },
            if g == 7 { "96" } else { "" }
        ));
    }
    let pupils: Vec<&str> = pupils.iter().map(String::as_str).collect();
    write_gbk(&d, "pupils.csv", &pupils);
    write_gbk(
        &d,
        "facilities.csv",
        &[
            "年份,学校标识码,学段,占地面积,校舍建筑面积,教学及辅助用房面积,体育运动场馆面积,教学仪器设备值,图书册数,计算机台数,网络多媒体教室数,音乐专用教室数,美术专用教室数",
            &format!("2018,9903010001,primary,20000,6000,3000,8000,1200000,30000,80,12,{rooms_of_jia}"),
            "2018,9903010002,primary,9000,2000,1000,4000,400000,10000,30,6,1,",
            "2018,9903010003,primary,800,200,100,400,20000,500,2,1,,",
            "2018,9903010004,junior,15000,5000,2500,7000,1000000,20000,60,6,1,1",
        ],
    );
    write_gbk(
        &d,
        "学校经费.csv",
        &[
            "年份,学校标识码,年度公用经费预算,教师培训经费",
            "2018,9903010001,100000,5000",
            "2018,9903010002,50000,2000",
            "2018,9903010003,30000,",
            "2018,9903010004,80000,4000",
        ],
    );
    write_gbk(
        &d,
        "县级指标.csv",
        &[
            "年份,县区代码,公务员平均工资收入,特殊教育学校在校生数,特殊教育学校公用经费,小学生均公用经费基准定额,初中生均公用经费基准定额,优质普通高中招生计划数,分配到初中学校的招生名额,分配到农村初中的名额,符合条件的随迁子女数,在政府购买学位民办学校就读的随迁子女数,适龄残疾儿童少年数,残疾儿童少年入学人数",
            "2018,990301,60000,0,,600,800,200,100,60,0,,20,19",
        ],
    );
    write_gbk(
        &d,
        "质量监测.csv",
        &[
            "年份,县区代码,科目,年级,学业水平,校际差异率",
            "2018,990301,数学,四年级,水平Ⅲ,14.9%",
            "2018,990301,语文,八年级,Ⅲ级,15%",
            "2018,990301,科学,八年级,III,0.1",
        ],
    );
    std::fs::create_dir_all(d.join("evidence/g1-规划布局")).unwrap();
    std::fs::write(d.join("evidence/g1-规划布局/布局规划.pdf"), b"%PDF-1.4 plan").unwrap();
    std::fs::create_dir_all(d.join("evidence/其他")).unwrap();
    std::fs::write(d.join("evidence/其他/说明.txt"), "未标明指标").unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn status_precedence_on_a_county_sent_in_gbk_with_chinese_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    small_county(&src, "0,");
    let run = junheng(&["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(run.code <= 1, "{}\n{}", run.stdout, run.stderr);
    let ctx = published(&out).await;
    let c = "990301";
    let counts = |item: &'static str| {
        let ctx = ctx.clone();
        async move {
            rows(&ctx, &format!("select status, numerator, denominator, assessed, failing, missing from quality_assessment where item = '{item}'")).await
        }
    };
    // g3: 甲 (12 classes → 1 room each) has 0 music rooms, art not reported: it fails all the same;
    // 乙 (6 classes) did not report art rooms: missing; 丁 has 1 and 1: meets. A failure wins over a
    // gap: not_met, 1 of 3 meets. The teaching point is not a school of g3.
    assert_eq!(counts("g3").await, vec![vec!["not_met", "1.0", "3.0", "3", "1", "1"]]);
    // g5 primary: 甲's grade 3 has a class of 46 > 45; 12 + 2 grade rows with classes (the
    // teaching point's included): 13 of 14.
    let g5 = rows(
        &ctx,
        "select status, numerator, denominator from quality_assessment where item = 'g5' and stage = 'primary'",
    )
    .await;
    assert_eq!(g5, vec![vec!["not_met", "13.0", "14.0"]]);
    // g6: the rural teaching point (10 pupils < 100) has 30 000 元 < 100 × 600 元; 乙 (240 pupils) is
    // not small. 0 of 1.
    assert_eq!(counts("g6").await, vec![vec!["not_met", "0.0", "1.0", "1", "1", "0"]]);
    // e4: training ≥ 5 % of the budget: 甲 5 000 = 5 % of 100 000 (exact: meets), 乙 2 000 = 4 % fails,
    // 丙 not reported, 丁 4 000 = 5 %. Failure wins: 2 of 4.
    assert_eq!(counts("e4").await, vec![vec!["not_met", "2.0", "4.0", "4", "1", "1"]]);
    // g7: no special-education pupils (0) — not applicable even with the funds blank.
    assert_eq!(status(&ctx, c, 2018, "g7", "all").await, s("not_applicable", "null"));
    // g14: 100 ÷ 200 = 0.5 ≥ 0.5 (exact comparison); e2: 19 ÷ 20 = 0.95 ≥ 0.95.
    assert_eq!(status(&ctx, c, 2018, "g14", "all").await, s("met", "0.5"));
    assert_eq!(status(&ctx, c, 2018, "e2", "all").await, s("met", "0.95"));
    // g15: 0 eligible migrant children — nothing to assess.
    assert_eq!(status(&ctx, c, 2018, "g15", "all").await.0, "not_applicable");
    // e9: 水平Ⅲ with 14.9 % meets; Ⅲ级 with 15 % fails (strictly below 0.15); III with 0.1 meets: 2 of 3.
    assert_eq!(status(&ctx, c, 2018, "e9", "all").await, s("not_met", "0.6667"));
    // g13 primary: 甲 is the only urban or town non-boarding primary school: 90 of 90 by catchment.
    assert_eq!(status(&ctx, c, 2018, "g13", "primary").await, s("met", "1.0"));
    // No teachers, finance or survey table: g8, g9, g12, s1 are to be filled in, never zero.
    for item in ["g8", "g9", "g12", "s1"] {
        assert_eq!(status(&ctx, c, 2018, item, "all").await, s("not_reported", "null"), "{item}");
    }
    // Evidence: one file under g1, its SHA-256 in the ledger; a folder naming no item is a warning.
    let l = ledger(&out);
    let evidence = l["evidence"].as_array().unwrap();
    let plan = evidence.iter().find(|e| e["item"] == "g1").expect("g1 evidence in the ledger");
    assert_eq!(plan["sha256"], sha256(b"%PDF-1.4 plan"));
    assert_eq!(plan["size"], 13);
    assert!(l["warnings"].to_string().contains("其他"), "{}", l["warnings"]);
    assert_eq!(status(&ctx, c, 2018, "g1", "all").await, s("evidence_submitted", "1.0"));

    // explain item: every assessed school of g3 with its inputs, and the source file, sheet, row.
    let explained =
        junheng(&["explain", "--out", out.to_str().unwrap(), "item", "--county", c, "--year", "2018", "--item", "g3"]);
    assert_eq!(explained.code, 0, "{}", explained.stderr);
    assert!(explained.stdout.contains("status not_met"), "{}", explained.stdout);
    assert!(
        explained.stdout.contains("甲小学") && explained.stdout.contains("990301/2018/facilities.csv"),
        "{}",
        explained.stdout
    );

    // The application workbook: seven sheets, g6 shaded, g8 待填报 (openpyxl reads it back).
    let apply = dir.path().join("apply");
    let export = junheng(&["export", "--out", out.to_str().unwrap(), "--county", c, "--to", apply.to_str().unwrap()]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let book = apply.join("990301_2018_优质均衡申报表.xlsx");
    assert!(book.exists(), "{}", export.stdout);
    if let Some(python) = python() {
        let check = std::process::Command::new(&python)
            .arg("-c")
            .arg(
                r#"
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
assert wb.sheetnames == ['资源配置', '差异系数', '政府保障程度', '教育质量', '社会认可度', '佐证材料', '差距清单'], wb.sheetnames
rows = {r[0].value + ':' + r[1].value: r for r in wb['政府保障程度'].iter_rows(min_row=4) if r[0].value}
g6 = rows['g6:合计']
assert g6[10].value == '未达标' and g6[3].fill.fgColor.rgb.endswith('F8CBAD'), (g6[10].value, g6[3].fill.fgColor.rgb)
assert rows['g8:合计'][3].value == '待填报'
files = [r[1].value for r in wb['佐证材料'].iter_rows(min_row=4)]
assert any(f and f.endswith('布局规划.pdf') for f in files), files
print('ok')
"#,
            )
            .arg(&book)
            .output()
            .expect("run python");
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    }

    // Re-submitted: 甲 now has its rooms, 乙 still not its art rooms — no failure left, one gap:
    // not_reported (2 of 3 meet; nothing reported is never counted as met or failed). The evidence
    // file changed and the item-less one was removed: the next run says so.
    small_county(&src, "1,1");
    std::fs::write(src.join("990301/2018/evidence/g1-规划布局/布局规划.pdf"), b"%PDF-1.4 plan v2").unwrap();
    std::fs::remove_dir_all(src.join("990301/2018/evidence/其他")).unwrap();
    let rerun = junheng(&["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(rerun.code <= 1, "{}\n{}", rerun.stdout, rerun.stderr);
    assert!(rerun.stdout.contains("布局规划.pdf"), "the plan names the changed evidence: {}", rerun.stdout);
    let ctx = published(&out).await;
    let g3 =
        rows(&ctx, "select status, numerator, denominator, failing, missing from quality_assessment where item = 'g3'")
            .await;
    assert_eq!(g3, vec![vec!["not_reported", "2.0", "3.0", "0", "1"]]);
    let l = ledger(&out);
    let plan = l["evidence"].as_array().unwrap().iter().find(|e| e["item"] == "g1").unwrap().clone();
    assert_eq!(
        (plan["state"].as_str(), plan["sha256"].as_str()),
        (Some("changed"), Some(sha256(b"%PDF-1.4 plan v2").as_str()))
    );
    assert!(l["evidence_removed"].to_string().contains("说明.txt"), "{}", l["evidence_removed"]);
}

#[tokio::test]
async fn a_submission_without_the_new_inputs_shows_them_to_be_filled_in() {
    // The edge fixture predates the assessment: no new column, table or evidence. Every item
    // needing them is not_reported, every evidence item missing; g4 (school size) is decided.
    let ctx = published(&edge_output()).await;
    let r = rows(
        &ctx,
        "select distinct item from quality_assessment where county_code = '990201' and year = 2018 and status = 'not_reported' order by item",
    )
    .await;
    let items: Vec<&str> = r.iter().map(|r| r[0].as_str()).collect();
    for item in ["e2", "e4", "e9", "g3", "g5", "g6", "g7", "g8", "g9", "g12", "g13", "g14", "g15"] {
        assert!(items.contains(&item), "{item} not reported: {items:?}");
    }
    let evidence = rows(&ctx, "select distinct status from quality_assessment where kind = 'evidence'").await;
    assert_eq!(evidence, vec![vec!["evidence_missing"]]);
    assert_eq!(status(&ctx, "990201", 2018, "g4", "all").await.0, "met");
}

#[tokio::test]
async fn the_new_inputs_leave_every_existing_mart_as_it_was() {
    // The example county with its assessment data stripped (the new files, folders and trailing
    // columns removed) publishes the same existing marts as the full example: the new inputs feed
    // the new marts only.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let county = crate::common::repo().join("fixtures/wudalianchi");
    copy_without_assessment(&county, &src);
    let out = dir.path().join("out");
    let run = junheng(&[
        "run",
        "pipelines/wudalianchi.toml",
        "--source",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.code <= 1, "{}\n{}", run.stdout, run.stderr);
    let full = seed_output();
    let new_marts = [
        "quality_assessment",
        "quality_assessment_summary",
        "school_conditions",
        "standards_gap",
        "standards_gap_totals",
    ];
    crate::common::assert_same_marts_except(&out, &full, &new_marts, "stripped vs full");
}

/// Copy a county tree leaving out the assessment's files, evidence folders and new columns.
fn copy_without_assessment(from: &Path, to: &Path) {
    const NEW_COLUMNS: [&str; 8] = [
        "is_boarding",
        "largest_class",
        "entrants_in_catchment",
        "certified_teachers",
        "trained_360h",
        "exchange_eligible",
        "音乐专用教室数",
        "美术专用教室(间)",
    ];
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let name = rel.to_string_lossy();
        if name.contains("evidence") || ["学校经费", "县级指标", "质量监测"].iter().any(|t| name.contains(t))
        {
            continue;
        }
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(&entry).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let keep: Vec<usize> = (0..header.len()).filter(|i| !NEW_COLUMNS.contains(&header[*i])).collect();
        let mut kept = vec![keep.iter().map(|i| header[*i]).collect::<Vec<_>>().join(",")];
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            kept.push(keep.iter().map(|i| cells.get(*i).copied().unwrap_or("")).collect::<Vec<_>>().join(","));
        }
        std::fs::write(&target, kept.join("\n") + "\n").unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn the_report_shows_the_assessment_and_chromium_renders_it() {
    let out = seed_output();
    let html = std::fs::read_to_string(out.join("report/231182.html")).unwrap();
    // The latest year (2018): the readiness sentence reads the summary (26 met, 10 not met, e6 and
    // e8 missing), the four parts, the failing schools of g5 and g6 (see the first test), and the
    // evidence files with the ledger's SHA-256.
    assert!(html.contains("尚有未达标指标：计算指标达标 26 项、未达标 10 项、待填报 0 项"), "readiness");
    for part in ["资源配置", "政府保障程度", "教育质量", "社会认可度"] {
        assert!(html.contains(&format!("<h3>{part}</h3>")), "{part}");
    }
    for label in ["达标", "未达标", "已提交佐证", "缺佐证材料"] {
        assert!(html.contains(&format!("\">{label}</span>")), "{label}");
    }
    let failing = &html[html.find("id=\"failing-schools\"").expect("failing schools")..];
    let failing = &failing[..failing.find("</table>").unwrap()];
    assert!(failing.contains("五大连池市第一中学") && failing.contains("北山村教学点"), "{failing}");
    let l = ledger(&out);
    let year_2018: Vec<&serde_json::Value> =
        l["evidence"].as_array().unwrap().iter().filter(|e| e["year"] == 2018).collect();
    // 2018's evidence folders: g1 (two files), g2, g10, e3, e5, e7 — seven files.
    assert_eq!(year_2018.len(), 7, "seven evidence files in 2018");
    for e in &year_2018 {
        let prefix = &e["sha256"].as_str().unwrap()[..16];
        assert!(html.contains(prefix), "the page lists {}", e["path"]);
    }
    // The gaps to the standards, county totals per stage.
    assert!(html.contains("id=\"gaps\"") && html.contains("名教师"), "差距清单");
    let index = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(index.contains("达标 26 · 未达标 10 · 待填报 0 · 缺佐证 2"), "the index shows readiness");

    let Some(chromium) = crate::surface::chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = out.join("report/231182.html");
    let dom = crate::surface::headless(&chromium, &dir.path().join("p1"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"assessment\"") && dom.matches("class=\"assessment\"").count() == 4);
    let shot = dir.path().join("assessment.png");
    let screenshot = crate::surface::headless(&chromium, &dir.path().join("p2"))
        .args(["--window-size=1280,9000", &format!("--screenshot={}", shot.display())])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    assert!(std::fs::metadata(&shot).unwrap().len() > 100_000, "a screenshot with content");
    // Kept for people to look at after a CI run.
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("junheng-report-231182-assessment.png"));
}
