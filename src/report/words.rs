//! The report's words in each language it is written in: Chinese (the default, as a county
//! report is written, with English glosses under its headings) and English (for sources that are
//! not Chinese: no Chinese on the page but the names a source gives and the document numbers).
//!
//! A page's layout is one template for every language; what it says comes from a [`Words`]
//! table. Sentences carry named placeholders (`{schools}`) filled by [`fill`], so a translation
//! may put the figures in its own order; a unit test holds every language to the placeholders of
//! the Chinese sentence.

use serde::{Deserialize, Serialize};

/// The language a report is written in (`[report] language`, `junheng report --language`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    /// 中文 (`zh`), the default.
    #[default]
    #[serde(rename = "zh")]
    Chinese,
    /// English (`en`).
    #[serde(rename = "en")]
    English,
}

impl Language {
    /// Every language, in the order `--help` lists them.
    pub const ALL: [Language; 2] = [Language::Chinese, Language::English];

    /// Its code in the pipeline file and on the command line (`zh`, `en`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Chinese => "zh",
            Language::English => "en",
        }
    }

    /// The language of a code, if it is one.
    pub fn parse(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// Its words.
    pub fn words(self) -> &'static Words {
        match self {
            Language::Chinese => &ZH,
            Language::English => &EN,
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Language::parse(code).ok_or_else(|| format!("{code:?} is not a report language: use zh or en"))
    }
}

