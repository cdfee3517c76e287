//! The data contract of `../shared/contract/inputs.md`, as data.
//!
//! Every table a county submits, its columns with their Chinese header aliases, types, units and
//! requirement, its key, and the cross-column bounds a row must satisfy. Extract binds headers
//! with it, validate checks rows against it, normalise builds the staging schema from it and the
//! data dictionary describes it. Nothing here reads or writes anything.

use std::fmt;

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
}

impl Table {
    /// All tables in processing order.
    pub const ALL: [Table; 7] = [
        Table::Schools,
        Table::Pupils,
        Table::Teachers,
        Table::Facilities,
        Table::Finance,
        Table::Investments,
        Table::Survey,
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
        }
    }

    /// A column by canonical name.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The columns whose values must be unique together (None: no key, e.g. investments).
    pub fn key(self) -> Option<&'static [&'static str]> {
        match self {
            Table::Schools => Some(&["year", "school_code"]),
            Table::Pupils => Some(&["year", "school_code", "grade"]),
            Table::Teachers | Table::Facilities => Some(&["year", "school_code", "stage"]),
            Table::Finance | Table::Survey => Some(&["year", "county_code"]),
            Table::Investments => None,
        }
    }

    /// Whether rows refer to a school (and so must find it in that year's schools table).
    pub fn refers_to_school(self) -> bool {
        matches!(self, Table::Pupils | Table::Teachers | Table::Facilities)
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

/// The unit a quantity is stated in. Headers may carry it (`(万元)`), a pipeline may declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// 元 (yuan), the canonical money unit.
    Yuan,
    /// 千元 = 1 000 元.
    ThousandYuan,
    /// 万元 = 10 000 元.
    TenThousandYuan,
    /// m², the canonical area unit.
    SquareMetre,
    /// 公顷 = 10 000 m².
    Hectare,
    /// 亩 = 10 000 / 15 m².
    Mu,
    /// 万人 and similar "×10 000" counts, used by aggregate statistics.
    TenThousand,
    /// A plain count (人, 所, 台, 册, 个, 间, 套 …): no conversion.
    Count,
    /// A percentage: `98.4` means 0.984.
    Percent,
}

impl Unit {
    /// Recognise a unit written in a header suffix or a unit row (`万元`, `平方米`, `m2`, `亩` …).
    pub fn parse(text: &str) -> Option<Unit> {
        let t = text.trim().trim_start_matches("单位").trim_start_matches([':', '：']).trim();
        Some(match t {
            "元" | "yuan" | "CNY" | "RMB" => Unit::Yuan,
            "千元" => Unit::ThousandYuan,
            "万元" => Unit::TenThousandYuan,
            "平方米" | "m2" | "m²" | "㎡" | "平米" => Unit::SquareMetre,
            "公顷" | "ha" => Unit::Hectare,
            "亩" => Unit::Mu,
            "万人" | "万" | "万册" | "万台" => Unit::TenThousand,
            "%" | "％" | "百分比" => Unit::Percent,
            "人" | "所" | "个" | "台" | "册" | "间" | "套" | "班" | "台套" | "名" | "份" | "张" | "件" => {
                Unit::Count
            }
            _ => return None,
        })
    }

    /// The Chinese name of the unit.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Yuan => "元",
            Unit::ThousandYuan => "千元",
            Unit::TenThousandYuan => "万元",
            Unit::SquareMetre => "平方米",
            Unit::Hectare => "公顷",
            Unit::Mu => "亩",
            Unit::TenThousand => "万",
            Unit::Count => "个",
            Unit::Percent => "%",
        }
    }

    /// Whether a value stated in this unit can be converted to the column's canonical unit.
    pub fn fits(self, kind: Kind) -> bool {
        match kind {
            Kind::Money => matches!(self, Unit::Yuan | Unit::ThousandYuan | Unit::TenThousandYuan),
            Kind::Area => matches!(self, Unit::SquareMetre | Unit::Hectare | Unit::Mu),
            Kind::Count => matches!(self, Unit::Count | Unit::TenThousand),
            _ => false,
        }
    }
}

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

const fn col(
    name: &'static str,
    label: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    required: Required,
    meaning: &'static str,
) -> Column {
    Column { name, label, aliases, kind, required, meaning }
}

use Kind::*;
use Required::{ForMultiStageSchools, ForTeachingPoints, No, Yes};

