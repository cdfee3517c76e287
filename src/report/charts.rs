//! The trend charts of a county page, drawn from its marts' rows: enrolment by stage and by
//! 城区/镇区/乡村, retention and dropout, each difference coefficient with its threshold lines,
//! the three funding legs, equipment and computers per pupil, and investment by category.

use super::format::Money;
use super::svg::{BarChart, LineChart, Series, Threshold, ValueFormat};
use crate::contract::Stage;
use crate::marts::{BalanceSummary, Funding, Point};

const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
const PURPLE: &str = "#9467bd";
const GREY: &str = "#7f7f7f";
/// The two stages' series: their canonical value, their name, their colour.
const PRIMARY: (&str, &str, &str) = (Stage::Primary.as_str(), "小学", BLUE);
const JUNIOR: (&str, &str, &str) = (Stage::Junior.as_str(), "初中", ORANGE);
const PALETTE: [&str; 9] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

/// The investment categories of the funding mart, with their Chinese names.
const CATEGORIES: [(&str, &str); 9] = [
    ("standardisation", "标准化建设"),
    ("new_building", "新建校舍"),
    ("renovation", "维修改造"),
    ("equipment", "仪器设备"),
    ("ict", "信息化"),
    ("teacher_training", "教师培训"),
    ("student_aid", "学生资助"),
    ("safety", "校园安全"),
    ("other", "其他"),
];

/// What a county's charts are drawn from.
pub struct ChartData {
    /// Pupils by year and stage (`all` too).
    pub by_stage: Vec<Point>,
    /// Pupils by year and area type.
    pub by_area: Vec<Point>,
    /// Retention by year and stage.
    pub retention: Vec<Point>,
    /// The junior retention standard.
    pub junior_retention_min: Option<f64>,
    /// Dropout by year and stage.
    pub dropout: Vec<Point>,
    /// Every year's balance verdicts.
    pub summary: Vec<BalanceSummary>,
    /// Every fiscal year's funding.
    pub funding: Vec<Funding>,
    /// Equipment value per pupil by year and stage.
    pub equipment: Vec<Point>,
    /// Computers per 100 pupils by year and stage.
    pub computers: Vec<Point>,
}

/// Every chart with data, as SVG.
pub fn charts(data: &ChartData, money: Money) -> Vec<String> {
    let mut lines = vec![
        line(
            "enrolment-stage",
            "在校生人数（按学段）",
            series_by(&data.by_stage, &[PRIMARY, JUNIOR, ("all", "合计", GREY)]),
            vec![],
            ValueFormat::Integer,
            true,
        ),
        line(
            "enrolment-area",
            "在校生人数（按城乡）",
            series_by(
                &data.by_area,
                &[
                    ("urban", "城区", BLUE),
                    ("town", "镇区", GREEN),
                    ("rural", "乡村", ORANGE),
                    ("unknown", "城乡类型不详", GREY),
                ],
            ),
            vec![],
            ValueFormat::Integer,
            true,
        ),
        line(
            "retention",
            "巩固率",
            series_by(&data.retention, &[PRIMARY, JUNIOR, ("nine_year", "九年", GREEN)]),
            data.junior_retention_min
                .map(|v| Threshold { value: v, label: format!("初中标准 {:.0}%", v * 100.0), color: RED })
                .into_iter()
                .collect(),
            ValueFormat::Percent,
            false,
        ),
        line("dropout", "辍学率", series_by(&data.dropout, &[PRIMARY, JUNIOR]), vec![], ValueFormat::Percent, true),
    ];
    for stage in Stage::ALL {
        lines.push(cv_chart(&data.summary, stage.as_str(), stage.label()));
    }
    lines.extend(funding_charts(&data.funding, money));
    lines.push(line(
        "equipment",
        &format!("生均教学仪器设备值（{}）", money.unit_of_amounts()),
        series_by(&data.equipment, &[PRIMARY, JUNIOR]),
        vec![],
        ValueFormat::Integer,
        true,
    ));
    lines.push(line(
        "computers",
        "每百名学生拥有计算机台数",
        series_by(&data.computers, &[PRIMARY, JUNIOR]),
        vec![],
        ValueFormat::Decimal2,
        true,
    ));
    let mut svgs: Vec<String> = lines.iter().filter(|c| c.has_data()).map(LineChart::svg).collect();
    let bars = investment_chart(&data.funding, money);
    if bars.has_data() {
        svgs.push(bars.svg());
    }
    svgs
}

