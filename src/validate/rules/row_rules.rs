//! Rules within one row: a stage the school has, classes for its pupils, a project amount above
//! zero, and every "lesser ≤ greater" bound of the contract.

use super::{Checker, fmt_number};
use crate::contract::{Rule, Severity, Stage, Table};

/// Teachers' and facilities' rows name a stage their school has.
pub(super) fn check_stages(c: &mut Checker) {
    if !matches!(c.table, Table::Teachers | Table::Facilities) {
        return;
    }
    let Some(si) = c.col("stage") else { return };
    for row in 0..c.rows() {
        let (Some(stage), Some(kind)) = (c.values[si].text(row).and_then(Stage::parse), c.school_type[row]) else {
            continue;
        };
        if !kind.stages().contains(&stage) {
            let message = format!("{}: a {kind} school has no {stage} stage", c.place(row, Some(si)));
            c.report(row, Some(si), Some(stage.as_str()), Rule::StageNotOffered, Severity::Error, message);
        }
    }
}

/// Pupils need classes: 0 classes is allowed only for 0 pupils.
pub(super) fn check_classes(c: &mut Checker) {
    if c.table != Table::Pupils {
        return;
    }
    let (Some(ci), Some(si)) = (c.col("classes"), c.col("students")) else { return };
    for row in 0..c.rows() {
        let (Some(0), Some(students)) = (c.values[ci].int(row), c.values[si].int(row)) else { continue };
        if students > 0 {
            let message = format!(
                "{}: is 0 but {} is {students}; classes can be 0 only when there are no pupils",
                c.place(row, Some(ci)),
                c.columns[si].label
            );
            c.report(row, Some(ci), Some("0"), Rule::ClassesZeroWithStudents, Severity::Error, message);
        }
    }
}

/// A project's amount, and a school's public funds budget, is above zero.
pub(super) fn check_amounts(c: &mut Checker) {
    let column = match c.table {
        Table::Investments => "amount",
        Table::SchoolFunds => "public_funds_budget",
        _ => return,
    };
    let Some(ai) = c.col(column) else { return };
    for row in 0..c.rows() {
        if c.values[ai].number(row).is_some_and(|a| a <= 0.0) {
            let text = c.text(ai, row).unwrap_or("0").to_owned();
            let message = format!("{}: \"{text}\" must be above 0", c.place(row, Some(ai)));
            c.report(row, Some(ai), Some(&text), Rule::AmountNotPositive, Severity::Error, message);
        }
    }
}

/// A grade's largest class holds at least its average class (⌈students ÷ classes⌉), and is 0
/// when the grade has no classes.
pub(super) fn check_largest_class(c: &mut Checker) {
    if c.table != Table::Pupils {
        return;
    }
    let (Some(li), Some(ci), Some(si)) = (c.col("largest_class"), c.col("classes"), c.col("students")) else { return };
    for row in 0..c.rows() {
        let (Some(largest), Some(classes)) = (c.values[li].int(row), c.values[ci].int(row)) else { continue };
        let students = c.values[si].int(row).unwrap_or(0);
        let why = match classes {
            0 if largest != 0 => {
                format!("is {largest} but {} is 0; a grade without classes has no largest class", c.columns[ci].label)
            }
            0 => continue,
            _ if largest * classes < students => format!(
                "is {largest}, below the average class of {students} pupils in {classes} classes (at least {})",
                (students + classes - 1) / classes
            ),
            _ => continue,
        };
        let message = format!("{}: {why}", c.place(row, Some(li)));
        c.report(row, Some(li), Some(&largest.to_string()), Rule::LargestClassBelowAverage, Severity::Error, message);
    }
}

/// Every bound of the table: the lesser column does not exceed the greater (an error rejects the
/// row, a warning publishes it). A school total kept on one row of a wide layout (`once`) is not
/// bounded by that row.
pub(super) fn check_bounds(c: &mut Checker) {
    let options = c.raw.file.options.clone();
    let once = |name: &str| options.wide.as_ref().is_some_and(|w| w.once.iter().any(|o| o == name));
    for bound in c.table.bounds() {
        if once(bound.lesser) || once(bound.greater) {
            continue;
        }
        let (Some(li), Some(gi)) = (c.col(bound.lesser), c.col(bound.greater)) else { continue };
        for row in 0..c.rows() {
            let (Some(lesser), Some(greater)) = (c.values[li].number(row), c.values[gi].number(row)) else {
                continue;
            };
            if lesser > greater {
                let message = format!(
                    "{}: {} ({}) exceeds {} ({}); it must not be larger",
                    c.place(row, None),
                    c.columns[li].label,
                    fmt_number(lesser),
                    c.columns[gi].label,
                    fmt_number(greater)
                );
                c.report(row, Some(li), Some(&fmt_number(lesser)), Rule::BoundViolated, bound.severity, message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use super::*;
    use crate::contract::SchoolType;
    use crate::pipeline::ReadOptions;

    fn checked(table: Table, headers: &[&str], rows: &[&[&str]], types: Vec<Option<SchoolType>>) -> Checker {
        let mut c = Checker::new(batch(table, ReadOptions::default(), headers, rows));
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.school_type = types;
        c
    }

    #[test]
    fn stages_classes_and_amounts() {
        let mut c = checked(
            Table::Teachers,
            &["school_code", "stage"],
            &[&["2311820001", "初中"], &["2311820002", "初中"]],
            vec![Some(SchoolType::Primary), Some(SchoolType::NineYear)],
        );
        check_stages(&mut c);
        assert_eq!(rules(&c.finish()), [(2, "stage_not_offered")]);

        let mut c = checked(
            Table::Pupils,
            &["school_code", "students", "classes"],
            &[&["2311820001", "40", "0"], &["2311820001", "0", "0"]],
            vec![None, None],
        );
        check_classes(&mut c);
        assert_eq!(rules(&c.finish()), [(2, "classes_zero_with_students")]);

        let mut c = checked(Table::Investments, &["amount"], &[&["0"], &["12.5"]], vec![None, None]);
        check_amounts(&mut c);
        assert_eq!(rules(&c.finish()), [(2, "amount_not_positive")]);
    }

    #[test]
    fn bounds_reject_or_warn_as_the_contract_says() {
        let mut c = checked(
            Table::Teachers,
            &["school_code", "staff_on_payroll", "full_time_teachers", "backbone_teachers"],
            &[&["2311820001", "8", "9", "2"], &["2311820002", "10", "9", "12"]],
            vec![None, None],
        );
        check_bounds(&mut c);
        let b = c.finish();
        assert_eq!(rules(&b), [(2, "bound_violated"), (3, "bound_violated")]);
        assert_eq!(b.findings[0].severity, Severity::Warning, "full-time above payroll is a warning");
        assert_eq!(b.rejected, [false, true], "backbone above full-time is an error");
    }
}
