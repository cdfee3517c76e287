-- school_conditions: each public school and teaching point against the school-level items of the quality-balance assessment — special rooms (g3), school size (g4), class size (g5), small schools' funding (g6), teacher training funds (e4) and catchment admission (g13).
-- Grain: one row per (year, school_code).
-- Inputs: int_schools, int_pupils_with_school, stg_facilities, stg_school_funds, stg_county_facts, int_thresholds_wide, ref_county_settings
-- Methodology: assessment.md §2 — g3 rooms_required = ⌈classes ÷ {special_rooms_classes}⌉ of each kind; g4 students ≤ {school_size_max} ({school_size_max_multi_stage} nine-/twelve-year); g5 every grade's largest_class ≤ {class_size_max}; g6 rural primary schools and teaching points with 0 < pupils < {small_school_funding_pupils}: budget ≥ that many × the primary benchmark; e4 training ≥ {training_budget_share_min} × budget. A check is null outside its group, or when a needed value was not reported; a known failure wins over a gap
-- Checks: unique (year, school_code); not_null (county_code, year, school_code); g3_met is null or g3_assessed; g4_met is null or g4_assessed; g6_met is null or g6_assessed; e4_met is null or e4_assessed
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   school_code | 学校标识码 | | the school or teaching point
--   school_name | 学校名称 | | its name
--   school_type | 办学类型 | | primary, junior, nine_year, teaching_point, complete_secondary or twelve_year
--   area_type | 城乡分类 | | urban, town or rural
--   classes | 班数 | 个 | Σ classes of the school's grades
--   music_rooms | 音乐专用教室数 | 间 | Σ over its facilities rows (null when any row did not report it)
--   art_rooms | 美术专用教室数 | 间 | Σ over its facilities rows (null when any row did not report it)
--   rooms_required | 应配专用教室数 | 间 | ⌈classes ÷ {special_rooms_classes}⌉ of each kind
--   g3_assessed | 纳入专用教室评估 | | a school (not a teaching point) with classes and a facilities row
--   g3_met | 专用教室达标 | | music_rooms ≥ rooms_required and art_rooms ≥ rooms_required
--   students | 在校生数 | 人 | Σ compulsory pupils of the school
--   size_limit | 规模上限 | 人 | {school_size_max}, or {school_size_max_multi_stage} for a nine-year or twelve-year school
--   g4_assessed | 纳入规模评估 | | a school (not a teaching point) with pupils
--   g4_met | 规模达标 | | students ≤ size_limit
--   grades_over_class_limit | 超标班额年级数 | 个 | grades with classes whose largest class exceeds the stage's {class_size_max}
--   g5_met | 班额达标 | | no grade over the limit (null when a grade with classes did not report largest_class and none is over)
--   public_funds_budget | 年度公用经费预算 | 元 | from school_funds
--   small_school_minimum | 小规模学校公用经费下限 | 元 | {small_school_funding_pupils} × the county's public_funds_benchmark_primary, for g6's schools
--   g6_assessed | 纳入小规模学校经费评估 | | a rural primary school or a teaching point with 0 < students < {small_school_funding_pupils} and a school_funds row
--   g6_met | 小规模学校经费达标 | | public_funds_budget ≥ small_school_minimum
--   training_expenditure | 教师培训经费 | 元 | from school_funds
--   training_share | 培训经费占比 | 比率 | training_expenditure ÷ public_funds_budget
--   e4_assessed | 纳入培训经费评估 | | a school or teaching point with a school_funds row
--   e4_met | 培训经费达标 | | training_share ≥ {training_budget_share_min}
--   catchment_entrants | 划片入学人数 | 人 | Σ entrants_in_catchment at the entry grades (g13's schools: urban or town, not boarding)
--   catchment_share | 划片入学比例 | 比率 | catchment_entrants ÷ the entry grades' entrants
with

schools as (
    select county_code, year, school_code, school_name, school_type, area_type, is_boarding
    from int_schools
    where is_public
),

limits as (
    select * from int_thresholds_wide where stage = 'all'
),

entry_grades as (
    select county_code, 1 as grade from ref_county_settings
    union all
    select county_code, last_primary_grade + 1 from ref_county_settings
),

pupils as (
    select
        p.year,
        p.school_code,
        sum(p.classes) as classes,
        sum(p.students) as students,
        sum(case when p.classes > 0 and p.largest_class > t.class_size_max then 1 else 0 end) as grades_over,
        sum(case when p.classes > 0 and p.largest_class is null then 1 else 0 end) as grades_unreported,
        sum(case when e.grade is not null then p.entrants_in_catchment end) as catchment_entrants,
        sum(case when e.grade is not null then p.entrants end) as entry_entrants,
        sum(case when e.grade is not null and (p.entrants_in_catchment is null or p.entrants is null) then 1 else 0 end)
            as entry_unreported
    from int_pupils_with_school as p
    join int_thresholds_wide as t on p.stage = t.stage
    left join entry_grades as e on p.county_code = e.county_code and p.grade = e.grade
    where p.is_public
    group by p.year, p.school_code
),

rooms as (
    select
        year,
        school_code,
        case when count(music_rooms) = count(*) then sum(music_rooms) end as music_rooms,
        case when count(art_rooms) = count(*) then sum(art_rooms) end as art_rooms
    from stg_facilities
    group by year, school_code
),

checked as (
    select
        s.county_code,
        s.year,
        s.school_code,
        s.school_name,
        s.school_type,
        s.area_type,
        s.is_boarding,
        p.classes,
        r.music_rooms,
        r.art_rooms,
        case when p.classes > 0 then cast(ceil(p.classes / l.special_rooms_classes) as bigint) end as rooms_required,
        s.school_type <> 'teaching_point' and p.classes > 0 and r.school_code is not null as g3_assessed,
        p.students,
        case when s.school_type in ('nine_year', 'twelve_year') then ts.school_size_max_multi_stage
            else ts.school_size_max end as size_limit,
        s.school_type <> 'teaching_point' and p.students > 0 as g4_assessed,
        p.grades_over as grades_over_class_limit,
        p.grades_unreported,
        f.public_funds_budget,
        f.training_expenditure,
        f.school_code is not null as has_funds,
        (s.school_type = 'teaching_point' or (s.school_type = 'primary' and s.area_type = 'rural'))
            and p.students > 0 and p.students < l.small_school_funding_pupils as g6_group,
        l.small_school_funding_pupils * c.public_funds_benchmark_primary as small_school_minimum,
        l.training_budget_share_min,
        s.area_type in ('urban', 'town') and not s.is_boarding as g13_group,
        p.catchment_entrants,
        p.entry_entrants,
        p.entry_unreported
    from schools as s
    cross join limits as l
    -- A school's size limit is its stage's: junior for junior and complete secondary schools.
    join int_thresholds_wide as ts
        on ts.stage = case when s.school_type in ('junior', 'complete_secondary') then 'junior' else 'primary' end
    left join pupils as p on s.year = p.year and s.school_code = p.school_code
    left join rooms as r on s.year = r.year and s.school_code = r.school_code
    left join stg_school_funds as f on s.year = f.year and s.school_code = f.school_code
    left join stg_county_facts as c on s.county_code = c.county_code and s.year = c.year
),

final as (
    select
        county_code,
        year,
        school_code,
        school_name,
        school_type,
        area_type,
        classes,
        music_rooms,
        art_rooms,
        rooms_required,
        coalesce(g3_assessed, false) as g3_assessed,
        case
            when not coalesce(g3_assessed, false) then null
            when music_rooms < rooms_required or art_rooms < rooms_required then false
            when music_rooms is null or art_rooms is null then null
            else true
        end as g3_met,
        students,
        size_limit,
        coalesce(g4_assessed, false) as g4_assessed,
        case when coalesce(g4_assessed, false) then students <= size_limit end as g4_met,
        grades_over_class_limit,
        case
            when coalesce(classes, 0) = 0 then null
            when grades_over_class_limit > 0 then false
            when grades_unreported > 0 then null
            else true
        end as g5_met,
        public_funds_budget,
        case when coalesce(g6_group, false) then small_school_minimum end as small_school_minimum,
        coalesce(g6_group and has_funds, false) as g6_assessed,
        case when coalesce(g6_group and has_funds, false) then public_funds_budget >= small_school_minimum end as g6_met,
        training_expenditure,
        training_expenditure / public_funds_budget as training_share,
        has_funds as e4_assessed,
        case when has_funds then training_expenditure >= training_budget_share_min * public_funds_budget end as e4_met,
        case when coalesce(g13_group, false) then catchment_entrants end as catchment_entrants,
        case when coalesce(g13_group, false) and entry_unreported = 0 then catchment_entrants / cast(nullif(entry_entrants, 0) as double) end
            as catchment_share
    from checked
)

select * from final
order by county_code, year, school_code
