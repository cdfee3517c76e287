-- stg_school_funds: each school's public funds budget and teacher training expenditure, as submitted and normalised.
-- Grain: one row per (year, school_code).
-- Inputs: school_funds (staging Parquet)
-- Methodology: assessment.md §1 school_funds; §2 g6 and e4
-- Checks: unique (year, school_code); public_funds_budget > 0
select
    county_code,
    year,
    school_code,
    cast(public_funds_budget as double) as public_funds_budget,
    cast(training_expenditure as double) as training_expenditure,
    source_uri,
    source_row
from school_funds
