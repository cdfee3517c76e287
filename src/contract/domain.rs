//! The domain's closed sets: stages, school types, urban–rural areas, school systems — each a
//! type with its canonical English value (what staging publishes and SQL compares), its Chinese
//! name, and the spellings counties write ([`EnumDef`], what a cell is read against).

use std::fmt;

/// A closed set of values with their Chinese spellings.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumDef {
    /// The enum's name (for messages).
    pub name: &'static str,
    /// (canonical English value, Chinese label, other accepted spellings).
    pub values: &'static [(&'static str, &'static str, &'static [&'static str])],
}

impl EnumDef {
    /// The canonical value for a cell text (English, case-insensitive, or any Chinese spelling).
    pub fn lookup(&self, text: &str) -> Option<&'static str> {
        self.values.iter().find_map(|(value, label, others)| {
            (value.eq_ignore_ascii_case(text) || *label == text || others.contains(&text)).then_some(*value)
        })
    }

    /// The accepted values, for messages: `primary 小学, junior 初中, …`.
    pub fn describe(&self) -> String {
        self.values.iter().map(|(v, l, _)| format!("{v} {l}")).collect::<Vec<_>>().join(", ")
    }
}

/// School types (办学类型).
pub static SCHOOL_TYPE: EnumDef = EnumDef {
    name: "school_type",
    values: &[
        ("primary", "小学", &["普通小学"]),
        ("junior", "初级中学", &["初中", "初级中学校"]),
        ("nine_year", "九年一贯制学校", &["九年一贯制", "九年制学校"]),
        ("teaching_point", "小学教学点", &["教学点"]),
        ("complete_secondary", "完全中学", &[]),
        ("twelve_year", "十二年一贯制学校", &["十二年一贯制"]),
    ],
};

/// Urban–rural classification (城乡分类).
pub static AREA_TYPE: EnumDef = EnumDef {
    name: "area_type",
    values: &[
        ("urban", "城区", &["城市", "主城区", "城乡结合区"]),
        ("town", "镇区", &["县镇", "镇中心区", "镇乡结合区", "特殊区域"]),
        ("rural", "乡村", &["农村", "乡中心区", "村庄"]),
        // A source that does not classify its schools (most foreign ones): counted in totals,
        // reported as such, in no urban, town or rural figure.
        ("unknown", "城乡类型不详", &["不详", "未知", "未分类"]),
    ],
};

/// Stage of compulsory schooling (学段).
pub static STAGE: EnumDef = EnumDef {
    name: "stage",
    values: &[("primary", "小学", &["小学段"]), ("junior", "初中", &["初中段", "初级中学"])],
};

/// Investment categories (投入类别).
pub static CATEGORY: EnumDef = EnumDef {
    name: "category",
    values: &[
        ("standardisation", "标准化建设", &["标准化学校建设"]),
        ("new_building", "新建校舍", &["新建学校", "新校区建设"]),
        ("renovation", "维修改造", &["薄弱学校改造", "改造薄弱学校", "全面改薄"]),
        ("equipment", "教学仪器设备购置", &["仪器设备购置", "教学仪器设备"]),
        ("ict", "信息化建设", &["教育信息化"]),
        ("teacher_training", "教师培训", &[]),
        ("student_aid", "学生资助", &[]),
        ("safety", "校园安全", &[]),
        ("other", "其他", &[]),
    ],
};

/// A closed set's value as a Rust type: its canonical text and back.
macro_rules! canonical {
    ($ty:ident, $def:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order of its spellings table.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The canonical English value (`primary`, `nine_year`, `urban` …).
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// The value for its canonical text (as read from a cell through [`EnumDef::lookup`]).
            pub fn parse(text: &str) -> Option<$ty> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }

            /// The Chinese name, from the spellings table.
            pub fn label(self) -> &'static str {
                $def.values.iter().find(|v| v.0 == self.as_str()).map_or(self.as_str(), |v| v.1)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A stage of compulsory schooling (学段).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// 小学.
    Primary,
    /// 初中.
    Junior,
}

canonical!(Stage, STAGE, { Primary => "primary", Junior => "junior" });

/// A type of school (办学类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchoolType {
    /// 小学.
    Primary,
    /// 初级中学.
    Junior,
    /// 九年一贯制学校: both stages.
    NineYear,
    /// 小学教学点: a small primary site belonging to a school.
    TeachingPoint,
    /// 完全中学: junior and senior secondary (its compulsory part is junior, at times primary too).
    CompleteSecondary,
    /// 十二年一贯制学校.
    TwelveYear,
}

