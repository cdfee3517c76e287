//! The run's notes: what the published marts say a statistician should look at first — schools
//! opened, closed or renumbered (`school_changes`), and the standards each county misses in its
//! latest year (`shortcomings`). They go into the ledger (`warnings`, `thresholds_failed`) and the
//! run summary; the rules of what counts are the marts', only the words are here.

use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::marts::{self, Shortcoming};
use crate::report::format::{Money, fmt3, pct, plain};

/// How many schools of a county an event concerns.
#[derive(serde::Deserialize)]
struct CountyChanges {
    county_code: String,
    event: String,
    schools: i64,
}

/// Ledger warnings for schools that opened, closed, changed code or changed size threefold.
pub async fn school_changes(ctx: &SessionContext) -> Result<Vec<String>> {
    let rows: Vec<CountyChanges> = marts::read(
        ctx,
        "select county_code, event, count(*) as schools from school_changes group by county_code, event order by county_code, event",
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "county {}: {} school(s) or teaching point(s) {} (see marts/school_changes)",
                r.county_code,
                r.schools,
                r.event.replace('_', " ")
            )
        })
        .collect())
}

/// The standards each county misses in its latest year, one short line each, for the run summary
/// and the ledger (`231182 2018 primary: quality CVs above 0.5: q1, q4`): the balance verdicts,
/// then junior retention, then the three increases, each county in code order.
pub async fn thresholds_failed(ctx: &SessionContext) -> Result<Vec<String>> {
    let rows: Vec<Shortcoming> = marts::read(
        ctx,
        "select * from shortcomings where latest and shortcoming in \
         ('basic_composite_cv', 'quality_cv', 'satisfaction', 'junior_retention', 'three_increases') \
         order by county_code, year",
    )
    .await?;
    Ok(lines(&rows, Money::of(ctx).await?))
}

/// What the marts could judge of a county's latest census year (null: no verdict).
#[derive(serde::Deserialize)]
struct Judged {
    county_code: String,
    year: i32,
    balance: Option<bool>,
    three_increases: Option<bool>,
}

/// The verdicts each county's latest year lacks the inputs for: the balance (its eight CVs need
/// pupils, teachers and facilities of every school) and the three increases (two fiscal years of
/// finance). A verdict nobody could judge is "not assessable", never "meets".
pub async fn not_assessable(ctx: &SessionContext) -> Result<Vec<String>> {
    let rows: Vec<Judged> = marts::read(
        ctx,
        "with latest as (select county_code, max(year) as year from county_overview group by county_code) \
         select l.county_code, l.year, \
           (select bool_and(b.basic_passes) from balance_summary b \
             where b.county_code = l.county_code and b.year = l.year and b.basic_passes is not null) as balance, \
           (select bool_and(f.three_increases_met) from funding f \
             where f.county_code = l.county_code and f.three_increases_met is not null) as three_increases \
         from latest l order by l.county_code",
    )
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let mut missing = Vec::new();
        if r.balance.is_none() {
            missing.push("the balance (差异系数: needs pupils, teachers and facilities of every school)");
        }
        if r.three_increases.is_none() {
            missing.push("the three increases (三个增长: needs two fiscal years of finance with every leg's figures)");
        }
        if !missing.is_empty() {
            out.push(format!("{} {}: not assessable: {}", r.county_code, r.year, missing.join("; ")));
        }
    }
    Ok(out)
}

/// The lines of [`thresholds_failed`] from the latest years' shortcomings.
fn lines(rows: &[Shortcoming], money: Money) -> Vec<String> {
    let of = |kind: &'static str| rows.iter().filter(move |r| r.shortcoming == kind);
    let mut balance: Vec<&Shortcoming> = rows
        .iter()
        .filter(|r| matches!(r.shortcoming.as_str(), "basic_composite_cv" | "quality_cv" | "satisfaction"))
        .collect();
    // A county's primary verdicts, then the county-wide satisfaction, then junior's.
    let rank = |r: &Shortcoming| match (r.stage.as_str(), r.shortcoming.as_str()) {
        ("primary", "basic_composite_cv") => 0,
        ("primary", _) => 1,
        ("all", _) => 2,
        (_, "basic_composite_cv") => 3,
        _ => 4,
    };
    balance.sort_by(|a, b| a.county_code.cmp(&b.county_code).then(rank(a).cmp(&rank(b))));
    let mut out: Vec<String> = balance
        .iter()
        .map(|r| {
            let at = format!("{} {} {}", r.county_code, r.year, r.stage);
            match r.shortcoming.as_str() {
                "basic_composite_cv" => {
                    format!("{at}: composite CV {} above {}", fmt3(Some(r.value)), plain(r.threshold))
                }
                "quality_cv" => format!(
                    "{at}: quality CVs above {}: {}",
                    plain(r.threshold),
                    r.detail.as_deref().unwrap_or_default().replace(',', ", ")
                ),
                _ => format!(
                    "{} {}: satisfaction {} below {}",
                    r.county_code,
                    r.year,
                    pct(Some(r.value)),
                    pct(r.threshold)
                ),
            }
        })
        .collect();
    for r in of("junior_retention") {
        out.push(format!(
            "{} {} junior: retention {} below {}",
            r.county_code,
            r.year,
            pct(Some(r.value)),
            pct(r.threshold)
        ));
    }
    for r in of("three_increases") {
        let legs = r.detail.as_deref().unwrap_or_default().replace(',', " and ");
        // Amounts are never converted: a source in dollars is short by dollars.
        let gap = r
            .gap
            .filter(|g| *g > 0.0)
            .map_or(String::new(), |g| format!(", appropriation short by {}", money.exact(g)));
        out.push(format!("{} {}: three increases (三个增长) not met, leg {legs}{gap}", r.county_code, r.year));
    }
    out
}
