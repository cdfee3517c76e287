//! Whose row is it: its year and county agree with the submission's (from the file's folder),
//! and the school it names is in that year's schools table — which also gives the row its county
//! and its school's type.

use super::Checker;
use crate::contract::{Rule, Severity, Table};
use crate::validate::{SchoolRegistry, Values};

/// The row's year: the submission's when the cell is empty; another year is rejected.
pub(super) fn check_year(c: &mut Checker, row: usize) {
    let Some(path_year) = c.raw.file.year else { return };
    match c.values[0].int(row) {
        None if !c.bad_cell[0][row] => {
            if let Values::Int(v) = &mut c.values[0] {
                v[row] = Some(path_year as i64);
            }
        }
        Some(y) if y != path_year as i64 => {
            let message = format!(
                "{}: year {y} does not match the submission's year {path_year} (from the folder {})",
                c.place(row, Some(0)),
                c.raw.file.relative
            );
            c.report(row, Some(0), Some(&y.to_string()), Rule::YearMismatch, Severity::Error, message);
        }
        _ => {}
    }
}

/// The row's county: the submission's when the cell is empty; another county is rejected; a
/// submission without a county in its path takes the row's.
pub(super) fn check_county(c: &mut Checker, row: usize) {
    let Some(ci) = c.col("county_code") else { return };
    let path_county = c.raw.file.county_code.clone();
    match (c.values[ci].text(row).map(str::to_owned), path_county) {
        (None, Some(p)) if !c.bad_cell[ci][row] => {
            if let Values::Text(v) = &mut c.values[ci] {
                v[row] = Some(p);
            }
        }
        (Some(county), Some(p)) if county != p => {
            let message = format!(
                "{}: county {county} does not match the submission's county {p} (from the folder {})",
                c.place(row, Some(ci)),
                c.raw.file.relative
            );
            c.report(row, Some(ci), Some(&county), Rule::CountyMismatch, Severity::Error, message);
        }
        (Some(county), None) => c.county[row] = Some(county),
        _ => {}
    }
}

/// The school a row names is in that year's schools table (per-school tables and investments);
/// the row belongs to the school's county and takes its type.
pub(super) fn check_school(c: &mut Checker, row: usize, registry: &SchoolRegistry) {
    if !(c.table.refers_to_school() || c.table == Table::Investments) {
        return;
    }
    let year = c.values[0].int(row).map(|y| y as i32);
    let code_ci = c.col("school_code").unwrap_or(1);
    let (Some(year), Some(code)) = (year, c.values[code_ci].text(row).map(str::to_owned)) else { return };
    let Some(school) = registry.get(year, &code) else {
        let message = format!(
            "{}: school {code} is not in the {year} schools table (学校), or its row there was rejected",
            c.place(row, Some(code_ci))
        );
        c.report(row, Some(code_ci), Some(&code), Rule::UnknownSchoolCode, Severity::Error, message);
        return;
    };
    if let Some(p) = c.raw.file.county_code.as_deref().filter(|p| *p != school.county_code) {
        let message = format!(
            "{}: school {code} belongs to county {}, not to this submission's county {p}",
            c.place(row, Some(code_ci)),
            school.county_code
        );
        c.report(row, Some(code_ci), Some(&code), Rule::CountyMismatch, Severity::Error, message);
    }
    if c.table.refers_to_school() {
        c.county[row] = Some(school.county_code.to_owned());
    }
    c.school_type[row] = school.school_type;
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use super::*;
    use crate::contract::SchoolType;
    use crate::pipeline::ReadOptions;
    use crate::validate::SchoolInfo;

    #[test]
    fn a_row_belongs_to_its_submission_and_its_school() {
        let mut registry = SchoolRegistry::default();
        let school = |county: &str| SchoolInfo { county_code: county.into(), school_type: Some(SchoolType::NineYear) };
        registry.insert(2018, "2311820001", school("231182"));
        registry.insert(2018, "2311830001", school("231183"));
        let raw = batch(
            Table::Teachers,
            ReadOptions::default(),
            &["year", "school_code"],
            &[&["", "2311820001"], &["2017", "2311820001"], &["2018", "2311820009"], &["2018", "2311830001"]],
        );
        let mut c = Checker::new(raw);
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        for row in 0..c.rows() {
            check_year(&mut c, row);
            check_county(&mut c, row);
            check_school(&mut c, row, &registry);
        }
        let b = c.finish();
        assert_eq!(b.year(0), Some(2018), "the submission's year fills an empty cell");
        assert_eq!(b.school_type[0], Some(SchoolType::NineYear));
        // A row of 2017 in 2018's folder is looked up among 2017's schools (there are none).
        assert_eq!(
            rules(&b),
            [(3, "year_mismatch"), (3, "unknown_school_code"), (4, "unknown_school_code"), (5, "county_mismatch")]
        );
        assert!(b.findings[3].message.contains("belongs to county 231183"), "{}", b.findings[3].message);
        assert_eq!(b.rejected, [false, true, true, true]);
    }
}
