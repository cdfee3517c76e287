//! How the report writes numbers and verdicts: three decimals for a CV, a percentage with one,
//! thousands grouped, 达标 / 未达标, 小学 / 初中.

use super::svg;

/// The cell `i` of a row as text (empty when the row is shorter).
pub fn get(row: &[String], i: usize) -> String {
    row.get(i).cloned().unwrap_or_default()
}

/// A cell as a number (None when empty or not a number).
pub fn num(text: &str) -> Option<f64> {
    text.parse().ok()
}

/// Three decimals, or — when there is no value.
pub fn fmt3(text: &str) -> String {
    num(text).map_or("—".into(), |v| format!("{v:.3}"))
}

/// A fraction as a percentage with one decimal (0.984 → 98.4%).
pub fn pct(text: &str) -> String {
    num(text).map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// A whole number with thousands grouped.
pub fn int(text: &str) -> String {
    num(text).map_or("—".into(), |v| svg::group_thousands(v.round() as i64))
}

/// An area or amount with up to two decimals, trailing zeros dropped.
pub fn decimal(text: &str) -> String {
    num(text).map_or("—".into(), |v| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

/// 达标 / 未达标 / — for a boolean cell.
pub fn verdict(text: &str) -> &'static str {
    match text {
        "true" => "<span class=\"pass\">达标</span>",
        "false" => "<span class=\"fail\">未达标</span>",
        _ => "<span class=\"na\">—</span>",
    }
}

/// The Chinese name of a stage.
pub fn stage_zh(stage: &str) -> &str {
    match stage {
        "primary" => "小学",
        "junior" => "初中",
        "nine_year" => "九年一贯",
        "all" => "合计",
        other => other,
    }
}
