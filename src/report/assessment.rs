//! The 优质均衡 section of a county page: the 32 indicators of the latest year grouped by part,
//! each with its status (达标 / 未达标 / 待填报 / 不适用 / 已提交佐证 / 缺佐证材料), the schools
//! failing each school-level item, what the county still has to fill in, its evidence files and
//! what closing its gaps to the standards takes (差距清单). Everything is read from the published
//! marts ([`crate::marts::Assessment`]) and the run's ledger; nothing is computed here.

use super::format::{Money, assessment_value, count, decimal};
use super::words::{Wording, Words, fill, lookup};
use crate::ledger::{EvidenceRecord, Ledger};
use crate::marts::{Assessment, QualityItem, QualitySummary, SchoolCondition, Status};

/// The section as the template lays it out.
pub struct AssessmentSection {
    /// The year assessed.
    pub year: i32,
    /// One sentence: how far the county is from recognition.
    pub readiness: String,
    /// The four parts with their rows.
    pub parts: Vec<PartTable>,
    /// Schools failing a school-level item.
    pub failing: Vec<FailingSchool>,
    /// Items not reported, with the data they need (one line per item).
    pub to_fill: Vec<(String, String)>,
    /// Evidence files of the year.
    pub evidence: Vec<EvidenceRow>,
    /// The county's gaps to the standards, per stage and indicator.
    pub gaps: Vec<GapRow>,
}

/// A part of the assessment and its rows.
pub struct PartTable {
    /// 资源配置 …
    pub name: String,
    /// Its rows in the official order.
    pub rows: Vec<ItemRow>,
}

/// An item (and stage) as the page shows it.
pub struct ItemRow {
    /// q1, g3 …
    pub item: String,
    /// 小学 / 初中 / 合计.
    pub stage: String,
    /// The indicator's words.
    pub name: String,
    /// The value in its unit.
    pub value: String,
    /// The rule (`≤ 0.500`, `≥ 95.0%`, every unit).
    pub rule: String,
    /// Assessed / failing / missing, for items counting units.
    pub units: String,
    /// The status's CSS class.
    pub class: &'static str,
    /// The status's words.
    pub label: &'static str,
}

/// A school failing a school-level item.
pub struct FailingSchool {
    /// The item.
    pub item: String,
    /// School code.
    pub code: String,
    /// School name.
    pub name: String,
    /// What it lacks.
    pub detail: String,
}

/// An evidence file.
pub struct EvidenceRow {
    /// The item its folder names.
    pub item: String,
    /// Its path under the source.
    pub path: String,
    /// Its size.
    pub size: String,
    /// The first 16 hex digits of its SHA-256.
    pub sha256: String,
}

/// A county total of `standards_gap_totals`.
pub struct GapRow {
    /// 小学 / 初中.
    pub stage: String,
    /// q1 …
    pub indicator: String,
    /// The indicator's name.
    pub name: String,
    /// Units below the standard.
    pub units: i64,
    /// What they lack together, in the indicator's unit.
    pub shortfall: String,
}

/// The status's CSS class.
pub fn status_class(status: Status) -> &'static str {
    match status {
        Status::Met => "pass",
        Status::NotMet => "fail",
        Status::NotReported => "todo",
        Status::NotApplicable => "na",
        Status::EvidenceSubmitted => "filed",
        Status::EvidenceMissing => "todo",
    }
}

