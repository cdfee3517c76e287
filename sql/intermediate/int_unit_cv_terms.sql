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

weighted as (
    select
        *,
        pupils / sum(pupils) over cell as weight,
        sum(pupils * value) over cell / sum(pupils) over cell as mean
    from unit_values
    window cell as (partition by county_code, year, stage, scheme, indicator)
)

select *, weight * (value - mean) * (value - mean) as term from weighted
