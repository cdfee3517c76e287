//! The data contract of `../shared/contract/inputs.md`, as data.
//!
//! Every table a county submits, its columns with their Chinese header aliases, types, units and
//! requirement, its key, and the cross-column bounds a row must satisfy. Extract binds headers
//! with it, validate checks rows against it, normalise builds the staging schema from it and the
//! data dictionary describes it. Nothing here reads or writes anything.

mod columns;
mod domain;
mod rule;
mod unit;

use std::fmt;

use columns::{
    BOUNDS, COUNTY_FACTS, FACILITIES, FINANCE, INVESTMENTS, MONITORING, PUPILS, SCHOOL_FUNDS, SCHOOLS, SURVEY, TEACHERS,
};
pub use domain::{
    AREA_TYPE, AreaType, CATEGORY, CURRENCIES, Currency, EnumDef, SCHOOL_TYPE, STAGE, SchoolSystem, SchoolType, Stage,
    currency_code,
};
pub use rule::Rule;
pub use unit::Unit;

/// The seven tables of a yearly submission, in the order they are processed (schools first:
/// every other table refers to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// 学校: one row per school or teaching point per year.
    Schools,
    /// 学生: one row per school, grade and year.
    Pupils,
    /// 教职工: one row per school, stage and year.
    Teachers,
    /// 办学条件: one row per school (optionally per stage) and year.
    Facilities,
    /// 经费: one row per county and fiscal year.
    Finance,
    /// 项目投入: one row per project (or project-year).
    Investments,
    /// 满意度调查: one row per county and year.
    Survey,
    /// 学校经费: one row per school and year (quality balance).
    SchoolFunds,
    /// 县级指标: one row per county and year (quality balance).
    CountyFacts,
    /// 质量监测: one row per county, year, subject and grade (quality balance).
    Monitoring,
}

impl Table {
    /// All tables in processing order.
    pub const ALL: [Table; 10] = [
        Table::Schools,
        Table::Pupils,
        Table::Teachers,
        Table::Facilities,
        Table::Finance,
        Table::Investments,
        Table::Survey,
        Table::SchoolFunds,
        Table::CountyFacts,
        Table::Monitoring,
    ];

    /// The canonical English name, used for file names, staging folders and SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Schools => "schools",
            Table::Pupils => "pupils",
            Table::Teachers => "teachers",
            Table::Facilities => "facilities",
            Table::Finance => "finance",
            Table::Investments => "investments",
            Table::Survey => "survey",
            Table::SchoolFunds => "school_funds",
            Table::CountyFacts => "county_facts",
            Table::Monitoring => "monitoring",
        }
    }

    /// The Chinese name used by county templates (file and sheet names).
    pub fn chinese_name(self) -> &'static str {
        match self {
            Table::Schools => "学校",
            Table::Pupils => "学生",
            Table::Teachers => "教职工",
            Table::Facilities => "办学条件",
            Table::Finance => "经费",
            Table::Investments => "项目投入",
            Table::Survey => "满意度调查",
            Table::SchoolFunds => "学校经费",
            Table::CountyFacts => "县级指标",
            Table::Monitoring => "质量监测",
        }
    }

    /// Recognise a table by its English or Chinese name (file stem or sheet name).
    pub fn from_name(name: &str) -> Option<Table> {
        let name = name.trim();
        Table::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name) || t.chinese_name() == name)
    }

    /// The columns of the table, in canonical order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Schools => SCHOOLS,
            Table::Pupils => PUPILS,
            Table::Teachers => TEACHERS,
            Table::Facilities => FACILITIES,
            Table::Finance => FINANCE,
            Table::Investments => INVESTMENTS,
            Table::Survey => SURVEY,
            Table::SchoolFunds => SCHOOL_FUNDS,
            Table::CountyFacts => COUNTY_FACTS,
            Table::Monitoring => MONITORING,
        }
    }

    /// A column by canonical name.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Whether a column of this table counts staff (the teachers table's counts): persons by
    /// default, full-time equivalents when the pipeline says `teacher_counts = "fte"`.
    pub fn counts_staff(self, column: &Column) -> bool {
        self == Table::Teachers && column.kind == Kind::Count
    }

    /// The columns whose values must be unique together (None: no key, e.g. investments).
    pub fn key(self) -> Option<&'static [&'static str]> {
        match self {
            Table::Schools | Table::SchoolFunds => Some(&["year", "school_code"]),
            Table::Pupils => Some(&["year", "school_code", "grade"]),
            Table::Teachers | Table::Facilities => Some(&["year", "school_code", "stage"]),
            Table::Finance | Table::Survey | Table::CountyFacts => Some(&["year", "county_code"]),
            Table::Monitoring => Some(&["year", "county_code", "subject", "grade"]),
            Table::Investments => None,
        }
    }

    /// Whether rows refer to a school (and so must find it in that year's schools table).
    pub fn refers_to_school(self) -> bool {
        matches!(self, Table::Pupils | Table::Teachers | Table::Facilities | Table::SchoolFunds)
    }

    /// "column ≤ other column" rules of this table.
    pub fn bounds(self) -> impl Iterator<Item = &'static Bound> {
        BOUNDS.iter().filter(move |b| b.table == self)
    }

    /// One sentence on what a row is, for the data dictionary.
    pub fn grain(self) -> &'static str {
        match self {
            Table::Schools => "one row per school or teaching point per year",
            Table::Pupils => "one row per school, grade and year",
            Table::Teachers => "one row per school, stage and year",
            Table::Facilities => "one row per school (and stage, when given) per year",
            Table::Finance => "one row per county and fiscal year",
            Table::Investments => "one row per project (or project-year)",
            Table::Survey => "one row per county and year",
            Table::SchoolFunds => "one row per school and year",
            Table::CountyFacts => "one row per county and year",
            Table::Monitoring => "one row per county, year, subject and grade",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a column holds, which decides how a cell is read and what type it is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Statistical or fiscal year, 1990–2100 (published as int32, and as the `year=` partition).
    Year,
    /// 6-digit administrative division code, kept as text.
    CountyCode,
    /// 10-digit school identification code (学校标识码), kept as text.
    SchoolCode,
    /// Free text.
    Text,
    /// One of a fixed set of values, given in English or Chinese.
    Enum(&'static EnumDef),
    /// 是/否, Y/N, true/false.
    Bool,
    /// A whole number ≥ 0 (published as int64).
    Count,
    /// Grade 1–9 (`一年级`…`九年级`, `初一`…`初三` by the school system).
    Grade,
    /// An area ≥ 0 in m² (公顷 and 亩 convertible; published as float64).
    Area,
    /// Money in 元 (万元 and 千元 convertible; published as decimal(18,2)).
    Money,
    /// A level 1–4 (`Ⅲ`, `III`, `三级`, `水平Ⅲ` …; published as int32).
    Level,
    /// A fraction ≥ 0 (`12.5%` is 0.125; published as float64).
    Rate,
}

/// Whether a column must be present and filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// The header must be present and every row must have a value.
    Yes,
    /// Optional.
    No,
    /// Required for teaching points only (their parent school).
    ForTeachingPoints,
    /// Required for schools with both stages (nine-year, twelve-year, complete secondary).
    ForMultiStageSchools,
}