impl AssessmentSection {
    /// The section of a county-year.
    pub fn new(
        assessment: &Assessment,
        ledger: &Ledger,
        county_code: &str,
        year: i32,
        wording: Wording<'_>,
    ) -> AssessmentSection {
        let w = wording.words;
        let parts = w
            .parts
            .iter()
            .map(|(part, name)| PartTable {
                name: (*name).to_owned(),
                rows: assessment.items.iter().filter(|i| i.part == *part).map(|i| item_row(i, wording)).collect(),
            })
            .collect();
        let failing = assessment
            .failing_schools()
            .into_iter()
            .map(|(item, c)| FailingSchool {
                item: item.to_owned(),
                code: c.school_code.clone(),
                name: c.school_name.clone().unwrap_or_default(),
                detail: shortfall(c, item, wording.words, wording.money),
            })
            .collect();
        let mut to_fill: Vec<(String, String)> = Vec::new();
        for item in assessment.items.iter().filter(|i| i.status() == Status::NotReported) {
            if !to_fill.iter().any(|(i, _)| *i == item.item) {
                let inputs =
                    wording.names.inputs(&item.item, &item.stage, item.inputs_zh.as_deref().unwrap_or_default());
                to_fill.push((item.item.clone(), inputs.to_owned()));
            }
        }
        AssessmentSection {
            year,
            readiness: readiness(assessment.summary.as_ref(), w),
            parts,
            failing,
            to_fill,
            evidence: evidence_rows(&ledger.evidence, county_code, year, w),
            gaps: assessment
                .gap_totals
                .iter()
                .map(|g| GapRow {
                    stage: w.stage(&g.stage).to_owned(),
                    indicator: g.indicator.clone(),
                    name: wording
                        .names
                        .indicator(&g.indicator, g.indicator_name.as_deref().unwrap_or_default())
                        .to_owned(),
                    units: g.units,
                    shortfall: format!(
                        "{} {}",
                        decimal(g.shortfall),
                        g.unit.as_deref().map_or("", |u| lookup(w.gap_units, u))
                    ),
                })
                .collect(),
        }
    }
}

/// What a school lacks for a school-level item (g3, g4, g5, g6, e4), in the words of an
/// application.
pub fn shortfall(c: &SchoolCondition, item: &str, w: &Words, money: Money) -> String {
    let n = |v: Option<i64>| v.map_or("—".to_owned(), |v| v.to_string());
    let x = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.0}"));
    let unit = money.unit_of_amounts();
    match item {
        "g3" => fill(
            w.shortfall_g3,
            &[
                ("classes", &n(c.classes)),
                ("music", &n(c.music_rooms)),
                ("art", &n(c.art_rooms)),
                ("required", &n(c.rooms_required)),
            ],
        ),
        "g4" => fill(w.shortfall_g4, &[("students", &n(c.students)), ("limit", &x(c.size_limit))]),
        "g5" => fill(w.shortfall_g5, &[("grades", &n(c.grades_over_class_limit))]),
        "g6" => fill(
            w.shortfall_g6,
            &[("budget", &x(c.public_funds_budget)), ("minimum", &x(c.small_school_minimum)), ("unit", unit)],
        ),
        "e4" => fill(
            w.shortfall_e4,
            &[
                ("spent", &x(c.training_expenditure)),
                ("share", &c.training_share.map_or("—".to_owned(), |v| format!("{:.1}%", v * 100.0))),
                ("unit", unit),
            ],
        ),
        _ => String::new(),
    }
}

/// The rule an item is held to, as the page words it.
pub fn rule_text(item: &QualityItem, w: &Words, money: Money) -> String {
    match item.comparison.as_deref() {
        Some("=") => w.rule_every_unit.to_owned(),
        Some(op @ ("<=" | ">=")) => {
            let sign = if op == "<=" { "≤" } else { "≥" };
            format!("{sign} {}", assessment_value(item.value_unit.as_deref(), item.threshold, money))
        }
        _ => w.rule_evidence.to_owned(),
    }
}

