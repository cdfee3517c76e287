//! Grades, read under the county's school system (`初一` is grade 7 under 6-3 and grade 6 under
//! 5-4), and whether the school's type teaches them.

use super::Checker;
use super::cells::{cell_text, problem_message, problem_rule, shown};
use crate::contract::{Kind, Rule, Severity};
use crate::pipeline::Settings;
use crate::text::{fold, is_null};
use crate::validate::Values;
use crate::validate::cell;

/// Read the grade column (if the table has one) and reject grades the school does not teach.
pub(super) fn read_grades(c: &mut Checker, settings: &Settings) {
    let Some(gi) = c.columns.iter().position(|col| col.kind == Kind::Grade) else { return };
    let column = &c.columns[gi];
    let options = c.raw.file.options.clone();
    let cells = c.raw.cells.clone();
    for row in 0..c.rows() {
        let Some(text) = cell_text(&cells, c.bound[gi], row) else { continue };
        let folded = fold(text);
        if is_null(&folded, &options.null_markers) {
            continue;
        }
        let system = settings.school_system(c.county[row].as_deref());
        let mapped = options.values.get(column.name).and_then(|m| m.get(folded.as_ref()));
        let folded = mapped.map_or(folded, |v| std::borrow::Cow::Owned(v.clone()));
        match cell::read_grade(&folded, system) {
            Ok(grade) => {
                if let Values::Int(v) = &mut c.values[gi] {
                    v[row] = Some(grade);
                }
                let Some(kind) = c.school_type[row] else { continue };
                if kind.grades(system).contains(&grade) {
                    continue;
                }
                let message = format!(
                    "{}: grade {grade} is not taught at a {kind} school ({}) under the {} school system",
                    c.place(row, Some(gi)),
                    kind.label(),
                    system.as_str()
                );
                c.report(row, Some(gi), Some(text), Rule::GradeNotAllowed, Severity::Error, message);
            }
            Err(problem) => {
                let message =
                    format!("{}: \"{}\" {}", c.place(row, Some(gi)), shown(text), problem_message(problem, column));
                c.bad_cell(row, gi, text, problem_rule(problem, column.kind), message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use super::*;
    use crate::contract::{SchoolSystem, SchoolType, Table};
    use crate::pipeline::ReadOptions;

    #[test]
    fn grades_follow_the_county_school_system_and_the_school_type() {
        let raw = batch(
            Table::Pupils,
            ReadOptions::default(),
            &["school_code", "grade", "students", "classes"],
            &[&["2311820001", "初一", "40", "1"], &["2311820002", "初一", "40", "1"], &["2311820001", "十", "1", "1"]],
        );
        let mut settings = Settings::default();
        settings.school_system_by_county.insert("231182".into(), SchoolSystem::FiveFour);
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.school_type = vec![Some(SchoolType::Junior), Some(SchoolType::Primary), Some(SchoolType::Junior)];
        read_grades(&mut c, &settings);
        let b = c.finish();
        assert_eq!(b.column("grade").int(0), Some(6), "初一 is grade 6 under 5-4");
        assert_eq!(rules(&b), [(3, "grade_not_allowed"), (4, "invalid_grade")]);
        assert!(b.findings[0].message.contains("not taught at a primary school (小学) under the 5-4"));
    }
}
