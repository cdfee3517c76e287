//! The 优质均衡 section of a county page: the 32 indicators of the latest year grouped by part,
//! each with its status (达标 / 未达标 / 待填报 / 不适用 / 已提交佐证 / 缺佐证材料), the schools
//! failing each school-level item, what the county still has to fill in, its evidence files and
//! what closing its gaps to the standards takes (差距清单). Everything is read from the published
//! marts ([`crate::marts::Assessment`]) and the run's ledger; nothing is computed here.

use super::format::{Money, assessment_value, count, decimal, stage_zh};
use crate::ledger::{EvidenceRecord, Ledger};
use crate::marts::{Assessment, PARTS, QualityItem, QualitySummary, Status, gap_unit_zh};

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
        money: Money,
    ) -> AssessmentSection {
        let parts = PARTS
            .iter()
            .map(|(part, name)| PartTable {
                name: (*name).to_owned(),
                rows: assessment.items.iter().filter(|i| i.part == *part).map(|i| item_row(i, money)).collect(),
            })
            .collect();
        let failing = assessment
            .failing_schools()
            .into_iter()
            .map(|(item, c)| FailingSchool {
                item: item.to_owned(),
                code: c.school_code.clone(),
                name: c.school_name.clone().unwrap_or_default(),
                detail: c.shortfall_zh(item),
            })
            .collect();
        let mut to_fill: Vec<(String, String)> = Vec::new();
        for item in assessment.items.iter().filter(|i| i.status() == Status::NotReported) {
            if !to_fill.iter().any(|(i, _)| *i == item.item) {
                to_fill.push((item.item.clone(), item.inputs_zh.clone().unwrap_or_default()));
            }
        }
        AssessmentSection {
            year,
            readiness: readiness(assessment.summary.as_ref()),
            parts,
            failing,
            to_fill,
            evidence: evidence_rows(&ledger.evidence, county_code, year),
            gaps: assessment
                .gap_totals
                .iter()
                .map(|g| GapRow {
                    stage: stage_zh(&g.stage).to_owned(),
                    indicator: g.indicator.clone(),
                    name: g.indicator_name.clone().unwrap_or_default(),
                    units: g.units,
                    shortfall: format!("{} {}", decimal(g.shortfall), gap_unit_zh(g.unit.as_deref())),
                })
                .collect(),
        }
    }
}

/// The rule an item is held to, as the page words it.
pub fn rule_text(item: &QualityItem, money: Money) -> String {
    match item.comparison.as_deref() {
        Some("=") => "全部达标".to_owned(),
        Some(op @ ("<=" | ">=")) => {
            let sign = if op == "<=" { "≤" } else { "≥" };
            format!("{sign} {}", assessment_value(item.value_unit.as_deref(), item.threshold, money))
        }
        _ => "佐证材料".to_owned(),
    }
}

fn item_row(item: &QualityItem, money: Money) -> ItemRow {
    let status = item.status();
    let units = match (item.assessed, item.failing, item.missing) {
        (Some(a), f, m) if item.counts_units() => {
            format!("{a} / {} / {}", f.unwrap_or(0), m.unwrap_or(0))
        }
        _ => String::new(),
    };
    let value = if item.kind == "evidence" {
        format!("{} 个文件", item.files.unwrap_or(0))
    } else {
        assessment_value(item.value_unit.as_deref(), item.value, money)
    };
    ItemRow {
        item: item.item.clone(),
        stage: stage_zh(&item.stage).to_owned(),
        name: item.item_zh.clone(),
        value,
        rule: rule_text(item, money),
        units,
        class: status_class(status),
        label: status.label_zh(),
    }
}

/// One sentence on the county's readiness for recognition.
pub fn readiness(summary: Option<&QualitySummary>) -> String {
    let Some(s) = summary else {
        return "本年度无学校基本情况数据，无法评估。".to_owned();
    };
    let (met, not_met, not_reported) = s.totals();
    let verdict = match s.computed_met {
        Some(true) if s.evidence_complete => "数据指标全部达标，佐证材料齐全",
        Some(true) => "数据指标全部达标，尚缺佐证材料",
        Some(false) => "尚有未达标指标",
        None => "尚有待填报数据",
    };
    format!(
        "{verdict}：计算指标达标 {met} 项、未达标 {not_met} 项、待填报 {not_reported} 项、不适用 {} 项；佐证材料已提交 {} 项、缺 {} 项。",
        s.not_applicable, s.evidence_submitted, s.evidence_missing
    )
}

fn evidence_rows(evidence: &[EvidenceRecord], county_code: &str, year: i32) -> Vec<EvidenceRow> {
    let mut rows: Vec<EvidenceRow> = evidence
        .iter()
        .filter(|e| e.county_code.as_deref() == Some(county_code) && e.year == Some(year))
        .map(|e| EvidenceRow {
            item: e.item.clone().unwrap_or_else(|| "（未标明指标）".to_owned()),
            path: e.path.clone(),
            size: format!("{} 字节", count(Some(e.size as i64))),
            sha256: e.sha256.chars().take(16).collect(),
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_says_which_of_met_failing_and_missing_holds() {
        let mut s = QualitySummary { resources_met: 20, government_not_reported: 2, ..Default::default() };
        assert!(readiness(Some(&s)).starts_with("尚有待填报数据：计算指标达标 20 项、未达标 0 项、待填报 2 项"));
        s.computed_met = Some(false);
        assert!(readiness(Some(&s)).starts_with("尚有未达标指标"));
        s.computed_met = Some(true);
        s.evidence_complete = true;
        assert!(readiness(Some(&s)).starts_with("数据指标全部达标，佐证材料齐全"));
        assert!(readiness(None).contains("无法评估"));
    }
}
