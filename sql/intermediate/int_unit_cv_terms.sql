-- int_unit_cv_terms: each unit's share of an indicator's weighted variance — the weighted difference coefficient term by term.
-- Grain: one row per (county_code, year, stage, scheme, indicator, unit_id).
-- Inputs: int_unit_indicator_values, int_school_share_values
-- Methodology: §2 — P = Σ P_i; X̄ = Σ P_i·X_i / P; the variance is Σ (P_i/P)(X_i − X̄)² (population form, no n − 1); each term here is one unit's (P_i/P)(X_i − X̄)²
-- Checks: unique (county_code, year, stage, scheme, indicator, unit_id)
with

unit_values as (
    select county_code, year, stage, scheme, indicator, unit_id, pupils, value from int_unit_indicator_values
    union all
    select county_code, year, stage, scheme, indicator, unit_id, pupils, value from int_school_share_values
),

-- Each cell's P and X̄ come from a grouped aggregate joined back, not from window functions:
-- an unordered window holds its whole input in memory (gigabytes nationally); this streams.
cells as (
    select
        county_code,
        year,
        stage,
        scheme,
        indicator,
        sum(pupils) as cell_pupils,
        sum(pupils * value) / sum(pupils) as mean
    from unit_values
    group by county_code, year, stage, scheme, indicator
),

weighted as (
    select
        u.county_code,
        u.year,
        u.stage,
        u.scheme,
        u.indicator,
        u.unit_id,
        u.pupils,
        u.value,
        u.pupils / c.cell_pupils as weight,
        c.mean
    from unit_values as u
    join cells as c
        on u.county_code = c.county_code
        and u.year = c.year
        and u.stage = c.stage
        and u.scheme = c.scheme
        and u.indicator = c.indicator
)

select *, weight * (value - mean) * (value - mean) as term from weighted
