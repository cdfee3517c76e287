//! Explaining a published number: how a balance CV, a retention or dropout rate, or a funding
//! leg was computed — every unit's pupils, numerator, value and share of the variance, the
//! cohort's entrants and final-grade pupils, the two years' finance figures — and which source
//! file and row each input came from. This is what a statistician shows an inspection team.
//!
//! Everything is read from the committed version through the same SQL models that built the
//! marts (`int_unit_cv_terms`, `int_unit_indicators`, `int_pupils_with_school`, `stg_finance`);
//! nothing is recomputed here.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::query::Published;
use crate::transform::query_text;

/// What to explain.
#[derive(Debug, Clone)]
pub enum Target {
    /// A difference coefficient of balance_cv.
    Cv {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary or junior.
        stage: String,
        /// b1…b8, q1…q7.
        indicator: String,
    },
    /// A retention rate.
    Retention {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary, junior or nine_year.
        stage: String,
    },
    /// A dropout rate.
    Dropout {
        /// County code.
        county: String,
        /// Year.
        year: i32,
        /// primary or junior.
        stage: String,
    },
    /// The three legs of 三个增长 for a fiscal year.
    Funding {
        /// County code.
        county: String,
        /// Fiscal year.
        year: i32,
    },
}

fn q(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn f(text: &str, decimals: usize) -> String {
    text.parse::<f64>()
        .map_or_else(|_| if text.is_empty() { "—".into() } else { text.to_owned() }, |v| format!("{v:.decimals$}"))
}

/// Shorten a source URI to the path under the run's source root.
fn short(published: &Published, uri: &str) -> String {
    let root = published.ledger.pipeline.source_url.trim_end_matches('/');
    uri.strip_prefix(root).map_or(uri.to_owned(), |r| r.trim_start_matches('/').to_owned())
}

/// Explain a published number, as text.
pub async fn explain(published: &Published, target: &Target) -> Result<String> {
    match target {
        Target::Cv { county, year, stage, indicator } => cv(published, county, *year, stage, indicator).await,
        Target::Retention { county, year, stage } => retention(published, county, *year, stage).await,
        Target::Dropout { county, year, stage } => dropout(published, county, *year, stage).await,
        Target::Funding { county, year } => funding(published, county, *year).await,
    }
}

async fn cv(p: &Published, county: &str, year: i32, stage: &str, indicator: &str) -> Result<String> {
    let ctx = &p.ctx;
    let meta = query_text(
        ctx,
        &format!(
            "select name_zh, numerator, per_pupils, scheme from ref_indicators where indicator = {}",
            q(indicator)
        ),
    )
    .await?;
    let [name, numerator, per, _scheme] = meta
        .first()
        .cloned()
        .map(|m| [m[0].clone(), m[1].clone(), m[2].clone(), m[3].clone()])
        .ok_or_else(|| Error::NotFound(format!("no indicator {indicator:?}; use b1…b8 or q1…q7")))?;
    let published_row = query_text(
        ctx,
        &format!("select units, students, mean, sd, cv, threshold, passes from balance_cv where county_code = {} and year = {year} and stage = {} and indicator = {}", q(county), q(stage), q(indicator)),
    )
    .await?;
    let row = published_row.first().ok_or_else(|| {
        Error::NotFound(format!("balance_cv has no {indicator} for county {county}, {year}, {stage}"))
    })?;
    let mut out = String::new();
    let _ = writeln!(out, "balance_cv · county {county} · {year} · {stage} · {indicator} {name}");
    let _ = writeln!(
        out,
        "published: CV = {} (S = {}, X̄ = {}) over {} units, P = {} pupils{}",
        f(&row[4], 6),
        f(&row[3], 6),
        f(&row[2], 6),
        row[0],
        row[1],
        if row[5].is_empty() {
            String::new()
        } else {
            format!("; threshold {} → {}", row[5], if row[6] == "true" { "passes" } else { "fails" })
        }
    );
    let per_label = if per == "100" { "100 × " } else { "" };
    let _ = writeln!(
        out,
        "\nX_i = {per_label}{numerator} / P_i;  X̄ = Σ P_i·X_i / P;  S = sqrt(Σ (P_i/P)(X_i − X̄)²);  CV = S / X̄   (methodology §2)\n"
    );
    let terms = query_text(
        ctx,
        &format!(
            "select t.unit_id, u.school_name, u.member_school_codes, t.pupils, u.{numerator}, t.value, t.weight, t.term, t.term / sum(t.term) over () as share
             from int_unit_cv_terms t join int_unit_indicators u on t.year = u.year and t.unit_id = u.unit_id
             where t.county_code = {} and t.year = {year} and t.stage = {} and t.indicator = {} order by t.term desc",
            q(county),
            q(stage),
            q(indicator)
        ),
    )
    .await?;
    let _ = writeln!(
        out,
        "{:<22} {:<18} {:>8} {:>14} {:>12} {:>10} {:>12} {:>8}",
        "unit", "school", "P_i", numerator, "X_i", "P_i/P", "(P_i/P)(X_i−X̄)²", "share"
    );
    let (mut sum_p, mut sum_n, mut sum_t) = (0.0, 0.0, 0.0);
    for t in &terms {
        sum_p += t[3].parse::<f64>().unwrap_or(0.0);
        sum_n += t[4].parse::<f64>().unwrap_or(0.0);
        sum_t += t[7].parse::<f64>().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{:<22} {:<18} {:>8} {:>14} {:>12} {:>10} {:>12} {:>7}%",
            t[0],
            t[1],
            f(&t[3], 0),
            f(&t[4], 2),
            f(&t[5], 6),
            f(&t[6], 6),
            f(&t[7], 8),
            f(&(t[8].parse::<f64>().unwrap_or(0.0) * 100.0).to_string(), 1)
        );
    }
    let mean = if per == "100" { 100.0 * sum_n / sum_p } else { sum_n / sum_p };
    let _ = writeln!(
        out,
        "\nP = {sum_p:.0};  Σ {numerator} = {sum_n:.2};  X̄ = {per_label}{sum_n:.2} / {sum_p:.0} = {mean:.6};  S = sqrt({sum_t:.8}) = {:.6};  CV = {:.6}",
        sum_t.sqrt(),
        sum_t.sqrt() / mean
    );
    // Where each number came from.
    let table = if numerator.contains("teacher") || numerator.contains("backbone") || numerator.contains("pe_arts") {
        "teachers"
    } else {
        "facilities"
    };
    let _ = writeln!(out, "\nsources ({table} for {numerator}, pupils for P_i):");
    for t in &terms {
        let members: Vec<String> = t[2].split(',').map(q).collect();
        let members = members.join(", ");
        let stage_filter = if table == "facilities" {
            format!("(stage = {} or stage is null)", q(stage))
        } else {
            format!("stage = {}", q(stage))
        };
        let rows = query_text(ctx, &format!("select source_uri, source_row, school_code, {numerator} from {table} where year = {year} and school_code in ({members}) and {stage_filter} order by source_uri, source_row")).await?;
        let pupils = query_text(ctx, &format!("select source_uri, min(source_row), max(source_row), sum(students) from pupils where year = {year} and school_code in ({members}) and stage = {} group by source_uri order by source_uri", q(stage))).await?;
        let _ = writeln!(out, "  {}:", t[0]);
        for r in rows {
            let _ = writeln!(out, "    {} = {} — {} row {} (school {})", numerator, r[3], short(p, &r[0]), r[1], r[2]);
        }
        for r in pupils {
            let _ = writeln!(out, "    pupils = {} — {} rows {}–{}", r[3], short(p, &r[0]), r[1], r[2]);
        }
    }
    Ok(out)
}

