//! What a person reads after a run or a validation: a short summary and the findings.

use std::fmt::Write as _;

use crate::contract::Severity;
use crate::exit::ExitStatus;
use crate::run::Outcome;

/// The findings, one per line, errors and warnings marked, then a count of those not shown.
pub fn findings_text(outcome: &Outcome, limit: usize) -> String {
    let mut out = String::new();
    for f in outcome.findings.iter().take(limit) {
        let mark = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{mark}: {} [{}]", f.message, f.rule);
    }
    let shown = outcome.findings.len().min(limit) as u64;
    if outcome.findings_total > shown {
        let _ = writeln!(
            out,
            "… and {} more findings (all of them are in quarantine/ after a run)",
            outcome.findings_total - shown
        );
    }
    out
}

/// The summary a person reads in five seconds.
pub fn summary_text(outcome: &Outcome) -> String {
    let l = &outcome.ledger;
    let t = &l.totals;
    let mut out = String::new();
    match &outcome.output {
        Some(o) => {
            let _ = writeln!(out, "published run {} (version {}) to {}", l.run_id, l.version, o.url);
        }
        None => {
            let _ = writeln!(out, "validated {} (nothing published)", l.pipeline.source_url);
        }
    }
    let _ = writeln!(
        out,
        "  {} files ({} unreadable) · {} rows read · {} published · {} quarantined · {} warnings",
        t.files, t.files_failed, t.rows_read, t.rows_published, t.rows_quarantined, t.warnings
    );
    if !t.errors_by_rule.is_empty() {
        let rules: Vec<String> = t.errors_by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(out, "  rejected by rule: {}", rules.join(", "));
    }
    if !t.warnings_by_rule.is_empty() {
        let rules: Vec<String> = t.warnings_by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(out, "  warnings by rule: {}", rules.join(", "));
    }
    if let Some(line) = slices_kept_line(l) {
        let _ = writeln!(out, "  {line}");
    }
    if !l.marts.is_empty() {
        let marts: Vec<String> = l.marts.iter().map(|m| format!("{} ({})", m.name, m.rows)).collect();
        let _ = writeln!(out, "  marts: {}", marts.join(", "));
    }
    for w in l.warnings.iter().take(10) {
        let _ = writeln!(out, "  note: {w}");
    }
    if l.warnings.len() > 10 {
        let _ = writeln!(out, "  … {} more notes in the ledger", l.warnings.len() - 10);
    }
    if outcome.output.is_some() {
        match l.thresholds_failed.len() {
            0 if l.not_assessable.is_empty() => {
                let _ = writeln!(out, "  standards: every county meets them in its latest year");
            }
            0 => {
                let _ = writeln!(out, "  standards: none missed among the verdicts the inputs allow");
            }
            n => {
                let _ = writeln!(out, "  standards missed in the latest year: {n}");
                for t in l.thresholds_failed.iter().take(8) {
                    let _ = writeln!(out, "    {t}");
                }
                if n > 8 {
                    let _ = writeln!(out, "    … {} more in the ledger (thresholds_failed)", n - 8);
                }
            }
        }
    }
    if outcome.output.is_some() && !l.not_assessable.is_empty() {
        let n = l.not_assessable.len();
        let _ = writeln!(out, "  counties with verdicts not assessable (their inputs are absent): {n}");
        for line in l.not_assessable.iter().take(4) {
            let _ = writeln!(out, "    {line}");
        }
        if n > 4 {
            let _ = writeln!(out, "    … {} more in the ledger (not_assessable)", n - 4);
        }
    }
    if let Some(o) = &outcome.output {
        let _ = writeln!(out, "  ledger: runs/{}.json", l.run_id);
        if l.report_pages.iter().any(|p| p == "report/index.html") {
            let place = match &o.local_root {
                Some(root) => root.join("report/index.html").display().to_string(),
                None => format!("{}/report/index.html", o.url.trim_end_matches('/')),
            };
            let _ = writeln!(out, "  report: {place}");
        }
    }
    if outcome.status == ExitStatus::Rejected {
        let _ = writeln!(
            out,
            "  exit 1: rows or files were rejected (tolerance: max_rejected_rows in the pipeline's [quality])"
        );
    }
    out
}

/// What a re-read of changed files holding several counties replaced, county-year by county-year,
/// and what it kept, if some file kept any.
fn slices_kept_line(l: &crate::ledger::Ledger) -> Option<String> {
    let partly: Vec<&crate::ledger::InputRecord> = l
        .inputs
        .iter()
        .filter(|i| i.state == crate::ledger::InputState::Read && i.slices.iter().any(|s| s.kept_from.is_some()))
        .collect();
    if partly.is_empty() {
        return None;
    }
    // Rows read, or kept: a slice holding only a finding about the whole file is neither.
    let slices = || {
        partly
            .iter()
            .flat_map(|i| i.slices.iter().map(move |s| (i, s)))
            .filter(|(_, s)| s.rows_read > 0 || s.kept_from.is_some())
    };
    let changed: Vec<String> = slices()
        .filter(|(_, s)| s.kept_from.is_none())
        .map(|(i, s)| format!("{} {} {}", s.county_code, s.year, i.table))
        .collect();
    let kept = slices().filter(|(_, s)| s.kept_from.is_some()).count();
    let shown = changed.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = if changed.len() > 5 { format!(" and {} more", changed.len() - 5) } else { String::new() };
    Some(format!(
        "changed files holding several counties ({}): {} county-years changed ({shown}{more}), {kept} unchanged and kept as published",
        partly.len(),
        changed.len()
    ))
}

/// The run history of an output, newest last: one line per run.
pub fn runs_text(runs: &[crate::ledger::RunSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>4}  {:<26} {:<25} {:>7} {:>6} {:>9} {:>11}  exit",
        "run", "ver", "finished", "status", "inputs", "read", "published", "quarantined"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<24} {:>4}  {:<26} {:<25} {:>3}/{:<3} {:>6} {:>9} {:>11}  {}",
            r.run_id,
            if r.published { r.version.to_string() } else { "-".into() },
            r.finished_at.get(..19).unwrap_or(&r.finished_at),
            r.status,
            r.inputs_read,
            r.inputs,
            r.totals.rows_read,
            r.totals.rows_published,
            r.totals.rows_quarantined,
            r.exit_code
        );
    }
    if runs.is_empty() {
        out.push_str("no runs yet\n");
    }
    out
}
