-- int_county_years: every (county, year) any table of a submission speaks of, with the county's name.
-- Grain: one row per (county_code, year).
-- Inputs: int_schools, stg_pupils, stg_finance, stg_survey, stg_investments
-- Checks: unique (county_code, year)
with

spine as (
    select county_code, year from int_schools
    union
    select county_code, year from stg_pupils
    union
    select county_code, year from stg_finance
    union
    select county_code, year from stg_survey
    union
    select county_code, year from stg_investments
),

names as (
    select county_code, max(county_name) as county_name
    from int_schools
    group by county_code
),

final as (
    select spine.county_code, names.county_name, spine.year
    from spine
    left join names on spine.county_code = names.county_code
)

select * from final