/// Fill a sentence's named placeholders (`{schools}`) with their values. A placeholder without a
/// value stays as it is (the unit tests keep every sentence's placeholders known).
pub fn fill(sentence: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(sentence.len() + 64);
    let mut rest = sentence;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if values.iter().any(|(n, _)| *n == name) => {
                out.push_str(values.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The word for a code from a list of (code, word) pairs, or the code itself.
pub fn lookup<'a>(pairs: &'a [(&'static str, &'static str)], code: &'a str) -> &'a str {
    pairs.iter().find(|(c, _)| *c == code).map_or(code, |(_, w)| *w)
}

/// A heading: its text (with `{year}` where it names the year) and, on a Chinese page, an
/// English gloss in small type.
#[derive(Debug, Clone, Copy)]
pub struct Heading {
    /// What the heading says.
    pub text: &'static str,
    /// Its gloss in another language, or empty.
    pub gloss: &'static str,
}

impl Heading {
    /// The text with the year filled in.
    pub fn at(&self, year: impl std::fmt::Display) -> String {
        fill(self.text, &[("year", &year.to_string())])
    }

    /// The gloss with the year filled in.
    pub fn gloss_at(&self, year: impl std::fmt::Display) -> String {
        fill(self.gloss, &[("year", &year.to_string())])
    }
}

const fn h(text: &'static str, gloss: &'static str) -> Heading {
    Heading { text, gloss }
}

/// Everything a report page says, in one language.
#[derive(Debug)]
pub struct Words {
    /// The language.
    pub language: Language,
    /// The page's `<html lang>`.
    pub html_lang: &'static str,
    /// Between the items of a list in a sentence (`、`, `, `).
    pub list_separator: &'static str,
    /// Between the clauses of a list (`，`, `, `).
    pub clause_separator: &'static str,
    /// Between the parts of a longer list (`；`, `; `).
    pub semicolon: &'static str,
    /// Between a label and what it labels (`：`, `: `).
    pub colon: &'static str,
    /// The link to the index.
    pub index_link: &'static str,
    /// The link to the dictionary.
    pub dictionary_link: &'static str,

    // The county page.
    /// The page's `<title>`: `{name}`.
    pub county_title: &'static str,
    /// Its first heading: `{name}`, `{code}`.
    pub county_heading: &'static str,
    /// The line under it: `{year}`.
    pub county_meta: &'static str,
    /// The gloss of that line.
    pub county_gloss: &'static str,
    /// 基本情况.
    pub headline_heading: Heading,
    /// The headline paragraph: the counts of schools, staff and pupils, areas, CVs.
    pub headline: &'static str,
    /// Its clause on complete secondary and twelve-year schools: `{schools}`.
    pub headline_secondary: &'static str,
    /// Its clause when no school is classified as urban, town or rural.
    pub headline_unclassified: &'static str,
    /// Its clause of pupils by area type.
    pub headline_by_area: &'static str,
    /// Its clause of pupils whose area type is not known: `{students}`.
    pub headline_unknown_area: &'static str,
    /// A share in words (`{percent}` whole).
    pub headline_satisfaction: &'static str,
    /// 发展趋势.
    pub trends_heading: Heading,
    /// 均衡指标.
    pub balance_heading: Heading,
    /// The columns of the difference-coefficient table.
    pub cv_columns: [&'static str; 9],
    /// The columns of the per-stage verdict table.
    pub summary_columns: [&'static str; 10],
    /// 学校达标情况.
    pub units_heading: Heading,
    /// The columns of the unit table before and after q1–q7: (unit, school, stage, pupils), (met, meets).
    pub unit_columns: ([&'static str; 4], [&'static str; 2]),
    /// A unit outside the standards test.
    pub not_assessed: &'static str,
    /// 三个增长.
    pub funding_heading: Heading,
    /// The columns of the legs table; the sixth has `{unit}`.
    pub leg_columns: [&'static str; 7],
    /// 存在的不足.
    pub findings_heading: Heading,
    /// A page with no findings.
    pub no_findings: &'static str,

    // The assessment section.
    /// 优质均衡发展评估.
    pub assessment_heading: Heading,
    /// The columns of an item table.
    pub item_columns: [&'static str; 7],
    /// 未达标学校.
    pub failing_heading: Heading,
    /// No school fails a school-level item.
    pub no_failing: &'static str,
    /// The columns of the failing schools.
    pub failing_columns: [&'static str; 4],
    /// 待填报.
    pub to_fill_heading: Heading,
    /// Nothing left to fill in.
    pub all_filled: &'static str,
    /// 佐证材料.
    pub evidence_heading: Heading,
    /// No evidence this year.
    pub no_evidence: &'static str,
    /// The columns of the evidence files.
    pub evidence_columns: [&'static str; 4],
    /// 差距清单.
    pub gaps_heading: Heading,
    /// No gaps.
    pub no_gaps: &'static str,
    /// The columns of the gaps.
    pub gap_columns: [&'static str; 5],
    /// The four parts, by the mart's code.
    pub parts: [(&'static str, &'static str); 4],
    /// The statuses, by the mart's code.
    pub statuses: [(&'static str, &'static str); 6],
    /// The rule of an item every unit must meet.
    pub rule_every_unit: &'static str,
    /// The rule of an evidence item.
    pub rule_evidence: &'static str,
    /// An evidence item's value: `{files}`.
    pub files: &'static str,
    /// A file's size: `{bytes}`.
    pub bytes: &'static str,
    /// An evidence file whose folder names no item.
    pub no_item: &'static str,
    /// A county-year without a schools table.
    pub readiness_none: &'static str,
    /// The four verdicts of readiness: met with evidence, met without, not met, not reported.
    pub readiness_verdicts: [&'static str; 4],
    /// The readiness sentence: `{verdict}`, `{met}`, `{not_met}`, `{not_reported}`,
    /// `{not_applicable}`, `{submitted}`, `{missing}`.
    pub readiness: &'static str,
    /// The units of `standards_gap`, by the mart's code.
    pub gap_units: &'static [(&'static str, &'static str)],
    /// What a school lacks for g3: `{classes}`, `{music}`, `{art}`, `{required}`.
    pub shortfall_g3: &'static str,
    /// … for g4: `{students}`, `{limit}`.
    pub shortfall_g4: &'static str,
    /// … for g5: `{grades}`.
    pub shortfall_g5: &'static str,
    /// … for g6: `{budget}`, `{minimum}`, `{unit}`.
    pub shortfall_g6: &'static str,
    /// … for e4: `{spent}`, `{share}`, `{unit}`.
    pub shortfall_e4: &'static str,

    // The findings.
    /// A stage above the basic-balance standard: `{stage}`, `{value}`, `{threshold}`.
    pub finding_basic_cv: &'static str,
    /// A stage whose resources fail quality balance: `{stage}`, `{indicators}`.
    pub finding_quality_cv: &'static str,
    /// Satisfaction below the standard: `{value}`.
    pub finding_satisfaction: &'static str,
    /// Junior retention below the standard: `{value}`, `{threshold}`.
    pub finding_retention: &'static str,
    /// A year missing the three increases: `{year}`, `{legs}`, `{gap}`.
    pub finding_three_increases: &'static str,
    /// How much the appropriation should rise: `{amount}`.
    pub finding_appropriation_gap: &'static str,
    /// The legs of 三个增长, by number.
    pub legs: [(&'static str, &'static str); 3],
    /// Arrears outstanding: `{amount}`.
    pub finding_arrears: &'static str,
    /// Large classes: `{classes}`, `{huge}`.
    pub finding_large_classes: &'static str,
    /// Oversized schools: `{schools}`.
    pub finding_oversized: &'static str,
    /// Rows rejected: `{rows}`, `{rules}`.
    pub finding_rejected: &'static str,
    /// Total rows that disagree: `{rows}`.
    pub finding_total_rows: &'static str,
    /// School changes: `{changes}`.
    pub finding_changes: &'static str,
    /// One kind of change: `{event}`, `{schools}`.
    pub change: &'static str,
    /// The kinds of change, by the mart's code.
    pub changes: [(&'static str, &'static str); 4],

    // Charts.
    /// Chart titles by chart id; a title may have `{unit}` or `{stage}`.
    pub charts: [(&'static str, &'static str); 12],
    /// Series and threshold labels by code; a threshold label has `{value}`.
    pub series: [(&'static str, &'static str); 8],
    /// The investment categories, by the mart's code.
    pub categories: [(&'static str, &'static str); 9],

    // Codes and verdicts.
    /// The stages and their totals, by code (`primary`, `junior`, `nine_year`, `all`).
    pub stages: [(&'static str, &'static str); 4],
    /// The area types, by code.
    pub areas: [(&'static str, &'static str); 4],
    /// 达标, 未达标.
    pub verdicts: (&'static str, &'static str),

    // Money.
    /// The unit of yuan amounts in tables (万元).
    pub ten_thousand_yuan: &'static str,
    /// The unit of whole yuan (元).
    pub yuan: &'static str,

    // The index and the dictionary.
    /// The index's `<title>`.
    pub index_title: &'static str,
    /// The index's heading.
    pub index_heading: Heading,
    /// The index's columns.
    pub index_columns: [&'static str; 8],
    /// A county's readiness on the index: `{met}`, `{not_met}`, `{not_reported}`, `{missing}`.
    pub index_readiness: &'static str,
    /// The dictionary's heading.
    pub dictionary_heading: Heading,
    /// The dictionary's columns.
    pub dictionary_columns: [&'static str; 5],
    /// The words of the dictionary's units (`元`, `平方米`, `生` …), in this language; empty for
    /// Chinese, whose units are the dictionary's own.
    pub units: &'static [(&'static str, &'static str)],
}

impl Words {
    /// A stage's (or `nine_year`'s, `all`'s) name.
    pub fn stage<'a>(&'a self, code: &'a str) -> &'a str {
        lookup(&self.stages, code)
    }

    /// A verdict's words (达标 / 未达标 / —).
    pub fn verdict(&self, verdict: super::format::Verdict) -> &'static str {
        match verdict {
            super::format::Verdict::Pass => self.verdicts.0,
            super::format::Verdict::Fail => self.verdicts.1,
            super::format::Verdict::Unknown => "—",
        }
    }

    /// A chart's title, a series' or a threshold's label.
    pub fn chart(&self, id: &str) -> &'static str {
        self.charts.iter().chain(&self.series).find(|(c, _)| *c == id).map_or("", |(_, w)| *w)
    }

    /// A unit of the dictionary in this language: each part of `平方米/生` in its words
    /// (`m² per pupil`); a part without a word stays as it is.
    pub fn unit(&self, unit: &str) -> String {
        if self.units.is_empty() {
            return unit.to_owned();
        }
        unit.split('/').map(|part| lookup(self.units, part)).collect::<Vec<_>>().join(" per ")
    }
}

/// How a page is worded: its language's words, how it writes amounts, and the catalogue's names
/// in that language.
#[derive(Debug, Clone, Copy)]
pub struct Wording<'a> {
    /// The words.
    pub words: &'static Words,
    /// Amounts, in the same language.
    pub money: super::format::Money,
    /// Item and indicator names.
    pub names: &'a super::names::Names,
}

/// The Chinese report, as a county statistician writes it.
pub const ZH: Words = Words {
    language: Language::Chinese,
    html_lang: "zh-CN",
    list_separator: "、",
    clause_separator: "，",
    semicolon: "；",
    colon: "：",
    index_link: "索引",
    dictionary_link: "数据字典",
    county_title: "{name} 义务教育均衡发展情况",
    county_heading: "{name}（{code}）义务教育均衡发展情况",
    county_meta: "{year} 年数据",
    county_gloss: "County compulsory-education balance report, drafted by junheng from the published marts",
    headline_heading: h("基本情况", "Headline figures, {year}"),
    headline: "全县（市、区）共有义务教育学校{schools}所：小学{primary}所、九年一贯制学校{nine_year}所、初级中学{junior}所{secondary}，另有教学点{teaching_points}个。义务教育教职工核定编制{posts}名，实有在编教职工{staff}人，空编{vacant}人。在校生{students}人{by_area}。校园面积{site_area}平方米，校舍面积{building_area}平方米，生均校舍建筑面积{building_per_pupil}平方米。校际间均衡差异系数小学为{cv_primary}，初中为{cv_junior}；公众满意度为{satisfaction}；生均计算机{computers}台。",
    headline_secondary: "、完全中学及十二年一贯制学校{schools}所",
    headline_unclassified: "（学校未按城乡分类）",
    headline_by_area: "：城区{urban}人（小学{urban_primary}人，初中{urban_junior}人），镇区和乡村{outside}人（小学{outside_primary}人，初中{outside_junior}人）",
    headline_unknown_area: "，城乡类型不详{students}人",
    headline_satisfaction: "{percent}%",
    trends_heading: h("发展趋势", "Trends"),
    balance_heading: h("均衡指标（{year}年）", "Balance indicators: enrolment-weighted difference coefficients"),
    cv_columns: ["学段", "指标", "名称", "学校数", "学生数", "均值", "差异系数", "标准", "达标"],
    summary_columns: [
        "学段",
        "综合差异系数",
        "标准",
        "基本均衡",
        "最大差异系数（优质）",
        "未达标指标",
        "资源配置（优质）",
        "达标学校",
        "满意度",
        "满意度达标",
    ],
    units_heading: h("学校达标情况（{year}年）", "Quality standards per school-stage unit (ratio to standard)"),
    unit_columns: (["单位", "学校", "学段", "学生"], ["达标数", "达标"]),
    not_assessed: "不参评",
    funding_heading: h("经费保障：三个增长", "The \"three increases\" in funding"),
    leg_columns: [
        "年度",
        "①拨款增长高于收入增长",
        "②生均教育事业费增长",
        "③生均公用经费及工资增长",
        "三个增长",
        "应增拨（{unit}）",
        "两个只增不减",
    ],
    findings_heading: h("存在的不足", "Findings"),
    no_findings: "各项指标均达到标准，未发现数据问题。",
    assessment_heading: h(
        "优质均衡发展评估（{year}年）",
        "Quality-balance assessment (教督〔2017〕6号): 32 indicators in four parts",
    ),
    item_columns: ["指标", "学段", "指标内容", "数值", "标准", "评估/未达标/未填报", "状态"],
    failing_heading: h("未达标学校", "Schools failing a school-level item"),
    no_failing: "没有学校未达到学校层面的指标（g3、g4、g5、g6、e4）。",
    failing_columns: ["指标", "学校代码", "学校", "情况"],
    to_fill_heading: h("待填报", "What the county still has to fill in"),
    all_filled: "各项数据均已填报。",
    evidence_heading: h("佐证材料", "Evidence files, with their SHA-256 as the ledger records them"),
    no_evidence: "本年度未提交佐证材料（放在 evidence/<指标>/ 下）。",
    evidence_columns: ["指标", "文件", "大小", "SHA-256"],
    gaps_heading: h("差距清单", "What closing the gaps to the standards takes (all units below a standard)"),
    no_gaps: "所有学校均达到各项配置标准。",
    gap_columns: ["学段", "指标", "名称", "未达标单位数", "缺口合计"],
    parts: [
        ("resources", "资源配置"),
        ("government", "政府保障程度"),
        ("quality", "教育质量"),
        ("recognition", "社会认可度"),
    ],
    statuses: [
        ("met", "达标"),
        ("not_met", "未达标"),
        ("not_reported", "待填报"),
        ("not_applicable", "不适用"),
        ("evidence_submitted", "已提交佐证"),
        ("evidence_missing", "缺佐证材料"),
    ],
    rule_every_unit: "全部达标",
    rule_evidence: "佐证材料",
    files: "{files} 个文件",
    bytes: "{bytes} 字节",
    no_item: "（未标明指标）",
    readiness_none: "本年度无学校基本情况数据，无法评估。",
    readiness_verdicts: [
        "数据指标全部达标，佐证材料齐全",
        "数据指标全部达标，尚缺佐证材料",
        "尚有未达标指标",
        "尚有待填报数据",
    ],
    readiness: "{verdict}：计算指标达标 {met} 项、未达标 {not_met} 项、待填报 {not_reported} 项、不适用 {not_applicable} 项；佐证材料已提交 {submitted} 项、缺 {missing} 项。",
    gap_units: &[("teachers", "名教师"), ("classrooms", "间教室"), ("m²", "平方米")],
    shortfall_g3: "{classes} 个班，音乐专用教室 {music} 间、美术专用教室 {art} 间，各应有 {required} 间",
    shortfall_g4: "在校生 {students} 人，规模上限 {limit} 人",
    shortfall_g5: "{grades} 个年级的最大班额超过标准",
    shortfall_g6: "公用经费预算 {budget} {unit}，低于小规模学校按规定人数核定的 {minimum} {unit}",
    shortfall_e4: "教师培训经费 {spent} {unit}，占公用经费预算 {share}",
    finding_basic_cv: "{stage}综合差异系数{value}，高于基本均衡标准{threshold}。",
    finding_quality_cv: "{stage}优质均衡资源配置未达标：{indicators} 的差异系数超过标准。",
    finding_satisfaction: "公众满意度{value}，低于标准。",
    finding_retention: "初中三年巩固率{value}，低于{threshold}。",
    finding_three_increases: "{year}年未实现教育“三个增长”（{legs}未达到）{gap}。",
    finding_appropriation_gap: "，教育财政拨款应再增加{amount}",
    legs: [("1", "拨款增长高于经常性收入增长"), ("2", "生均教育事业费增长"), ("3", "生均公用经费和教师工资增长")],
    finding_arrears: "尚有欠拨教育经费{amount}未补齐。",
    finding_large_classes: "仍有大班额{classes}个（其中超大班额{huge}个）。",
    finding_oversized: "{schools}所学校规模超过标准。",
    finding_rejected: "报送数据中有{rows}处错误未能采用（{rules}），详见错误清单与 quarantine。",
    finding_total_rows: "{rows}处合计行与明细之和不一致（数据未核对一致）。",
    finding_changes: "学校布局调整：{changes}（学校及教学点，见 school_changes）。",
    change: "{event}{schools}所",
    changes: [
        ("closed", "撤并（停办）"),
        ("opened", "新设"),
        ("code_changed", "更换学校标识码"),
        ("students_changed_threefold", "在校生数变化超过三倍"),
    ],
    charts: [
        ("enrolment-stage", "在校生人数（按学段）"),
        ("enrolment-area", "在校生人数（按城乡）"),
        ("retention", "巩固率"),
        ("dropout", "辍学率"),
        ("cv", "差异系数（{stage}）"),
        ("funding-growth", "三个增长①：教育拨款增长与经常性收入增长"),
        ("funding-per-pupil", "三个增长②：生均教育事业费（{unit}）"),
        ("funding-public", "三个增长③：生均公用经费（{unit}）"),
        ("equipment", "生均教学仪器设备值（{unit}）"),
        ("computers", "每百名学生拥有计算机台数"),
        ("investment", "项目投入（按类别）"),
        ("investment-in", "项目投入（按类别，{unit}）"),
    ],
    series: [
        ("retention-standard", "初中标准 {value}"),
        ("basic-standard", "基本均衡标准 {value}"),
        ("quality-standard", "优质均衡标准 {value}"),
        ("composite-cv", "综合差异系数"),
        ("largest-quality-cv", "优质均衡最大差异系数"),
        ("revenue-growth", "经常性收入增长率"),
        ("appropriation-growth", "教育财政拨款增长率"),
        ("nine-year-retention", "九年"),
    ],
    categories: [
        ("standardisation", "标准化建设"),
        ("new_building", "新建校舍"),
        ("renovation", "维修改造"),
        ("equipment", "仪器设备"),
        ("ict", "信息化"),
        ("teacher_training", "教师培训"),
        ("student_aid", "学生资助"),
        ("safety", "校园安全"),
        ("other", "其他"),
    ],
    stages: [("primary", "小学"), ("junior", "初中"), ("nine_year", "九年一贯"), ("all", "合计")],
    areas: [("urban", "城区"), ("town", "镇区"), ("rural", "乡村"), ("unknown", "城乡类型不详")],
    verdicts: ("达标", "未达标"),
    ten_thousand_yuan: "万元",
    yuan: "元",
    index_title: "县域义务教育均衡发展报告",
    index_heading: h("县域义务教育均衡发展 · 报告索引", "County compulsory-education balance reports"),
    index_columns: [
        "县区",
        "代码",
        "最新年份",
        "在校生数",
        "学校数",
        "教学点",
        "综合差异系数（基本均衡）",
        "优质均衡（最新年份）",
    ],
    index_readiness: "达标 {met} · 未达标 {not_met} · 待填报 {not_reported} · 缺佐证 {missing}",
    dictionary_heading: h("数据字典", "Data dictionary"),
    dictionary_columns: ["列", "类型", "单位", "中文名", "含义"],
    units: &[],
};

/// The English report: the same pages for a source that is not Chinese.
pub const EN: Words = Words {
    language: Language::English,
    html_lang: "en",
    list_separator: ", ",
    clause_separator: ", ",
    semicolon: "; ",
    colon: ": ",
    index_link: "Index",
    dictionary_link: "Data dictionary",
    county_title: "{name}: balanced development of compulsory education",
    county_heading: "{name} ({code}): balanced development of compulsory education",
    county_meta: "Data of {year}",
    county_gloss: "",
    headline_heading: h("Headline figures, {year}", ""),
    headline: "The county has {schools} compulsory-education schools: {primary} primary, {nine_year} nine-year and {junior} junior secondary schools{secondary}, and {teaching_points} teaching points. Its staff establishment is {posts} posts, with {staff} staff on the payroll and {vacant} posts vacant. It has {students} pupils{by_area}. School sites cover {site_area} m² and school buildings {building_area} m², {building_per_pupil} m² of building per pupil. The difference coefficient across schools is {cv_primary} in primary and {cv_junior} in junior secondary; public satisfaction is {satisfaction}; there are {computers} computers per pupil.",
    headline_secondary: ", {schools} complete secondary and twelve-year schools",
    headline_unclassified: " (the schools are not classified as urban, town or rural)",
    headline_by_area: ": {urban} in urban areas (primary {urban_primary}, junior {urban_junior}) and {outside} in towns and rural areas (primary {outside_primary}, junior {outside_junior})",
    headline_unknown_area: ", and {students} in schools of unknown area type",
    headline_satisfaction: "{percent}%",
    trends_heading: h("Trends", ""),
    balance_heading: h("Balance indicators, {year}: enrolment-weighted difference coefficients", ""),
    cv_columns: ["Stage", "Indicator", "Name", "Schools", "Pupils", "Mean", "CV", "Standard", "Meets"],
    summary_columns: [
        "Stage",
        "Composite CV",
        "Standard",
        "Basic balance",
        "Largest CV (quality)",
        "Indicators failing",
        "Resources (quality)",
        "Units meeting standards",
        "Satisfaction",
        "Satisfaction met",
    ],
    units_heading: h("Quality standards per school-stage unit, {year} (ratio to standard)", ""),
    unit_columns: (["Unit", "School", "Stage", "Pupils"], ["Standards met", "Meets"]),
    not_assessed: "not assessed",
    funding_heading: h("The \"three increases\" in funding", ""),
    leg_columns: [
        "Year",
        "① appropriation grows faster than revenue",
        "② expenditure per pupil grows",
        "③ public funds per pupil and salaries grow",
        "Three increases",
        "Appropriation short ({unit})",
        "Two never decrease",
    ],
    findings_heading: h("Findings", ""),
    no_findings: "Every indicator meets its standard; no data problems were found.",
    assessment_heading: h("Quality-balance assessment, {year} (Jiaodu [2017] No. 6): 32 indicators in four parts", ""),
    item_columns: ["Item", "Stage", "Indicator", "Value", "Rule", "Assessed / failing / missing", "Status"],
    failing_heading: h("Schools failing a school-level item", ""),
    no_failing: "No school fails a school-level item (g3, g4, g5, g6, e4).",
    failing_columns: ["Item", "School code", "School", "What it lacks"],
    to_fill_heading: h("What the county still has to fill in", ""),
    all_filled: "Every item's data has been filled in.",
    evidence_heading: h("Evidence files, with their SHA-256 as the ledger records them", ""),
    no_evidence: "No evidence was submitted for this year (it goes under evidence/<item>/).",
    evidence_columns: ["Item", "File", "Size", "SHA-256"],
    gaps_heading: h("What closing the gaps to the standards takes (all units below a standard)", ""),
    no_gaps: "Every school meets every resource standard.",
    gap_columns: ["Stage", "Indicator", "Name", "Units below", "Total shortfall"],
    parts: [
        ("resources", "Resources"),
        ("government", "Government support"),
        ("quality", "Quality of education"),
        ("recognition", "Public recognition"),
    ],
    statuses: [
        ("met", "met"),
        ("not_met", "not met"),
        ("not_reported", "to fill in"),
        ("not_applicable", "not applicable"),
        ("evidence_submitted", "evidence submitted"),
        ("evidence_missing", "evidence missing"),
    ],
    rule_every_unit: "every unit",
    rule_evidence: "evidence",
    files: "{files} file(s)",
    bytes: "{bytes} bytes",
    no_item: "(no item named)",
    readiness_none: "No schools data this year: the county cannot be assessed.",
    readiness_verdicts: [
        "Every data item met, evidence complete",
        "Every data item met, evidence still missing",
        "Some items are not met",
        "Some data are still to be filled in",
    ],
    readiness: "{verdict}: {met} computed items met, {not_met} not met, {not_reported} to fill in, {not_applicable} not applicable; evidence submitted for {submitted} items, missing for {missing}.",
    gap_units: &[("teachers", "teachers"), ("classrooms", "classrooms"), ("m²", "m²"), ("元", "yuan")],
    shortfall_g3: "{classes} classes, {music} music and {art} art rooms, {required} of each required",
    shortfall_g4: "{students} pupils, size limit {limit}",
    shortfall_g5: "grades whose largest class is over the limit: {grades}",
    shortfall_g6: "public-funds budget {budget} {unit}, below the {minimum} {unit} of a small school funded as 100 pupils",
    shortfall_e4: "teacher training {spent} {unit}, {share} of the public-funds budget",
    finding_basic_cv: "{stage}: the composite difference coefficient is {value}, above the basic-balance standard {threshold}.",
    finding_quality_cv: "{stage}: resources fall short of quality balance: the difference coefficients of {indicators} exceed the standard.",
    finding_satisfaction: "Public satisfaction is {value}, below the standard.",
    finding_retention: "The three-year junior retention rate is {value}, below {threshold}.",
    finding_three_increases: "In {year} the \"three increases\" in funding were not all achieved (not met: {legs}){gap}.",
    finding_appropriation_gap: "; the education appropriation should rise by a further {amount}",
    legs: [
        ("1", "appropriation growing faster than recurrent revenue"),
        ("2", "education expenditure per pupil growing"),
        ("3", "public funds per pupil and teachers' salaries growing"),
    ],
    finding_arrears: "Education funds of {amount} owed are still outstanding.",
    finding_large_classes: "{classes} large classes remain ({huge} of them very large).",
    finding_oversized: "{schools} schools are larger than the size standard.",
    finding_rejected: "{rows} errors in the submitted data could not be used ({rules}); see the error list and quarantine.",
    finding_total_rows: "{rows} total rows disagree with the sum of the rows above them (the data were not reconciled).",
    finding_changes: "Changes to the school network: {changes} (schools and teaching points, see school_changes).",
    change: "{event}: {schools}",
    changes: [
        ("closed", "closed or merged"),
        ("opened", "opened"),
        ("code_changed", "school code changed"),
        ("students_changed_threefold", "pupils changed more than threefold"),
    ],
    charts: [
        ("enrolment-stage", "Pupils by stage"),
        ("enrolment-area", "Pupils by area type"),
        ("retention", "Retention rate"),
        ("dropout", "Dropout rate"),
        ("cv", "Difference coefficients ({stage})"),
        ("funding-growth", "Three increases ①: growth of the education appropriation and of recurrent revenue"),
        ("funding-per-pupil", "Three increases ②: education expenditure per pupil ({unit})"),
        ("funding-public", "Three increases ③: public funds per pupil ({unit})"),
        ("equipment", "Teaching equipment value per pupil ({unit})"),
        ("computers", "Computers per 100 pupils"),
        ("investment", "Investment by category ({unit})"),
        ("investment-in", "Investment by category ({unit})"),
    ],
    series: [
        ("retention-standard", "junior standard {value}"),
        ("basic-standard", "basic-balance standard {value}"),
        ("quality-standard", "quality-balance standard {value}"),
        ("composite-cv", "composite CV"),
        ("largest-quality-cv", "largest quality CV"),
        ("revenue-growth", "recurrent revenue growth"),
        ("appropriation-growth", "education appropriation growth"),
        ("nine-year-retention", "nine years"),
    ],
    categories: [
        ("standardisation", "standardisation"),
        ("new_building", "new buildings"),
        ("renovation", "renovation"),
        ("equipment", "equipment"),
        ("ict", "ICT"),
        ("teacher_training", "teacher training"),
        ("student_aid", "student aid"),
        ("safety", "campus safety"),
        ("other", "other"),
    ],
    stages: [("primary", "primary"), ("junior", "junior secondary"), ("nine_year", "nine-year"), ("all", "all")],
    areas: [("urban", "urban"), ("town", "town"), ("rural", "rural"), ("unknown", "area type unknown")],
    verdicts: ("meets", "fails"),
    ten_thousand_yuan: "10,000 yuan",
    yuan: "yuan",
    index_title: "County compulsory-education balance reports",
    index_heading: h("County compulsory-education balance: index of reports", ""),
    index_columns: [
        "County",
        "Code",
        "Latest year",
        "Pupils",
        "Schools",
        "Teaching points",
        "Composite CV (basic balance)",
        "Quality balance (latest year)",
    ],
    index_readiness: "met {met} · not met {not_met} · to fill in {not_reported} · evidence missing {missing}",
    dictionary_heading: h("Data dictionary", ""),
    dictionary_columns: ["Column", "Type", "Unit", "Chinese name", "Meaning"],
    units: &[
        ("个", "count"),
        ("元", "yuan"),
        ("万元", "10,000 yuan"),
        ("人", "persons"),
        ("名", "persons"),
        ("比率", "ratio"),
        ("项", "items"),
        ("平方米", "m²"),
        ("所", "schools"),
        ("间", "rooms"),
        ("台套", "sets"),
        ("台", "units"),
        ("份", "copies"),
        ("册", "volumes"),
        ("生", "pupil"),
        ("班", "class"),
        ("百生", "100 pupils"),
        ("字节", "bytes"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The `{names}` of a sentence, sorted.
    fn placeholders(sentence: &str) -> Vec<&str> {
        let mut names: Vec<&str> =
            sentence.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name)).collect();
        names.sort_unstable();
        names
    }

    /// Every sentence of a table, named, so that two languages can be compared field by field.
    fn sentences(w: &Words) -> Vec<(&'static str, &'static str)> {
        let mut all = vec![
            ("county_title", w.county_title),
            ("county_heading", w.county_heading),
            ("county_meta", w.county_meta),
            ("headline", w.headline),
            ("headline_secondary", w.headline_secondary),
            ("headline_unclassified", w.headline_unclassified),
            ("headline_by_area", w.headline_by_area),
            ("headline_unknown_area", w.headline_unknown_area),
            ("headline_satisfaction", w.headline_satisfaction),
            ("leg_columns", w.leg_columns[5]),
            ("files", w.files),
            ("bytes", w.bytes),
            ("readiness", w.readiness),
            ("shortfall_g3", w.shortfall_g3),
            ("shortfall_g4", w.shortfall_g4),
            ("shortfall_g5", w.shortfall_g5),
            ("shortfall_g6", w.shortfall_g6),
            ("shortfall_e4", w.shortfall_e4),
            ("finding_basic_cv", w.finding_basic_cv),
            ("finding_quality_cv", w.finding_quality_cv),
            ("finding_satisfaction", w.finding_satisfaction),
            ("finding_retention", w.finding_retention),
            ("finding_three_increases", w.finding_three_increases),
            ("finding_appropriation_gap", w.finding_appropriation_gap),
            ("finding_arrears", w.finding_arrears),
            ("finding_large_classes", w.finding_large_classes),
            ("finding_oversized", w.finding_oversized),
            ("finding_rejected", w.finding_rejected),
            ("finding_total_rows", w.finding_total_rows),
            ("finding_changes", w.finding_changes),
            ("change", w.change),
            ("index_readiness", w.index_readiness),
        ];
        all.extend(w.charts.iter().chain(&w.series).copied());
        all
    }

    #[test]
    fn every_language_fills_the_placeholders_of_the_chinese_sentence() {
        let chinese = sentences(&ZH);
        for words in [&EN] {
            let other = sentences(words);
            assert_eq!(chinese.len(), other.len());
            for ((name, zh), (other_name, text)) in chinese.iter().zip(&other) {
                assert_eq!(name, other_name);
                // The investment title names its unit in English even for yuan (the ticks carry 万 in Chinese).
                if *name == "investment" {
                    continue;
                }
                assert_eq!(placeholders(zh), placeholders(text), "{name} in {:?}", words.language);
            }
        }
    }

    #[test]
    fn every_code_has_a_word_in_every_language() {
        for words in [&ZH, &EN] {
            fn codes(pairs: &[(&'static str, &'static str)]) -> Vec<&'static str> {
                pairs.iter().map(|p| p.0).collect()
            }
            assert_eq!(codes(&words.parts), codes(&ZH.parts));
            assert_eq!(codes(&words.statuses), codes(&ZH.statuses));
            assert_eq!(codes(&words.categories), codes(&ZH.categories));
            assert_eq!(codes(&words.charts), codes(&ZH.charts));
            assert_eq!(codes(&words.series), codes(&ZH.series));
            assert_eq!(codes(&words.stages), codes(&ZH.stages));
            assert_eq!(codes(&words.areas), codes(&ZH.areas));
            for status in crate::marts::Status::ALL {
                assert!(words.statuses.iter().any(|(c, _)| *c == status.as_str()), "{status:?}");
            }
            for (area, _, _) in crate::contract::AREA_TYPE.values {
                assert!(words.areas.iter().any(|(c, _)| c == area), "{area}");
            }
        }
    }

    #[test]
    fn the_english_words_have_no_chinese() {
        let chinese = |text: &str| text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for (name, text) in sentences(&EN) {
            assert!(!chinese(text), "{name}: {text}");
        }
        for heading in [EN.headline_heading, EN.assessment_heading, EN.balance_heading, EN.index_heading] {
            assert!(!chinese(heading.text) && heading.gloss.is_empty(), "{}", heading.text);
        }
    }

    #[test]
    fn the_dictionary_units_are_translated_part_by_part() {
        assert_eq!(EN.unit("平方米/生"), "m² per pupil");
        assert_eq!(EN.unit("台/百生"), "units per 100 pupils");
        assert_eq!((EN.unit("USD"), EN.unit("")), ("USD".into(), String::new()));
        assert_eq!(ZH.unit("人/班"), "人/班");
    }

    #[test]
    fn placeholders_are_filled_by_name_in_any_order() {
        assert_eq!(fill("{b} and {a}", &[("a", "1"), ("b", "2")]), "2 and 1");
        // An unknown name and a lone brace stay as they are.
        assert_eq!(fill("{c} {a", &[("a", "1")]), "{c} {a");
        assert_eq!(EN.balance_heading.at(2018), "Balance indicators, 2018: enrolment-weighted difference coefficients");
        assert_eq!(Language::parse(" EN "), Some(Language::English));
        assert!("fr".parse::<Language>().unwrap_err().contains("zh or en"));
    }
}
