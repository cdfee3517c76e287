-- school_indicators: every school-stage unit with its pupils, the eight basic and seven quality indicator values, and its class- and school-size flags.
-- Grain: one row per (year, unit_id); unit_id = <school_code>:<stage> (a nine-year school has two units; merged teaching points are listed in member_school_codes).
-- Inputs: int_unit_indicators, int_thresholds_wide
-- Methodology: §1 (units), §2 b1–b8, §3 q1–q7, class size ≤ {class_size_max}, 大班额 ≥ {large_class_min}, 超大班额 ≥ {huge_class_min}, school size ≤ {school_size_max} (≤ {school_size_max_multi_stage} nine-/twelve-year)
-- Checks: unique (year, unit_id); not_null (county_code, year, unit_id, stage, in_balance)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   unit_id | 学校学段单位 | | <school_code>:<stage>, the school-stage unit of methodology §1
--   school_code | 学校标识码 | | the school the unit belongs to (the parent, for merged teaching points)
--   stage | 学段 | | primary or junior
--   school_name | 学校名称 | | name of the school
--   school_type | 办学类型 | | type of the school
--   area_type | 城乡分类 | | urban, town or rural
--   is_public | 是否公办 | | false for private schools (out of balance indicators)
--   member_school_codes | 合并学校标识码 | | the school and the teaching points merged into the unit, comma-separated
--   teaching_points_merged | 合并教学点数 | 个 | teaching points merged into the unit
--   students | 在校生数 | 人 | P_i: pupils of the unit
--   school_students | 学校在校生数 | 人 | pupils of the whole school (all stages, without teaching points), for the school-size standard
--   classes | 班数 | 个 | classes of the unit
--   avg_class_size | 平均班额 | 人/班 | students ÷ classes
--   class_size_max | 班额标准 | 人/班 | standard class size of the stage (45 primary, 50 junior)
--   class_size_within_standard | 班额达标 | | avg_class_size ≤ class_size_max
--   large_classes | 大班额班数 | 个 | classes in grades averaging at least {large_class_min} pupils
--   huge_classes | 超大班额班数 | 个 | classes in grades averaging at least {huge_class_min} pupils
--   school_size_max | 学校规模标准 | 人 | {school_size_max} for a primary or junior school, {school_size_max_multi_stage} for a nine-year or twelve-year one
--   school_size_within_standard | 学校规模达标 | | school_students ≤ school_size_max
--   in_balance | 纳入均衡计算 | | public unit with pupils: counted in balance_cv
--   excluded_reason | 未纳入原因 | | private, no_pupils or teaching_point_excluded
--   full_time_teachers | 专任教师数 | 人 | numerator of b6
--   teachers_above_degree | 高于规定学历教师数 | 人 | numerator of b7 and q1
--   teachers_mid_senior_title | 中级及以上职称教师数 | 人 | numerator of b8
--   backbone_teachers | 县级及以上骨干教师数 | 人 | numerator of q2
--   pe_arts_teachers | 体育艺术专任教师数 | 人 | numerator of q3
--   teachers_exchanged | 交流轮岗教师数 | 人 | teachers exchanged
--   backbone_exchanged | 交流轮岗骨干教师数 | 人 | backbone teachers exchanged
--   site_area_m2 | 占地面积 | 平方米 | site area (apportioned for whole-school rows)
--   building_area_m2 | 校舍建筑面积 | 平方米 | building floor area (apportioned for whole-school rows)
--   building_area_per_pupil | 生均校舍建筑面积 | 平方米/生 | building_area_m2 ÷ students
--   building_area_per_pupil_min | 生均校舍建筑面积标准 | 平方米/生 | the provincial standard, when the pipeline sets one (e.g. 黑龙江 4.1 / 5.2)
--   building_area_within_standard | 生均校舍建筑面积达标 | | building_area_per_pupil ≥ building_area_per_pupil_min
--   teaching_aux_area_m2 | 教学及辅助用房面积 | 平方米 | numerator of b1 and q4 (apportioned for whole-school rows)
--   sports_area_m2 | 体育运动场馆面积 | 平方米 | numerator of b2 and q5
--   equipment_value | 教学仪器设备值 | 元 | numerator of b3 and q6
--   computers | 计算机台数 | 台 | numerator of b4
--   books | 图书册数 | 册 | numerator of b5
--   multimedia_classrooms | 网络多媒体教室数 | 间 | numerator of q7
--   b1 | 生均教学及辅助用房面积 | 平方米/生 | teaching_aux_area_m2 ÷ students
--   b2 | 生均体育运动场馆面积 | 平方米/生 | sports_area_m2 ÷ students
--   b3 | 生均教学仪器设备值 | 元/生 | equipment_value ÷ students
--   b4 | 每百名学生拥有计算机台数 | 台/百生 | 100 × computers ÷ students
--   b5 | 生均图书册数 | 册/生 | books ÷ students
--   b6 | 师生比 | 人/生 | full_time_teachers ÷ students
--   b7 | 生均高于规定学历教师数 | 人/生 | teachers_above_degree ÷ students
--   b8 | 生均中级及以上专业技术职务教师数 | 人/生 | teachers_mid_senior_title ÷ students
--   q1 | 每百名学生拥有高于规定学历教师数 | 人/百生 | 100 × teachers_above_degree ÷ students
--   q2 | 每百名学生拥有县级以上骨干教师数 | 人/百生 | 100 × backbone_teachers ÷ students
--   q3 | 每百名学生拥有体育、艺术专任教师数 | 人/百生 | 100 × pe_arts_teachers ÷ students
--   q4 | 生均教学及辅助用房面积 | 平方米/生 | teaching_aux_area_m2 ÷ students
--   q5 | 生均体育运动场馆面积 | 平方米/生 | sports_area_m2 ÷ students
--   q6 | 生均教学仪器设备值 | 元/生 | equipment_value ÷ students
--   q7 | 每百名学生拥有网络多媒体教室数 | 间/百生 | 100 × multimedia_classrooms ÷ students
with

