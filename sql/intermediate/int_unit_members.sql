-- int_unit_members: which school-stage unit each school's stage belongs to (teaching points by the teaching_points setting).
-- Grain: one row per (year, school_code, stage) of every school and the stages its type teaches.
-- Inputs: stg_schools, ref_school_type_stages, ref_settings
-- Methodology: §1 — nine-year, twelve-year and complete schools split by stage; teaching points merge_into_parent (default: into the parent's primary unit), separate, or exclude
-- Checks: unique (year, school_code, stage)
with

settings as (
    select teaching_points from ref_settings
),

school_stages as (
    select s.*, t.stage
    from stg_schools as s
    join ref_school_type_stages as t on s.school_type = t.school_type
),

final as (
    select
        ss.county_code,
        ss.year,
        ss.school_code,
        ss.school_type,
        ss.stage,
        case
            when ss.school_type = 'teaching_point' and settings.teaching_points = 'merge_into_parent'
                then coalesce(ss.parent_school_code, ss.school_code)
            else ss.school_code
        end as unit_school_code,
        ss.school_type = 'teaching_point' and settings.teaching_points = 'exclude' as excluded_teaching_point
    from school_stages as ss
    cross join settings
)

select *, unit_school_code || ':' || stage as unit_id from final
