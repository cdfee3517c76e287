//! The example county's quality-balance assessment data (assessment.md §1), for its last three
//! years: the new columns of schools, pupils, teachers and facilities, the tables school_funds
//! (学校经费), county_facts (县级指标) and monitoring (质量监测), and evidence files (佐证材料).
//!
//! Nothing here changes a value of the older tables: the new columns are computed from what the
//! generator already built, so every basic-balance figure stays the report's. The data are
//! designed so that every status of assessment.md §2 occurs (fixtures/README.md lists each
//! item's status per year, and `tests/it/assessment.rs` asserts them):
//!
//! - 2016 — the first year the county collected anything for the assessment: boarding flags and
//!   largest classes (not for teaching points), budgets of the city and township schools only,
//!   county facts with no special-education pupils and no senior-high quota yet; no teacher,
//!   room, catchment or monitoring data, no evidence.
//! - 2017 — most of it, with gaps and failures: a school failing the special-room rule while
//!   another has not reported its rooms (the failure wins), a training budget not reported, a
//!   primary catchment below 100 %, certified and trained teachers short, special-education
//!   funds below 6000 元 per pupil; monitoring of 科学 and 德育 met; evidence of g1 only.
//! - 2018 — complete: every room, class and catchment reported; one junior class over 50 and one
//!   teaching point funded below 100 pupils' benchmark fail; monitoring of 数学 and 体育 with 体育
//!   of grade 8 at level Ⅱ; evidence for six of the eight document items.

use std::collections::BTreeMap;

use super::{COUNTY, LAST_YEAR, Part, PupilRow, School, csv};

/// The first year with assessment data.
pub(super) const FIRST_ASSESSED_YEAR: i32 = 2016;

/// Boarding schools: the township nine-year schools (outside the catchment item g13).
const BOARDING: [&str; 3] = ["龙镇学校", "和平镇中心学校", "团结镇学校"];

/// The provincial benchmark of public funds per pupil (元): primary, junior.
const BENCHMARK: (i64, i64) = (600, 800);

/// Pupils a small school is funded for at least (assessment.md g6).
const SMALL_SCHOOL_PUPILS: i64 = 100;

/// The assessment's own files (the three tables), by name.
pub const TABLE_FILES: [&str; 3] = ["学校经费.csv", "县级指标.csv", "质量监测.csv"];

/// Every column the assessment adds to the older tables, in any year.
pub fn new_columns() -> Vec<&'static str> {
    let last = FIRST_ASSESSED_YEAR + 2;
    let mut columns: Vec<&str> = Vec::new();
    for headers in [school_headers(last), pupil_headers(last), teacher_headers(last), facility_headers(last)] {
        columns.extend(headers);
    }
    columns
}

/// Extra columns of schools.csv for a year: their headers.
pub(super) fn school_headers(year: i32) -> &'static [&'static str] {
    if year >= FIRST_ASSESSED_YEAR { &["is_boarding"] } else { &[] }
}

/// Extra cells of a school's row.
pub(super) fn school_cells(year: i32, school: &School) -> Vec<String> {
    if year < FIRST_ASSESSED_YEAR {
        return Vec::new();
    }
    vec![BOARDING.contains(&school.name.as_str()).to_string()]
}

/// Extra columns of pupils.csv for a year.
pub(super) fn pupil_headers(year: i32) -> &'static [&'static str] {
    match year {
        FIRST_ASSESSED_YEAR => &["largest_class"],
        y if y > FIRST_ASSESSED_YEAR => &["largest_class", "entrants_in_catchment"],
        _ => &[],
    }
}

/// Extra cells of a school's grade row: its largest class, and at the entry grades how many
/// entrants came by catchment.
pub(super) fn pupil_cells(year: i32, school: &School, grade: i64, row: &PupilRow) -> Vec<String> {
    if year < FIRST_ASSESSED_YEAR {
        return Vec::new();
    }
    let largest = if row.classes == 0 {
        Some(0)
    } else if year == FIRST_ASSESSED_YEAR && school.kind == "teaching_point" {
        None // the teaching points did not report class sizes in 2016
    } else {
        let average = (row.students + row.classes - 1) / row.classes;
        // 2018: one class of 第一中学's grade 9 has 52 pupils, over the junior limit of 50.
        let over = year == LAST_YEAR && school.name == "五大连池市第一中学" && grade == 9;
        Some(if over { 52 } else { average + grade % 3 })
    };
    let mut cells = vec![largest.map(|v| v.to_string()).unwrap_or_default()];
    if year > FIRST_ASSESSED_YEAR {
        let catchment = row.entrants.map(|entrants| {
            if grade >= 7 {
                entrants - entrants * 3 / 100 // about 97 % of junior entrants
            } else if year == 2017 && school.name == "五大连池市第二小学" {
                entrants - 3 // three pupils placed outside their catchment: below 100 %
            } else {
                entrants
            }
        });
        cells.push(catchment.map(|v| v.to_string()).unwrap_or_default());
    }
    cells
}

