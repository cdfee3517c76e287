//! The example county: 五大连池市 (231182), 2009–2018, built so that junheng's published tables
//! reproduce the figures of the county's 2019 report (`../shared/seed/`, methodology.md §7).
//!
//! Everything here is synthetic and deterministic (a fixed-seed generator): school-level data
//! nobody collected, shaped so that its county figures are the report's — 28 schools and 28
//! teaching points in 2018 (46 schools in 2009), 12 515 pupils split as the report splits them,
//! 1669 posts and 1575 staff, the site and building areas, 96 % satisfaction, composite CVs
//! 0.548 / 0.346, the retention and dropout rates of 2014–2016, 三个增长 failing in 2015 and 2016
//! with the arrears the report names, and the investment totals.
//!
//! To hit a composite CV the generator has to measure what it builds, so it computes weighted
//! CVs itself ([`weighted_cv`]); that is construction, not the product: the published figures
//! come from the SQL marts, and the tests read them there.

use std::collections::BTreeMap;
use std::path::Path;

pub mod assessment;

use super::Rng;
use crate::{Error, Result};

/// County code of the example.
pub const COUNTY: &str = "231182";
/// County name.
pub const COUNTY_NAME: &str = "五大连池市";
/// First year of the series.
pub const FIRST_YEAR: i32 = 2009;
/// Last year of the series (the report's census).
pub const LAST_YEAR: i32 = 2018;

/// Target composite CVs of 2018 (the report's 0.548 and 0.346) as the mean of these eight.
const PRIMARY_CV_2018: [f64; 8] = [0.52, 0.78, 0.61, 0.49, 0.43, 0.38, 0.55, 0.624];
const JUNIOR_CV_2018: [f64; 8] = [0.31, 0.45, 0.40, 0.33, 0.28, 0.22, 0.36, 0.418];

/// Split `total` into integers proportional to `weights` (largest remainder; exact sum).
fn apportion(total: i64, weights: &[f64]) -> Vec<i64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<i64> = exact.iter().map(|x| x.floor() as i64).collect();
    let mut rest = total - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &i in order.iter().cycle() {
        if rest == 0 {
            break;
        }
        if weights[i] > 0.0 {
            out[i] += 1;
            rest -= 1;
        }
    }
    out
}

/// The weighted difference coefficient of methodology §2 (used only to tune the fixture).
pub fn weighted_cv(pupils: &[f64], numerators: &[f64]) -> f64 {
    let p: f64 = pupils.iter().sum();
    let mean = numerators.iter().sum::<f64>() / p;
    let var: f64 = pupils.iter().zip(numerators).map(|(pi, ni)| (pi / p) * (ni / pi - mean).powi(2)).sum();
    var.sqrt() / mean
}

#[derive(Debug, Clone)]
struct School {
    codes: Vec<(i32, String)>,
    name: String,
    kind: &'static str,
    area: &'static str,
    first: i32,
    last: i32,
    parent: Option<usize>,
    weight: f64,
    /// Highest grade a teaching point teaches.
    top_grade: i64,
}

impl School {
    fn present(&self, year: i32) -> bool {
        (self.first..=self.last).contains(&year)
    }

    fn code(&self, year: i32) -> &str {
        self.codes.iter().rev().find(|(from, _)| *from <= year).map(|(_, c)| c.as_str()).unwrap_or(&self.codes[0].1)
    }

    fn grades(&self) -> std::ops::RangeInclusive<i64> {
        match self.kind {
            "primary" => 1..=6,
            "teaching_point" => 1..=self.top_grade,
            "junior" => 7..=9,
            _ => 1..=9,
        }
    }

    fn stages(&self) -> &'static [&'static str] {
        match self.kind {
            "primary" | "teaching_point" => &["primary"],
            "junior" => &["junior"],
            _ => &["primary", "junior"],
        }
    }
}

