-- int_schools: every school and teaching point of every year, its type derived from the stages it teaches where the source gives none.
-- Grain: one row per (year, school_code).
-- Inputs: stg_schools, stg_pupils
-- Methodology: inputs.md schools; §1 (private schools, teaching points); a school whose source gives no type (absent) is typed by the stages it teaches that year: both → nine_year, primary only → primary, junior only → junior, none → null (school_type_from_grades says so)
-- Checks: unique (year, school_code); not_null (is_public)
with

stages_taught as (
    select
        year,
        school_code,
        bool_or(stage = 'primary') as teaches_primary,
        bool_or(stage = 'junior') as teaches_junior
    from stg_pupils
    where students > 0
    group by year, school_code
)

select
    s.county_code,
    s.year,
    s.county_name,
    s.school_code,
    s.school_name,
    coalesce(
        s.school_type,
        case
            when t.teaches_primary and t.teaches_junior then 'nine_year'
            when t.teaches_junior then 'junior'
            when t.teaches_primary then 'primary'
        end
    ) as school_type,
    s.area_type,
    s.parent_school_code,
    -- Never null in staging: an empty cell is the contract's default (public), filled by normalise.
    s.is_public,
    s.is_boarding,
    s.is_standardised,
    s.school_type is null as school_type_from_grades,
    s.source_uri,
    s.source_row
from stg_schools as s
left join stages_taught as t on s.year = t.year and s.school_code = t.school_code
