-- int_pupils_with_school: pupils by school, grade and year with the school's type, area and ownership.
-- Grain: one row per (year, school_code, grade).
-- Inputs: stg_pupils, int_schools
-- Methodology: §4 (enrolment counts every school, private schools and teaching points included)
-- Checks: unique (year, school_code, grade)
with

pupils as (
    select * from stg_pupils
),

schools as (
    select year, school_code, school_name, school_type, area_type, is_public, parent_school_code
    from int_schools
),

final as (
    select
        pupils.*,
        schools.school_name,
        schools.school_type,
        schools.area_type,
        schools.is_public,
        schools.parent_school_code
    from pupils
    join schools
        on pupils.year = schools.year
        and pupils.school_code = schools.school_code
)

select * from final