/// Extra columns of teachers.csv for a year.
pub(super) fn teacher_headers(year: i32) -> &'static [&'static str] {
    if year > FIRST_ASSESSED_YEAR { &["certified_teachers", "trained_360h", "exchange_eligible"] } else { &[] }
}

/// Extra cells of a teacher row: certified, trained (360 hours in five years), eligible for
/// exchange (at least those exchanged).
pub(super) fn teacher_cells(year: i32, school: &School, part: &Part, exchanged: i64) -> Vec<String> {
    if year <= FIRST_ASSESSED_YEAR {
        return Vec::new();
    }
    let full_time = part.full_time;
    let certified =
        if year == 2017 && school.name == "五大连池市第二小学" { full_time - 2 } else { full_time };
    let trained = if year == 2017 { full_time * 9 / 10 } else { full_time };
    let eligible = (full_time * 4 / 5).max(exchanged);
    vec![certified.to_string(), trained.to_string(), eligible.to_string()]
}

/// Extra columns of facilities.csv (Chinese headers, as the rest of the file).
pub(super) fn facility_headers(year: i32) -> &'static [&'static str] {
    if year > FIRST_ASSESSED_YEAR { &["音乐专用教室数", "美术专用教室(间)"] } else { &[] }
}

/// Extra cells of a facilities row: music and art rooms. A school's rooms are on its first row
/// (a nine-year school's primary row; its junior row has none of its own); it needs
/// ⌈classes ÷ 12⌉ of each.
pub(super) fn facility_cells(year: i32, school: &School, first_row: bool, classes: i64) -> Vec<String> {
    if year <= FIRST_ASSESSED_YEAR {
        return Vec::new();
    }
    let required = (classes + 11) / 12;
    let rooms = if school.kind == "teaching_point" || !first_row { 0 } else { required };
    match (year, school.name.as_str()) {
        // 2017: 第一小学 has one music room too few and did not report its art rooms (it fails
        // all the same); 兴隆镇中学 reported neither.
        (2017, "五大连池市第一小学") => vec![(rooms - 1).to_string(), String::new()],
        (2017, "兴隆镇中学") => vec![String::new(), String::new()],
        _ => vec![rooms.to_string(), rooms.to_string()],
    }
}

/// The year's assessment tables and evidence files: (path relative to the county-year folder,
/// contents).
pub(super) fn files(
    year: i32,
    schools: &[School],
    rows: &BTreeMap<(usize, i32, i64), PupilRow>,
) -> Vec<(String, String)> {
    if year < FIRST_ASSESSED_YEAR {
        return Vec::new();
    }
    let mut files = vec![
        ("学校经费.csv".to_owned(), school_funds(year, schools, rows)),
        ("县级指标.csv".to_owned(), county_facts(year, schools, rows)),
    ];
    if let Some(text) = monitoring(year) {
        files.push(("质量监测.csv".to_owned(), text));
    }
    files.extend(evidence(year));
    files
}

/// A school's compulsory pupils in a year, primary and junior.
fn pupils_of(i: usize, year: i32, rows: &BTreeMap<(usize, i32, i64), PupilRow>) -> (i64, i64) {
    let sum = |grades: std::ops::RangeInclusive<i64>| -> i64 {
        grades.filter_map(|g| rows.get(&(i, year, g))).map(|r| r.students).sum()
    };
    (sum(1..=6), sum(7..=9))
}

/// school_funds (学校经费): each school's budget is its pupils at the benchmark (rounded up to
/// 100 元), a small school's at least 100 pupils' worth; training 6 % of it (5.5 % in 2016).
fn school_funds(year: i32, schools: &[School], rows: &BTreeMap<(usize, i32, i64), PupilRow>) -> String {
    let mut out = Vec::new();
    for (i, school) in schools.iter().enumerate().filter(|(_, s)| s.present(year)) {
        // 2016: only the city and township schools reported budgets.
        if year == FIRST_ASSESSED_YEAR && (school.kind == "teaching_point" || school.area == "rural") {
            continue;
        }
        let (primary, junior) = pupils_of(i, year, rows);
        let mut budget = (primary * BENCHMARK.0 + junior * BENCHMARK.1 + 99) / 100 * 100;
        let small = (school.kind == "teaching_point" || (school.kind == "primary" && school.area == "rural"))
            && primary + junior < SMALL_SCHOOL_PUPILS;
        // 2018: 北山村教学点 is funded for its own pupils only — below the small-school rule.
        if small && !(year == LAST_YEAR && school.name == "北山村教学点") {
            budget = budget.max(SMALL_SCHOOL_PUPILS * BENCHMARK.0);
        }
        let training = match (year, school.name.as_str()) {
            (2016, "双泉镇中学") => Some(budget * 4 / 100), // below 5 %
            (2016, _) => Some(budget * 55 / 1000),
            (2017, "沾河林业局第三小学") => None, // not reported
            _ => Some(budget * 6 / 100),
        };
        out.push(vec![
            year.to_string(),
            school.code(year).to_owned(),
            budget.to_string(),
            training.map(|t| t.to_string()).unwrap_or_default(),
        ]);
    }
    csv(&["年份", "学校标识码", "年度公用经费预算(元)", "教师培训经费(元)"], &out)
}

