//! The run's notes: what the published marts say a statistician should look at first — schools
//! opened, closed or renumbered, and the standards each county misses in its latest year. They
//! go into the ledger (`warnings`, `thresholds_failed`) and the run summary.

use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::report::format::{fmt3, num, pct};
use crate::transform::query_text;

/// Ledger warnings for schools that opened, closed, changed code or changed size threefold.
pub async fn school_changes(ctx: &SessionContext) -> Result<Vec<String>> {
    let rows = query_text(
        ctx,
        "select county_code, event, count(*) as n from school_changes group by county_code, event order by county_code, event",
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "county {}: {} school(s) or teaching point(s) {} (see marts/school_changes)",
                r[0],
                r[2],
                r[1].replace('_', " ")
            )
        })
        .collect())
}

/// The standards each county misses in its latest year, one short line each, for the run summary
/// and the ledger (`231182 2018 primary: quality CVs above 0.5: q1, q4`). Read from the marts.
pub async fn thresholds_failed(ctx: &SessionContext) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let latest = "(select county_code, max(year) as year from county_overview group by county_code)";
    let balance = query_text(ctx, &format!("select b.county_code, b.year, b.stage, b.basic_passes, b.basic_composite_cv, b.basic_threshold, b.quality_resource_passes, b.quality_threshold, b.quality_failing_indicators, b.satisfaction_passes, b.satisfaction_rate, b.satisfaction_threshold from balance_summary b join {latest} l on b.county_code = l.county_code and b.year = l.year order by b.county_code, b.stage desc")).await?;
    for r in &balance {
        let at = format!("{} {} {}", r[0], r[1], r[2]);
        if r[3] == "false" {
            out.push(format!("{at}: composite CV {} above {}", fmt3(&r[4]), r[5]));
        }
        if r[6] == "false" {
            out.push(format!("{at}: quality CVs above {}: {}", r[7], r[8].replace(',', ", ")));
        }
        // Satisfaction is one survey per county: say it once, on the primary row.
        if r[9] == "false" && r[2] == "primary" {
            out.push(format!("{} {}: satisfaction {} below {}", r[0], r[1], pct(&r[10]), pct(&r[11])));
        }
    }
    let retention = query_text(ctx, &format!("select r.county_code, r.year, r.retention_rate, t.junior_retention_min from retention r join {latest} l on r.county_code = l.county_code and r.year = l.year cross join int_thresholds_wide t where t.stage = 'junior' and r.stage = 'junior' and r.retention_rate < t.junior_retention_min order by r.county_code")).await?;
    for r in &retention {
        out.push(format!("{} {} junior: retention {} below {}", r[0], r[1], pct(&r[2]), pct(&r[3])));
    }
    let funding = query_text(ctx, "select f.county_code, f.year, f.appropriation_outpaces_revenue, f.per_pupil_expenditure_rises, f.public_funds_and_salary_rise, f.appropriation_gap from funding f join (select county_code, max(year) as year from funding where three_increases_met is not null group by county_code) l on f.county_code = l.county_code and f.year = l.year where not f.three_increases_met order by f.county_code").await?;
    for r in &funding {
        let legs: Vec<&str> =
            [(2, "1"), (3, "2"), (4, "3")].iter().filter(|(i, _)| r[*i] == "false").map(|(_, n)| *n).collect();
        let gap = num(&r[5])
            .filter(|g| *g > 0.0)
            .map_or(String::new(), |g| format!(", appropriation short by {:.1}万元", g / 10_000.0));
        out.push(format!("{} {}: three increases (三个增长) not met, leg {}{gap}", r[0], r[1], legs.join(" and ")));
    }
    Ok(out)
}
