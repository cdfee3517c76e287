-- stg_monitoring: the national quality monitoring results a county received, by subject and grade, as submitted and normalised.
-- Grain: one row per (county_code, year, subject, grade).
-- Inputs: monitoring (staging Parquet)
-- Methodology: assessment.md §1 monitoring; §2 e9
-- Checks: unique (county_code, year, subject, grade); level between 1 and 4; difference_rate >= 0
select
    county_code,
    year,
    subject,
    grade,
    level,
    difference_rate,
    source_uri,
    source_row
from monitoring
