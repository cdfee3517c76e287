//! The application workbook (申报表, assessment.md §4): what a county hands in with its
//! quality-balance application, one XLSX per county and year, written from the published marts
//! only — 资源配置 (each assessed school-stage unit against the seven standards), 差异系数 (the
//! seven CVs per stage), 政府保障程度, 教育质量, 社会认可度 (one row per item), 佐证材料 (every
//! evidence file with its size and SHA-256, from the ledger) and 差距清单 (what each unit lacks,
//! with the county's totals). Cells of items not met are shaded red; items not reported say 待填报.
//!
//! Text from a submission (school names) is written as text, never as a formula.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ledger::EvidenceRecord;
use crate::marts::{self, Assessment, BalanceCv, PARTS, QualityItem, Status, gap_unit_zh, literal};
use crate::query::Published;
use crate::report::assessment::rule_text;
use crate::report::format::Money;

/// The sheets, in order.
pub const SHEETS: [&str; 7] =
    ["资源配置", "差异系数", "政府保障程度", "教育质量", "社会认可度", "佐证材料", "差距清单"];

/// The seven quality indicators, in order.
const INDICATORS: [&str; 7] = ["q1", "q2", "q3", "q4", "q5", "q6", "q7"];

/// A school-stage unit of the resource sheet: `school_standards` with its values from
/// `school_indicators`.
#[derive(Debug, Deserialize)]
struct ResourceRow {
    unit_id: String,
    school_code: String,
    school_name: Option<String>,
    stage: String,
    students: Option<i64>,
    q1: Option<f64>,
    q2: Option<f64>,
    q3: Option<f64>,
    q4: Option<f64>,
    q5: Option<f64>,
    q6: Option<f64>,
    q7: Option<f64>,
    q1_ratio: Option<f64>,
    q2_ratio: Option<f64>,
    q3_ratio: Option<f64>,
    q4_ratio: Option<f64>,
    q5_ratio: Option<f64>,
    q6_ratio: Option<f64>,
    q7_ratio: Option<f64>,
    standards_met: Option<i64>,
    lowest_ratio: Option<f64>,
    meets_standards: Option<bool>,
}

impl ResourceRow {
    fn values(&self) -> [Option<f64>; 7] {
        [self.q1, self.q2, self.q3, self.q4, self.q5, self.q6, self.q7]
    }

    fn ratios(&self) -> [Option<f64>; 7] {
        [self.q1_ratio, self.q2_ratio, self.q3_ratio, self.q4_ratio, self.q5_ratio, self.q6_ratio, self.q7_ratio]
    }
}

/// The standards of a stage (`int_thresholds_wide`).
#[derive(Debug, Deserialize)]
struct Standards {
    stage: String,
    q1_standard: Option<f64>,
    q2_standard: Option<f64>,
    q3_standard: Option<f64>,
    q4_standard: Option<f64>,
    q5_standard: Option<f64>,
    q6_standard: Option<f64>,
    q7_standard: Option<f64>,
}

impl Standards {
    fn values(&self) -> [Option<f64>; 7] {
        [
            self.q1_standard,
            self.q2_standard,
            self.q3_standard,
            self.q4_standard,
            self.q5_standard,
            self.q6_standard,
            self.q7_standard,
        ]
    }
}

/// A county-year to export.
#[derive(Debug, Deserialize)]
struct CountyYear {
    county_code: String,
    year: i32,
}

/// Everything one workbook shows.
struct Contents {
    county_code: String,
    year: i32,
    assessment: Assessment,
    units: Vec<ResourceRow>,
    standards: Vec<Standards>,
    cvs: Vec<BalanceCv>,
    evidence: Vec<EvidenceRecord>,
    /// The currency of the amounts (standards per pupil are written in it).
    money: Money,
}

