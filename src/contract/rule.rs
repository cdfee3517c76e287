//! The catalogue of rules: every reason a row is rejected or warned about, or a whole file
//! fails, with its stable id (what quarantine, the ledger and the error workbook record) and what
//! it means in English and in Chinese. The README's table of rules and the error workbook's
//! summary are this list.

use std::cmp::Ordering;
use std::fmt;

/// A rule of the contract (inputs.md) that a finding names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The file cannot be read at all (encoding, a damaged workbook, too large).
    UnreadableFile,
    /// No header row was found.
    HeaderNotFound,
    /// A column the table requires is missing.
    MissingRequiredColumn,
    /// Two columns mean the same contract column.
    DuplicateColumn,
    /// One county-year's table is given by more than one file.
    ConflictingFiles,
    /// A header matches no column of the table (warning).
    UnknownColumn,
    /// A count that is not a whole number.
    NotAWholeNumber,
    /// A quantity that is not a number.
    NotANumber,
    /// A count, area or amount below zero.
    NegativeValue,
    /// A year that is not a year 1990–2100 (or a school year).
    InvalidYear,
    /// A county code that is not 6 digits (or the pipeline's pattern).
    InvalidCountyCode,
    /// A school code that is not 10 digits (or the pipeline's pattern).
    InvalidSchoolCode,
    /// A value outside a closed set (school type, area type, stage, category).
    UnknownEnumValue,
    /// A yes/no column with another value.
    NotABoolean,
    /// A grade that is not 1–9.
    InvalidGrade,
    /// A monitoring level that is not Ⅰ–Ⅳ.
    InvalidLevel,
    /// A required value is empty.
    RequiredValueMissing,
    /// A teaching point without the school it belongs to.
    MissingParentSchool,
    /// A row of a two-stage school without its stage.
    StageRequired,
    /// The row's year is not the submission's (from its folder).
    YearMismatch,
    /// The row's county is not the submission's, or its school belongs to another county.
    CountyMismatch,
    /// The school is not in that year's schools table.
    UnknownSchoolCode,
    /// A grade the school's type does not teach under the county's school system.
    GradeNotAllowed,
    /// A stage the school does not have.
    StageNotOffered,
    /// Pupils in a grade with no classes.
    ClassesZeroWithStudents,
    /// A project amount or a school's budget of zero or less.
    AmountNotPositive,
    /// A grade's largest class smaller than its average class (or classes where there are none).
    LargestClassBelowAverage,
    /// A column larger than the one that bounds it (error or warning, by the bound).
    BoundViolated,
    /// The same key twice.
    DuplicateKey,
    /// A teaching point whose school is not in the schools table.
    UnknownParentSchool,
    /// A teaching point whose school is itself a teaching point.
    ParentIsTeachingPoint,
    /// A teaching point whose school belongs to another county.
    ParentInOtherCounty,
    /// A 合计/总计 row that does not equal the rows above it (warning).
    TotalRowMismatch,
    /// A column the pipeline file declares (an alias, a grade column) is not in the file.
    DeclaredColumnMissing,
    /// A file whose bytes read sensibly in two encodings and none is declared.
    EncodingUncertain,
    /// An amount marked with another currency than the pipeline's.
    CurrencyMismatch,
}

impl Rule {
    /// Every rule, in catalogue order.
    pub const ALL: [Rule; 36] = [
        Rule::UnreadableFile,
        Rule::HeaderNotFound,
        Rule::MissingRequiredColumn,
        Rule::DuplicateColumn,
        Rule::ConflictingFiles,
        Rule::UnknownColumn,
        Rule::NotAWholeNumber,
        Rule::NotANumber,
        Rule::NegativeValue,
        Rule::InvalidYear,
        Rule::InvalidCountyCode,
        Rule::InvalidSchoolCode,
        Rule::UnknownEnumValue,
        Rule::NotABoolean,
        Rule::InvalidGrade,
        Rule::InvalidLevel,
        Rule::RequiredValueMissing,
        Rule::MissingParentSchool,
        Rule::StageRequired,
        Rule::YearMismatch,
        Rule::CountyMismatch,
        Rule::UnknownSchoolCode,
        Rule::GradeNotAllowed,
        Rule::StageNotOffered,
        Rule::ClassesZeroWithStudents,
        Rule::AmountNotPositive,
        Rule::LargestClassBelowAverage,
        Rule::BoundViolated,
        Rule::DuplicateKey,
        Rule::UnknownParentSchool,
        Rule::ParentIsTeachingPoint,
        Rule::ParentInOtherCounty,
        Rule::TotalRowMismatch,
        Rule::DeclaredColumnMissing,
        Rule::EncodingUncertain,
        Rule::CurrencyMismatch,
    ];

