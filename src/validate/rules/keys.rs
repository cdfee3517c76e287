//! Keys: the table's key (year and school, with grade or stage; year and county) appears once
//! in its scope — a file of a county-year, or the whole table for files of no county.

use super::reject;
use crate::contract::{Rule, Severity};
use crate::validate::{CheckedBatch, Finding, KeySet, Values};

/// Reject rows (not already rejected) whose key was seen before in the scope.
pub(super) fn check_keys(batch: &mut CheckedBatch, keys: &mut KeySet) {
    let table = batch.table();
    let Some(key) = table.key() else { return };
    let columns = table.columns();
    for row in 0..batch.raw.len() {
        if batch.rejected[row] {
            continue;
        }
        let parts: Vec<String> = key.iter().map(|name| key_part(batch, name, row)).collect();
        let file = batch.raw.file.relative.clone();
        let line = batch.raw.source_rows[row];
        let Some((first_file, first_row)) = keys.first_holder(parts.join("\u{1f}"), &file, line) else { continue };
        let labels: Vec<&str> =
            key.iter().filter_map(|k| columns.iter().find(|c| c.name == *k)).map(|c| c.label).collect();
        let shown: Vec<String> =
            parts.iter().map(|p| if p.is_empty() { "(whole school)".into() } else { p.clone() }).collect();
        let where_ =
            if first_file == file { format!("row {first_row}") } else { format!("{first_file} row {first_row}") };
        let message = format!(
            "{}: the same {} ({}) is already in {where_}; each must appear once",
            crate::validate::place(&batch.raw, row, None),
            labels.join(" + "),
            shown.join(", ")
        );
        let f = Finding::at(&batch.raw, Some(row), None, None, Rule::DuplicateKey, Severity::Error, message);
        reject(batch, row, f);
    }
}

/// One column's part of a row's key. A per-stage row of a single-stage school has the school's
/// only stage (so a row with the stage and one without are the same key).
fn key_part(batch: &CheckedBatch, name: &str, row: usize) -> String {
    let part = match batch.column(name) {
        Values::Int(x) => x[row].map(|n| n.to_string()),
        Values::Text(x) => x[row].clone(),
        _ => None,
    };
    part.or_else(|| {
        (name == "stage")
            .then(|| batch.school_type[row].and_then(|t| t.only_stage()).map_or("", |s| s.as_str()).to_owned())
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use super::*;
    use crate::contract::{SchoolType, Table};
    use crate::pipeline::ReadOptions;

    #[test]
    fn a_key_twice_is_rejected_naming_where_it_first_was() {
        let raw = batch(
            Table::Teachers,
            ReadOptions::default(),
            &["year", "school_code", "stage", "staff_on_payroll", "full_time_teachers"],
            &[&["2018", "2311820001", "", "5", "5"], &["2018", "2311820001", "小学", "5", "5"]],
        );
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.school_type = vec![Some(SchoolType::Primary); 2];
        let mut b = c.finish();
        check_keys(&mut b, &mut KeySet::default());
        assert_eq!(rules(&b), [(3, "duplicate_key")]);
        assert!(
            b.findings[0].message.contains("(2018, 2311820001, primary) is already in row 2"),
            "{}",
            b.findings[0].message
        );
    }
}