/// A stage's composite and largest quality CV, with the thresholds of its latest year.
fn cv_chart(summary: &[BalanceSummary], stage: &str, label: &str) -> LineChart {
    let rows: Vec<&BalanceSummary> = summary.iter().filter(|r| r.stage == stage).collect();
    let series = |name: &str, value: fn(&BalanceSummary) -> Option<f64>, color| Series {
        name: name.into(),
        points: rows.iter().map(|r| (r.year, value(r))).collect(),
        color,
    };
    let mut thresholds = Vec::new();
    if let Some(v) = rows.iter().rev().find_map(|r| r.basic_threshold) {
        thresholds.push(Threshold { value: v, label: format!("基本均衡标准 {v}"), color: RED });
    }
    if let Some(v) = rows.iter().rev().find_map(|r| r.quality_threshold) {
        thresholds.push(Threshold { value: v, label: format!("优质均衡标准 {v}"), color: ORANGE });
    }
    line(
        &format!("cv-{stage}"),
        &format!("差异系数（{label}）"),
        vec![
            series("综合差异系数", |r| r.basic_composite_cv, BLUE),
            series("优质均衡最大差异系数", |r| r.quality_max_cv, PURPLE),
        ],
        thresholds,
        ValueFormat::Decimal3,
        true,
    )
}

/// The three legs of 三个增长 year by year.
fn funding_charts(funding: &[Funding], money: Money) -> Vec<LineChart> {
    type Column = (fn(&Funding) -> Option<f64>, &'static str, &'static str);
    let chart = |id: &str, title: &str, columns: &[Column], format| {
        let series = columns
            .iter()
            .map(|(value, name, color)| Series {
                name: (*name).into(),
                points: funding.iter().map(|r| (r.year, value(r))).collect(),
                color,
            })
            .collect();
        line(id, title, series, vec![], format, true)
    };
    vec![
        chart(
            "funding-growth",
            "三个增长①：教育拨款增长与经常性收入增长",
            &[
                (|r| r.revenue_growth, "经常性收入增长率", GREY),
                (|r| r.appropriation_growth, "教育财政拨款增长率", BLUE),
            ],
            ValueFormat::Percent,
        ),
        chart(
            "funding-per-pupil",
            &format!("三个增长②：生均教育事业费（{}）", money.unit_of_amounts()),
            &[(|r| r.exp_per_pupil_primary, "小学", BLUE), (|r| r.exp_per_pupil_junior, "初中", ORANGE)],
            ValueFormat::Integer,
        ),
        chart(
            "funding-public",
            &format!("三个增长③：生均公用经费（{}）", money.unit_of_amounts()),
            &[
                (|r| r.public_funds_per_pupil_primary, "小学", BLUE),
                (|r| r.public_funds_per_pupil_junior, "初中", ORANGE),
            ],
            ValueFormat::Integer,
        ),
    ]
}

/// Investment by category, year by year.
fn investment_chart(funding: &[Funding], money: Money) -> BarChart {
    let category = |name: &str, r: &Funding| match name {
        "standardisation" => r.investment_standardisation,
        "new_building" => r.investment_new_building,
        "renovation" => r.investment_renovation,
        "equipment" => r.investment_equipment,
        "ict" => r.investment_ict,
        "teacher_training" => r.investment_teacher_training,
        "student_aid" => r.investment_student_aid,
        "safety" => r.investment_safety,
        _ => r.investment_other,
    };
    BarChart {
        id: "investment".into(),
        title: if money.is_yuan() {
            "项目投入（按类别）".into()
        } else {
            format!("项目投入（按类别，{}）", money.unit())
        },
        series: CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, (name, label))| Series {
                name: (*label).into(),
                points: funding.iter().map(|r| (r.year, category(name, r))).collect(),
                color: PALETTE[i % PALETTE.len()],
            })
            .collect(),
        // Amounts in another currency are drawn as they are, never as 万 (of yuan).
        format: if money.is_yuan() { ValueFormat::TenThousandYuan } else { ValueFormat::Integer },
    }
}

fn line(
    id: &str,
    title: &str,
    series: Vec<Series>,
    thresholds: Vec<Threshold>,
    format: ValueFormat,
    from_zero: bool,
) -> LineChart {
    LineChart { id: id.into(), title: title.into(), series, thresholds, format, from_zero }
}

/// A series per value of `key` from points (year, key, value).
fn series_by(points: &[Point], names: &[(&str, &str, &'static str)]) -> Vec<Series> {
    names
        .iter()
        .map(|(key, label, color)| Series {
            name: (*label).to_owned(),
            points: points.iter().filter(|p| p.key == *key).map(|p| (p.year, p.value)).collect(),
            color,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}