const YEAR: Column = col(
    "year",
    "年份",
    &["统计年度", "学年", "年度"],
    Year,
    Yes,
    "statistical (autumn census) year; fiscal year for finance and investments",
);
const COUNTY_CODE: Column = col(
    "county_code",
    "县区代码",
    &["行政区划代码", "县(区)代码", "区县代码"],
    CountyCode,
    Yes,
    "6-digit administrative division code of the county",
);
const SCHOOL_CODE: Column = col(
    "school_code",
    "学校标识码",
    &["学校代码", "学校识别码"],
    SchoolCode,
    Yes,
    "10-digit school identification code",
);

static SCHOOLS: &[Column] = &[
    YEAR,
    COUNTY_CODE,
    col("county_name", "县区名称", &["县(市、区)", "县（市、区）", "县区"], Text, No, "name of the county"),
    SCHOOL_CODE,
    col("school_name", "学校名称", &["校名"], Text, Yes, "name of the school or teaching point"),
    col(
        "school_type",
        "办学类型",
        &["学校类型", "学校类别"],
        Enum(&SCHOOL_TYPE),
        Yes,
        "primary, junior, nine_year, teaching_point, complete_secondary or twelve_year",
    ),
    col(
        "area_type",
        "城乡分类",
        &["城乡类型", "城乡属性"],
        Enum(&AREA_TYPE),
        Yes,
        "urban (城区), town (镇区) or rural (乡村)",
    ),
    col(
        "parent_school_code",
        "所属学校标识码",
        &["中心校标识码", "所属学校代码"],
        SchoolCode,
        ForTeachingPoints,
        "for a teaching point: the school it belongs to",
    ),
    col(
        "is_public",
        "是否公办",
        &["公办"],
        Bool,
        No,
        "true for public schools; private schools are excluded from balance indicators (default true)",
    ),
    col(
        "is_standardised",
        "是否标准化学校",
        &["标准化学校"],
        Bool,
        No,
        "passed the provincial standardisation acceptance",
    ),
];

static PUPILS: &[Column] = &[
    YEAR,
    SCHOOL_CODE,
    col("grade", "年级", &[], Grade, Yes, "grade 1–9 of compulsory schooling"),
    col("students", "在校生数", &["在校学生数", "学生数"], Count, Yes, "pupils enrolled at the census"),
    col("classes", "班数", &["教学班数", "班级数"], Count, Yes, "classes (teaching groups)"),
    col("entrants", "招生数", &["新生数"], Count, No, "pupils who entered this grade this year (entry grades)"),
    col(
        "graduates",
        "毕业生数",
        &[],
        Count,
        No,
        "pupils who graduated from this grade in the school year that ended at the census",
    ),
    col(
        "dropouts",
        "辍学人数",
        &["辍学学生数"],
        Count,
        No,
        "pupils who dropped out during the school year ending at this census",
    ),
    col("transfers_in", "转入人数", &["转入学生数"], Count, No, "pupils transferred in"),
    col("transfers_out", "转出人数", &["转出学生数"], Count, No, "pupils transferred out"),
    col("left_behind", "农村留守儿童", &["留守儿童数", "农村留守儿童数"], Count, No, "rural left-behind children"),
    col("migrant", "进城务工人员随迁子女", &["随迁子女数", "随迁子女"], Count, No, "children of migrant workers"),
    col("special_needs", "随班就读", &["随班就读学生数"], Count, No, "pupils with special needs in regular classes"),
];

static TEACHERS: &[Column] = &[
    YEAR,
    SCHOOL_CODE,
    col(
        "stage",
        "学段",
        &[],
        Enum(&STAGE),
        ForMultiStageSchools,
        "primary or junior; filled from the school type for single-stage schools",
    ),
    col("posts_established", "核定编制数", &["编制数", "教职工编制数"], Count, No, "established staff posts (编制)"),
    col("staff_on_payroll", "在编教职工数", &["实有在编教职工", "实有在编教职工数"], Count, No, "staff on the payroll"),
    col("full_time_teachers", "专任教师数", &[], Count, Yes, "full-time teachers"),
    col(
        "teachers_above_degree",
        "高于规定学历教师数",
        &[],
        Count,
        Yes,
        "teachers with a qualification above the required one",
    ),
    col(
        "teachers_mid_senior_title",
        "中级及以上职称教师数",
        &["中级及以上专业技术职务教师数"],
        Count,
        Yes,
        "teachers with an intermediate or senior professional title",
    ),
    col(
        "backbone_teachers",
        "县级及以上骨干教师数",
        &["骨干教师数", "县级以上骨干教师数"],
        Count,
        No,
        "county-level or higher backbone teachers",
    ),
    col(
        "pe_arts_teachers",
        "体育艺术专任教师数",
        &["体育、艺术(美术、音乐)专任教师数", "体育艺术教师数"],
        Count,
        No,
        "full-time PE and arts (art, music) teachers",
    ),
    col("teachers_exchanged", "交流轮岗教师数", &[], Count, No, "teachers exchanged between schools this year"),
    col("backbone_exchanged", "交流轮岗骨干教师数", &[], Count, No, "backbone teachers among those exchanged"),
];

