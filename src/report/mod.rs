//! The human report: a self-contained HTML page per county (and an index over counties) in
//! Chinese, drafted from the marts as a county statistician writes the yearly report — the
//! headline paragraph of the latest year, trend charts (inline SVG), indicator tables with
//! pass/fail, school standards per unit, and the shortcomings (存在的不足) the data show. Every
//! figure is read from the published marts; nothing is computed here that SQL does not publish.

pub mod format;
pub mod svg;

use format::{decimal, fmt3, get, int, num, pct, stage_zh, verdict};

use std::collections::BTreeMap;
use std::fmt::Write as _;

use datafusion::prelude::SessionContext;

use crate::dictionary::Dictionary;
use crate::error::Result;
use crate::ledger::Ledger;
use crate::transform::query_text;
use svg::{BarChart, LineChart, Series, Threshold, ValueFormat, escape};

const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
const PURPLE: &str = "#9467bd";
const GREY: &str = "#7f7f7f";
const PALETTE: [&str; 9] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0 auto; max-width: 1100px; padding: 24px; color: #222; line-height: 1.6; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; border-bottom: 2px solid #1f77b4; padding-bottom: 4px; margin-top: 36px; }
.meta { color: #666; font-size: 13px; } .headline { font-size: 16px; background: #f5f8fc; padding: 12px 16px; border-left: 4px solid #1f77b4; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } svg.chart { background: #fff; border: 1px solid #ddd; max-width: 100%; height: auto; }
svg .chart-title { font-size: 14px; font-weight: bold; } svg .tick, svg .legend, svg .threshold-label { font-size: 11px; fill: #444; }
svg .grid { stroke: #eee; } svg .axis { stroke: #999; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; } th { background: #f0f3f7; } td.text, th.text { text-align: left; }
.pass { color: #2ca02c; font-weight: bold; } .fail { color: #d62728; font-weight: bold; } .na { color: #999; }
ul.findings li { margin: 6px 0; } .en { color: #777; font-size: 12px; }
"#;

/// One page of the report: its file name under `report/` and its HTML.
pub type Page = (String, String);

/// Build every page: `index.html`, one `<county_code>.html` per county, `dictionary.html`.
pub async fn build(ctx: &SessionContext, ledger: &Ledger, dictionary: &Dictionary) -> Result<Vec<Page>> {
    let mut report = Report::default();
    let mut pages = report.county_pages(ctx, ledger).await?;
    pages.extend(report.finish(ledger, dictionary));
    Ok(pages)
}

/// The report built a group of counties at a time: [`Report::county_pages`] for the counties
/// whose marts the session holds (a run registers each county group's part in turn, so a
/// page's queries read that part, and a group's pages are written before the next is built),
/// then [`Report::finish`] for the index and the dictionary.
#[derive(Debug, Default)]
pub struct Report {
    index_rows: String,
}

impl Report {
    /// One `<county_code>.html` page per county of the session's `county_overview`, two
    /// counties at a time (a page is many small queries: one core would wait on the other).
    pub async fn county_pages(&mut self, ctx: &SessionContext, ledger: &Ledger) -> Result<Vec<Page>> {
        use futures::{StreamExt, TryStreamExt};
        let counties = query_text(ctx, "select county_code, coalesce(max(county_name), county_code), max(year) from county_overview group by county_code order by county_code").await?;
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let built: Vec<(Page, String)> =
            futures::stream::iter(counties.iter().map(|c| county_and_index_row(ctx, ledger, c)))
                .buffered(parallel)
                .try_collect()
                .await?;
        let mut pages = Vec::with_capacity(built.len());
        for (page, index_row) in built {
            self.index_rows.push_str(&index_row);
            pages.push(page);
        }
        Ok(pages)
    }

    /// `index.html` (a row per county, in the order their pages were built) and `dictionary.html`.
    pub fn finish(self, ledger: &Ledger, dictionary: &Dictionary) -> Vec<Page> {
        let index = format!(
            r#"<h1>县域义务教育均衡发展 · 报告索引</h1><p class="meta">run {} · version {} · {} <span class="en">County compulsory-education balance reports</span></p>
<table><tr><th class="text">县区</th><th class="text">代码</th><th>最新年份</th><th>在校生数</th><th>学校数</th><th>教学点</th><th class="text">综合差异系数（基本均衡）</th></tr>{}</table>
<p><a href="dictionary.html">数据字典 Data dictionary</a></p>"#,
            escape(&ledger.run_id),
            ledger.version,
            escape(&ledger.finished_at),
            self.index_rows
        );
        vec![
            ("index.html".into(), document("县域义务教育均衡发展报告", &index)),
            ("dictionary.html".into(), dictionary_page(dictionary)),
        ]
    }
}

/// A county's page, and its row of the index. `c` is (code, name, latest year).
async fn county_and_index_row(ctx: &SessionContext, ledger: &Ledger, c: &[String]) -> Result<(Page, String)> {
    let (code, name, latest) = (&c[0], &c[1], c[2].parse::<i32>().unwrap_or(0));
    let county = County { code: code.clone(), name: name.clone(), latest };
    let page = (format!("{code}.html"), county_page(ctx, ledger, &county).await?);
    let summary = query_text(
        ctx,
        &format!("select stage, basic_composite_cv, basic_passes from balance_summary where county_code = '{}' and year = {latest} order by stage desc", sql_text(code)),
    )
    .await?;
    let overview = row(ctx, &format!("select students, schools, schools_teaching_point from county_overview where county_code = '{}' and year = {latest}", sql_text(code))).await?;
    let cvs: String = summary
        .iter()
        .map(|r| format!("{} {} {}", stage_zh(&r[0]), fmt3(&r[1]), verdict(&r[2])))
        .collect::<Vec<_>>()
        .join("；");
    let index_row = format!(
        r#"<tr><td class="text"><a href="{code}.html">{}</a></td><td class="text">{code}</td><td>{latest}</td><td>{}</td><td>{}</td><td>{}</td><td class="text">{cvs}</td></tr>"#,
        escape(name),
        get(&overview, 0),
        get(&overview, 1),
        get(&overview, 2)
    );
    Ok((page, index_row))
}

struct County {
    code: String,
    name: String,
    latest: i32,
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

fn sql_text(text: &str) -> String {
    text.replace('\'', "''")
}

async fn row(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
    Ok(query_text(ctx, sql).await?.into_iter().next().unwrap_or_default())
}

/// A series per value of `key` from rows (year, key, value).
fn series_by(rows: &[Vec<String>], names: &[(&str, &str, &'static str)]) -> Vec<Series> {
    names
        .iter()
        .map(|(key, label, color)| Series {
            name: (*label).to_owned(),
            points: rows.iter().filter(|r| r[1] == *key).map(|r| (r[0].parse().unwrap_or(0), num(&r[2]))).collect(),
            color,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

async fn county_page(ctx: &SessionContext, ledger: &Ledger, county: &County) -> Result<String> {
    let code = sql_text(&county.code);
    let latest = county.latest;
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>{}（{}）义务教育均衡发展情况</h1><p class="meta">{} 年数据 · run {} · version {} · <a href="index.html">索引</a> · <a href="dictionary.html">数据字典</a> <span class="en">County compulsory-education balance report, drafted by junheng from the published marts</span></p>"#,
        escape(&county.name),
        escape(&county.code),
        latest,
        escape(&ledger.run_id),
        ledger.version
    );

    // The headline paragraph of the latest year, in the words of the county report.
    let o = row(ctx, &format!(
        "select schools, schools_primary, schools_nine_year, schools_junior, schools_complete_secondary + schools_twelve_year, schools_teaching_point,
                posts_established, staff_on_payroll, posts_vacant, students, students_urban, students_primary_urban, students_junior_urban,
                students_town + students_rural, students_primary_town + students_primary_rural, students_junior_town + students_junior_rural,
                site_area_m2, building_area_m2, building_area_per_pupil, satisfaction_rate, computers_per_pupil
         from county_overview where county_code = '{code}' and year = {latest}")).await?;
    let cv = query_text(
        ctx,
        &format!(
            "select stage, basic_composite_cv from balance_summary where county_code = '{code}' and year = {latest}"
        ),
    )
    .await?;
    let cv_of = |stage: &str| cv.iter().find(|r| r[0] == stage).map_or("—".to_owned(), |r| fmt3(&r[1]));
    let _ = write!(
        body,
        r#"<h2>基本情况 <span class="en">Headline figures, {latest}</span></h2><p class="headline" id="headline">全县（市、区）共有义务教育学校{}所：小学{}所、九年一贯制学校{}所、初级中学{}所{}，另有教学点{}个。义务教育教职工核定编制{}名，实有在编教职工{}人，空编{}人。在校生{}人：城区{}人（小学{}人，初中{}人），镇区和乡村{}人（小学{}人，初中{}人）。校园面积{}平方米，校舍面积{}平方米，生均校舍建筑面积{}平方米。校际间均衡差异系数小学为{}，初中为{}；公众满意度为{}；生均计算机{}台。</p>"#,
        int(&get(&o, 0)),
        int(&get(&o, 1)),
        int(&get(&o, 2)),
        int(&get(&o, 3)),
        if num(&get(&o, 4)).unwrap_or(0.0) > 0.0 {
            format!("、完全中学及十二年一贯制学校{}所", int(&get(&o, 4)))
        } else {
            String::new()
        },
        int(&get(&o, 5)),
        int(&get(&o, 6)),
        int(&get(&o, 7)),
        int(&get(&o, 8)),
        int(&get(&o, 9)),
        int(&get(&o, 10)),
        int(&get(&o, 11)),
        int(&get(&o, 12)),
        int(&get(&o, 13)),
        int(&get(&o, 14)),
        int(&get(&o, 15)),
        decimal(&get(&o, 16)),
        decimal(&get(&o, 17)),
        num(&get(&o, 18)).map_or("—".into(), |v| format!("{v:.2}")),
        cv_of("primary"),
        cv_of("junior"),
        num(&get(&o, 19)).map_or("—".into(), |v| format!("{:.0}%", v * 100.0)),
        num(&get(&o, 20)).map_or("—".into(), |v| format!("{v:.3}")),
    );

    // Trends.
    let mut charts = Vec::new();
    let by_stage = query_text(ctx, &format!("select year, stage, students from enrolment_trend where county_code = '{code}' and area_type = 'all' order by year")).await?;
    charts.push(line(
        "enrolment-stage",
        "在校生人数（按学段）",
        series_by(&by_stage, &[("primary", "小学", BLUE), ("junior", "初中", ORANGE), ("all", "合计", GREY)]),
        vec![],
        ValueFormat::Integer,
        true,
    ));
    let by_area = query_text(ctx, &format!("select year, area_type, students from enrolment_trend where county_code = '{code}' and stage = 'all' order by year")).await?;
    charts.push(line(
        "enrolment-area",
        "在校生人数（按城乡）",
        series_by(&by_area, &[("urban", "城区", BLUE), ("town", "镇区", GREEN), ("rural", "乡村", ORANGE)]),
        vec![],
        ValueFormat::Integer,
        true,
    ));
    let retention = query_text(
        ctx,
        &format!("select year, stage, retention_rate from retention where county_code = '{code}' order by year"),
    )
    .await?;
    let junior_min = row(ctx, "select junior_retention_min from int_thresholds_wide where stage = 'junior'")
        .await
        .ok()
        .and_then(|r| r.first().and_then(|v| num(v)));
    charts.push(line(
        "retention",
        "巩固率",
        series_by(&retention, &[("primary", "小学", BLUE), ("junior", "初中", ORANGE), ("nine_year", "九年", GREEN)]),
        junior_min
            .map(|v| Threshold { value: v, label: format!("初中标准 {:.0}%", v * 100.0), color: RED })
            .into_iter()
            .collect(),
        ValueFormat::Percent,
        false,
    ));
    let dropout = query_text(
        ctx,
        &format!("select year, stage, dropout_rate from dropout where county_code = '{code}' order by year"),
    )
    .await?;
    charts.push(line(
        "dropout",
        "辍学率",
        series_by(&dropout, &[("primary", "小学", BLUE), ("junior", "初中", ORANGE)]),
        vec![],
        ValueFormat::Percent,
        true,
    ));
    let summary = query_text(ctx, &format!("select year, stage, basic_composite_cv, basic_threshold, quality_max_cv, quality_threshold from balance_summary where county_code = '{code}' order by year")).await?;
    for (stage, label) in [("primary", "小学"), ("junior", "初中")] {
        let rows: Vec<&Vec<String>> = summary.iter().filter(|r| r[1] == stage).collect();
        let threshold = |i: usize| rows.iter().rev().find_map(|r| num(&r[i]));
        let basic = Series {
            name: "综合差异系数".into(),
            points: rows.iter().map(|r| (r[0].parse().unwrap_or(0), num(&r[2]))).collect(),
            color: BLUE,
        };
        let quality = Series {
            name: "优质均衡最大差异系数".into(),
            points: rows.iter().map(|r| (r[0].parse().unwrap_or(0), num(&r[4]))).collect(),
            color: PURPLE,
        };
        let mut thresholds = Vec::new();
        if let Some(v) = threshold(3) {
            thresholds.push(Threshold { value: v, label: format!("基本均衡标准 {v}"), color: RED });
        }
        if let Some(v) = threshold(5) {
            thresholds.push(Threshold { value: v, label: format!("优质均衡标准 {v}"), color: ORANGE });
        }
        charts.push(line(
            &format!("cv-{stage}"),
            &format!("差异系数（{label}）"),
            vec![basic, quality],
            thresholds,
            ValueFormat::Decimal3,
            true,
        ));
    }
    let funding = query_text(ctx, &format!("select year, revenue_growth, appropriation_growth, exp_per_pupil_primary, exp_per_pupil_junior, public_funds_per_pupil_primary, public_funds_per_pupil_junior from funding where county_code = '{code}' order by year")).await?;
    let col = |i: usize, name: &str, color: &'static str| Series {
        name: name.into(),
        points: funding.iter().map(|r| (r[0].parse().unwrap_or(0), num(&r[i]))).collect(),
        color,
    };
    charts.push(line(
        "funding-growth",
        "三个增长①：教育拨款增长与经常性收入增长",
        vec![col(1, "经常性收入增长率", GREY), col(2, "教育财政拨款增长率", BLUE)],
        vec![],
        ValueFormat::Percent,
        true,
    ));
    charts.push(line(
        "funding-per-pupil",
        "三个增长②：生均教育事业费（元）",
        vec![col(3, "小学", BLUE), col(4, "初中", ORANGE)],
        vec![],
        ValueFormat::Integer,
        true,
    ));
    charts.push(line(
        "funding-public",
        "三个增长③：生均公用经费（元）",
        vec![col(5, "小学", BLUE), col(6, "初中", ORANGE)],
        vec![],
        ValueFormat::Integer,
        true,
    ));
    let equipment = query_text(ctx, &format!("select year, stage, equipment_value_per_pupil from equipment_trend where county_code = '{code}' order by year")).await?;
    charts.push(line(
        "equipment",
        "生均教学仪器设备值（元）",
        series_by(&equipment, &[("primary", "小学", BLUE), ("junior", "初中", ORANGE)]),
        vec![],
        ValueFormat::Integer,
        true,
    ));
    let computers = query_text(
        ctx,
        &format!(
            "select year, stage, computers_per_100 from equipment_trend where county_code = '{code}' order by year"
        ),
    )
    .await?;
    charts.push(line(
        "computers",
        "每百名学生拥有计算机台数",
        series_by(&computers, &[("primary", "小学", BLUE), ("junior", "初中", ORANGE)]),
        vec![],
        ValueFormat::Decimal2,
        true,
    ));
    let categories = [
        ("standardisation", "标准化建设"),
        ("new_building", "新建校舍"),
        ("renovation", "维修改造"),
        ("equipment", "仪器设备"),
        ("ict", "信息化"),
        ("teacher_training", "教师培训"),
        ("student_aid", "学生资助"),
        ("safety", "校园安全"),
        ("other", "其他"),
    ];
    let investment_sql = categories.iter().map(|(c, _)| format!("investment_{c}")).collect::<Vec<_>>().join(", ");
    let investment = query_text(
        ctx,
        &format!("select year, {investment_sql} from funding where county_code = '{code}' order by year"),
    )
    .await?;
    let bars = BarChart {
        id: "investment".into(),
        title: "项目投入（按类别）".into(),
        series: categories
            .iter()
            .enumerate()
            .map(|(i, (_, label))| Series {
                name: (*label).into(),
                points: investment.iter().map(|r| (r[0].parse().unwrap_or(0), num(&r[i + 1]))).collect(),
                color: PALETTE[i % PALETTE.len()],
            })
            .collect(),
        format: ValueFormat::TenThousandYuan,
    };
    let _ = write!(body, r#"<h2>发展趋势 <span class="en">Trends</span></h2><div class="charts">"#);
    for chart in charts.iter().filter(|c| c.has_data()) {
        body.push_str(&chart.svg());
    }
    if bars.has_data() {
        body.push_str(&bars.svg());
    }
    body.push_str("</div>");

    // Indicators of the latest year.
    let cvs = query_text(ctx, &format!("select stage, scheme, indicator, indicator_name, units, students, mean, cv, threshold, passes from balance_cv where county_code = '{code}' and year = {latest} order by stage desc, scheme, indicator")).await?;
    let _ = write!(
        body,
        r#"<h2>均衡指标（{latest}年） <span class="en">Balance indicators: enrolment-weighted difference coefficients</span></h2><table><tr><th class="text">学段</th><th class="text">指标</th><th class="text">名称</th><th>学校数</th><th>学生数</th><th>均值</th><th>差异系数</th><th>标准</th><th>达标</th></tr>"#
    );
    for r in &cvs {
        let _ = write!(
            body,
            r#"<tr><td class="text">{}</td><td class="text">{}</td><td class="text">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            stage_zh(&r[0]),
            escape(&r[2]),
            escape(&r[3]),
            r[4],
            int(&r[5]),
            num(&r[6]).map_or("—".into(), |v| format!("{v:.3}")),
            fmt3(&r[7]),
            if r[8].is_empty() { "—".into() } else { r[8].clone() },
            if r[1] == "quality" { verdict(&r[9]) } else { "" }
        );
    }
    body.push_str("</table>");
    let summary_latest = query_text(ctx, &format!("select stage, basic_composite_cv, basic_threshold, basic_passes, quality_max_cv, quality_failing_indicators, quality_resource_passes, units_meeting_standards, units_in_standards_test, satisfaction_rate, satisfaction_passes from balance_summary where county_code = '{code}' and year = {latest} order by stage desc")).await?;
    let _ = write!(
        body,
        r#"<table><tr><th class="text">学段</th><th>综合差异系数</th><th>标准</th><th>基本均衡</th><th>最大差异系数（优质）</th><th class="text">未达标指标</th><th>资源配置（优质）</th><th>达标学校</th><th>满意度</th><th>满意度达标</th></tr>"#
    );
    for r in &summary_latest {
        let _ = write!(
            body,
            r#"<tr><td class="text">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="text">{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>"#,
            stage_zh(&r[0]),
            fmt3(&r[1]),
            escape(&r[2]),
            verdict(&r[3]),
            fmt3(&r[4]),
            escape(&r[5]),
            verdict(&r[6]),
            r[7],
            r[8],
            pct(&r[9]),
            verdict(&r[10])
        );
    }
    body.push_str("</table>");

    // School standards per unit.
    let units = query_text(ctx, &format!("select s.unit_id, s.school_name, s.stage, s.students, s.q1_ratio, s.q2_ratio, s.q3_ratio, s.q4_ratio, s.q5_ratio, s.q6_ratio, s.q7_ratio, s.standards_met, s.meets_standards, s.in_standards_test from school_standards s where s.county_code = '{code}' and s.year = {latest} order by s.stage desc, s.unit_id")).await?;
    let _ = write!(
        body,
        r#"<h2>学校达标情况（{latest}年） <span class="en">Quality standards per school-stage unit (ratio to standard)</span></h2><table><tr><th class="text">单位</th><th class="text">学校</th><th class="text">学段</th><th>学生</th><th>q1</th><th>q2</th><th>q3</th><th>q4</th><th>q5</th><th>q6</th><th>q7</th><th>达标数</th><th>达标</th></tr>"#
    );
    for r in &units {
        let ratios: String =
            (4..=10).map(|i| format!("<td>{}</td>", num(&r[i]).map_or("—".into(), |v| format!("{v:.2}")))).collect();
        let status = if r[13] == "false" { "<span class=\"na\">不参评</span>" } else { verdict(&r[12]) };
        let _ = write!(
            body,
            r#"<tr><td class="text">{}</td><td class="text">{}</td><td class="text">{}</td><td>{}</td>{ratios}<td>{}</td><td>{status}</td></tr>"#,
            escape(&r[0]),
            escape(&r[1]),
            stage_zh(&r[2]),
            int(&r[3]),
            r[11]
        );
    }
    body.push_str("</table>");

    // 三个增长 year by year.
    let legs = query_text(ctx, &format!("select year, appropriation_outpaces_revenue, per_pupil_expenditure_rises, public_funds_and_salary_rise, three_increases_met, appropriation_gap, two_never_decrease from funding where county_code = '{code}' order by year")).await?;
    let _ = write!(
        body,
        r#"<h2>经费保障：三个增长 <span class="en">The "three increases" in funding</span></h2><table><tr><th>年度</th><th>①拨款增长高于收入增长</th><th>②生均教育事业费增长</th><th>③生均公用经费及工资增长</th><th>三个增长</th><th>应增拨（万元）</th><th>两个只增不减</th></tr>"#
    );
    for r in &legs {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r[0],
            verdict(&r[1]),
            verdict(&r[2]),
            verdict(&r[3]),
            verdict(&r[4]),
            num(&r[5]).map_or("—".into(), |v| format!("{:.1}", v / 10_000.0)),
            verdict(&r[6])
        );
    }
    body.push_str("</table>");

    // Shortcomings.
    let findings = findings(ctx, ledger, county, &summary_latest, &legs).await?;
    let _ = write!(body, r#"<h2>存在的不足 <span class="en">Findings</span></h2><ul class="findings" id="findings">"#);
    if findings.is_empty() {
        body.push_str("<li>各项指标均达到标准，未发现数据问题。</li>");
    }
    for f in &findings {
        let _ = write!(body, "<li>{f}</li>");
    }
    body.push_str("</ul>");
    Ok(document(&format!("{} 义务教育均衡发展情况", county.name), &body))
}

fn line(
    id: &str,
    title: &str,
    series: Vec<Series>,
    thresholds: Vec<Threshold>,
    format: ValueFormat,
    from_zero: bool,
) -> LineChart {
    LineChart { id: id.into(), title: title.into(), series, thresholds, format, from_zero }
}

/// The shortcomings the latest year and the series show, each an HTML fragment.
async fn findings(
    ctx: &SessionContext,
    ledger: &Ledger,
    county: &County,
    summary: &[Vec<String>],
    legs: &[Vec<String>],
) -> Result<Vec<String>> {
    let code = sql_text(&county.code);
    let latest = county.latest;
    let mut out = Vec::new();
    for r in summary {
        let stage = stage_zh(&r[0]);
        if r[3] == "false" {
            out.push(format!("{stage}综合差异系数{}，高于基本均衡标准{}。", fmt3(&r[1]), escape(&r[2])));
        }
        if r[6] == "false" && !r[5].is_empty() {
            out.push(format!("{stage}优质均衡资源配置未达标：{} 的差异系数超过标准。", escape(&r[5])));
        }
        if r[10] == "false" {
            out.push(format!("公众满意度{}，低于标准。", pct(&r[9])));
        }
    }
    let retention = query_text(ctx, &format!("select r.retention_rate, t.junior_retention_min from retention r cross join int_thresholds_wide t where t.stage = 'junior' and r.county_code = '{code}' and r.year = {latest} and r.stage = 'junior' and r.retention_rate < t.junior_retention_min")).await;
    if let Ok(rows) = retention {
        for r in rows {
            out.push(format!("初中三年巩固率{}，低于{}。", pct(&r[0]), pct(&r[1])));
        }
    }
    for r in legs.iter().filter(|r| r[4] == "false") {
        let gap = num(&r[5])
            .filter(|g| *g > 0.0)
            .map_or(String::new(), |g| format!("，教育财政拨款应再增加{:.1}万元", g / 10_000.0));
        let failed: Vec<&str> =
            [(1, "拨款增长高于经常性收入增长"), (2, "生均教育事业费增长"), (3, "生均公用经费和教师工资增长")]
                .iter()
                .filter(|(i, _)| r[*i] == "false")
                .map(|(_, n)| *n)
                .collect();
        out.push(format!("{}年未实现教育“三个增长”（{}未达到）{gap}。", r[0], failed.join("、")));
    }
    let outstanding = row(ctx, &format!("select arrears_outstanding from funding where county_code = '{code}' and arrears_outstanding > 0 order by year desc limit 1")).await?;
    if let Some(v) = outstanding.first().and_then(|v| num(v)) {
        out.push(format!("尚有欠拨教育经费{:.1}万元未补齐。", v / 10_000.0));
    }
    let classes = row(ctx, &format!("select large_classes, huge_classes from enrolment_trend where county_code = '{code}' and year = {latest} and stage = 'all' and area_type = 'all' and large_classes > 0")).await?;
    if !classes.is_empty() {
        out.push(format!("仍有大班额{}个（其中超大班额{}个）。", classes[0], classes[1]));
    }
    let big = row(ctx, &format!("select count(distinct school_code) from school_indicators where county_code = '{code}' and year = {latest} and not school_size_within_standard")).await?;
    if big.first().and_then(|v| num(v)).unwrap_or(0.0) > 0.0 {
        out.push(format!("{}所学校规模超过标准。", big[0]));
    }
    // Data warnings from the run: rejected rows, unreconciled totals.
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut warned: BTreeMap<String, u64> = BTreeMap::new();
    for s in ledger.slices.iter().filter(|s| s.county_code == county.code) {
        for (rule, n) in &s.quarantined_by_rule {
            *rejected.entry(rule.clone()).or_default() += n;
        }
        for (rule, n) in &s.warnings_by_rule {
            *warned.entry(rule.clone()).or_default() += n;
        }
    }
    if !rejected.is_empty() {
        let rules: Vec<String> = rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        out.push(format!(
            "报送数据中有{}处错误未能采用（{}），详见错误清单与 quarantine。",
            rejected.values().sum::<u64>(),
            escape(&rules.join("，"))
        ));
    }
    if let Some(n) = warned.get("total_row_mismatch") {
        out.push(format!("{n}处合计行与明细之和不一致（数据未核对一致）。"));
    }
    let changes = query_text(
        ctx,
        &format!(
            "select event, count(*) from school_changes where county_code = '{code}' group by event order by event"
        ),
    )
    .await?;
    let describe = |e: &str| -> String {
        match e {
            "closed" => "撤并（停办）".into(),
            "opened" => "新设".into(),
            "code_changed" => "更换学校标识码".into(),
            "students_changed_threefold" => "在校生数变化超过三倍".into(),
            other => other.into(),
        }
    };
    if !changes.is_empty() {
        let parts: Vec<String> = changes.iter().map(|r| format!("{}{}所", describe(&r[0]), r[1])).collect();
        out.push(format!("学校布局调整：{}（学校及教学点，见 school_changes）。", parts.join("、")));
    }
    Ok(out)
}

fn dictionary_page(dictionary: &Dictionary) -> String {
    let mut body = String::from(
        r#"<h1>数据字典 <span class="en">Data dictionary</span></h1><p><a href="index.html">索引</a></p>"#,
    );
    for table in &dictionary.tables {
        let _ = write!(
            body,
            r#"<h2 id="{}-{}">{} / {} <span class="en">{}</span></h2><p class="meta">{} · grain: {} · {}</p><table><tr><th class="text">列</th><th class="text">类型</th><th class="text">单位</th><th class="text">中文名</th><th class="text">含义</th></tr>"#,
            escape(&table.area),
            escape(&table.name),
            escape(&table.area),
            escape(&table.name),
            escape(&table.description),
            escape(&table.path),
            escape(&table.grain),
            escape(&table.methodology)
        );
        for c in &table.columns {
            let _ = write!(
                body,
                r#"<tr><td class="text">{}</td><td class="text">{}</td><td class="text">{}</td><td class="text">{}</td><td class="text">{}</td></tr>"#,
                escape(&c.name),
                escape(&c.data_type),
                escape(&c.unit),
                escape(&c.label),
                escape(&c.meaning)
            );
        }
        body.push_str("</table>");
    }
    document("数据字典", &body)
}
