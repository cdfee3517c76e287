-- int_unit_indicators: every school-stage unit with its pupils, numerators and the fifteen indicator values X_i.
-- Grain: one row per (year, unit_id); unit_id = <school_code>:<stage>.
-- Inputs: int_unit_members, int_pupils_by_school_stage, int_teachers_by_school_stage, int_facilities_by_school_stage, int_schools
-- Methodology: §1 (units: teaching points merged, private schools and units without pupils kept but out of balance); §2 b1–b8; §3 q1–q7 (X_i formulas, the only place they are written)
-- Checks: unique (year, unit_id); not_null (is_public)
with

members as (
    select * from int_unit_members
),

member_numbers as (
    select
        m.county_code,
        m.year,
        m.unit_id,
        m.unit_school_code,
        m.stage,
        m.school_code,
        m.school_type,
        m.excluded_teaching_point,
        coalesce(p.students, 0) as students,
        coalesce(p.classes, 0) as classes,
        p.large_classes,
        p.huge_classes,
        t.full_time_teachers,
        t.teachers_above_degree,
        t.teachers_mid_senior_title,
        t.backbone_teachers,
        t.pe_arts_teachers,
        t.teachers_exchanged,
        t.backbone_exchanged,
        f.site_area_m2,
        f.building_area_m2,
        f.teaching_aux_area_m2,
        f.sports_area_m2,
        f.equipment_value,
        f.computers,
        f.books,
        f.multimedia_classrooms
    from members as m
    left join int_pupils_by_school_stage as p
        on m.year = p.year and m.school_code = p.school_code and m.stage = p.stage
    left join int_teachers_by_school_stage as t
        on m.year = t.year and m.school_code = t.school_code and m.stage = t.stage
    left join int_facilities_by_school_stage as f
        on m.year = f.year and m.school_code = f.school_code and m.stage = f.stage
),

units as (
    select
        county_code,
        year,
        unit_id,
        unit_school_code,
        stage,
        count(*) as members,
        max(school_code) as only_member,
        sum(case when school_type = 'teaching_point' and school_code <> unit_school_code then 1 else 0 end) as teaching_points_merged,
        bool_or(excluded_teaching_point) as excluded_teaching_point,
        sum(students) as students,
        sum(classes) as classes,
        coalesce(sum(large_classes), 0) as large_classes,
        coalesce(sum(huge_classes), 0) as huge_classes,
        sum(full_time_teachers) as full_time_teachers,
        sum(teachers_above_degree) as teachers_above_degree,
        sum(teachers_mid_senior_title) as teachers_mid_senior_title,
        sum(backbone_teachers) as backbone_teachers,
        sum(pe_arts_teachers) as pe_arts_teachers,
        sum(teachers_exchanged) as teachers_exchanged,
        sum(backbone_exchanged) as backbone_exchanged,
        sum(site_area_m2) as site_area_m2,
        sum(building_area_m2) as building_area_m2,
        sum(teaching_aux_area_m2) as teaching_aux_area_m2,
        sum(sports_area_m2) as sports_area_m2,
        sum(equipment_value) as equipment_value,
        sum(computers) as computers,
        sum(books) as books,
        sum(multimedia_classrooms) as multimedia_classrooms
    from member_numbers
    group by county_code, year, unit_id, unit_school_code, stage
),

-- The member list is joined in order only for units that merged teaching points: an ordered
-- string_agg over every unit makes the engine sort the whole table (gigabytes nationally).
merged_units as (
    select county_code, year, unit_id, stage
    from members
    group by county_code, year, unit_id, stage
    having count(*) > 1
),

member_lists as (
    select m.year, m.unit_id, string_agg(m.school_code, ',' order by m.school_code) as member_school_codes
    from members as m
    join merged_units as g
        on m.county_code = g.county_code and m.year = g.year and m.unit_id = g.unit_id and m.stage = g.stage
    group by m.year, m.unit_id
),

main_school as (
    select year, school_code, school_name, school_type, area_type, is_public from int_schools
),

school_size as (
    select year, school_code, sum(students) as school_students
    from int_pupils_by_school_stage
    group by year, school_code
),

final as (
    select
        u.county_code,
        u.year,
        u.unit_id,
        u.unit_school_code as school_code,
        u.stage,
        s.school_name,
        s.school_type,
        s.area_type,
        s.is_public,
        case when u.members > 1 then l.member_school_codes else u.only_member end as member_school_codes,
        u.teaching_points_merged,
        u.students,
        coalesce(z.school_students, 0) as school_students,
        u.classes,
        u.large_classes,
        u.huge_classes,
        case
            when u.excluded_teaching_point then 'teaching_point_excluded'
            when not s.is_public then 'private'
            when u.students = 0 then 'no_pupils'
        end as excluded_reason,
        u.full_time_teachers,
        u.teachers_above_degree,
        u.teachers_mid_senior_title,
        u.backbone_teachers,
        u.pe_arts_teachers,
        u.teachers_exchanged,
        u.backbone_exchanged,
        u.site_area_m2,
        u.building_area_m2,
        u.teaching_aux_area_m2,
        u.sports_area_m2,
        u.equipment_value,
        u.computers,
        u.books,
        u.multimedia_classrooms,
        u.building_area_m2 / nullif(u.students, 0) as building_area_per_pupil,
        -- X_i of methodology §2 (basic) and §3 (quality); null for a unit without pupils.
        u.teaching_aux_area_m2 / nullif(u.students, 0) as b1,
        u.sports_area_m2 / nullif(u.students, 0) as b2,
        u.equipment_value / nullif(u.students, 0) as b3,
        100.0 * u.computers / nullif(u.students, 0) as b4,
        cast(u.books as double) / nullif(u.students, 0) as b5,
        cast(u.full_time_teachers as double) / nullif(u.students, 0) as b6,
        cast(u.teachers_above_degree as double) / nullif(u.students, 0) as b7,
        cast(u.teachers_mid_senior_title as double) / nullif(u.students, 0) as b8,
        100.0 * u.teachers_above_degree / nullif(u.students, 0) as q1,
        100.0 * u.backbone_teachers / nullif(u.students, 0) as q2,
        100.0 * u.pe_arts_teachers / nullif(u.students, 0) as q3,
        u.teaching_aux_area_m2 / nullif(u.students, 0) as q4,
        u.sports_area_m2 / nullif(u.students, 0) as q5,
        u.equipment_value / nullif(u.students, 0) as q6,
        100.0 * u.multimedia_classrooms / nullif(u.students, 0) as q7
    from units as u
    left join member_lists as l on u.year = l.year and u.unit_id = l.unit_id
    left join main_school as s on u.year = s.year and u.unit_school_code = s.school_code
    left join school_size as z on u.year = z.year and u.unit_school_code = z.school_code
)

select *, excluded_reason is null as in_balance from final
