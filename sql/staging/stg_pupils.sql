-- stg_pupils: pupils by school, grade and year, with the stage each grade belongs to.
-- Grain: one row per (year, school_code, grade).
-- Inputs: pupils (staging Parquet; stage set by grade and the county's school system)
-- Methodology: §4 (stage enrolment), inputs.md pupils
-- Checks: unique (year, school_code, grade)
select
    county_code,
    year,
    school_code,
    grade,
    stage,
    students,
    classes,
    entrants,
    graduates,
    dropouts,
    transfers_in,
    transfers_out,
    left_behind,
    migrant,
    special_needs,
    largest_class,
    entrants_in_catchment,
    source_uri,
    source_row
from pupils
