//! The contract's tables of data: every column of every table (canonical name, Chinese label,
//! header aliases, kind, requirement, meaning) and the "lesser ≤ greater" bounds between them,
//! transcribed from `../shared/contract/inputs.md`.

use super::{AREA_TYPE, Bound, CATEGORY, Column, Kind, Required, SCHOOL_TYPE, STAGE, Severity, Table};

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

pub(super) static SCHOOLS: &[Column] = &[
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

pub(super) static PUPILS: &[Column] = &[
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

pub(super) static TEACHERS: &[Column] = &[
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

pub(super) static FACILITIES: &[Column] = &[
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

pub(super) static FINANCE: &[Column] = &[
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

pub(super) static INVESTMENTS: &[Column] = &[
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

pub(super) static SURVEY: &[Column] = &[
    YEAR,
    COUNTY_CODE,
    col("questionnaires", "问卷总数", &["发放问卷数"], Count, Yes, "questionnaires handed out"),
    col("valid_questionnaires", "有效问卷", &["有效问卷数"], Count, Yes, "valid questionnaires returned"),
    col("satisfied", "满意问卷数", &["满意数"], Count, Yes, "questionnaires answering satisfied"),
];

/// Yes/no columns whose empty cell means a value (see [`Column::default_flag`]).
pub(super) static FLAG_DEFAULTS: &[(&str, bool)] = &[("is_public", true)];

pub(super) static BOUNDS: &[Bound] = &[
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