    /// Its id, what it means, and the same in Chinese.
    fn entry(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Rule::UnreadableFile => {
                ("unreadable_file", "the file cannot be read (encoding, damaged workbook, size)", "文件无法读取")
            }
            Rule::HeaderNotFound => ("header_not_found", "no header row in the first rows of the file", "找不到表头行"),
            Rule::MissingRequiredColumn => {
                ("missing_required_column", "a column the table requires is missing", "缺少必填列")
            }
            Rule::DuplicateColumn => ("duplicate_column", "two columns mean the same contract column", "两列含义相同"),
            Rule::ConflictingFiles => (
                "conflicting_files",
                "one county-year's table is given by more than one file",
                "同一县区同一年度的表由多个文件报送",
            ),
            Rule::UnknownColumn => ("unknown_column", "a header matches no column of the table", "列名不属于该表"),
            Rule::NotAWholeNumber => ("not_a_whole_number", "a count that is not a whole number", "不是整数"),
            Rule::NotANumber => ("not_a_number", "a quantity that is not a number", "不是数字"),
            Rule::NegativeValue => ("negative_value", "a count, area or amount below zero", "数值为负"),
            Rule::InvalidYear => ("invalid_year", "not a year 1990–2100 or a school year", "年份无效"),
            Rule::InvalidCountyCode => ("invalid_county_code", "not a 6-digit county code", "县区代码无效"),
            Rule::InvalidSchoolCode => ("invalid_school_code", "not a 10-digit school code", "学校标识码无效"),
            Rule::UnknownEnumValue => ("unknown_enum_value", "a value outside its closed set", "取值不在规定范围内"),
            Rule::NotABoolean => ("not_a_boolean", "not a yes/no value", "不是是/否"),
            Rule::InvalidGrade => ("invalid_grade", "not a grade 1–9", "年级无效"),
            Rule::InvalidLevel => ("invalid_level", "not a monitoring level Ⅰ–Ⅳ", "学业水平等级无效"),
            Rule::RequiredValueMissing => ("required_value_missing", "a required value is empty", "必填项为空"),
            Rule::MissingParentSchool => {
                ("missing_parent_school", "a teaching point without the school it belongs to", "教学点未填所属学校")
            }
            Rule::StageRequired => {
                ("stage_required", "a row of a two-stage school without its stage", "一贯制学校未填学段")
            }
            Rule::YearMismatch => ("year_mismatch", "the row's year is not the submission's", "年份与报送年度不符"),
            Rule::CountyMismatch => (
                "county_mismatch",
                "the row's county is not the submission's, or its school is another county's",
                "县区与报送县区不符",
            ),
            Rule::UnknownSchoolCode => {
                ("unknown_school_code", "the school is not in that year's schools table", "学校不在当年学校表中")
            }
            Rule::GradeNotAllowed => {
                ("grade_not_allowed", "a grade the school's type does not teach", "该类学校不开设此年级")
            }
            Rule::StageNotOffered => ("stage_not_offered", "a stage the school does not have", "该学校没有此学段"),
            Rule::ClassesZeroWithStudents => {
                ("classes_zero_with_students", "pupils in a grade with no classes", "有学生但班数为0")
            }
            Rule::AmountNotPositive => {
                ("amount_not_positive", "a project amount or a school's budget of zero or less", "金额须大于0")
            }
            Rule::LargestClassBelowAverage => (
                "largest_class_below_average",
                "a grade's largest class smaller than its average class",
                "最大班额小于平均班额",
            ),
            Rule::BoundViolated => ("bound_violated", "a column larger than the one that bounds it", "数值超过上限列"),
            Rule::DuplicateKey => ("duplicate_key", "the same key twice", "重复记录"),
            Rule::UnknownParentSchool => (
                "unknown_parent_school",
                "a teaching point whose school is not in the schools table",
                "所属学校不在学校表中",
            ),
            Rule::ParentIsTeachingPoint => (
                "parent_is_teaching_point",
                "a teaching point whose school is itself a teaching point",
                "所属学校本身是教学点",
            ),
            Rule::ParentInOtherCounty => (
                "parent_in_other_county",
                "a teaching point whose school belongs to another county",
                "所属学校属于其他县区",
            ),
            Rule::TotalRowMismatch => {
                ("total_row_mismatch", "a total row that does not equal the rows above it", "合计行与明细之和不一致")
            }
            Rule::DeclaredColumnMissing => (
                "declared_column_missing",
                "a column the pipeline file declares (an alias, a grade column) is not in the file",
                "配置文件声明的列在文件中不存在",
            ),
            Rule::EncodingUncertain => (
                "encoding_uncertain",
                "the file's bytes read sensibly in two encodings and none is declared",
                "无法确定文件编码，请在配置文件中声明",
            ),
            Rule::CurrencyMismatch => (
                "currency_mismatch",
                "an amount marked with another currency than the pipeline's (never converted)",
                "金额的货币与配置文件声明的货币不符",
            ),
        }
    }

    /// The stable id (`not_a_whole_number`).
    pub fn id(self) -> &'static str {
        self.entry().0
    }

    /// What the rule says, in English.
    pub fn meaning(self) -> &'static str {
        self.entry().1
    }

    /// What the rule says, in Chinese.
    pub fn meaning_zh(self) -> &'static str {
        self.entry().2
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

// Findings are listed by file, row and rule id (alphabetically), as they always were.
impl PartialOrd for Rule {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rule {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id().cmp(other.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_round_trip() {
        let ids: std::collections::BTreeSet<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
            assert!(rule.id().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{rule}");
            assert!(!rule.meaning().is_empty() && !rule.meaning_zh().is_empty());
        }
    }

    #[test]
    fn the_readme_lists_every_rule() {
        let readme = include_str!("../../README.md");
        for rule in Rule::ALL {
            assert!(readme.contains(&format!("`{}`", rule.id())), "README.md does not list rule {}", rule.id());
        }
    }
}