fn item_row(item: &QualityItem, wording: Wording<'_>) -> ItemRow {
    let (w, money) = (wording.words, wording.money);
    let status = item.status();
    let units = match (item.assessed, item.failing, item.missing) {
        (Some(a), f, m) if item.counts_units() => {
            format!("{a} / {} / {}", f.unwrap_or(0), m.unwrap_or(0))
        }
        _ => String::new(),
    };
    let value = if item.kind == "evidence" {
        fill(w.files, &[("files", &item.files.unwrap_or(0).to_string())])
    } else {
        assessment_value(item.value_unit.as_deref(), item.value, money)
    };
    ItemRow {
        item: item.item.clone(),
        stage: w.stage(&item.stage).to_owned(),
        name: wording.names.item(&item.item, &item.stage, &item.item_zh).to_owned(),
        value,
        rule: rule_text(item, w, money),
        units,
        class: status_class(status),
        label: status.label(w),
    }
}

/// One sentence on the county's readiness for recognition.
pub fn readiness(summary: Option<&QualitySummary>, w: &Words) -> String {
    let Some(s) = summary else {
        return w.readiness_none.to_owned();
    };
    let (met, not_met, not_reported) = s.totals();
    let verdict = match s.computed_met {
        Some(true) if s.evidence_complete => w.readiness_verdicts[0],
        Some(true) => w.readiness_verdicts[1],
        Some(false) => w.readiness_verdicts[2],
        None => w.readiness_verdicts[3],
    };
    let figure = |n: i64| n.to_string();
    fill(
        w.readiness,
        &[
            ("verdict", verdict),
            ("met", &figure(met)),
            ("not_met", &figure(not_met)),
            ("not_reported", &figure(not_reported)),
            ("not_applicable", &figure(s.not_applicable)),
            ("submitted", &figure(s.evidence_submitted)),
            ("missing", &figure(s.evidence_missing)),
        ],
    )
}

fn evidence_rows(evidence: &[EvidenceRecord], county_code: &str, year: i32, w: &Words) -> Vec<EvidenceRow> {
    let mut rows: Vec<EvidenceRow> = evidence
        .iter()
        .filter(|e| e.county_code.as_deref() == Some(county_code) && e.year == Some(year))
        .map(|e| EvidenceRow {
            item: e.item.clone().unwrap_or_else(|| w.no_item.to_owned()),
            path: e.path.clone(),
            size: fill(w.bytes, &[("bytes", &count(Some(e.size as i64)))]),
            sha256: e.sha256.chars().take(16).collect(),
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::words::{EN, Language, ZH};

    #[test]
    fn readiness_says_which_of_met_failing_and_missing_holds() {
        let mut s = QualitySummary { resources_met: 20, government_not_reported: 2, ..Default::default() };
        assert!(readiness(Some(&s), &ZH).starts_with("尚有待填报数据：计算指标达标 20 项、未达标 0 项、待填报 2 项"));
        assert!(
            readiness(Some(&s), &EN)
                .starts_with("Some data are still to be filled in: 20 computed items met, 0 not met, 2 to fill in")
        );
        s.computed_met = Some(false);
        assert!(readiness(Some(&s), &ZH).starts_with("尚有未达标指标"));
        s.computed_met = Some(true);
        s.evidence_complete = true;
        assert!(readiness(Some(&s), &ZH).starts_with("数据指标全部达标，佐证材料齐全"));
        assert!(readiness(None, &ZH).contains("无法评估"));
        assert!(readiness(None, &EN).contains("cannot be assessed"));
    }

    #[test]
    fn a_failing_school_is_worded_with_its_figures_in_either_language() {
        let c = SchoolCondition {
            public_funds_budget: Some(42_000.0),
            small_school_minimum: Some(60_000.0),
            ..serde_json::from_str(r#"{"county_code":"1","school_code":"2"}"#).unwrap()
        };
        let yuan = Money::new(&crate::contract::CURRENCIES[0]);
        assert_eq!(shortfall(&c, "g6", &ZH, yuan), "公用经费预算 42000 元，低于小规模学校按规定人数核定的 60000 元");
        assert_eq!(
            shortfall(&c, "g6", &EN, yuan.in_language(Language::English)),
            "public-funds budget 42000 yuan, below the 60000 yuan of a small school funded as 100 pupils"
        );
    }
}
