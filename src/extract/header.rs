//! Header cells → canonical columns (and the unit a header states).
//!
//! A header matches a column by its canonical English name or any Chinese alias, ignoring
//! surrounding and inner spaces, full-width/half-width differences, a required-field star, and
//! a trailing unit in parentheses (`教学仪器设备值(万元)`, `校舍建筑面积（平方米）`), which sets the
//! column's unit instead. Pipeline files may add aliases. Unknown headers are reported by the
//! caller, never dropped silently. [`super::rows::Mapper`] turns a header row into a [`Binding`].

use std::collections::HashMap;

use crate::contract::{Column, Table, Unit};
use crate::pipeline::ReadOptions;
use crate::text::fold;

/// How extract made a bound column's text from a source row — what validate needs to know to
/// read it (a sum is read part by part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    /// One source cell, as written.
    Cell,
    /// Several source cells (boys + girls, a grade's columns), their texts joined with
    /// [`SUM_SEPARATOR`]: the value is their sum.
    Sum,
    /// A constant of the pipeline file, with any `{header}` filled from the row's cells.
    Constant,
    /// The grade of a row made from grade columns (one source row gives one row per grade).
    WideGrade,
}

/// What joins the cells of a [`Built::Sum`] column (and the headers it was bound from).
pub const SUM_SEPARATOR: &str = " + ";

/// A source column bound to a canonical column.
#[derive(Debug, Clone)]
pub struct BoundColumn {
    /// The canonical column.
    pub column: &'static Column,
    /// How its text is made from the source row.
    pub built: Built,
    /// The header as written in the source (several joined for a sum).
    pub header: String,
    /// 0-based position of the (first) source column, None for constants and wide grades.
    pub index: Option<usize>,
    /// The unit the header (or a unit row, or the pipeline file) states, if any.
    pub unit: Option<Unit>,
}

/// How the headers of one file were understood.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// Columns bound to the contract, in source order.
    pub columns: Vec<BoundColumn>,
    /// Headers that matched nothing: (0-based index, header text).
    pub unknown: Vec<(usize, String)>,
    /// Two source columns meaning the same canonical column: (canonical name, first header, second header).
    pub duplicates: Vec<(&'static str, String, String)>,
    /// Columns the pipeline file declares (an alias, a grade column of a wide layout) that the
    /// file does not have, each as a phrase naming the column and the headers looked for.
    pub lacking: Vec<String>,
}

impl Binding {
    /// The bound column for a canonical name.
    pub fn get(&self, name: &str) -> Option<&BoundColumn> {
        self.columns.iter().find(|b| b.column.name == name)
    }
}

/// The alias index of one table: normalised header → column.
#[derive(Debug, Clone)]
pub struct HeaderIndex {
    table: Table,
    by_key: HashMap<String, &'static Column>,
    /// Headers the pipeline names that are parts of a column (a grade column of a wide layout,
    /// a part of a sum): not columns themselves, but a header row has them.
    parts: std::collections::HashSet<String>,
}

impl HeaderIndex {
    /// Build the index for a table from the contract and the pipeline's extra aliases.
    pub fn new(table: Table, options: &ReadOptions) -> HeaderIndex {
        let mut by_key = HashMap::new();
        for column in table.columns() {
            for name in [column.name, column.label].into_iter().chain(column.aliases.iter().copied()) {
                by_key.insert(key(name), column);
            }
            if let Some(extra) = options.aliases.get(column.name) {
                for alias in extra {
                    by_key.insert(key(alias), column);
                }
            }
        }
        let mut parts: std::collections::HashSet<String> = options.sums.values().flatten().map(|h| key(h)).collect();
        if let Some(wide) = &options.wide {
            for pattern in wide.columns.values().flatten() {
                parts.extend(wide.grades.iter().map(|&g| key(&super::rows::grade_header(pattern, g))));
            }
        }
        HeaderIndex { table, by_key, parts }
    }

    /// The table this index is for.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Match one header cell: the column and any unit its suffix states.
    pub fn lookup(&self, header: &str) -> Option<(&'static Column, Option<Unit>)> {
        let folded = fold(header);
        if let Some(col) = self.by_key.get(&key(&folded)) {
            return Some((col, None));
        }
        let (stem, suffix) = split_unit_suffix(&folded)?;
        let col = self.by_key.get(&key(stem))?;
        // `(馆)` in `体育运动场(馆)面积` is inside the name; only a trailing unit sets a unit.
        Some((col, Unit::parse(suffix)))
    }

    /// How many cells of a row look like headers of this table (to find the header row).
    pub fn score(&self, cells: &[String]) -> usize {
        cells.iter().filter(|c| self.lookup(c).is_some() || self.parts.contains(&key(c))).count()
    }
}

/// The normalised form of a header for matching: folded, no spaces, stars or underscores, lowercase.
pub(crate) fn key(header: &str) -> String {
    fold(header)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '※' | '_' | '-' | '\n' | '\r'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Split `name(unit)` into `name` and `unit` (half-width parentheses after folding).
fn split_unit_suffix(folded: &str) -> Option<(&str, &str)> {
    let inner = folded.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    Some((inner[..open].trim(), inner[open + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(table: Table) -> HeaderIndex {
        HeaderIndex::new(table, &ReadOptions::default())
    }

    #[test]
    fn aliases_width_and_units() {
        let ix = index(Table::Facilities);
        assert_eq!(
            ix.lookup("教学仪器设备值(万元)").map(|(c, u)| (c.name, u)),
            Some(("equipment_value", Some(Unit::TenThousandYuan)))
        );
        assert_eq!(
            ix.lookup("校舍建筑面积（平方米）").map(|(c, u)| (c.name, u)),
            Some(("building_area_m2", Some(Unit::SquareMetre)))
        );
        assert_eq!(ix.lookup("体育运动场(馆)面积").map(|(c, u)| (c.name, u)), Some(("sports_area_m2", None)));
        assert_eq!(ix.lookup("图书(册)").map(|(c, _)| c.name), Some("books"));
        assert_eq!(ix.lookup(" 计算机台数(台) ").map(|(c, u)| (c.name, u)), Some(("computers", Some(Unit::Count))));
        assert_eq!(ix.lookup("Teaching Aux Area M2").map(|(c, _)| c.name), Some("teaching_aux_area_m2"));
        assert_eq!(ix.lookup("*学校标识码").map(|(c, _)| c.name), Some("school_code"));
        assert!(ix.lookup("校长姓名").is_none());
    }

    #[test]
    fn pipeline_aliases_and_units() {
        let mut options = ReadOptions::default();
        options.aliases.insert("students".into(), vec!["学生人数".into()]);
        options.units.insert("equipment_value".into(), "万元".into());
        let ix = HeaderIndex::new(Table::Pupils, &options);
        assert_eq!(ix.lookup("学生人数").map(|(c, _)| c.name), Some("students"));
    }
}
