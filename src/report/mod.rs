//! The human report: a self-contained HTML page per county (and an index over counties) in
//! Chinese (or, for a source that is not Chinese, in English: [`words::Language`]), drafted from the marts as a county statistician writes the yearly report — the
//! headline paragraph of the latest year, trend charts (inline SVG), indicator tables with
//! pass/fail, school standards per unit, and the shortcomings (存在的不足) the data show.
//!
//! Every figure is read from the published marts as typed rows ([`crate::marts`]); the pages are
//! laid out by templates (`templates/report/*.html`); nothing is computed here that SQL does not
//! publish — this module only words and formats.

pub mod assessment;
pub mod charts;
pub mod findings;
pub mod format;
pub mod names;
mod page;
pub mod svg;
pub mod words;

use datafusion::prelude::SessionContext;

use crate::dictionary::Dictionary;
use crate::error::Result;
use crate::ledger::Ledger;
use crate::marts::{self, County};
pub use page::IndexRow;
pub use words::Language;

/// The pages' style sheet (inline: pages are self-contained).
pub const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0 auto; max-width: 1100px; padding: 24px; color: #222; line-height: 1.6; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; border-bottom: 2px solid #1f77b4; padding-bottom: 4px; margin-top: 36px; }
.meta { color: #666; font-size: 13px; } .headline { font-size: 16px; background: #f5f8fc; padding: 12px 16px; border-left: 4px solid #1f77b4; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } svg.chart { background: #fff; border: 1px solid #ddd; max-width: 100%; height: auto; }
svg .chart-title { font-size: 14px; font-weight: bold; } svg .tick, svg .legend, svg .threshold-label { font-size: 11px; fill: #444; }
svg .grid { stroke: #eee; } svg .axis { stroke: #999; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; } th { background: #f0f3f7; } td.text, th.text { text-align: left; }
.pass { color: #2ca02c; font-weight: bold; } .fail { color: #d62728; font-weight: bold; } .na { color: #999; }
.status { padding: 1px 6px; border-radius: 3px; font-size: 12px; white-space: nowrap; } .status.pass { background: #e6f4e6; } .status.fail { background: #fde8e8; color: #d62728; } .status.todo { background: #fff3e0; color: #e67e00; font-weight: bold; } .status.filed { background: #e8f0fb; color: #1f77b4; } .status.na { background: #f3f3f3; }
h3 { font-size: 16px; margin-top: 20px; } code { font-size: 12px; }
ul.findings li { margin: 6px 0; } .en { color: #777; font-size: 12px; }
"#;

/// One page of the report: its file name under `report/` and its HTML.
pub type Page = (String, String);

/// Build every page in a language: `index.html`, one `<county_code>.html` per county,
/// `dictionary.html`.
pub async fn build(
    ctx: &SessionContext,
    ledger: &Ledger,
    dictionary: &Dictionary,
    language: Language,
) -> Result<Vec<Page>> {
    let mut report = Report::new(language);
    let mut pages = report.county_pages(ctx, ledger).await?;
    pages.extend(report.finish(ledger, dictionary)?);
    Ok(pages)
}

/// The report built a group of counties at a time: [`Report::county_pages`] for the counties
/// whose marts the session holds (a run registers each county group's part in turn, so a
/// page's queries read that part, and a group's pages are written before the next is built),
/// then [`Report::finish`] for the index and the dictionary.
#[derive(Debug, Default)]
pub struct Report {
    index_rows: Vec<IndexRow>,
    language: Language,
}

impl Report {
    /// A report in a language, with no pages yet.
    pub fn new(language: Language) -> Report {
        Report { index_rows: Vec::new(), language }
    }

    /// One `<county_code>.html` page per county of the session's `county_overview`: the
    /// session's marts read once for all its counties ([`page::GroupRows`]), the pages laid out
    /// on every core.
    pub async fn county_pages(&mut self, ctx: &SessionContext, ledger: &Ledger) -> Result<Vec<Page>> {
        let counties: Vec<County> = marts::read(
            ctx,
            "select county_code, coalesce(max(county_name), county_code) as county_name, max(year) as year \
             from county_overview group by county_code order by county_code",
        )
        .await?;
        let assessments = marts::Assessment::read_latest(ctx).await?;
        let none = marts::Assessment::default();
        let money = format::Money::of(ctx).await?.in_language(self.language);
        let names = names::Names::read(ctx, self.language).await?;
        let wording = words::Wording { words: self.language.words(), money, names: &names };
        // One query per mart for the whole group; then the pages are laid out on every core.
        let mut rows = page::GroupRows::read(ctx).await?;
        let work: Vec<(&County, page::CountyRows)> = counties.iter().map(|c| (c, rows.take(c))).collect();
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let lay_out = |part: &[(&County, page::CountyRows)]| -> Result<Vec<(Page, IndexRow)>> {
            part.iter()
                .map(|(c, rows)| {
                    page::county(ledger, c, rows, assessments.get(&c.county_code).unwrap_or(&none), wording)
                })
                .collect()
        };
        let built: Vec<(Page, IndexRow)> = std::thread::scope(|scope| {
            let workers: Vec<_> = work
                .chunks(work.len().div_ceil(parallel).max(1))
                .map(|part| scope.spawn(move || lay_out(part)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect::<Result<Vec<Vec<_>>>>()
        })?
        .into_iter()
        .flatten()
        .collect();
        let mut pages = Vec::with_capacity(built.len());
        for (page, index_row) in built {
            self.index_rows.push(index_row);
            pages.push(page);
        }
        Ok(pages)
    }

    /// `index.html` (a row per county, in the order their pages were built) and `dictionary.html`.
    pub fn finish(self, ledger: &Ledger, dictionary: &Dictionary) -> Result<Vec<Page>> {
        let words = self.language.words();
        Ok(vec![
            ("index.html".into(), page::index(ledger, self.index_rows, words)?),
            ("dictionary.html".into(), page::dictionary(dictionary, words)?),
        ])
    }
}
