-- int_school_share_values: each school's shares of left-behind, migrant and special-needs pupils, as per-pupil measures for the weighted CV.
-- Grain: one row per (year, school_code, indicator) for schools with pupils whose count is reported.
-- Inputs: int_pupils_with_school
-- Methodology: §4 (shares = count ÷ enrolment); the §2 weighted CV applied to how evenly these pupils are spread across schools
-- Checks: unique (year, unit_id, indicator)
with

schools as (
    select
        county_code,
        year,
        school_code,
        sum(students) as students,
        sum(left_behind) as left_behind,
        sum(migrant) as migrant,
        sum(special_needs) as special_needs
    from int_pupils_with_school
    group by county_code, year, school_code
),

long as (
    select county_code, year, 'all' as stage, 'equity' as scheme, 'left_behind_share' as indicator, school_code as unit_id,
        cast(students as double) as pupils, cast(left_behind as double) / students as value
    from schools where students > 0 and left_behind is not null
    union all
    select county_code, year, 'all', 'equity', 'migrant_share', school_code, cast(students as double), cast(migrant as double) / students
    from schools where students > 0 and migrant is not null
    union all
    select county_code, year, 'all', 'equity', 'special_needs_share', school_code, cast(students as double), cast(special_needs as double) / students
    from schools where students > 0 and special_needs is not null
)

select * from long
