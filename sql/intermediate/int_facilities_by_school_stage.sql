-- int_facilities_by_school_stage: a school's facilities in one stage; a multi-stage school's facilities reported without a stage are apportioned by weighted enrolment.
-- Grain: one row per (year, school_code, stage).
-- Inputs: stg_facilities, int_schools, ref_school_type_stages, int_pupils_by_school_stage, ref_settings
-- Methodology: §1 — share_primary = P_pri / (P_pri + w·P_jun), share_junior = w·P_jun / (P_pri + w·P_jun), w = apportion_junior_weight, using the school's own pupils (before teaching points are merged)
-- Checks: unique (year, school_code, stage)
with

weight as (
    select apportion_junior_weight as w from ref_settings
),

own_pupils as (
    select
        year,
        school_code,
        coalesce(sum(case when stage = 'primary' then students end), 0) as p_primary,
        coalesce(sum(case when stage = 'junior' then students end), 0) as p_junior
    from int_pupils_by_school_stage
    group by year, school_code
),

by_stage as (
    select year, school_code, stage, 1.0 as share,
        site_area_m2, building_area_m2, teaching_aux_area_m2, sports_area_m2, equipment_value, books, computers, multimedia_classrooms
    from stg_facilities
    where stage is not null
),

apportioned as (
    select
        f.year,
        f.school_code,
        t.stage,
        case t.stage
            when 'primary' then p.p_primary / nullif(p.p_primary + weight.w * p.p_junior, 0)
            else weight.w * p.p_junior / nullif(p.p_primary + weight.w * p.p_junior, 0)
        end as share,
        f.site_area_m2, f.building_area_m2, f.teaching_aux_area_m2, f.sports_area_m2, f.equipment_value, f.books, f.computers, f.multimedia_classrooms
    from stg_facilities as f
    join int_schools as s on f.year = s.year and f.school_code = s.school_code
    join ref_school_type_stages as t on s.school_type = t.school_type
    left join own_pupils as p on f.year = p.year and f.school_code = p.school_code
    cross join weight
    where f.stage is null
),

parts as (
    select * from by_stage
    union all
    select * from apportioned
),

final as (
    select
        year,
        school_code,
        stage,
        sum(share * site_area_m2) as site_area_m2,
        sum(share * building_area_m2) as building_area_m2,
        sum(share * teaching_aux_area_m2) as teaching_aux_area_m2,
        sum(share * sports_area_m2) as sports_area_m2,
        sum(share * equipment_value) as equipment_value,
        sum(share * books) as books,
        sum(share * computers) as computers,
        sum(share * multimedia_classrooms) as multimedia_classrooms
    from parts
    group by year, school_code, stage
)

select * from final