/// One column of the contract.
#[derive(Debug)]
pub struct Column {
    /// Canonical English snake_case name.
    pub name: &'static str,
    /// The Chinese label used in messages and the dictionary.
    pub label: &'static str,
    /// Other accepted header spellings (Chinese or English).
    pub aliases: &'static [&'static str],
    /// What the column holds.
    pub kind: Kind,
    /// Whether it must be present.
    pub required: Required,
    /// What one value means, for the data dictionary.
    pub meaning: &'static str,
}

impl Column {
    /// The canonical unit of the published value, if the column is a quantity.
    pub fn unit(&self) -> Option<Unit> {
        match self.kind {
            Kind::Money => Some(Unit::Yuan),
            Kind::Area => Some(Unit::SquareMetre),
            Kind::Count => Some(Unit::Count),
            _ => None,
        }
    }

    /// Whether the header must be present in every file of the table.
    pub fn header_required(&self) -> bool {
        self.required == Required::Yes
    }

    /// The value an empty cell of a yes/no column stands for, when the contract gives one: a
    /// school is public unless it says otherwise. Validate's registry and normalise's staging
    /// rows both take it from here, so staging's `is_public` is never null.
    pub fn default_flag(&self) -> Option<bool> {
        columns::FLAG_DEFAULTS.iter().find(|(name, _)| *name == self.name).map(|(_, value)| *value)
    }
}

/// A "lesser ≤ greater" rule between two columns of a row.
#[derive(Debug)]
pub struct Bound {
    /// The table.
    pub table: Table,
    /// The column that must not exceed the other.
    pub lesser: &'static str,
    /// The column it is bounded by.
    pub greater: &'static str,
    /// `Error` rejects the row, `Warning` records it and publishes the row.
    pub severity: Severity,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Recorded; the row is published.
    Warning,
    /// The row (or file) is rejected and goes to quarantine.
    Error,
}

impl Severity {
    /// `error` / `warning`, as published in quarantine.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_year_and_unique_column_names() {
        for table in Table::ALL {
            let names: Vec<_> = table.columns().iter().map(|c| c.name).collect();
            assert_eq!(names[0], "year", "{table}");
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{table} has a duplicate column");
            for key in table.key().unwrap_or(&[]) {
                assert!(table.column(key).is_some(), "{table} key column {key}");
            }
        }
        for bound in BOUNDS {
            assert!(bound.table.column(bound.lesser).is_some(), "{}", bound.lesser);
            assert!(bound.table.column(bound.greater).is_some(), "{}", bound.greater);
        }
    }

    #[test]
    fn tables_are_found_by_english_or_chinese_name() {
        assert_eq!(Table::from_name("Pupils"), Some(Table::Pupils));
        assert_eq!(Table::from_name("满意度调查"), Some(Table::Survey));
        assert_eq!(Table::from_name("pupil"), None);
    }
}
