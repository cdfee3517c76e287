//! County groups: the SQL stage runs over groups of whole counties, so its memory follows the
//! group, not the country. Every model is county-scoped (its grain names the county, or a
//! school, which belongs to one county), so running group by group gives the same rows as
//! running the country at once.

use std::collections::BTreeMap;

/// Whole counties whose models run together. The SQL reads one group's staging rows at a time:
/// every model is county-scoped (its grain names the county, or a school, which belongs to one
/// county), so running group by group gives the same rows as running the country at once,
/// with a group's hash tables in memory instead of the country's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountyGroup {
    /// The group's first county code (none: from the lowest code, including rows without one).
    pub from: Option<String>,
    /// The next group's first county code (none: to the highest code).
    pub until: Option<String>,
    /// Staging rows of the group, as the run counted them.
    pub rows: u64,
}

impl CountyGroup {
    /// The whole country as one group.
    pub fn everything(rows: u64) -> CountyGroup {
        CountyGroup { from: None, until: None, rows }
    }

    /// The filter selecting the group's rows of a staging table (`from <= county_code < until`).
    pub(super) fn filter(&self) -> Option<datafusion::prelude::Expr> {
        use datafusion::prelude::{col, lit};
        let from = self.from.as_ref().map(|c| col("county_code").gt_eq(lit(c.as_str())));
        let until = self.until.as_ref().map(|c| col("county_code").lt(lit(c.as_str())));
        match (from, until) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        }
    }

    /// How the group is named in progress messages.
    pub fn describe(&self) -> String {
        match (&self.from, &self.until) {
            (None, None) => "all counties".into(),
            (Some(f), None) => format!("counties {f}…"),
            (None, Some(u)) => format!("counties before {u}"),
            (Some(f), Some(u)) => format!("counties {f}…{u} (excl.)"),
        }
    }
}

/// Split counties (code → staging rows) in code order into groups of at most `max_rows` rows;
/// a county larger than that is a group of its own. The groups' ranges are half-open and cover
/// every code, so a row of a county the counts do not know still belongs to exactly one group.
pub fn county_groups(rows_by_county: &BTreeMap<String, u64>, max_rows: u64) -> Vec<CountyGroup> {
    let total: u64 = rows_by_county.values().sum();
    if total <= max_rows.max(1) {
        return vec![CountyGroup::everything(total)];
    }
    let mut groups: Vec<CountyGroup> = Vec::new();
    for (county, &rows) in rows_by_county {
        match groups.last_mut() {
            Some(g) if g.rows + rows <= max_rows => {
                g.rows += rows;
            }
            Some(g) => {
                g.until = Some(county.clone());
                groups.push(CountyGroup { from: Some(county.clone()), until: None, rows });
            }
            None => groups.push(CountyGroup { from: None, until: None, rows }),
        }
    }
    groups
}
