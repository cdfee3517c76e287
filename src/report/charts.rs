//! The trend charts of a county page, drawn from its marts' rows: enrolment by stage and by
//! 城区/镇区/乡村, retention and dropout, each difference coefficient with its threshold lines,
//! the three funding legs, equipment and computers per pupil, and investment by category.

use super::format::Money;
use super::svg::{BarChart, LineChart, Series, Threshold, ValueFormat};
use super::words::{Language, Words, fill, lookup};
use crate::contract::Stage;
use crate::marts::{BalanceSummary, Funding, Point};

const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
const PURPLE: &str = "#9467bd";
const GREY: &str = "#7f7f7f";
/// The series of a chart by key: (the mart's value, its colour); the name comes from the words.
type Keys = [(&'static str, &'static str)];
/// The two stages' series.
const STAGES: [(&str, &str); 2] = [(Stage::Primary.as_str(), BLUE), (Stage::Junior.as_str(), ORANGE)];
const PALETTE: [&str; 9] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

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
pub fn charts(data: &ChartData, w: &'static Words, money: Money) -> Vec<String> {
    let unit = money.unit_of_amounts();
    let titled = |id: &str, unit: &str| fill(w.chart(id), &[("unit", unit)]);
    let stage_names = |keys: &Keys| -> Vec<(&'static str, &'static str, &'static str)> {
        keys.iter().map(|(key, color)| (*key, w.stage(key), *color)).collect()
    };
    let mut retention_series = stage_names(&STAGES);
    retention_series.push(("nine_year", w.chart("nine-year-retention"), GREEN));
    let mut lines = vec![
        line(
            "enrolment-stage",
            w.chart("enrolment-stage"),
            series_by(&data.by_stage, &stage_names(&[STAGES[0], STAGES[1], ("all", GREY)])),
            vec![],
            ValueFormat::Integer,
            true,
        ),
        line(
            "enrolment-area",
            w.chart("enrolment-area"),
            series_by(
                &data.by_area,
                &[("urban", BLUE), ("town", GREEN), ("rural", ORANGE), ("unknown", GREY)]
                    .map(|(key, color)| (key, lookup(&w.areas, key), color)),
            ),
            vec![],
            ValueFormat::Integer,
            true,
        ),
        line(
            "retention",
            w.chart("retention"),
            series_by(&data.retention, &retention_series),
            data.junior_retention_min
                .map(|v| Threshold {
                    value: v,
                    label: fill(w.chart("retention-standard"), &[("value", &format!("{:.0}%", v * 100.0))]),
                    color: RED,
                })
                .into_iter()
                .collect(),
            ValueFormat::Percent,
            false,
        ),
        line(
            "dropout",
            w.chart("dropout"),
            series_by(&data.dropout, &stage_names(&STAGES)),
            vec![],
            ValueFormat::Percent,
            true,
        ),
    ];
    for stage in Stage::ALL {
        lines.push(cv_chart(&data.summary, stage.as_str(), w));
    }
    lines.extend(funding_charts(&data.funding, w, unit));
    lines.push(line(
        "equipment",
        &titled("equipment", unit),
        series_by(&data.equipment, &stage_names(&STAGES)),
        vec![],
        ValueFormat::Integer,
        true,
    ));
    lines.push(line(
        "computers",
        w.chart("computers"),
        series_by(&data.computers, &stage_names(&STAGES)),
        vec![],
        ValueFormat::Decimal2,
        true,
    ));
    let mut svgs: Vec<String> = lines.iter().filter(|c| c.has_data()).map(LineChart::svg).collect();
    let bars = investment_chart(&data.funding, w, money);
    if bars.has_data() {
        svgs.push(bars.svg());
    }
    svgs
}