canonical!(SchoolType, SCHOOL_TYPE, {
    Primary => "primary",
    Junior => "junior",
    NineYear => "nine_year",
    TeachingPoint => "teaching_point",
    CompleteSecondary => "complete_secondary",
    TwelveYear => "twelve_year",
});

impl SchoolType {
    /// The stages it may have within compulsory schooling.
    pub fn stages(self) -> &'static [Stage] {
        match self {
            SchoolType::Primary | SchoolType::TeachingPoint => &[Stage::Primary],
            SchoolType::Junior => &[Stage::Junior],
            _ => &[Stage::Primary, Stage::Junior],
        }
    }

    /// Its only stage, for a single-stage school.
    pub fn only_stage(self) -> Option<Stage> {
        match self.stages() {
            [stage] => Some(*stage),
            _ => None,
        }
    }

    /// Whether rows of per-stage tables must name the stage (a school of both stages).
    pub fn stage_required(self) -> bool {
        matches!(self, SchoolType::NineYear | SchoolType::TwelveYear | SchoolType::CompleteSecondary)
    }

    /// The grades it may teach under a school system (inclusive range).
    ///
    /// Methodology §1 splits nine-year, twelve-year *and complete secondary* schools into a
    /// primary and a junior part, so all three may teach grades 1–9 (a complete secondary school
    /// usually has only junior grades; its primary unit then simply does not exist).
    pub fn grades(self, system: SchoolSystem) -> std::ops::RangeInclusive<i64> {
        let last_primary = system.last_primary_grade();
        match self {
            SchoolType::Primary | SchoolType::TeachingPoint => 1..=last_primary,
            SchoolType::Junior => (last_primary + 1)..=9,
            _ => 1..=9,
        }
    }
}

/// The urban–rural classification of a school (城乡分类).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AreaType {
    /// 城区.
    Urban,
    /// 镇区.
    Town,
    /// 乡村.
    Rural,
    /// Not classified by the source (城乡类型不详).
    Unknown,
}

canonical!(AreaType, AREA_TYPE, { Urban => "urban", Town => "town", Rural => "rural", Unknown => "unknown" });

/// The school system (学制) of a county: how many of the nine grades are primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum SchoolSystem {
    /// Grades 1–6 primary, 7–9 junior (the default).
    #[default]
    #[serde(rename = "6-3")]
    SixThree,
    /// Grades 1–5 primary, 6–9 junior.
    #[serde(rename = "5-4")]
    FiveFour,
}

impl SchoolSystem {
    /// The last primary grade (6 or 5).
    pub fn last_primary_grade(self) -> i64 {
        match self {
            SchoolSystem::SixThree => 6,
            SchoolSystem::FiveFour => 5,
        }
    }

    /// `6-3` or `5-4`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchoolSystem::SixThree => "6-3",
            SchoolSystem::FiveFour => "5-4",
        }
    }

    /// Parse `6-3` / `5-4` (also `六三`, `五四`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "6-3" | "6+3" | "六三" | "六三制" => Some(SchoolSystem::SixThree),
            "5-4" | "5+4" | "五四" | "五四制" => Some(SchoolSystem::FiveFour),
            _ => None,
        }
    }

    /// The stage of a grade under this school system.
    pub fn stage_of(self, grade: i64) -> Stage {
        if grade <= self.last_primary_grade() { Stage::Primary } else { Stage::Junior }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_accept_english_and_chinese() {
        assert_eq!(SCHOOL_TYPE.lookup("九年一贯制学校"), Some("nine_year"));
        assert_eq!(SCHOOL_TYPE.lookup("Teaching_Point"), Some("teaching_point"));
        assert_eq!(SCHOOL_TYPE.lookup("教学点"), Some("teaching_point"));
        assert_eq!(AREA_TYPE.lookup("乡村"), Some("rural"));
        assert_eq!(CATEGORY.lookup("薄弱学校改造"), Some("renovation"));
        assert_eq!(STAGE.lookup("高中"), None);
    }

    #[test]
    fn every_spelling_table_value_is_a_typed_value() {
        for (value, _, _) in SCHOOL_TYPE.values {
            assert_eq!(SchoolType::parse(value).map(SchoolType::as_str), Some(*value));
        }
        for (value, _, _) in STAGE.values {
            assert_eq!(Stage::parse(value).map(Stage::as_str), Some(*value));
        }
        for (value, _, _) in AREA_TYPE.values {
            assert_eq!(AreaType::parse(value).map(AreaType::as_str), Some(*value));
        }
        assert_eq!(SchoolType::ALL.len(), SCHOOL_TYPE.values.len());
        assert_eq!(SchoolType::NineYear.label(), "九年一贯制学校");
    }

    #[test]
    fn grades_follow_the_school_system() {
        assert_eq!(SchoolType::Primary.grades(SchoolSystem::SixThree), 1..=6);
        assert_eq!(SchoolType::Junior.grades(SchoolSystem::FiveFour), 6..=9);
        assert_eq!(SchoolType::CompleteSecondary.grades(SchoolSystem::SixThree), 1..=9);
        assert_eq!(SchoolType::NineYear.grades(SchoolSystem::FiveFour), 1..=9);
        assert_eq!(SchoolSystem::FiveFour.stage_of(6), Stage::Junior);
        assert_eq!(SchoolSystem::SixThree.stage_of(6), Stage::Primary);
        assert_eq!(SchoolType::TeachingPoint.only_stage(), Some(Stage::Primary));
        assert_eq!(SchoolType::TwelveYear.only_stage(), None);
    }
}

