//! The schools of a year, checked in two passes: every row by itself (and its key), then each
//! teaching point against the school it belongs to, which may stand anywhere in the year's files.

use std::collections::HashMap;

use super::{check_rows, keys, reject};
use crate::contract::{Rule, SchoolType, Severity, Table};
use crate::extract::RawBatch;
use crate::pipeline::Settings;
use crate::validate::{CheckedBatch, Finding, KeySet, SchoolInfo, SchoolRegistry, place};

/// Check all schools batches of a year: row rules, keys, then teaching points' parents.
/// Returns the batches and the accepted schools.
pub fn check_schools(
    raws: Vec<RawBatch>,
    settings: &Settings,
    keys: &mut KeySet,
) -> (Vec<CheckedBatch>, SchoolRegistry) {
    let empty = SchoolRegistry::default();
    let mut batches: Vec<CheckedBatch> = raws
        .into_iter()
        .map(|raw| {
            let mut b = check_rows(raw, settings, &empty);
            keys::check_keys(&mut b, keys);
            b
        })
        .collect();
    let accepted: HashMap<(i32, String), SchoolInfo> = accepted_schools(&batches).collect();
    for b in &mut batches {
        check_parents(b, &accepted);
    }
    let mut registry = SchoolRegistry::default();
    for ((year, code), info) in accepted_schools(&batches) {
        registry.insert(year, &code, info);
    }
    (batches, registry)
}

/// The accepted schools of checked batches, by year and code.
fn accepted_schools(batches: &[CheckedBatch]) -> impl Iterator<Item = ((i32, String), SchoolInfo)> + '_ {
    batches.iter().flat_map(|b| {
        (0..b.raw.len()).filter(|&r| !b.rejected[r]).filter_map(move |row| {
            let (year, code) = (b.year(row)?, b.column("school_code").text(row)?);
            Some(((year, code.to_owned()), school_info(b, row)?))
        })
    })
}

/// What the other tables need to know of an accepted school row (its type is required unless
/// the source declares it absent, when it is derived from the grades taught, in SQL).
fn school_info(b: &CheckedBatch, row: usize) -> Option<SchoolInfo> {
    Some(SchoolInfo {
        county_code: b.county[row].clone().unwrap_or_default(),
        school_type: b.column("school_type").text(row).and_then(SchoolType::parse),
    })
}

/// A teaching point belongs to an accepted school of its year, that is not itself a teaching
/// point, in its own county (a unit of methodology §1 belongs to one county).
fn check_parents(b: &mut CheckedBatch, accepted: &HashMap<(i32, String), SchoolInfo>) {
    let parent_col = Table::Schools.column("parent_school_code");
    for row in 0..b.raw.len() {
        let (Some(year), Some(parent)) = (b.year(row), b.column("parent_school_code").text(row)) else { continue };
        if b.rejected[row] || b.column("school_type").text(row) != Some(SchoolType::TeachingPoint.as_str()) {
            continue;
        }
        let county = b.county[row].as_deref();
        let problem = match accepted.get(&(year, parent.to_owned())) {
            None => Some((
                Rule::UnknownParentSchool,
                format!("school {parent} is not in the {year} schools table (学校), or its row there was rejected"),
            )),
            Some(p) if p.school_type == Some(SchoolType::TeachingPoint) => Some((
                Rule::ParentIsTeachingPoint,
                format!("school {parent} is itself a teaching point; a teaching point belongs to a school"),
            )),
            Some(p) if county.is_some_and(|c| c != p.county_code) => Some((
                Rule::ParentInOtherCounty,
                format!(
                    "school {parent} belongs to county {}, not to this teaching point's county {}; a teaching point is merged into a school of its own county",
                    p.county_code,
                    county.unwrap_or_default()
                ),
            )),
            Some(_) => None,
        };
        if let Some((rule, why)) = problem {
            let message = format!("{}: {why}", place(&b.raw, row, parent_col));
            let parent = parent.to_owned();
            let f = Finding::at(&b.raw, Some(row), parent_col, Some(&parent), rule, Severity::Error, message);
            reject(b, row, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::*;
    use crate::pipeline::ReadOptions;
    use crate::validate::Values;

    #[test]
    fn teaching_points_belong_to_a_school_of_their_county() {
        let headers = ["school_code", "school_name", "school_type", "area_type", "parent_school_code", "is_public"];
        let raw = batch(
            Table::Schools,
            ReadOptions::default(),
            &headers,
            &[
                &["2311820001", "一小", "小学", "城区", "", "民办"],
                &["2311820002", "点一", "教学点", "乡村", "2311820001", ""],
                &["2311820003", "点二", "教学点", "乡村", "2311820002", ""],
                &["2311820004", "点三", "教学点", "乡村", "2311829999", ""],
            ],
        );
        let (batches, registry) = check_schools(vec![raw], &Settings::default(), &mut KeySet::default());
        assert_eq!(rules(&batches[0]), [(4, "parent_is_teaching_point"), (5, "unknown_parent_school")]);
        assert_eq!(registry.get(2018, "2311820001").unwrap().school_type, Some(SchoolType::Primary));
        assert!(matches!(batches[0].column("is_public"), Values::Bool(v) if v[0] == Some(false) && v[1].is_none()));
        // The registry holds the schools accepted after the parents' check.
        assert!(registry.get(2018, "2311820003").is_none());
        assert_eq!(registry.len(), 2);
    }
}
