//! Required values: a column the contract requires is filled in every row (unless the pipeline
//! declares it absent from its source); a teaching point names its school; a row of a two-stage
//! school names its stage.

use super::Checker;
use crate::contract::{Required, Rule, SchoolType, Severity, Table};
use crate::pipeline::TeachersWithoutStage;

/// Reject rows that leave a required value empty (a cell that could not be read was already
/// reported by its own rule).
pub(super) fn check_required(c: &mut Checker, teachers_without_stage: TeachersWithoutStage) {
    let options = c.raw.file.options.clone();
    let school_type_ci = c.col("school_type");
    for (ci, column) in c.columns.iter().enumerate() {
        // `absent`, or `optional` and not in this file: the source does not have it.
        let declared_absent = options.absent.iter().any(|a| a == column.name)
            || (options.optional.iter().any(|o| o == column.name) && c.raw.binding.get(column.name).is_none());
        for row in 0..c.rows() {
            if c.values[ci].is_present(row) || c.bad_cell[ci][row] {
                continue;
            }
            let needed = match column.required {
                Required::Yes => !declared_absent,
                Required::No => false,
                Required::ForTeachingPoints => {
                    school_type_ci.and_then(|i| c.values[i].text(row)) == Some(SchoolType::TeachingPoint.as_str())
                }
                Required::ForMultiStageSchools => {
                    c.table == Table::Teachers
                        && teachers_without_stage == TeachersWithoutStage::Reject
                        && c.school_type[row].is_some_and(SchoolType::stage_required)
                }
            };
            if !needed {
                continue;
            }
            let (rule, why) = match column.required {
                Required::ForTeachingPoints => (
                    Rule::MissingParentSchool,
                    "is empty; a teaching point must name the school it belongs to".to_owned(),
                ),
                Required::ForMultiStageSchools => (
                    Rule::StageRequired,
                    format!(
                        "is empty; a {} school has two stages, so each row must say 小学 or 初中 (or, if the source counts a school's teachers once, set [settings] teachers_without_stage = \"apportion_by_pupils\")",
                        c.school_type[row].map_or("", SchoolType::as_str)
                    ),
                ),
                _ => (Rule::RequiredValueMissing, "is empty but required".to_owned()),
            };
            let message = format!("{} {why}", c.place(row, Some(ci)));
            c.report(row, Some(ci), None, rule, Severity::Error, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use super::*;
    use crate::pipeline::ReadOptions;

    #[test]
    fn required_values_teaching_points_and_stages() {
        let raw = batch(
            Table::Schools,
            ReadOptions::default(),
            &["school_code", "school_name", "school_type", "area_type", "parent_school_code"],
            &[&["2311820001", "", "primary", "urban", ""], &["2311820002", "点", "teaching_point", "rural", ""]],
        );
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        for row in 0..c.rows() {
            // The year and county come from the folder.
            super::super::provenance::check_year(&mut c, row);
            super::super::provenance::check_county(&mut c, row);
        }
        check_required(&mut c, TeachersWithoutStage::Reject);
        assert_eq!(rules(&c.finish()), [(2, "required_value_missing"), (3, "missing_parent_school")]);

        let mut options = ReadOptions::default();
        options.absent.push("full_time_teachers".into());
        let raw = batch(Table::Teachers, options, &["school_code", "stage"], &[&["2311820001", ""]]);
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.school_type = vec![Some(SchoolType::NineYear)];
        check_required(&mut c, TeachersWithoutStage::Reject);
        let b = c.finish();
        // staff_on_payroll is required and missing; full_time_teachers is declared absent.
        assert_eq!(rules(&b).iter().filter(|(_, r)| *r == "stage_required").count(), 1);
        assert!(b.findings.iter().all(|f| f.column != Some("full_time_teachers")));

        // A source that counts a school's teachers once declares it: the row is apportioned in SQL.
        let raw = batch(Table::Teachers, ReadOptions::default(), &["school_code", "stage"], &[&["2311820001", ""]]);
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.school_type = vec![Some(SchoolType::NineYear)];
        check_required(&mut c, TeachersWithoutStage::ApportionByPupils);
        assert!(!rules(&c.finish()).iter().any(|(_, r)| *r == "stage_required"));
    }
}