static FACILITIES: &[Column] = &[
    YEAR,
    SCHOOL_CODE,
    col(
        "stage",
        "学段",
        &[],
        Enum(&STAGE),
        No,
        "primary or junior; empty for a whole multi-stage school (apportioned by enrolment)",
    ),
    col("site_area_m2", "占地面积", &["校园占地面积", "校园面积"], Area, No, "site area (m²)"),
    col("building_area_m2", "校舍建筑面积", &["校舍面积"], Area, Yes, "school building floor area (m²)"),
    col(
        "teaching_aux_area_m2",
        "教学及辅助用房面积",
        &["教学及辅助用房"],
        Area,
        Yes,
        "teaching and auxiliary rooms floor area (m²)",
    ),
    col(
        "sports_area_m2",
        "体育运动场馆面积",
        &["体育运动场(馆)面积", "体育运动场（馆）面积"],
        Area,
        Yes,
        "sports grounds and halls (m²)",
    ),
    col(
        "equipment_value",
        "教学仪器设备值",
        &["教学仪器设备资产值"],
        Money,
        Yes,
        "value of teaching instruments and equipment (元)",
    ),
    col("books", "图书册数", &["图书", "图书(册)"], Count, Yes, "library books (volumes)"),
    col("computers", "计算机台数", &["教学用计算机台数", "教学用计算机"], Count, Yes, "computers for teaching"),
    col(
        "multimedia_classrooms",
        "网络多媒体教室数",
        &["多媒体教室", "多媒体教室数"],
        Count,
        No,
        "networked multimedia classrooms",
    ),
];

static FINANCE: &[Column] = &[
    YEAR,
    COUNTY_CODE,
    col(
        "recurrent_revenue",
        "财政经常性收入",
        &["地方财政经常性收入"],
        Money,
        Yes,
        "recurrent fiscal revenue of the county government (元)",
    ),
    col(
        "education_appropriation",
        "教育财政拨款",
        &["义务教育财政拨款", "义务教育预算内经费拨款"],
        Money,
        Yes,
        "fiscal appropriation for (compulsory) education (元)",
    ),
    col(
        "exp_per_pupil_primary",
        "小学生均教育事业费",
        &["小学生均预算内教育事业费"],
        Money,
        Yes,
        "budgetary education expenditure per primary pupil (元)",
    ),
    col(
        "exp_per_pupil_junior",
        "初中生均教育事业费",
        &["初中生均预算内教育事业费"],
        Money,
        Yes,
        "budgetary education expenditure per junior pupil (元)",
    ),
    col(
        "public_funds_per_pupil_primary",
        "小学生均公用经费",
        &["小学生均预算内公用经费"],
        Money,
        Yes,
        "budgetary public (operating) funds per primary pupil (元)",
    ),
    col(
        "public_funds_per_pupil_junior",
        "初中生均公用经费",
        &["初中生均预算内公用经费"],
        Money,
        Yes,
        "budgetary public (operating) funds per junior pupil (元)",
    ),
    col("avg_teacher_salary", "教职工年人均工资", &[], Money, No, "average annual salary of teaching staff (元)"),
    col(
        "general_education_expenditure",
        "一般公共预算教育支出",
        &[],
        Money,
        No,
        "general public budget expenditure on education (元)",
    ),
    col(
        "arrears_committed",
        "欠拨教育经费",
        &["应补拨经费"],
        Money,
        No,
        "appropriation owed for this fiscal year that the government committed to make up (元)",
    ),
    col(
        "arrears_repaid",
        "补拨教育经费",
        &["已补拨经费", "补拨到位经费"],
        Money,
        No,
        "arrears of earlier years paid in this fiscal year (元); junheng extension",
    ),
];

