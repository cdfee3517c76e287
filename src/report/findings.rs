//! 存在的不足: the sentences a county page lists — the standards the county misses (the
//! `shortcomings` mart), the data problems of the run (its ledger), and how its schools changed
//! (`school_changes`). The rules of what counts live in SQL; here they are only worded.

use std::collections::BTreeMap;

use super::format::{Money, fmt3, pct, plain};
use super::words::{Words, fill, lookup};
use crate::ledger::Ledger;
use crate::marts::{ChangeCount, Shortcoming};

/// Every sentence of a county's 存在的不足, in the order the county report gives them.
pub fn findings(
    county: &str,
    shortcomings: &[Shortcoming],
    ledger: &Ledger,
    changes: &[ChangeCount],
    w: &Words,
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
        let stage = w.stage(&s.stage);
        out.push(match s.shortcoming.as_str() {
            "basic_composite_cv" => fill(
                w.finding_basic_cv,
                &[("stage", stage), ("value", &fmt3(Some(s.value))), ("threshold", &plain(s.threshold))],
            ),
            _ => {
                fill(w.finding_quality_cv, &[("stage", stage), ("indicators", s.detail.as_deref().unwrap_or_default())])
            }
        });
    }
    for s in latest("satisfaction") {
        out.push(fill(w.finding_satisfaction, &[("value", &pct(Some(s.value)))]));
    }
    for s in latest("junior_retention") {
        out.push(fill(w.finding_retention, &[("value", &pct(Some(s.value))), ("threshold", &pct(s.threshold))]));
    }
    for s in shortcomings.iter().filter(|s| s.shortcoming == "three_increases") {
        out.push(three_increases(s, w, money));
    }
    if let Some(s) = shortcomings.iter().filter(|s| s.shortcoming == "arrears_outstanding").max_by_key(|s| s.year) {
        out.push(fill(w.finding_arrears, &[("amount", &money.in_words(s.value))]));
    }
    for s in latest("large_classes") {
        out.push(fill(w.finding_large_classes, &[("classes", &s.value.to_string()), ("huge", &plain(s.huge_classes))]));
    }
    for s in latest("oversized_schools") {
        out.push(fill(w.finding_oversized, &[("schools", &s.value.to_string())]));
    }
    out.extend(data_problems(county, ledger, w));
    if !changes.is_empty() {
        let parts: Vec<String> = changes
            .iter()
            .map(|c| fill(w.change, &[("event", lookup(&w.changes, &c.event)), ("schools", &c.schools.to_string())]))
            .collect();
        out.push(fill(w.finding_changes, &[("changes", &parts.join(w.list_separator))]));
    }
    out
}

/// A fiscal year whose three increases were not all met, and by how much leg 1 fell short.
fn three_increases(s: &Shortcoming, w: &Words, money: Money) -> String {
    let failed: Vec<&str> = s
        .detail
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|leg| w.legs.iter().find(|(n, _)| *n == leg).map(|(_, name)| *name))
        .collect();
    let gap = s
        .gap
        .filter(|g| *g > 0.0)
        .map_or(String::new(), |g| fill(w.finding_appropriation_gap, &[("amount", &money.in_words(g))]));
    fill(
        w.finding_three_increases,
        &[("year", &s.year.to_string()), ("legs", &failed.join(w.list_separator)), ("gap", &gap)],
    )
}

/// The run's data problems for the county: rows rejected by rule, totals that disagree.
fn data_problems(county: &str, ledger: &Ledger, w: &Words) -> Vec<String> {
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
        out.push(fill(
            w.finding_rejected,
            &[("rows", &rejected.values().sum::<u64>().to_string()), ("rules", &rules.join(w.clause_separator))],
        ));
    }
    if let Some(n) = warned.get(crate::contract::Rule::TotalRowMismatch.id()) {
        out.push(fill(w.finding_total_rows, &[("rows", &n.to_string())]));
    }
    out
}
