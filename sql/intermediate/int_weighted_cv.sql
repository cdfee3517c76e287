-- int_weighted_cv: the enrolment-weighted difference coefficient of any per-pupil measure across units.
-- Grain: one row per (county_code, year, stage, scheme, indicator).
-- Inputs: int_unit_cv_terms
-- Methodology: §2 — S = sqrt(Σ (P_i/P)(X_i − X̄)²); CV = S / X̄ (the terms are int_unit_cv_terms)
-- Checks: unique (county_code, year, stage, scheme, indicator)
with

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
        sqrt(sum(term)) as sd
    from int_unit_cv_terms
    group by county_code, year, stage, scheme, indicator
)

select *, sd / nullif(mean, 0) as cv from aggregated
