-- stg_finance: the county's education finance per fiscal year, money (元) as double for arithmetic.
-- Grain: one row per (county_code, year).
-- Inputs: finance (staging Parquet)
-- Methodology: §5
-- Checks: unique (county_code, year)
select
    county_code,
    year,
    cast(recurrent_revenue as double) as recurrent_revenue,
    cast(education_appropriation as double) as education_appropriation,
    cast(exp_per_pupil_primary as double) as exp_per_pupil_primary,
    cast(exp_per_pupil_junior as double) as exp_per_pupil_junior,
    cast(public_funds_per_pupil_primary as double) as public_funds_per_pupil_primary,
    cast(public_funds_per_pupil_junior as double) as public_funds_per_pupil_junior,
    cast(avg_teacher_salary as double) as avg_teacher_salary,
    cast(general_education_expenditure as double) as general_education_expenditure,
    cast(arrears_committed as double) as arrears_committed,
    cast(arrears_repaid as double) as arrears_repaid,
    source_uri,
    source_row
from finance