fn schools() -> Vec<School> {
    let mut list = Vec::new();
    let mut serial = 0;
    let mut next_code = || {
        serial += 1;
        format!("2123118{serial:03}")
    };
    let mut add = |list: &mut Vec<School>,
                   name: &str,
                   kind: &'static str,
                   area: &'static str,
                   first: i32,
                   last: i32,
                   weight: f64| {
        let code = next_code();
        list.push(School {
            codes: vec![(FIRST_YEAR, code)],
            name: name.into(),
            kind,
            area,
            first,
            last,
            parent: None,
            weight,
            top_grade: 6,
        });
        list.len() - 1
    };
    for (name, w, first) in [
        ("五大连池市第一小学", 1.7, 2009),
        ("五大连池市第二小学", 1.5, 2009),
        ("五大连池市实验小学", 1.3, 2012),
        ("五大连池市第三小学", 1.0, 2009),
        ("五大连池市第四小学", 0.8, 2009),
        ("五大连池风景区第一小学", 0.45, 2009),
        ("五大连池风景区第二小学", 0.3, 2009),
        ("沾河林业局第一小学", 0.5, 2009),
        ("沾河林业局第二小学", 0.3, 2009),
        ("沾河林业局第三小学", 0.25, 2009),
    ] {
        add(&mut list, name, "primary", "urban", first, LAST_YEAR, w);
    }
    let mut township = Vec::new();
    for (name, w) in [
        ("五大连池镇中心小学", 0.9),
        ("双泉镇中心小学", 0.8),
        ("新发镇中心小学", 0.6),
        ("兴隆镇中心小学", 0.7),
        ("建设乡中心小学", 0.5),
        ("太平乡中心小学", 0.45),
        ("兴安乡中心小学", 0.4),
        ("朝阳乡中心小学", 0.35),
    ] {
        township.push(add(&mut list, name, "primary", "town", FIRST_YEAR, LAST_YEAR, w));
    }
    for (name, w) in [("龙镇学校", 1.0), ("和平镇中心学校", 0.8), ("团结镇学校", 0.6)] {
        township.push(add(&mut list, name, "nine_year", "town", FIRST_YEAR, LAST_YEAR, w));
    }
    for (name, w) in [
        ("五大连池市第一中学", 1.6),
        ("五大连池市第二中学", 1.4),
        ("五大连池市第三中学", 1.1),
        ("五大连池风景区中学", 0.5),
        ("沾河林业局中学", 0.6),
    ] {
        add(&mut list, name, "junior", "urban", FIRST_YEAR, LAST_YEAR, w);
    }
    for (name, w) in [("双泉镇中学", 1.0), ("兴隆镇中学", 0.9)] {
        add(&mut list, name, "junior", "town", FIRST_YEAR, LAST_YEAR, w);
    }
    // Closed between 2010 and 2018: 16 village primary schools and 3 township junior schools.
    let closures = [2010, 2010, 2011, 2011, 2012, 2012, 2012, 2013, 2013, 2014, 2014, 2015, 2016, 2016, 2017, 2018];
    let villages = [
        "红星村",
        "长发村",
        "东升村",
        "永丰村",
        "前进村",
        "保安村",
        "同心村",
        "新华村",
        "光明村",
        "胜利村",
        "联合村",
        "曙光村",
        "民主村",
        "平安村",
        "富强村",
        "和谐村",
    ];
    for (village, closed) in villages.iter().zip(closures) {
        add(&mut list, &format!("{village}小学"), "primary", "rural", FIRST_YEAR, closed - 1, 0.22);
    }
    for (name, closed) in [("新发镇中学", 2011), ("建设乡中学", 2013), ("太平乡中学", 2015)] {
        add(&mut list, name, "junior", "town", FIRST_YEAR, closed - 1, 0.5);
    }
    // 36 teaching points in 2009, 28 in 2018; each belongs to a township school.
    let points = [
        "北山", "南岗", "西沟", "东岭", "三道", "四合", "五星", "六合", "七一", "八一", "九龙", "十里", "青山", "绿水",
        "白桦", "红旗", "金星", "银河", "长青", "永安", "太阳", "月亮", "星火", "火炬", "团山", "平原", "河东", "河西",
        "岭南", "岭北", "沟口", "屯中", "新村", "老屯", "东风", "北风",
    ];
    for (i, p) in points.iter().enumerate() {
        let last = if i < 28 { LAST_YEAR } else { 2010 + (i as i32 - 28) };
        let idx = add(&mut list, &format!("{p}村教学点"), "teaching_point", "rural", FIRST_YEAR, last, 0.035);
        list[idx].parent = Some(township[i % township.len()]);
        list[idx].top_grade = if i % 3 == 0 { 4 } else { 3 };
    }
    // 第三中学 was renumbered in 2014: same school, new code (a code_changed event).
    let third = list.iter().position(|s| s.name == "五大连池市第三中学").expect("listed");
    let renumbered = format!("2123118{:03}", list.len() + 1);
    list[third].codes.push((2014, renumbered));
    list
}

/// County-level pupils by year and grade, entrants, and junior dropouts (see module doc).
struct CountyGrades {
    students: BTreeMap<(i32, i64), i64>,
    entrants: BTreeMap<(i32, i64), i64>,
    dropouts_junior: BTreeMap<i32, i64>,
}

fn county_grades() -> CountyGrades {
    // Pupils entering grade 1, by year (births fell steeply after 2007 in Heilongjiang).
    let cohorts: BTreeMap<i32, f64> = [
        (2001, 2060.0),
        (2002, 2030.0),
        (2003, 1990.0),
        (2004, 1950.0),
        (2005, 1910.0),
        (2006, 1870.0),
        (2007, 1830.0),
        (2008, 1790.0),
        (2009, 1750.0),
        (2010, 1720.0),
        (2011, 1690.0),
        (2012, 1640.0),
        (2013, 1420.0),
        (2014, 1330.0),
        (2015, 1260.0),
        (2016, 1210.0),
        (2017, 1180.0),
        (2018, 1160.0),
    ]
    .into_iter()
    .collect();
    let survival = |g: i64| match g {
        1 => 1.012,
        2..=6 => 0.998 - 0.002 * (g - 2) as f64,
        7 => 0.998,
        8 => 0.992,
        _ => 0.986,
    };
    let mut students = BTreeMap::new();
    let mut entrants = BTreeMap::new();
    for year in FIRST_YEAR..=LAST_YEAR {
        for g in 1..=9 {
            students.insert((year, g), (cohorts[&(year - g as i32 + 1)] * survival(g)).round() as i64);
        }
        entrants.insert((year, 1), cohorts[&year].round() as i64);
    }
    // The report's cohort retention (巩固率) for school years 2014-15, 2015-16 and 2016-17:
    // last-grade pupils of year Y over the cohort's entrants (primary Y−5, junior Y−2).
    for (year, rate) in [(2014, 0.984), (2015, 0.996), (2016, 1.001)] {
        let e = entrants[&(year - 5, 1)];
        students.insert((year, 6), (rate * e as f64).round() as i64);
    }
    for year in FIRST_YEAR..=LAST_YEAR {
        // Entrants to grade 7 are grade-7 pupils less a few repeaters.
        let g7 = students[&(year, 7)];
        entrants.insert((year, 7), g7 - (g7 as f64 * 0.004).round() as i64);
    }
    for (year, rate) in [(2014, 0.981), (2015, 0.987), (2016, 0.992)] {
        let e = entrants[&(year - 2, 7)];
        students.insert((year, 9), (rate * e as f64).round() as i64);
    }
    // 2018 totals of the report: 7370 primary and 5145 junior pupils (grades 3 and 8 absorb it).
    let primary: i64 = (1..=6).map(|g| students[&(2018, g)]).sum();
    *students.get_mut(&(2018, 3)).expect("set") += 7370 - primary;
    let junior: i64 = (7..=9).map(|g| students[&(2018, g)]).sum();
    *students.get_mut(&(2018, 8)).expect("set") += 5145 - junior;
    // Junior dropout of school years 2014-15 … 2016-17 (reported at censuses 2015–2017) over
    // the junior enrolment of the census before: 0.87 %, 0.96 %, 0.89 % to two decimals. The
    // base is nudged through grade 8 (no other figure depends on it) until an integer fits.
    let mut dropouts_junior = BTreeMap::new();
    for (year, rate) in [(2015, 0.0087), (2016, 0.0096), (2017, 0.0089)] {
        for nudge in 0..200i64 {
            let delta = if nudge % 2 == 0 { nudge / 2 } else { -(nudge / 2) - 1 };
            let base: i64 = (7..=9).map(|g| students[&(year - 1, g)]).sum::<i64>() + delta;
            let d = (rate * base as f64).round() as i64;
            if ((d as f64 / base as f64) - rate).abs() < 0.00003 {
                *students.get_mut(&(year - 1, 8)).expect("set") += delta;
                dropouts_junior.insert(year, d);
                break;
            }
        }
    }
    for year in FIRST_YEAR..=LAST_YEAR {
        dropouts_junior.entry(year).or_insert_with(|| {
            let base: i64 = (7..=9).map(|g| students[&(year, g)]).sum();
            (base as f64 * 0.0102).round() as i64
        });
    }
    CountyGrades { students, entrants, dropouts_junior }
}