static INVESTMENTS: &[Column] = &[
    YEAR,
    COUNTY_CODE,
    col(
        "school_code",
        "学校标识码",
        &["学校代码"],
        SchoolCode,
        No,
        "the school invested in, when the project is for one school",
    ),
    col("category", "类别", &["投入类别", "项目类别"], Enum(&CATEGORY), Yes, "what the money was for"),
    col("amount", "金额", &["投入金额", "投资金额"], Money, Yes, "amount invested (元)"),
    col("units_added", "增添设备台套", &["增添设备", "设备台套"], Count, No, "units of equipment added"),
    col("area_m2", "面积", &["建设面积"], Area, No, "floor or ground area built or renovated (m²)"),
    col("description", "项目名称", &["说明", "项目说明"], Text, No, "project name or note"),
];

static SURVEY: &[Column] = &[
    YEAR,
    COUNTY_CODE,
    col("questionnaires", "问卷总数", &["发放问卷数"], Count, Yes, "questionnaires handed out"),
    col("valid_questionnaires", "有效问卷", &["有效问卷数"], Count, Yes, "valid questionnaires returned"),
    col("satisfied", "满意问卷数", &["满意数"], Count, Yes, "questionnaires answering satisfied"),
];

static BOUNDS: &[Bound] = &[
    Bound { table: Table::Pupils, lesser: "left_behind", greater: "students", severity: Severity::Error },
    Bound { table: Table::Pupils, lesser: "migrant", greater: "students", severity: Severity::Error },
    Bound { table: Table::Pupils, lesser: "special_needs", greater: "students", severity: Severity::Error },
    Bound {
        table: Table::Teachers,
        lesser: "full_time_teachers",
        greater: "staff_on_payroll",
        severity: Severity::Warning,
    },
    Bound {
        table: Table::Teachers,
        lesser: "teachers_above_degree",
        greater: "full_time_teachers",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Teachers,
        lesser: "teachers_mid_senior_title",
        greater: "full_time_teachers",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Teachers,
        lesser: "backbone_teachers",
        greater: "full_time_teachers",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Teachers,
        lesser: "pe_arts_teachers",
        greater: "full_time_teachers",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Teachers,
        lesser: "backbone_exchanged",
        greater: "teachers_exchanged",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Facilities,
        lesser: "teaching_aux_area_m2",
        greater: "building_area_m2",
        severity: Severity::Error,
    },
    Bound {
        table: Table::Survey,
        lesser: "valid_questionnaires",
        greater: "questionnaires",
        severity: Severity::Error,
    },
    Bound { table: Table::Survey, lesser: "satisfied", greater: "valid_questionnaires", severity: Severity::Error },
];

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
    pub fn stage_of(self, grade: i64) -> &'static str {
        if grade <= self.last_primary_grade() { "primary" } else { "junior" }
    }
}

/// The grades a school type may teach under a school system (inclusive range).
///
/// Methodology §1 splits nine-year, twelve-year *and complete secondary* schools into a primary
/// and a junior part, so all three may teach grades 1–9 (a complete secondary school usually has
/// only junior grades; its primary unit then simply does not exist).
pub fn allowed_grades(school_type: &str, system: SchoolSystem) -> std::ops::RangeInclusive<i64> {
    let last_primary = system.last_primary_grade();
    match school_type {
        "primary" | "teaching_point" => 1..=last_primary,
        "junior" => (last_primary + 1)..=9,
        _ => 1..=9,
    }
}

/// The stages a school type may have within compulsory schooling.
pub fn stages_offered(school_type: &str) -> &'static [&'static str] {
    match school_type {
        "primary" | "teaching_point" => &["primary"],
        "junior" => &["junior"],
        _ => &["primary", "junior"],
    }
}

/// Whether rows of per-stage tables must name the stage for this school type.
pub fn stage_required(school_type: &str) -> bool {
    matches!(school_type, "nine_year" | "twelve_year" | "complete_secondary")
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
    fn grades_follow_the_school_system() {
        assert_eq!(allowed_grades("primary", SchoolSystem::SixThree), 1..=6);
        assert_eq!(allowed_grades("junior", SchoolSystem::FiveFour), 6..=9);
        assert_eq!(allowed_grades("complete_secondary", SchoolSystem::SixThree), 1..=9);
        assert_eq!(allowed_grades("nine_year", SchoolSystem::FiveFour), 1..=9);
        assert_eq!(SchoolSystem::FiveFour.stage_of(6), "junior");
        assert_eq!(SchoolSystem::SixThree.stage_of(6), "primary");
    }
}