/// county_facts (县级指标): the county's own figures of the assessment.
fn county_facts(year: i32, schools: &[School], rows: &BTreeMap<(usize, i32, i64), PupilRow>) -> String {
    // Children of migrant workers in public schools (teaching points apart), for g15.
    let in_public: i64 = rows
        .iter()
        .filter(|((i, y, _), _)| *y == year && schools[*i].kind != "teaching_point")
        .map(|(_, r)| r.migrant)
        .sum();
    let blank = String::new;
    let n = |v: i64| v.to_string();
    let row = match year {
        // No special-education pupils and no quota plan yet: g7 and g14 have nothing to assess.
        2016 => vec![
            blank(),
            n(0),
            n(0),
            n(BENCHMARK.0),
            n(BENCHMARK.1),
            n(0),
            n(0),
            n(0),
            blank(),
            blank(),
            blank(),
            blank(),
        ],
        // 2017: salaries below the civil servants', 5750 元 per special pupil, 45 % of the quota
        // allocated, 83 % of migrant children placed, 55 of 60 disabled children enrolled.
        2017 => {
            let purchased = 10;
            let eligible = ((in_public + purchased) as f64 / 0.83).round() as i64;
            vec![
                n(52_600),
                n(40),
                n(230_000),
                n(BENCHMARK.0),
                n(BENCHMARK.1),
                n(600),
                n(270),
                n(110),
                n(eligible),
                n(purchased),
                n(60),
                n(55),
            ]
        }
        // 2018: every county figure meets its threshold.
        _ => {
            let purchased = 12;
            let eligible = ((in_public + purchased) as f64 / 0.92).round() as i64;
            vec![
                n(53_800),
                n(42),
                n(268_800),
                n(BENCHMARK.0),
                n(BENCHMARK.1),
                n(600),
                n(320),
                n(150),
                n(eligible),
                n(purchased),
                n(62),
                n(60),
            ]
        }
    };
    let mut cells = vec![year.to_string(), COUNTY.to_owned()];
    cells.extend(row);
    csv(
        &[
            "年份",
            "县区代码",
            "公务员平均工资收入",
            "特殊教育学校在校生数",
            "特殊教育学校公用经费",
            "小学生均公用经费基准定额",
            "初中生均公用经费基准定额",
            "优质普通高中招生计划数",
            "分配到初中学校的招生名额",
            "分配到农村初中的名额",
            "符合条件的随迁子女数",
            "在政府购买学位民办学校就读的随迁子女数",
            "适龄残疾儿童少年数",
            "残疾儿童少年入学人数",
        ],
        &[cells],
    )
}

/// monitoring (质量监测): the subjects the national monitoring reported that year, with levels
/// and rates written as the county's result sheets write them (Ⅲ, 四级, 水平Ⅱ, 12.5 %).
fn monitoring(year: i32) -> Option<String> {
    let rows: &[[&str; 4]] = match year {
        2017 => &[
            ["科学", "4", "三级", "0.09"],
            ["科学", "8", "Ⅲ", "0.12"],
            ["德育", "4", "四级", "0.06"],
            ["德育", "8", "IV", "0.08"],
        ],
        2018 => &[
            ["数学", "四年级", "Ⅳ级", "8%"],
            ["数学", "八年级", "Ⅲ", "12.5%"],
            ["体育", "四年级", "III", "0.11"],
            ["体育", "八年级", "水平Ⅱ", "0.14"], // level Ⅱ: below Ⅲ
        ],
        _ => return None,
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![year.to_string(), COUNTY.to_owned()];
            cells.extend(r.iter().map(|c| (*c).to_owned()));
            cells
        })
        .collect();
    Some(csv(&["年份", "县区代码", "监测科目", "年级", "学业水平", "校际差异率"], &rows))
}

/// Evidence files (佐证材料), never read as data: stand-ins for the documents a county scans.
fn evidence(year: i32) -> Vec<(String, String)> {
    let documents: &[(&str, &str)] = match year {
        2017 => &[("g1-规划布局", "五大连池市义务教育学校布局专项规划（2016—2020年）")],
        2018 => &[
            ("g1-规划布局", "五大连池市义务教育学校布局专项规划（2016—2020年）"),
            ("g1-规划布局", "五大连池市人民政府关于学校布局调整的批复"),
            ("g2-办学标准", "五大连池市义务教育学校办学标准"),
            ("g10-编制岗位", "五大连池市中小学教职工编制核定方案"),
            ("e3-章程与信息化", "五大连池市中小学章程汇编"),
            ("e5-信息化教学", "五大连池市教育信息化应用情况报告"),
            ("e7-课程与实践", "五大连池市义务教育课程实施方案"),
        ],
        _ => &[],
    };
    documents
        .iter()
        .map(|(folder, title)| {
            (
                format!("evidence/{folder}/{title}.txt"),
                format!("{title}\n五大连池市教育局 {year} 年（示例佐证材料：真实申报时为扫描件或 PDF）\n"),
            )
        })
        .collect()
}