async fn retention(p: &Published, county: &str, year: i32, stage: &str) -> Result<String> {
    let ctx = &p.ctx;
    let rows = query_text(ctx, &format!("select cohort_start_year, entry_grade, final_grade, cohort_entrants, final_grade_students, net_transfers, retention_rate, retention_definition, school_system from retention where county_code = {} and year = {year} and stage = {}", q(county), q(stage))).await?;
    let r = rows
        .first()
        .ok_or_else(|| Error::NotFound(format!("retention has no row for county {county}, {year}, {stage}")))?;
    let mut out = String::new();
    let _ =
        writeln!(out, "retention · county {county} · {year} · {stage} ({} school system, {} definition)", r[8], r[7]);
    let _ = writeln!(
        out,
        "published: {} = {} grade-{} pupils in {year} ÷ {} grade-{} entrants in {}{}",
        f(&r[6], 6),
        r[4],
        r[2],
        r[3],
        r[1],
        r[0],
        if r[7] == "adjusted" { format!(" (+ net transfers {})", r[5]) } else { String::new() }
    );
    let _ = writeln!(
        out,
        "(methodology §4: final-grade pupils of year Y over the entrants of the cohort's first year; a missing start year gives no rate)\n"
    );
    for (label, y, grade, column) in [
        ("entrants", r[0].parse::<i32>().unwrap_or(0), &r[1], "entrants"),
        ("final-grade pupils", year, &r[2], "students"),
    ] {
        let schools = query_text(ctx, &format!("select school_code, school_name, {column}, source_uri, source_row from int_pupils_with_school where county_code = {} and year = {y} and grade = {grade} order by school_code", q(county))).await?;
        let total: f64 = schools.iter().filter_map(|s| s[2].parse::<f64>().ok()).sum();
        let _ = writeln!(out, "{label}, grade {grade}, {y}: {total:.0}");
        for s in schools {
            let _ = writeln!(out, "  {} {:<16} {:>6} — {} row {}", s[0], s[1], s[2], short(p, &s[3]), s[4]);
        }
    }
    Ok(out)
}

