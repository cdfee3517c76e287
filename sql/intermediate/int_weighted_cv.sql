-- int_weighted_cv: the enrolment-weighted difference coefficient of any per-pupil measure across units — the one place the formula is written.
-- Grain: one row per (county_code, year, stage, scheme, indicator).
-- Inputs: int_unit_indicator_values, int_school_share_values
-- Methodology: §2 — P = Σ P_i; X̄ = Σ P_i·X_i / P; S = sqrt(Σ (P_i/P)(X_i − X̄)²) (population form, no n − 1); CV = S / X̄
-- Checks: unique (county_code, year, stage, scheme, indicator)
with

unit_values as (
    select county_code, year, stage, scheme, indicator, unit_id, pupils, value from int_unit_indicator_values
    union all
    select county_code, year, stage, scheme, indicator, unit_id, pupils, value from int_school_share_values
),

with_mean as (
    select
        *,
        sum(pupils * value) over cell / sum(pupils) over cell as mean
    from unit_values
    window cell as (partition by county_code, year, stage, scheme, indicator)
),

aggregated as (
    select
        county_code,
        year,
        stage,
        scheme,
        indicator,
        count(*) as units,
        cast(sum(pupils) as bigint) as students,
        max(mean) as mean,
        sqrt(sum(pupils * (value - mean) * (value - mean)) / sum(pupils)) as sd
    from with_mean
    group by county_code, year, stage, scheme, indicator
)

select *, sd / nullif(mean, 0) as cv from aggregated
