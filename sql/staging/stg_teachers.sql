-- stg_teachers: teaching staff by school, stage and year.
-- Grain: one row per (year, school_code, stage).
-- Inputs: teachers (staging Parquet; stage filled for single-stage schools)
-- Methodology: §2 (b6–b8), §3 (q1–q3), inputs.md teachers; a multi-stage school's row without a stage keeps it empty here (int_teachers_by_school_stage apportions it)
-- Checks: unique (year, school_code, stage)
select
    county_code,
    year,
    school_code,
    stage,
    posts_established,
    staff_on_payroll,
    full_time_teachers,
    teachers_above_degree,
    teachers_mid_senior_title,
    backbone_teachers,
    pe_arts_teachers,
    teachers_exchanged,
    backbone_exchanged,
    certified_teachers,
    trained_360h,
    exchange_eligible,
    source_uri,
    source_row
from teachers