/// One school's row of pupils for one grade.
#[derive(Debug, Clone, Default)]
struct PupilRow {
    students: i64,
    classes: i64,
    entrants: Option<i64>,
    graduates: Option<i64>,
    dropouts: i64,
    transfers_in: i64,
    transfers_out: i64,
    left_behind: i64,
    migrant: i64,
    special_needs: i64,
}

/// Share of a year's primary / junior pupils in urban (city-direct) schools; 2018 is the report's.
fn urban_share(year: i32, stage: &str) -> f64 {
    let t = (year - FIRST_YEAR) as f64 / (LAST_YEAR - FIRST_YEAR) as f64;
    match stage {
        "primary" => 0.47 + t * (4409.0 / 7370.0 - 0.47),
        _ => 0.52 + t * (3188.0 / 5145.0 - 0.52),
    }
}

/// Pupils per school, year and grade.
fn pupils(schools: &[School], county: &CountyGrades, rng: &mut Rng) -> BTreeMap<(usize, i32, i64), PupilRow> {
    let mut rows = BTreeMap::new();
    // A school's weight drifts a little from year to year.
    let drift: Vec<Vec<f64>> =
        schools.iter().map(|_| (FIRST_YEAR..=LAST_YEAR).map(|_| rng.range(0.92, 1.08)).collect()).collect();
    for year in FIRST_YEAR..=LAST_YEAR {
        let yi = (year - FIRST_YEAR) as usize;
        for stage in ["primary", "junior"] {
            let grades: Vec<i64> = if stage == "primary" { (1..=6).collect() } else { (7..=9).collect() };
            let stage_total: i64 = grades.iter().map(|g| county.students[&(year, *g)]).sum();
            let urban_total = if year == LAST_YEAR {
                if stage == "primary" { 4409 } else { 3188 }
            } else {
                (stage_total as f64 * urban_share(year, stage)).round() as i64
            };
            let grade_totals: Vec<f64> = grades.iter().map(|g| county.students[&(year, *g)] as f64).collect();
            let urban_by_grade = apportion(urban_total, &grade_totals);
            for (gi, &g) in grades.iter().enumerate() {
                let total = county.students[&(year, g)];
                for (urban, part) in [(true, urban_by_grade[gi]), (false, total - urban_by_grade[gi])] {
                    let members: Vec<usize> = (0..schools.len())
                        .filter(|&i| {
                            schools[i].present(year)
                                && schools[i].grades().contains(&g)
                                && (schools[i].area == "urban") == urban
                        })
                        .collect();
                    let weights: Vec<f64> = members.iter().map(|&i| schools[i].weight * drift[i][yi]).collect();
                    for (&i, n) in members.iter().zip(apportion(part, &weights)) {
                        rows.insert((i, year, g), PupilRow { students: n, ..PupilRow::default() });
                    }
                }
            }
        }
    }
    // Entrants (entry grades), graduates (final grades), dropouts, transfers and groups.
    for year in FIRST_YEAR..=LAST_YEAR {
        for g in [1i64, 7] {
            let keys: Vec<(usize, i32, i64)> = rows.keys().filter(|k| k.1 == year && k.2 == g).copied().collect();
            let weights: Vec<f64> = keys.iter().map(|k| rows[k].students as f64).collect();
            let total = county.entrants[&(year, g)];
            for (k, e) in keys.iter().zip(apportion(total, &weights)) {
                let row = rows.get_mut(k).expect("exists");
                row.entrants = Some(e.min(row.students));
            }
        }
        let junior_keys: Vec<(usize, i32, i64)> = rows.keys().filter(|k| k.1 == year && k.2 >= 7).copied().collect();
        let weights: Vec<f64> = junior_keys.iter().map(|k| rows[k].students as f64).collect();
        for (k, d) in junior_keys.iter().zip(apportion(county.dropouts_junior[&year], &weights)) {
            rows.get_mut(k).expect("exists").dropouts = d;
        }
    }
    let keys: Vec<(usize, i32, i64)> = rows.keys().copied().collect();
    for k in keys {
        let (i, year, g) = k;
        let school = &schools[i];
        let previous = rows.get(&(i, year - 1, g)).map(|r| r.students);
        let row = rows.get_mut(&k).expect("exists");
        let n = row.students;
        let size = if school.kind == "teaching_point" {
            12
        } else if school.area == "urban" {
            42
        } else {
            32
        };
        row.classes = if n == 0 { 0 } else { ((n as f64) / size as f64).ceil() as i64 };
        // A few crowded urban grades: 第一小学 keeps 大班额 classes (≥ 56) through 2015.
        if school.name == "五大连池市第一小学" && year <= 2015 && g <= 3 && n > 0 {
            row.classes = ((n as f64) / 58.0).floor().max(1.0) as i64;
        }
        if g == 6 || g == 9 {
            row.graduates = Some(previous.unwrap_or(n) - (rng.unit() * 3.0) as i64);
        }
        row.transfers_in = (n as f64 * rng.range(0.0, 0.012)).round() as i64;
        row.transfers_out = (n as f64 * rng.range(0.0, 0.01)).round() as i64;
        row.migrant = if school.area == "urban" { (n as f64 * rng.range(0.03, 0.07)).round() as i64 } else { 0 };
        row.special_needs = (n as f64 * rng.range(0.0, 0.006)).round() as i64;
        row.left_behind = if school.area == "urban" { 0 } else { (n as f64 * rng.range(0.04, 0.09)).round() as i64 };
    }
    // The report's 2017 left-behind counts: 591 primary and 188 junior pupils.
    for (stage_grades, total) in [(1..=6, 591), (7..=9, 188)] {
        let keys: Vec<(usize, i32, i64)> = rows
            .keys()
            .filter(|k| k.1 == 2017 && stage_grades.contains(&k.2) && schools[k.0].area != "urban")
            .copied()
            .collect();
        let weights: Vec<f64> = keys.iter().map(|k| rows[k].students as f64).collect();
        for (k, n) in keys.iter().zip(apportion(total, &weights)) {
            let row = rows.get_mut(k).expect("exists");
            row.left_behind = n.min(row.students);
        }
    }
    rows
}