units as (
    select * from int_unit_indicators
),

limits as (
    select
        t.stage,
        t.class_size_max,
        t.building_area_per_pupil_min,
        t.school_size_max,
        a.school_size_max_multi_stage
    from int_thresholds_wide as t
    cross join (select school_size_max_multi_stage from int_thresholds_wide where stage = 'all') as a
),

final as (
    select
        u.county_code,
        u.year,
        u.unit_id,
        u.school_code,
        u.stage,
        u.school_name,
        u.school_type,
        u.area_type,
        u.is_public,
        u.member_school_codes,
        u.teaching_points_merged,
        u.students,
        u.school_students,
        u.classes,
        cast(u.students as double) / nullif(u.classes, 0) as avg_class_size,
        l.class_size_max,
        cast(u.students as double) / nullif(u.classes, 0) <= l.class_size_max as class_size_within_standard,
        u.large_classes,
        u.huge_classes,
        case when u.school_type in ('nine_year', 'twelve_year') then l.school_size_max_multi_stage else l.school_size_max end as school_size_max,
        u.school_students <= case when u.school_type in ('nine_year', 'twelve_year') then l.school_size_max_multi_stage else l.school_size_max end
            as school_size_within_standard,
        u.in_balance,
        u.excluded_reason,
        u.full_time_teachers,
        u.teachers_above_degree,
        u.teachers_mid_senior_title,
        u.backbone_teachers,
        u.pe_arts_teachers,
        u.teachers_exchanged,
        u.backbone_exchanged,
        u.site_area_m2,
        u.building_area_m2,
        u.building_area_per_pupil,
        l.building_area_per_pupil_min,
        u.building_area_per_pupil >= l.building_area_per_pupil_min as building_area_within_standard,
        u.teaching_aux_area_m2,
        u.sports_area_m2,
        u.equipment_value,
        u.computers,
        u.books,
        u.multimedia_classrooms,
        u.b1, u.b2, u.b3, u.b4, u.b5, u.b6, u.b7, u.b8,
        u.q1, u.q2, u.q3, u.q4, u.q5, u.q6, u.q7
    from units as u
    left join limits as l on u.stage = l.stage
)

select * from final
order by county_code, year, unit_id
