-- stg_survey: the public satisfaction survey of a county's year.
-- Grain: one row per (county_code, year).
-- Inputs: survey (staging Parquet)
-- Methodology: §3 (satisfaction ≥ {satisfaction_min})
-- Checks: unique (county_code, year)
select
    county_code,
    year,
    questionnaires,
    valid_questionnaires,
    satisfied,
    source_uri,
    source_row
from survey