/// A school-stage unit of methodology §1: the school's part of a stage plus merged teaching points.
#[derive(Debug, Clone)]
struct Unit {
    stage: &'static str,
    members: Vec<usize>,
    pupils: Vec<f64>,
}

impl Unit {
    fn total(&self) -> f64 {
        self.pupils.iter().sum()
    }
}

fn units(schools: &[School], rows: &BTreeMap<(usize, i32, i64), PupilRow>, year: i32) -> Vec<Unit> {
    let stage_pupils = |i: usize, stage: &str| -> f64 {
        let grades = if stage == "primary" { 1..=6 } else { 7..=9 };
        grades.filter_map(|g| rows.get(&(i, year, g))).map(|r| r.students as f64).sum()
    };
    let mut out = Vec::new();
    for (i, s) in schools.iter().enumerate().filter(|(_, s)| s.present(year) && s.kind != "teaching_point") {
        for &stage in s.stages() {
            let mut members = vec![i];
            let mut pupils = vec![stage_pupils(i, stage)];
            if stage == "primary" {
                for j in (0..schools.len()).filter(|&j| schools[j].present(year) && schools[j].parent == Some(i)) {
                    members.push(j);
                    pupils.push(stage_pupils(j, "primary"));
                }
            }
            out.push(Unit { stage, members, pupils });
        }
    }
    out
}

/// Quantities of one school-stage part (one facility or teacher row).
#[derive(Debug, Clone, Default)]
struct Part {
    teaching_aux: f64,
    sports: f64,
    equipment: f64,
    computers: i64,
    books: i64,
    full_time: i64,
    above_degree: i64,
    mid_senior: i64,
    backbone: i64,
    pe_arts: i64,
    multimedia: i64,
}

/// Means per pupil of b1…b8 (and backbone, PE/arts, multimedia) for a stage and year.
fn means(stage: &str, year: i32) -> [f64; 11] {
    let t = (year - FIRST_YEAR) as f64 / (LAST_YEAR - FIRST_YEAR) as f64;
    let grow = |from: f64, to: f64| from + (to - from) * t;
    match stage {
        "primary" => [
            grow(3.0, 3.6),
            grow(7.0, 9.5),
            grow(600.0, 1650.0),
            grow(0.05, 1427.0 / 12515.0),
            grow(18.0, 26.0),
            0.086,
            grow(0.045, 0.062),
            grow(0.035, 0.047),
            0.0105,
            0.0095,
            grow(0.006, 0.026),
        ],
        _ => [
            grow(3.8, 4.6),
            grow(8.5, 11.5),
            grow(800.0, 2150.0),
            grow(0.05, 1427.0 / 12515.0),
            grow(22.0, 31.0),
            0.094,
            grow(0.055, 0.074),
            grow(0.042, 0.056),
            0.0112,
            0.0098,
            grow(0.007, 0.028),
        ],
    }
}

/// A standardised, right-skewed pattern over units: Σ w z = 0, Σ w z² = 1 (w = pupil shares).
fn pattern(weights: &[f64], rng: &mut Rng, sigma: f64) -> Vec<f64> {
    let p: f64 = weights.iter().sum();
    let raw: Vec<f64> = weights.iter().map(|_| (sigma * rng.normal()).exp()).collect();
    let mean: f64 = weights.iter().zip(&raw).map(|(w, r)| w * r).sum::<f64>() / p;
    let var: f64 = weights.iter().zip(&raw).map(|(w, r)| w * (r - mean).powi(2)).sum::<f64>() / p;
    raw.iter().map(|r| (r - mean) / var.sqrt()).collect()
}

/// Unit numerators for one indicator: mean × (1 + a·z) × pupils, kept above zero.
fn numerators(units: &[Unit], mean: f64, a: f64, z: &[f64]) -> Vec<f64> {
    units.iter().zip(z).map(|(u, zi)| mean * (1.0 + a * zi).max(0.08) * u.total()).collect()
}