/// A stage's composite and largest quality CV, with the thresholds of its latest year.
fn cv_chart(summary: &[BalanceSummary], stage: &str, w: &Words) -> LineChart {
    let rows: Vec<&BalanceSummary> = summary.iter().filter(|r| r.stage == stage).collect();
    let series = |name: &str, value: fn(&BalanceSummary) -> Option<f64>, color| Series {
        name: name.into(),
        points: rows.iter().map(|r| (r.year, value(r))).collect(),
        color,
    };
    let threshold =
        |id: &str, v: f64, color| Threshold { value: v, label: fill(w.chart(id), &[("value", &v.to_string())]), color };
    let mut thresholds = Vec::new();
    if let Some(v) = rows.iter().rev().find_map(|r| r.basic_threshold) {
        thresholds.push(threshold("basic-standard", v, RED));
    }
    if let Some(v) = rows.iter().rev().find_map(|r| r.quality_threshold) {
        thresholds.push(threshold("quality-standard", v, ORANGE));
    }
    line(
        &format!("cv-{stage}"),
        &fill(w.chart("cv"), &[("stage", w.stage(stage))]),
        vec![
            series(w.chart("composite-cv"), |r| r.basic_composite_cv, BLUE),
            series(w.chart("largest-quality-cv"), |r| r.quality_max_cv, PURPLE),
        ],
        thresholds,
        ValueFormat::Decimal3,
        true,
    )
}

/// The three legs of 三个增长 year by year.
fn funding_charts(funding: &[Funding], w: &'static Words, unit: &str) -> Vec<LineChart> {
    type Column = (fn(&Funding) -> Option<f64>, &'static str, &'static str);
    let chart = |id: &str, columns: &[Column], format| {
        let series = columns
            .iter()
            .map(|(value, name, color)| Series {
                name: (*name).into(),
                points: funding.iter().map(|r| (r.year, value(r))).collect(),
                color,
            })
            .collect();
        line(id, &fill(w.chart(id), &[("unit", unit)]), series, vec![], format, true)
    };
    let (primary, junior) = (w.stage("primary"), w.stage("junior"));
    vec![
        chart(
            "funding-growth",
            &[
                (|r| r.revenue_growth, w.chart("revenue-growth"), GREY),
                (|r| r.appropriation_growth, w.chart("appropriation-growth"), BLUE),
            ],
            ValueFormat::Percent,
        ),
        chart(
            "funding-per-pupil",
            &[(|r| r.exp_per_pupil_primary, primary, BLUE), (|r| r.exp_per_pupil_junior, junior, ORANGE)],
            ValueFormat::Integer,
        ),
        chart(
            "funding-public",
            &[
                (|r| r.public_funds_per_pupil_primary, primary, BLUE),
                (|r| r.public_funds_per_pupil_junior, junior, ORANGE),
            ],
            ValueFormat::Integer,
        ),
    ]
}

/// Investment by category, year by year.
fn investment_chart(funding: &[Funding], w: &Words, money: Money) -> BarChart {
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
    // A Chinese chart's ticks say 万 of yuan; any other is titled with the unit of its ticks.
    let chinese_yuan = money.is_yuan() && w.language == Language::Chinese;
    BarChart {
        id: "investment".into(),
        title: fill(w.chart(if chinese_yuan { "investment" } else { "investment-in" }), &[("unit", money.unit())]),
        series: w
            .categories
            .iter()
            .enumerate()
            .map(|(i, (name, label))| Series {
                name: (*label).into(),
                points: funding.iter().map(|r| (r.year, category(name, r))).collect(),
                color: PALETTE[i % PALETTE.len()],
            })
            .collect(),
        // Amounts in another currency are drawn as they are, never as 万 (of yuan).
        format: match (money.is_yuan(), chinese_yuan) {
            (true, true) => ValueFormat::TenThousandYuan,
            (true, false) => ValueFormat::TenThousands,
            (false, _) => ValueFormat::Integer,
        },
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

/// A series per value of `key` from points (year, key, value): (key, name, colour).
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
