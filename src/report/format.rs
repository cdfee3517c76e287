//! How the report writes numbers and verdicts: three decimals for a CV, a percentage with one,
//! thousands grouped, 达标 / 未达标, 小学 / 初中. Every function takes the mart's value as it was
//! published (None when not reported) and gives the text a page shows.

use super::svg;
use crate::contract::Stage;

/// Three decimals, or — when there is no value.
pub fn fmt3(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.3}"))
}

/// A fraction as a percentage with one decimal (0.984 → 98.4%).
pub fn pct(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// A whole number with thousands grouped (a count read as a double is rounded).
pub fn int(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| svg::group_thousands(v.round() as i64))
}

/// A count with thousands grouped.
pub fn count(value: Option<i64>) -> String {
    int(value.map(|v| v as f64))
}

/// An area or amount with up to two decimals, trailing zeros dropped.
pub fn decimal(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

/// A value with `decimals` decimals, or —.
pub fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

/// A value as the mart holds it (`0.65`), or nothing.
pub fn plain<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// Money in 元 shown in 万元 with one decimal, or —.
pub fn ten_thousands(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}", v / 10_000.0))
}

/// A value of `quality_assessment` in its `value_unit`: a CV with three decimals, a share or
/// ratio as a percentage, 元 per pupil whole, a count of files as it is.
pub fn assessment_value(value_unit: Option<&str>, value: Option<f64>) -> String {
    match value_unit {
        Some("cv") => fmt3(value),
        Some("share" | "ratio") => pct(value),
        Some("yuan_per_pupil") => {
            value.map_or("—".into(), |v| format!("{} 元", svg::group_thousands(v.round() as i64)))
        }
        _ => int(value),
    }
}

/// A verdict: passed, failed, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 达标.
    Pass,
    /// 未达标.
    Fail,
    /// Not known (—).
    Unknown,
}

impl Verdict {
    /// The verdict of a boolean a mart publishes.
    pub fn of(value: Option<bool>) -> Verdict {
        match value {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => Verdict::Unknown,
        }
    }

    /// Its CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "na",
        }
    }

    /// Its words.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "达标",
            Verdict::Fail => "未达标",
            Verdict::Unknown => "—",
        }
    }
}

/// The Chinese name of a stage (or of `nine_year`, `all`).
pub fn stage_zh(stage: &str) -> &str {
    match (Stage::parse(stage), stage) {
        (Some(s), _) => s.label(),
        (None, "nine_year") => "九年一贯",
        (None, "all") => "合计",
        (None, other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_as_the_county_report_writes_them() {
        assert_eq!(fmt3(Some(0.5482)), "0.548");
        assert_eq!(pct(Some(0.984)), "98.4%");
        assert_eq!(int(Some(12515.0)), "12,515");
        assert_eq!(decimal(Some(887483.40)), "887483.4");
        assert_eq!(decimal(Some(2.0)), "2");
        assert_eq!(plain(Some(0.65)), "0.65");
        assert_eq!(ten_thousands(Some(71_080_000.0)), "7108.0");
        assert_eq!((fmt3(None), plain::<f64>(None)), ("—".into(), String::new()));
        assert_eq!(Verdict::of(Some(false)).label(), "未达标");
        assert_eq!(assessment_value(Some("cv"), Some(0.4512)), "0.451");
        assert_eq!(assessment_value(Some("ratio"), Some(0.9848)), "98.5%");
        assert_eq!(assessment_value(Some("yuan_per_pupil"), Some(6400.0)), "6,400 元");
        assert_eq!(assessment_value(Some("files"), Some(2.0)), "2");
    }
}