/// Build every unit's quantities for a year, tuned in 2018 to the report's composites.
fn build_parts(
    schools: &[School],
    rows: &BTreeMap<(usize, i32, i64), PupilRow>,
    year: i32,
    rng: &mut Rng,
) -> BTreeMap<(usize, &'static str), Part> {
    let all_units = units(schools, rows, year);
    let mut parts: BTreeMap<(usize, &'static str), Part> = BTreeMap::new();
    for stage in ["primary", "junior"] {
        let us: Vec<Unit> = all_units.iter().filter(|u| u.stage == stage).cloned().collect();
        let weights: Vec<f64> = us.iter().map(Unit::total).collect();
        let m = means(stage, year);
        let t = (year - FIRST_YEAR) as f64 / (LAST_YEAR - FIRST_YEAR) as f64;
        let targets: [f64; 8] = {
            let base = if stage == "primary" { PRIMARY_CV_2018 } else { JUNIOR_CV_2018 };
            let mut out = base;
            for v in &mut out {
                *v *= 1.35 - 0.35 * t; // balance improved over the decade
            }
            out
        };
        // Patterns for b1…b8 and the three quality-only quantities; teachers' patterns are
        // correlated so that sub-counts stay below full-time teachers.
        let z: Vec<Vec<f64>> = (0..11).map(|_| pattern(&weights, rng, 0.55)).collect();
        let teacher_z = |k: usize| -> Vec<f64> {
            let mix: Vec<f64> = z[5].iter().zip(&z[k]).map(|(a, b)| 0.8 * a + 0.6 * b).collect();
            let p: f64 = weights.iter().sum();
            let mean: f64 = weights.iter().zip(&mix).map(|(w, x)| w * x).sum::<f64>() / p;
            let var: f64 = weights.iter().zip(&mix).map(|(w, x)| w * (x - mean).powi(2)).sum::<f64>() / p;
            mix.iter().map(|x| (x - mean) / var.sqrt()).collect()
        };
        let round_int = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|x| x.round().max(1.0)).collect() };
        let round_cents = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|x| (x * 100.0).round() / 100.0).collect() };
        let sports = round_cents(numerators(&us, m[1], targets[1], &z[1]));
        let equipment = round_cents(numerators(&us, m[2], targets[2], &z[2]));
        let mut computers = round_int(numerators(&us, m[3], targets[3], &z[3]));
        let books = round_int(numerators(&us, m[4], targets[4], &z[4]));
        let full_time = round_int(numerators(&us, m[5], targets[5], &z[5]));
        let above = round_int(numerators(&us, m[6], targets[6], &teacher_z(6)));
        let mid = round_int(numerators(&us, m[7], targets[7], &teacher_z(7)));
        let backbone = round_int(numerators(&us, m[8], 0.45, &teacher_z(8)));
        let pe_arts = round_int(numerators(&us, m[9], 0.40, &teacher_z(9)));
        let multimedia = round_int(numerators(&us, m[10], 0.50, &z[10]));
        let clamp = |sub: Vec<f64>| -> Vec<f64> { sub.iter().zip(&full_time).map(|(s, f)| s.min(*f)).collect() };
        let (above, mid, backbone, pe_arts) = (clamp(above), clamp(mid), clamp(backbone), clamp(pe_arts));
        if year == LAST_YEAR {
            // The county's 1427 computers (the report's 0.114 per pupil), split by stage
            // enrolment (840 primary, 587 junior); the largest unit absorbs the rounding.
            let primary = (1427.0 * 7370.0 / 12515.0_f64).round();
            let want = if stage == "primary" { primary } else { 1427.0 - primary };
            let have: f64 = computers.iter().sum();
            let biggest = (0..us.len()).max_by(|&a, &b| weights[a].total_cmp(&weights[b])).expect("units");
            computers[biggest] += want - have;
        }
        // b1 last: in 2018 its spread is solved so the composite is the report's exactly.
        let fixed: Vec<f64> = [&sports, &equipment, &computers, &books, &full_time, &above, &mid]
            .iter()
            .map(|n| weighted_cv(&weights, n))
            .collect();
        let b1_for = |a: f64| round_cents(numerators(&us, m[0], a, &z[0]));
        let a_b1 = if year == LAST_YEAR {
            // The composite is the plain mean of the eight CVs: b1 takes what the other seven leave.
            let want = targets.iter().sum::<f64>() - fixed.iter().sum::<f64>();
            let (mut lo, mut hi) = (0.01, 1.5);
            for _ in 0..80 {
                let a = (lo + hi) / 2.0;
                if weighted_cv(&weights, &b1_for(a)) < want { lo = a } else { hi = a }
            }
            (lo + hi) / 2.0
        } else {
            targets[0]
        };
        let teaching_aux = b1_for(a_b1);
        // Split each unit's quantities among its members in proportion to their pupils; the
        // teacher sub-counts follow the members' full-time teachers, so none exceeds them.
        for (ui, unit) in us.iter().enumerate() {
            let share: Vec<f64> = unit.pupils.iter().map(|p| p.max(0.5)).collect();
            let split_int = |total: f64, by: &[f64]| apportion(total as i64, by);
            let split_money = |total: f64| -> Vec<f64> {
                apportion((total * 100.0).round() as i64, &share).into_iter().map(|c| c as f64 / 100.0).collect()
            };
            let ft = split_int(full_time[ui], &share);
            let by_ft: Vec<f64> = ft.iter().map(|&f| f as f64).collect();
            let (aux, sp, eq) = (split_money(teaching_aux[ui]), split_money(sports[ui]), split_money(equipment[ui]));
            let (co, bo, mm) =
                (split_int(computers[ui], &share), split_int(books[ui], &share), split_int(multimedia[ui], &share));
            let (ab, mi_, bb, pa) = (
                split_int(above[ui], &by_ft),
                split_int(mid[ui], &by_ft),
                split_int(backbone[ui], &by_ft),
                split_int(pe_arts[ui], &by_ft),
            );
            for (mi, &member) in unit.members.iter().enumerate() {
                let part = parts.entry((member, stage)).or_default();
                part.teaching_aux += aux[mi];
                part.sports += sp[mi];
                part.equipment += eq[mi];
                part.computers += co[mi];
                part.books += bo[mi];
                part.full_time += ft[mi];
                part.above_degree += ab[mi];
                part.mid_senior += mi_[mi];
                part.backbone += bb[mi];
                part.pe_arts += pa[mi];
                part.multimedia += mm[mi];
            }
        }
    }
    parts
}