async fn dropout(p: &Published, county: &str, year: i32, stage: &str) -> Result<String> {
    let ctx = &p.ctx;
    let rows = query_text(ctx, &format!("select school_year, dropouts, base_students, dropout_rate from dropout where county_code = {} and year = {year} and stage = {}", q(county), q(stage))).await?;
    let r = rows
        .first()
        .ok_or_else(|| Error::NotFound(format!("dropout has no row for county {county}, {year}, {stage}")))?;
    let mut out = String::new();
    let _ = writeln!(out, "dropout · county {county} · {year} ({}) · {stage}", r[0]);
    let _ = writeln!(
        out,
        "published: {} = {} dropouts reported at census {year} ÷ {} {stage} pupils at census {} (methodology §4)\n",
        f(&r[3], 6),
        r[1],
        r[2],
        year - 1
    );
    let schools = query_text(ctx, &format!("select school_code, school_name, grade, dropouts, source_uri, source_row from int_pupils_with_school where county_code = {} and year = {year} and stage = {} and dropouts > 0 order by school_code, grade", q(county), q(stage))).await?;
    let _ = writeln!(out, "rows with dropouts:");
    for s in schools {
        let _ = writeln!(out, "  {} {:<16} grade {} {:>4} — {} row {}", s[0], s[1], s[2], s[3], short(p, &s[4]), s[5]);
    }
    let base = query_text(ctx, &format!("select source_uri, count(*), sum(students) from int_pupils_with_school where county_code = {} and year = {} and stage = {} group by source_uri order by source_uri", q(county), year - 1, q(stage))).await?;
    let _ = writeln!(out, "base enrolment, {}:", year - 1);
    for b in base {
        let _ = writeln!(out, "  {} pupils in {} rows of {}", b[2], b[1], short(p, &b[0]));
    }
    Ok(out)
}

async fn funding(p: &Published, county: &str, year: i32) -> Result<String> {
    let ctx = &p.ctx;
    let legs = query_text(ctx, &format!("select appropriation_outpaces_revenue, per_pupil_expenditure_rises, public_funds_and_salary_rise, three_increases_met, appropriation_gap from funding where county_code = {} and year = {year}", q(county))).await?;
    let l = legs.first().ok_or_else(|| Error::NotFound(format!("funding has no row for county {county}, {year}")))?;
    let rows = query_text(ctx, &format!("select year, recurrent_revenue, education_appropriation, exp_per_pupil_primary, exp_per_pupil_junior, public_funds_per_pupil_primary, public_funds_per_pupil_junior, avg_teacher_salary, source_uri, source_row from stg_finance where county_code = {} and year in ({}, {year}) order by year", q(county), year - 1)).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "funding · county {county} · fiscal {year} · 三个增长 = {} (methodology §5; g(V) = (V_t − V_(t−1)) / V_(t−1), rises strict)\n",
        if l[3].is_empty() { "no legs (no previous fiscal year)" } else { &l[3] }
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{}: revenue {} · appropriation {} · per pupil {}/{} · public funds {}/{} · salary {} — {} row {}",
            r[0],
            f(&r[1], 2),
            f(&r[2], 2),
            f(&r[3], 2),
            f(&r[4], 2),
            f(&r[5], 2),
            f(&r[6], 2),
            f(&r[7], 2),
            short(p, &r[8]),
            r[9]
        );
    }
    if let [prev, cur] = rows.as_slice() {
        let g = |i: usize| -> String {
            match (prev[i].parse::<f64>(), cur[i].parse::<f64>()) {
                (Ok(a), Ok(b)) if a != 0.0 => format!("{:.4}%", (b - a) / a * 100.0),
                _ => "—".into(),
            }
        };
        let _ = writeln!(
            out,
            "\nleg 1 appropriation_outpaces_revenue = {}: g(appropriation) {} > g(revenue) {}",
            l[0],
            g(2),
            g(1)
        );
        if l[0] == "false" {
            let _ = writeln!(
                out,
                "      appropriation_gap = {} × {} / {} − {} = {}",
                f(&prev[2], 2),
                f(&cur[1], 2),
                f(&prev[1], 2),
                f(&cur[2], 2),
                f(&l[4], 2)
            );
        }
        let _ = writeln!(
            out,
            "leg 2 per_pupil_expenditure_rises = {}: primary {} → {}, junior {} → {}",
            l[1],
            f(&prev[3], 2),
            f(&cur[3], 2),
            f(&prev[4], 2),
            f(&cur[4], 2)
        );
        let _ = writeln!(
            out,
            "leg 3 public_funds_and_salary_rise = {}: primary {} → {}, junior {} → {}, salary {} → {}",
            l[2],
            f(&prev[5], 2),
            f(&cur[5], 2),
            f(&prev[6], 2),
            f(&cur[6], 2),
            f(&prev[7], 2),
            f(&cur[7], 2)
        );
    }
    Ok(out)
}
