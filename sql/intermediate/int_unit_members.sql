-- int_unit_members: which school-stage unit each school's stage belongs to (teaching points by the teaching_points setting).
-- Grain: one row per (year, school_code, stage) of every school and the stages its type teaches.
-- Inputs: int_schools, ref_school_type_stages, ref_settings, int_pupils_by_school_stage, int_teachers_by_school_stage, stg_facilities
-- Methodology: §1 — nine-year, twelve-year and complete schools split by stage (a part exists when the school reports pupils, teachers or facilities for that stage); teaching points merge_into_parent (default: into the parent's primary unit), separate, or exclude
-- Checks: unique (year, school_code, stage)
with

settings as (
    select teaching_points from ref_settings
),

stage_counts as (
    select school_type, count(*) as stages from ref_school_type_stages group by school_type
),

-- What a school reports for a stage (a whole-school facilities row speaks for no stage in particular).
reported as (
    select year, school_code, stage from int_pupils_by_school_stage
    union
    select year, school_code, stage from int_teachers_by_school_stage where stage is not null
    union
    select year, school_code, stage from stg_facilities where stage is not null
),

school_stages as (
    select s.*, t.stage
    from int_schools as s
    join ref_school_type_stages as t on s.school_type = t.school_type
    join stage_counts as c on s.school_type = c.school_type
    left join reported as r on s.year = r.year and s.school_code = r.school_code and t.stage = r.stage
    where c.stages = 1 or r.stage is not null
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