/// A header with the assessment's extra columns after it.
fn with<'a>(header: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    header.iter().chain(extra).copied().collect()
}

/// Write `rows` as CSV with a header (values already formatted).
fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn money(yuan_cents: i64) -> String {
    format!("{}.{:02}", yuan_cents / 100, yuan_cents % 100)
}

/// Generate every file of the example county: (path relative to the root, contents).
pub fn files() -> Vec<(String, String)> {
    let mut rng = Rng(20190426);
    let schools = schools();
    let county = county_grades();
    let rows = pupils(&schools, &county, &mut rng);
    let mut files = Vec::new();
    let mut parts_by_year = BTreeMap::new();
    for year in FIRST_YEAR..=LAST_YEAR {
        parts_by_year.insert(year, build_parts(&schools, &rows, year, &mut rng));
    }
    for year in FIRST_YEAR..=LAST_YEAR {
        let dir = format!("{COUNTY}/{year}");
        let present: Vec<usize> = (0..schools.len()).filter(|&i| schools[i].present(year)).collect();
        // schools.csv — canonical English headers.
        let school_rows: Vec<Vec<String>> = present
            .iter()
            .map(|&i| {
                let s = &schools[i];
                let standardised = match year {
                    2017 => {
                        s.kind != "teaching_point"
                            && !["新发镇中心小学", "建设乡中心小学", "太平乡中心小学", "兴安乡中心小学"]
                                .contains(&s.name.as_str())
                            && s.area != "rural"
                    }
                    2018 => s.kind != "teaching_point",
                    _ => s.kind != "teaching_point" && s.area == "urban" && year >= 2014,
                };
                let mut row = vec![
                    year.to_string(),
                    COUNTY.into(),
                    COUNTY_NAME.into(),
                    s.code(year).into(),
                    s.name.clone(),
                    s.kind.into(),
                    s.area.into(),
                    s.parent.map(|p| schools[p].code(year).to_owned()).unwrap_or_default(),
                    "true".into(),
                    if s.kind == "teaching_point" { String::new() } else { standardised.to_string() },
                ];
                row.extend(assessment::school_cells(year, s));
                row
            })
            .collect();
        files.push((
            format!("{dir}/schools.csv"),
            csv(
                &with(
                    &[
                        "year",
                        "county_code",
                        "county_name",
                        "school_code",
                        "school_name",
                        "school_type",
                        "area_type",
                        "parent_school_code",
                        "is_public",
                        "is_standardised",
                    ],
                    assessment::school_headers(year),
                ),
                &school_rows,
            ),
        ));
        // pupils.csv — canonical English headers.
        let mut pupil_rows = Vec::new();
        for &i in &present {
            for g in schools[i].grades() {
                let Some(r) = rows.get(&(i, year, g)) else {
                    continue;
                };
                let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
                let mut row = vec![
                    year.to_string(),
                    schools[i].code(year).into(),
                    g.to_string(),
                    r.students.to_string(),
                    r.classes.to_string(),
                    opt(r.entrants),
                    opt(r.graduates),
                    r.dropouts.to_string(),
                    r.transfers_in.to_string(),
                    r.transfers_out.to_string(),
                    r.left_behind.to_string(),
                    r.migrant.to_string(),
                    r.special_needs.to_string(),
                ];
                row.extend(assessment::pupil_cells(year, &schools[i], g, r));
                pupil_rows.push(row);
            }
        }
        files.push((
            format!("{dir}/pupils.csv"),
            csv(
                &with(
                    &[
                        "year",
                        "school_code",
                        "grade",
                        "students",
                        "classes",
                        "entrants",
                        "graduates",
                        "dropouts",
                        "transfers_in",
                        "transfers_out",
                        "left_behind",
                        "migrant",
                        "special_needs",
                    ],
                    assessment::pupil_headers(year),
                ),
                &pupil_rows,
            ),
        ));
        // teachers.csv and facilities.csv: per stage for nine-year schools, one row otherwise.
        let parts = &parts_by_year[&year];
        let posts_total: i64 = if year == LAST_YEAR { 1669 } else { 1669 + (LAST_YEAR - year) as i64 * 22 };
        let payroll_total: i64 = if year == LAST_YEAR { 1575 } else { 1575 + (LAST_YEAR - year) as i64 * 20 };
        let keys: Vec<(usize, &'static str)> =
            parts.keys().copied().filter(|(i, _)| schools[*i].present(year)).collect();
        let ft: Vec<f64> = keys.iter().map(|k| parts[k].full_time as f64).collect();
        let ft_total: f64 = ft.iter().sum();
        // Staff on payroll: every full-time teacher plus other staff in proportion.
        let extra_staff = apportion(payroll_total - ft_total as i64, &ft);
        let payroll: Vec<i64> = ft.iter().zip(&extra_staff).map(|(f, e)| *f as i64 + e).collect();
        let payroll_f: Vec<f64> = payroll.iter().map(|&p| p as f64).collect();
        let vacancies = apportion(posts_total - payroll_total, &payroll_f);
        let mut teacher_rows = Vec::new();
        let mut facility_rows = Vec::new();
        // Site and building areas: county totals of the report in 2018, spread by size.
        let site_total_cents: i64 =
            if year == LAST_YEAR { 88_748_340 } else { 88_748_340 + (LAST_YEAR - year) as i64 * 1_250_000 };
        let sizes: Vec<f64> = keys.iter().map(|k| parts[k].teaching_aux.max(1.0).powf(0.9)).collect();
        let site = apportion(site_total_cents, &sizes);
        let aux_cents: i64 = keys.iter().map(|k| (parts[k].teaching_aux * 100.0).round() as i64).sum();
        let building_total_cents: i64 =
            if year == LAST_YEAR { 14_992_245 } else { 14_992_245 - (LAST_YEAR - year) as i64 * 180_000 };
        let extra_building = apportion(building_total_cents - aux_cents, &sizes);
        for (ki, &(i, stage)) in keys.iter().enumerate() {
            let s = &schools[i];
            let p = &parts[&(i, stage)];
            let stage_cell = if s.kind == "nine_year" { stage.to_owned() } else { String::new() };
            let exchanged = (p.full_time as f64 * 0.12).round() as i64;
            let backbone_exchanged = (exchanged as f64 * 0.25).round().min(p.backbone as f64) as i64;
            let mut teacher_row = vec![
                year.to_string(),
                s.code(year).into(),
                stage_cell.clone(),
                (payroll[ki] + vacancies[ki]).to_string(),
                payroll[ki].to_string(),
                p.full_time.to_string(),
                p.above_degree.to_string(),
                p.mid_senior.to_string(),
                p.backbone.to_string(),
                p.pe_arts.to_string(),
                exchanged.to_string(),
                backbone_exchanged.min(exchanged).to_string(),
            ];
            teacher_row.extend(assessment::teacher_cells(year, s, p, exchanged));
            teacher_rows.push(teacher_row);
            let aux = (p.teaching_aux * 100.0).round() as i64;
            let mut facility_row = vec![
                year.to_string(),
                s.code(year).into(),
                if stage_cell.is_empty() {
                    String::new()
                } else {
                    if stage == "primary" { "小学" } else { "初中" }.into()
                },
                money(site[ki]),
                money(aux + extra_building[ki]),
                money(aux),
                money((p.sports * 100.0).round() as i64),
                money((p.equipment * 100.0).round() as i64),
                p.books.to_string(),
                p.computers.to_string(),
                p.multimedia.to_string(),
            ];
            let classes: i64 = s.grades().filter_map(|g| rows.get(&(i, year, g))).map(|r| r.classes).sum();
            facility_row.extend(assessment::facility_cells(year, s, stage == s.stages()[0], classes));
            facility_rows.push(facility_row);
        }
        files.push((
            format!("{dir}/teachers.csv"),
            csv(
                &with(
                    &[
                        "year",
                        "school_code",
                        "stage",
                        "posts_established",
                        "staff_on_payroll",
                        "full_time_teachers",
                        "teachers_above_degree",
                        "teachers_mid_senior_title",
                        "backbone_teachers",
                        "pe_arts_teachers",
                        "teachers_exchanged",
                        "backbone_exchanged",
                    ],
                    assessment::teacher_headers(year),
                ),
                &teacher_rows,
            ),
        ));
        // facilities.csv — Chinese headers with units, as county templates write them.
        files.push((
            format!("{dir}/facilities.csv"),
            csv(
                &with(
                    &[
                        "年份",
                        "学校标识码",
                        "学段",
                        "占地面积(平方米)",
                        "校舍建筑面积(平方米)",
                        "教学及辅助用房面积(平方米)",
                        "体育运动场馆面积(平方米)",
                        "教学仪器设备值(元)",
                        "图书册数(册)",
                        "计算机台数(台)",
                        "网络多媒体教室数",
                    ],
                    assessment::facility_headers(year),
                ),
                &facility_rows,
            ),
        ));
        files.push((format!("{dir}/finance.csv"), finance_csv(year)));
        for (relative, text) in assessment::files(year, &schools, &rows) {
            files.push((format!("{dir}/{relative}"), text));
        }
        if let Some(text) = investments_csv(year) {
            files.push((format!("{dir}/investments.csv"), text));
        }
        if year >= 2014 {
            let (q, v, s) = match year {
                2018 => (1000, 975, 936), // 936 / 975 = 96 %
                2017 => (1000, 968, 911),
                2016 => (800, 770, 709),
                2015 => (800, 764, 683),
                _ => (600, 571, 497),
            };
            files.push((
                format!("{dir}/survey.csv"),
                csv(
                    &["年份", "县区代码", "问卷总数", "有效问卷", "满意问卷数"],
                    &[vec![year.to_string(), COUNTY.into(), q.to_string(), v.to_string(), s.to_string()]],
                ),
            ));
        }
    }
    files
}

/// Finance of a fiscal year (元). 三个增长 fails in 2015 and 2016 on its first leg, by exactly the
/// report's arrears: 7108万 (2015) and 15582万 (2016) = app_{t−1}·rev_t/rev_{t−1} − app_t.
fn finance_csv(year: i32) -> String {
    let i = (year - FIRST_YEAR) as usize;
    let revenue: [i64; 10] = [
        260_000_000,
        290_000_000,
        320_000_000,
        350_000_000,
        375_000_000,
        400_000_000,
        540_000_000,
        810_000_000,
        850_500_000,
        893_025_000,
    ];
    let appropriation: [i64; 10] = [
        190_000_000,
        215_000_000,
        240_000_000,
        265_000_000,
        285_000_000,
        310_000_000,
        347_420_000,
        365_310_000,
        400_000_000,
        430_000_000,
    ];
    let exp_primary = 6_200 + 650 * i as i64;
    let exp_junior = 7_900 + 780 * i as i64;
    let public_primary = 520 + 45 * i as i64;
    let public_junior = 720 + 55 * i as i64;
    let salary = 31_000 + 2_600 * i as i64;
    let general: Option<i64> = (year >= 2016).then(|| 480_000_000 + 40_000_000 * (year - 2016) as i64);
    let arrears = match year {
        2015 => "71080000.00".to_owned(),
        2016 => "155820000.00".to_owned(),
        _ => String::new(),
    };
    // 2015's arrears were made up before the 2018 inspection; 2016's over 2018–2021 in four parts.
    let repaid = match year {
        2018 => "110035000.00".to_owned(),
        _ => String::new(),
    };
    csv(
        &[
            "year",
            "county_code",
            "recurrent_revenue",
            "education_appropriation",
            "exp_per_pupil_primary",
            "exp_per_pupil_junior",
            "public_funds_per_pupil_primary",
            "public_funds_per_pupil_junior",
            "avg_teacher_salary",
            "general_education_expenditure",
            "arrears_committed",
            "arrears_repaid",
        ],
        &[vec![
            year.to_string(),
            COUNTY.into(),
            format!("{}.00", revenue[i]),
            format!("{}.00", appropriation[i]),
            format!("{exp_primary}.00"),
            format!("{exp_junior}.00"),
            format!("{public_primary}.00"),
            format!("{public_junior}.00"),
            format!("{salary}.00"),
            general.map(|g| format!("{g}.00")).unwrap_or_default(),
            arrears,
            repaid,
        ]],
    )
}

/// Investment projects of a fiscal year, in 万元 under Chinese headers (as counties write them).
/// Totals are the report's: 7663万 standardisation to 2017, 3202万 new campus (2018), 6604.4万
/// renovation 2015–2018, 1858万 equipment with 145 530 units 2015–2018, 267.6万 training (3 years).
fn investments_csv(year: i32) -> Option<String> {
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut add = |category: &str, amount: &str, units: &str, area: &str, what: &str| {
        rows.push([
            year.to_string(),
            COUNTY.into(),
            category.into(),
            amount.into(),
            units.into(),
            format!("{area}\u{1f}{what}"),
        ]);
    };
    match year {
        2012 => add("标准化建设", "980", "", "", "标准化学校建设（第一批）"),
        2013 => add("标准化建设", "1250", "", "", "标准化学校建设（第二批）"),
        2014 => add("标准化建设", "1433", "", "", "功能室建设及设施设备购置"),
        2015 => {
            add("标准化建设", "1500", "", "", "标准化学校建设（第三批）");
            add("薄弱学校改造", "1520.6", "", "9314", "新建校舍");
            add("教学仪器设备购置", "420", "31200", "", "教学仪器设备购置");
            add("校园安全", "120", "", "", "校园协警工资及五险");
        }
        2016 => {
            add("标准化建设", "1400", "", "", "标准化学校建设（第四批）");
            add("薄弱学校改造", "1683.2", "", "35146", "维修改造校舍");
            add("教学仪器设备购置", "465", "36800", "", "教学仪器设备购置");
            add("教师培训", "85.2", "", "", "教师培训专项资金");
            add("学生资助", "49", "", "", "家庭经济困难寄宿生生活补助");
            add("校园安全", "120", "", "", "校园协警工资及五险");
        }
        2017 => {
            add("标准化建设", "1100", "", "", "标准化学校建设（收尾）");
            add("薄弱学校改造", "1900", "", "135298", "新建运动场、硬化校园");
            add("教学仪器设备购置", "480", "38130", "", "教学仪器设备购置");
            add("教师培训", "89.4", "", "", "教师培训专项资金");
            add("学生资助", "50", "", "", "家庭经济困难寄宿生生活补助");
            add("校园安全", "120", "", "", "校园协警工资及五险");
        }
        2018 => {
            add("新建校舍", "3202", "", "", "新建第一小学鑫瑞校区（24个教学班，增加学位1080个）");
            add("薄弱学校改造", "1500.6", "", "", "新建围墙6302延长米及其他改造");
            add("教学仪器设备购置", "493", "39400", "", "教学仪器设备购置");
            add("教师培训", "93", "", "", "教师培训专项资金");
            add("学生资助", "49", "", "", "家庭经济困难寄宿生生活补助");
            add("校园安全", "120", "", "", "校园协警工资及五险");
        }
        _ => return None,
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|[y, c, cat, amount, units, rest]| {
            let (area, what) = rest.split_once('\u{1f}').map(|(a, w)| (a.to_owned(), w.to_owned())).unwrap_or_default();
            vec![y, c, cat, amount, units, area, what]
        })
        .collect();
    Some(csv(&["年份", "县区代码", "投入类别", "金额(万元)", "增添设备台套", "面积(平方米)", "项目名称"], &rows))
}

/// Write the example county under `out` (the standard layout).
pub fn write(out: &Path) -> Result<()> {
    for (relative, text) in files() {
        let path = out.join(&relative);
        super::create_parent(&path)?;
        std::fs::write(&path, text).map_err(|source| Error::Io { operation: "write", path: path.clone(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact_and_proportional() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0.0, 2.0, 5.0]), vec![0, 2, 5]);
        assert_eq!(apportion(0, &[1.0]), vec![0]);
    }

    #[test]
    fn weighted_cv_of_the_methodology_vector() {
        // methodology.md §7: five primary schools' books.
        let cv = weighted_cv(&[45.0, 37.0, 89.0, 76.0, 55.0], &[279.0, 137.0, 935.0, 160.0, 402.0]);
        assert!((cv - 0.515257).abs() < 5e-7, "{cv}");
    }

    #[test]
    fn the_report_figures_are_built_in() {
        let county = county_grades();
        let s = |y, g| county.students[&(y, g)] as f64;
        assert_eq!((1..=6).map(|g| county.students[&(2018, g)]).sum::<i64>(), 7370);
        assert_eq!((7..=9).map(|g| county.students[&(2018, g)]).sum::<i64>(), 5145);
        let retention = |y: i32, g: i64, entry: i64, back: i32| s(y, g) / county.entrants[&(y - back, entry)] as f64;
        assert_eq!((retention(2014, 6, 1, 5) * 1000.0).round(), 984.0);
        assert_eq!((retention(2016, 6, 1, 5) * 1000.0).round(), 1001.0);
        assert_eq!((retention(2015, 9, 7, 2) * 1000.0).round(), 987.0);
        let schools = schools();
        let count = |y: i32| schools.iter().filter(|s| s.present(y) && s.kind != "teaching_point").count();
        let points = |y: i32| schools.iter().filter(|s| s.present(y) && s.kind == "teaching_point").count();
        assert_eq!((count(2009), count(2018), points(2018)), (46, 28, 28));
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(files(), files());
    }
}
