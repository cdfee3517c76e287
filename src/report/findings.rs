//! 存在的不足: the sentences a county page lists — the standards the county misses (the
//! `shortcomings` mart), the data problems of the run (its ledger), and how its schools changed
//! (`school_changes`). The rules of what counts live in SQL; here they are only worded.

use std::collections::BTreeMap;

use super::format::{Money, fmt3, pct, plain, stage_zh};
use crate::ledger::Ledger;
use crate::marts::{ChangeCount, Shortcoming};

/// The legs of 三个增长, by number, as the county report names them.
const LEGS: [(&str, &str); 3] =
    [("1", "拨款增长高于经常性收入增长"), ("2", "生均教育事业费增长"), ("3", "生均公用经费和教师工资增长")];

/// Every sentence of a county's 存在的不足, in the order the county report gives them.
pub fn findings(
    county: &str,
    shortcomings: &[Shortcoming],
    ledger: &Ledger,
    changes: &[ChangeCount],
    money: Money,
) -> Vec<String> {
    let mut out = Vec::new();
    let latest = |kind: &'static str| shortcomings.iter().filter(move |s| s.latest && s.shortcoming == kind);
    // Stage by stage (primary first), the balance verdicts of the latest year.
    let mut by_stage: Vec<&Shortcoming> = shortcomings
        .iter()
        .filter(|s| s.latest && matches!(s.shortcoming.as_str(), "basic_composite_cv" | "quality_cv"))
        .collect();
    by_stage.sort_by(|a, b| b.stage.cmp(&a.stage).then(a.shortcoming.cmp(&b.shortcoming)));
    for s in by_stage {
        let stage = stage_zh(&s.stage);
        match s.shortcoming.as_str() {
            "basic_composite_cv" => out.push(format!(
                "{stage}综合差异系数{}，高于基本均衡标准{}。",
                fmt3(Some(s.value)),
                plain(s.threshold)
            )),
            _ => out.push(format!(
                "{stage}优质均衡资源配置未达标：{} 的差异系数超过标准。",
                s.detail.as_deref().unwrap_or_default()
            )),
        }
    }
    for s in latest("satisfaction") {
        out.push(format!("公众满意度{}，低于标准。", pct(Some(s.value))));
    }
    for s in latest("junior_retention") {
        out.push(format!("初中三年巩固率{}，低于{}。", pct(Some(s.value)), pct(s.threshold)));
    }
    for s in shortcomings.iter().filter(|s| s.shortcoming == "three_increases") {
        out.push(three_increases(s, money));
    }
    if let Some(s) = shortcomings.iter().filter(|s| s.shortcoming == "arrears_outstanding").max_by_key(|s| s.year) {
        out.push(format!("尚有欠拨教育经费{}未补齐。", money.in_words(s.value)));
    }
    for s in latest("large_classes") {
        out.push(format!("仍有大班额{}个（其中超大班额{}个）。", s.value, plain(s.huge_classes)));
    }
    for s in latest("oversized_schools") {
        out.push(format!("{}所学校规模超过标准。", s.value));
    }
    out.extend(data_problems(county, ledger));
    if !changes.is_empty() {
        let parts: Vec<String> = changes.iter().map(|c| format!("{}{}所", change_zh(&c.event), c.schools)).collect();
        out.push(format!("学校布局调整：{}（学校及教学点，见 school_changes）。", parts.join("、")));
    }
    out
}

/// A fiscal year whose three increases were not all met, and by how much leg 1 fell short.
fn three_increases(s: &Shortcoming, money: Money) -> String {
    let failed: Vec<&str> = s
        .detail
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|leg| LEGS.iter().find(|(n, _)| *n == leg).map(|(_, name)| *name))
        .collect();
    let gap =
        s.gap.filter(|g| *g > 0.0).map_or(String::new(), |g| format!("，教育财政拨款应再增加{}", money.in_words(g)));
    format!("{}年未实现教育“三个增长”（{}未达到）{gap}。", s.year, failed.join("、"))
}

/// The run's data problems for the county: rows rejected by rule, totals that disagree.
fn data_problems(county: &str, ledger: &Ledger) -> Vec<String> {
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut warned: BTreeMap<String, u64> = BTreeMap::new();
    for s in ledger.slices.iter().filter(|s| s.county_code == county) {
        for (rule, n) in &s.quarantined_by_rule {
            *rejected.entry(rule.clone()).or_default() += n;
        }
        for (rule, n) in &s.warnings_by_rule {
            *warned.entry(rule.clone()).or_default() += n;
        }
    }
    let mut out = Vec::new();
    if !rejected.is_empty() {
        let rules: Vec<String> = rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        out.push(format!(
            "报送数据中有{}处错误未能采用（{}），详见错误清单与 quarantine。",
            rejected.values().sum::<u64>(),
            rules.join("，")
        ));
    }
    if let Some(n) = warned.get(crate::contract::Rule::TotalRowMismatch.id()) {
        out.push(format!("{n}处合计行与明细之和不一致（数据未核对一致）。"));
    }
    out
}

/// How a school change is named in the county report.
fn change_zh(event: &str) -> &str {
    match event {
        "closed" => "撤并（停办）",
        "opened" => "新设",
        "code_changed" => "更换学校标识码",
        "students_changed_threefold" => "在校生数变化超过三倍",
        other => other,
    }
}