/// Write the application workbook of `county` (every county when None) for `year` (its latest
/// assessed year when None) into `dir`; returns the files written.
pub async fn export(
    published: &Published,
    county: Option<&str>,
    year: Option<i32>,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let targets = county_years(published, county, year).await?;
    crate::storage::create_folder(dir)?;
    let mut written = Vec::new();
    for target in targets {
        let contents = contents(published, &target.county_code, target.year).await?;
        let path = dir.join(format!("{}_{}_优质均衡申报表.xlsx", target.county_code, target.year));
        write(&contents, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// The county-years asked for, each checked against what the marts hold.
async fn county_years(published: &Published, county: Option<&str>, year: Option<i32>) -> Result<Vec<CountyYear>> {
    let mut filter = Vec::new();
    if let Some(c) = county {
        filter.push(format!("county_code = {}", literal(c)));
    }
    let filter = if filter.is_empty() { String::new() } else { format!("where {}", filter.join(" and ")) };
    let available: Vec<CountyYear> = marts::read(
        &published.ctx,
        &format!("select distinct county_code, year from quality_assessment {filter} order by county_code, year"),
    )
    .await?;
    if available.is_empty() {
        return Err(Error::NotFound(match county {
            Some(c) => format!("county {c} has no quality_assessment rows in this output; `junheng query` lists the counties (select distinct county_code from quality_assessment)"),
            None => "this output has no quality_assessment rows: run the pipeline with a version of junheng that publishes them".into(),
        }));
    }
    let mut chosen: Vec<CountyYear> = Vec::new();
    for row in available {
        match year {
            Some(y) if row.year != y => {}
            Some(_) => chosen.push(row),
            None => match chosen.last_mut() {
                Some(last) if last.county_code == row.county_code => last.year = row.year,
                _ => chosen.push(row),
            },
        }
    }
    if chosen.is_empty() {
        let y = year.unwrap_or_default();
        return Err(Error::NotFound(format!(
            "no quality_assessment rows for {} in {y}; leave out --year for each county's latest year",
            county.unwrap_or("any county")
        )));
    }
    Ok(chosen)
}

async fn contents(published: &Published, county_code: &str, year: i32) -> Result<Contents> {
    let ctx = &published.ctx;
    let this_year = format!("county_code = {} and year = {year}", literal(county_code));
    // A teaching point, a private school (and a school run above county level, which a county's
    // submission does not hold) is not a row of the resource sheet: it is not assessed.
    let units = marts::read(
        ctx,
        &format!(
            "select s.unit_id, i.school_code, s.school_name, s.stage, s.students, \
             i.q1, i.q2, i.q3, i.q4, i.q5, i.q6, i.q7, \
             s.q1_ratio, s.q2_ratio, s.q3_ratio, s.q4_ratio, s.q5_ratio, s.q6_ratio, s.q7_ratio, \
             s.standards_met, s.lowest_ratio, s.meets_standards \
             from school_standards s join school_indicators i \
               on s.county_code = i.county_code and s.year = i.year and s.unit_id = i.unit_id \
             where s.county_code = {c} and s.year = {year} and s.in_standards_test \
               and i.is_public and i.school_type <> 'teaching_point' \
             order by s.stage desc, s.unit_id",
            c = literal(county_code)
        ),
    )
    .await?;
    Ok(Contents {
        county_code: county_code.to_owned(),
        year,
        assessment: Assessment::read(ctx, county_code, year).await?,
        units,
        standards: marts::read(ctx, "select * from int_thresholds_wide order by stage desc").await?,
        cvs: marts::read(
            ctx,
            &format!(
                "select * from balance_cv where {this_year} and scheme = 'quality' order by stage desc, indicator"
            ),
        )
        .await?,
        money: Money::of(ctx).await?,
        evidence: published
            .ledger
            .evidence
            .iter()
            .filter(|e| e.county_code.as_deref() == Some(county_code) && e.year == Some(year))
            .cloned()
            .collect(),
    })
}

/// The formats of a workbook.
struct Formats {
    header: Format,
    title: Format,
    text: Format,
    number: Format,
    count: Format,
    failing_text: Format,
    failing_number: Format,
    pending: Format,
}

impl Formats {
    fn new() -> Formats {
        let cell = Format::new().set_border(FormatBorder::Thin);
        let failing = Color::RGB(0xF8CBAD);
        Formats {
            header: cell
                .clone()
                .set_bold()
                .set_background_color("#DDE7F3")
                .set_align(FormatAlign::Center)
                .set_text_wrap(),
            title: Format::new().set_bold().set_font_size(14),
            text: cell.clone().set_text_wrap(),
            number: cell.clone().set_num_format("0.000"),
            count: cell.clone().set_num_format("0"),
            failing_text: cell.clone().set_text_wrap().set_background_color(failing),
            failing_number: cell.clone().set_num_format("0.000").set_background_color(failing),
            pending: cell.set_background_color("#FFF2CC").set_font_color("#9C5700"),
        }
    }
}

fn xlsx_error(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::Io {
        operation: "write workbook",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn write(contents: &Contents, path: &Path) -> Result<()> {
    let err = xlsx_error(path);
    let formats = Formats::new();
    let mut book = Workbook::new();
    resources_sheet(book.add_worksheet(), contents, &formats).map_err(&err)?;
    cv_sheet(book.add_worksheet(), contents, &formats).map_err(&err)?;
    for (part, name) in &PARTS[1..] {
        let items: Vec<&QualityItem> = contents.assessment.items.iter().filter(|i| i.part == *part).collect();
        items_sheet(book.add_worksheet(), name, contents, &items, &formats).map_err(&err)?;
    }
    evidence_sheet(book.add_worksheet(), contents, &formats).map_err(&err)?;
    gap_sheet(book.add_worksheet(), contents, &formats).map_err(&err)?;
    book.save(path).map_err(&err)
}

/// A sheet's title row and header row; returns the first data row.
fn heading(sheet: &mut Worksheet, name: &str, title: &str, headers: &[&str], f: &Formats) -> Result<u32, XlsxError> {
    sheet.set_name(name)?;
    sheet.write_string_with_format(0, 0, title, &f.title)?;
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(2, c as u16, *h, &f.header)?;
    }
    sheet.set_freeze_panes(3, 0)?;
    Ok(3)
}

/// A number cell (shaded when failing), or an empty bordered cell when there is none.
fn number(
    sheet: &mut Worksheet,
    r: u32,
    c: u16,
    value: Option<f64>,
    failing: bool,
    f: &Formats,
) -> Result<(), XlsxError> {
    let format = if failing { &f.failing_number } else { &f.number };
    match value {
        Some(v) => sheet.write_number_with_format(r, c, v, format)?,
        None => sheet.write_blank(r, c, format)?,
    };
    Ok(())
}

/// A whole number (pupils, units, bytes), or an empty bordered cell.
fn whole(sheet: &mut Worksheet, r: u32, c: u16, value: Option<i64>, f: &Formats) -> Result<(), XlsxError> {
    match value {
        Some(v) => sheet.write_number_with_format(r, c, v as f64, &f.count)?,
        None => sheet.write_blank(r, c, &f.count)?,
    };
    Ok(())
}

fn text(sheet: &mut Worksheet, r: u32, c: u16, value: &str, failing: bool, f: &Formats) -> Result<(), XlsxError> {
    sheet.write_string_with_format(r, c, value, if failing { &f.failing_text } else { &f.text })?;
    Ok(())
}

fn stage_zh(stage: &str) -> &str {
    crate::report::format::stage_zh(stage)
}

fn resources_sheet(sheet: &mut Worksheet, c: &Contents, f: &Formats) -> Result<(), XlsxError> {
    let mut headers = vec!["学校学段单位", "学校代码", "学校名称", "学段", "在校生数"];
    let labels: Vec<String> = INDICATORS.iter().flat_map(|q| [q.to_string(), format!("{q}标准")]).collect();
    headers.extend(labels.iter().map(String::as_str));
    headers.extend(["达标项数", "最低达标比例", "是否达标"]);
    let title = format!("{} {} 年 资源配置：学校达标情况（公办学校，不含教学点）", c.county_code, c.year);
    let mut r = heading(sheet, SHEETS[0], &title, &headers, f)?;
    for unit in &c.units {
        let standards = c.standards.iter().find(|s| s.stage == unit.stage).map(Standards::values).unwrap_or_default();
        text(sheet, r, 0, &unit.unit_id, false, f)?;
        text(sheet, r, 1, &unit.school_code, false, f)?;
        text(sheet, r, 2, unit.school_name.as_deref().unwrap_or(""), false, f)?;
        text(sheet, r, 3, stage_zh(&unit.stage), false, f)?;
        whole(sheet, r, 4, unit.students, f)?;
        for (i, (value, ratio)) in unit.values().iter().zip(unit.ratios()).enumerate() {
            let col = 5 + 2 * i as u16;
            number(sheet, r, col, *value, ratio.is_some_and(|x| x < 1.0), f)?;
            number(sheet, r, col + 1, standards[i], false, f)?;
        }
        whole(sheet, r, 19, unit.standards_met, f)?;
        number(sheet, r, 20, unit.lowest_ratio, unit.lowest_ratio.is_some_and(|x| x < 1.0), f)?;
        let verdict = match unit.meets_standards {
            Some(true) => "达标",
            Some(false) => "未达标",
            None => "待填报",
        };
        text(sheet, r, 21, verdict, unit.meets_standards == Some(false), f)?;
        r += 1;
    }
    for q_units in c.assessment.items.iter().filter(|i| i.item == "q_units") {
        r += 1;
        let line = format!(
            "{}：{}（{} 个单位中 {} 个未达标）— {}",
            stage_zh(&q_units.stage),
            q_units.item_zh,
            q_units.assessed.unwrap_or(0),
            q_units.failing.unwrap_or(0),
            q_units.status().label_zh()
        );
        text(sheet, r, 0, &line, q_units.status() == Status::NotMet, f)?;
    }
    sheet.set_column_width(0, 16)?;
    sheet.set_column_width(2, 24)?;
    Ok(())
}

fn cv_sheet(sheet: &mut Worksheet, c: &Contents, f: &Formats) -> Result<(), XlsxError> {
    let headers =
        ["学段", "指标", "指标名称", "学校数", "学生数", "均值 X̄", "标准差 S", "差异系数 CV", "标准", "是否达标"];
    let title = format!("{} {} 年 校际差异系数（优质均衡资源配置七项指标）", c.county_code, c.year);
    let first = heading(sheet, SHEETS[1], &title, &headers, f)?;
    for (r, cv) in (first..).zip(&c.cvs) {
        let failing = cv.passes == Some(false);
        text(sheet, r, 0, stage_zh(&cv.stage), false, f)?;
        text(sheet, r, 1, &cv.indicator, false, f)?;
        text(sheet, r, 2, cv.indicator_name.as_deref().unwrap_or(""), false, f)?;
        whole(sheet, r, 3, Some(cv.units), f)?;
        whole(sheet, r, 4, Some(cv.students), f)?;
        number(sheet, r, 5, cv.mean, false, f)?;
        number(sheet, r, 6, cv.sd, false, f)?;
        number(sheet, r, 7, cv.cv, failing, f)?;
        number(sheet, r, 8, cv.threshold, false, f)?;
        let verdict = match cv.passes {
            Some(true) => "达标",
            Some(false) => "未达标",
            None => "待填报",
        };
        text(sheet, r, 9, verdict, failing, f)?;
    }
    sheet.set_column_width(2, 36)?;
    Ok(())
}

fn items_sheet(
    sheet: &mut Worksheet,
    name: &str,
    c: &Contents,
    items: &[&QualityItem],
    f: &Formats,
) -> Result<(), XlsxError> {
    let headers = [
        "指标",
        "学段",
        "指标内容",
        "数值",
        "标准",
        "分子",
        "分母",
        "评估对象数",
        "未达标数",
        "未填报数",
        "状态",
        "所需数据",
    ];
    let title = format!("{} {} 年 {name}", c.county_code, c.year);
    let first = heading(sheet, name, &title, &headers, f)?;
    for (r, item) in (first..).zip(items) {
        let status = item.status();
        let failing = status == Status::NotMet;
        text(sheet, r, 0, &item.item, false, f)?;
        text(sheet, r, 1, stage_zh(&item.stage), false, f)?;
        text(sheet, r, 2, &item.item_zh, false, f)?;
        match status {
            Status::NotReported => {
                sheet.write_string_with_format(r, 3, "待填报", &f.pending)?;
            }
            Status::EvidenceSubmitted | Status::EvidenceMissing => {
                text(sheet, r, 3, &format!("{} 个文件", item.files.unwrap_or(0)), false, f)?;
            }
            _ => number(sheet, r, 3, item.value, failing, f)?,
        }
        text(sheet, r, 4, &rule_text(item, &crate::report::words::ZH, c.money), false, f)?;
        number(sheet, r, 5, item.numerator, false, f)?;
        number(sheet, r, 6, item.denominator, false, f)?;
        for (col, n) in [(7, item.assessed), (8, item.failing), (9, item.missing)] {
            whole(sheet, r, col, n, f)?;
        }
        match status {
            Status::NotReported | Status::EvidenceMissing => {
                sheet.write_string_with_format(r, 10, status.label_zh(), &f.pending)?;
            }
            _ => text(sheet, r, 10, status.label_zh(), failing, f)?,
        }
        text(sheet, r, 11, item.inputs_zh.as_deref().unwrap_or(""), false, f)?;
    }
    sheet.set_column_width(2, 48)?;
    sheet.set_column_width(4, 14)?;
    sheet.set_column_width(10, 12)?;
    sheet.set_column_width(11, 40)?;
    Ok(())
}

fn evidence_sheet(sheet: &mut Worksheet, c: &Contents, f: &Formats) -> Result<(), XlsxError> {
    let headers = ["指标", "文件", "大小（字节）", "SHA-256", "修改时间"];
    let title = format!("{} {} 年 佐证材料（文件内容以 SHA-256 核验）", c.county_code, c.year);
    let mut r = heading(sheet, SHEETS[5], &title, &headers, f)?;
    let mut files: Vec<&EvidenceRecord> = c.evidence.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for file in files {
        text(sheet, r, 0, file.item.as_deref().unwrap_or("（未标明指标）"), file.item.is_none(), f)?;
        text(sheet, r, 1, &file.path, false, f)?;
        whole(sheet, r, 2, Some(file.size as i64), f)?;
        text(sheet, r, 3, &file.sha256, false, f)?;
        text(sheet, r, 4, &file.last_modified, false, f)?;
        r += 1;
    }
    for item in c.assessment.items.iter().filter(|i| i.status() == Status::EvidenceMissing) {
        text(sheet, r, 0, &item.item, false, f)?;
        sheet.write_string_with_format(r, 1, format!("缺佐证材料：{}", item.item_zh), &f.pending)?;
        r += 1;
    }
    sheet.set_column_width(1, 60)?;
    sheet.set_column_width(3, 66)?;
    sheet.set_column_width(4, 22)?;
    Ok(())
}

fn gap_sheet(sheet: &mut Worksheet, c: &Contents, f: &Formats) -> Result<(), XlsxError> {
    let headers = [
        "学段",
        "指标",
        "指标名称",
        "学校代码",
        "学校名称",
        "在校生数",
        "现值",
        "标准",
        "现有",
        "需要",
        "缺口",
        "计量单位",
    ];
    let title = format!("{} {} 年 差距清单：各校达到配置标准尚需（人数、间数向上取整）", c.county_code, c.year);
    let mut r = heading(sheet, SHEETS[6], &title, &headers, f)?;
    for g in &c.assessment.gaps {
        text(sheet, r, 0, stage_zh(&g.stage), false, f)?;
        text(sheet, r, 1, &g.indicator, false, f)?;
        text(sheet, r, 2, g.indicator_name.as_deref().unwrap_or(""), false, f)?;
        text(sheet, r, 3, &g.school_code, false, f)?;
        text(sheet, r, 4, g.school_name.as_deref().unwrap_or(""), false, f)?;
        whole(sheet, r, 5, g.students, f)?;
        number(sheet, r, 6, g.value, true, f)?;
        for (col, v) in [(7, g.standard), (8, g.quantity), (9, g.required), (10, g.shortfall)] {
            number(sheet, r, col, v, false, f)?;
        }
        text(sheet, r, 11, gap_unit_zh(g.unit.as_deref()), false, f)?;
        r += 1;
    }
    r += 1;
    for (col, h) in ["学段", "指标", "指标名称", "未达标单位数", "缺口合计", "计量单位"].iter().enumerate()
    {
        sheet.write_string_with_format(r, col as u16, *h, &f.header)?;
    }
    r += 1;
    for t in &c.assessment.gap_totals {
        text(sheet, r, 0, &format!("{}合计", stage_zh(&t.stage)), false, f)?;
        text(sheet, r, 1, &t.indicator, false, f)?;
        text(sheet, r, 2, t.indicator_name.as_deref().unwrap_or(""), false, f)?;
        whole(sheet, r, 3, Some(t.units), f)?;
        number(sheet, r, 4, t.shortfall, false, f)?;
        text(sheet, r, 5, gap_unit_zh(t.unit.as_deref()), false, f)?;
        r += 1;
    }
    sheet.set_column_width(2, 30)?;
    sheet.set_column_width(4, 24)?;
    Ok(())
}