/// A currency money may be declared in (`[settings] currency`): its ISO 4217 code, its names and
/// the symbols and codes a cell may carry (`$7,884`, `7 884 €`, `¥1,000`, `1000元`).
#[derive(Debug, PartialEq, Eq)]
pub struct Currency {
    /// ISO 4217 code (`CNY`).
    pub code: &'static str,
    /// Its name in English.
    pub name: &'static str,
    /// Symbols and codes a cell may carry, before or after the amount (`$` is every dollar's).
    pub marks: &'static [&'static str],
}

/// The currencies junheng knows. Amounts are never converted: a source is published in the
/// currency it declares, and a mark of another currency in a cell is a finding.
pub static CURRENCIES: &[Currency] = &[
    Currency { code: "CNY", name: "Chinese yuan", marks: &["CNY", "RMB", "¥", "￥", "元", "人民币"] },
    Currency { code: "USD", name: "US dollar", marks: &["USD", "US$", "$"] },
    Currency { code: "TWD", name: "New Taiwan dollar", marks: &["TWD", "NT$", "$", "元"] },
    Currency { code: "HKD", name: "Hong Kong dollar", marks: &["HKD", "HK$", "$"] },
    Currency { code: "EUR", name: "euro", marks: &["EUR", "€"] },
    Currency { code: "GBP", name: "pound sterling", marks: &["GBP", "£"] },
    Currency { code: "JPY", name: "Japanese yen", marks: &["JPY", "¥", "円"] },
    Currency { code: "CAD", name: "Canadian dollar", marks: &["CAD", "C$", "$"] },
    Currency { code: "AUD", name: "Australian dollar", marks: &["AUD", "A$", "$"] },
];

impl Currency {
    /// The currency with this ISO code (case-insensitive).
    pub fn of(code: &str) -> Option<&'static Currency> {
        CURRENCIES.iter().find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    /// An amount's text without a currency mark before or after it, and the mark, if any
    /// (longest marks first, so `US$` is not read as `$`).
    pub fn strip_mark(text: &str) -> (&str, Option<&'static str>) {
        // Every currency's marks, longest first: sorted once, not for every amount read.
        static MARKS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
            let mut marks: Vec<&'static str> = CURRENCIES.iter().flat_map(|c| c.marks.iter().copied()).collect();
            marks.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
            marks.dedup();
            marks
        });
        for &mark in MARKS.iter() {
            if let Some(rest) = text.strip_prefix(mark).or_else(|| text.strip_suffix(mark)) {
                return (rest.trim(), Some(mark));
            }
        }
        (text, None)
    }

    /// Whether it is the yuan, the currency the contract's amounts and standards are written in.
    pub fn is_yuan(&self) -> bool {
        *self == CURRENCIES[0]
    }

    /// Whether a cell may carry this mark in this currency.
    pub fn accepts(&self, mark: &str) -> bool {
        self.marks.contains(&mark)
    }
}

/// `[settings] currency` as written — its ISO code — and read back as the currency itself, so a
/// code junheng does not know is an error where the pipeline file is read, and nothing downstream
/// looks the code up again.
pub mod currency_code {
    use super::{CURRENCIES, Currency};

    /// The code (`"CNY"`).
    pub fn serialize<S: serde::Serializer>(currency: &&'static Currency, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(currency.code)
    }

    /// The currency of a code (case-insensitive), or an error listing the codes junheng knows.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<&'static Currency, D::Error> {
        let code = <String as serde::Deserialize>::deserialize(deserializer)?;
        Currency::of(&code).ok_or_else(|| {
            let known: Vec<&str> = CURRENCIES.iter().map(|c| c.code).collect();
            serde::de::Error::custom(format!(
                "currency {code:?} is not one junheng knows; use one of {}",
                known.join(", ")
            ))
        })
    }
}
