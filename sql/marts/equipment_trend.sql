-- equipment_trend: equipment, computers, books, rooms and grounds per pupil of each stage, year on year, with equipment investment.
-- Grain: one row per (county_code, year, stage); stage is primary, junior or all.
-- Inputs: int_unit_indicators, int_investments_by_year, int_thresholds_wide
-- Methodology: §6 — ratios of totals over the balance units (public, with pupils), i.e. the weighted means X̄ of §2; pupils per computer (生机比 N:1) = pupils ÷ computers; building area per pupil against the provincial standard when a pipeline sets building_area_per_pupil_min
-- Checks: unique (county_code, year, stage); not_null (county_code, year, stage)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   stage | 学段 | | primary, junior or all
--   units | 学校数 | 个 | balance units counted
--   students | 在校生数 | 人 | their pupils
--   equipment_value | 教学仪器设备值 | 元 | total equipment value
--   equipment_value_per_pupil | 生均教学仪器设备值 | 元/生 | equipment_value ÷ students
--   computers | 计算机台数 | 台 | total computers
--   computers_per_100 | 每百名学生拥有计算机台数 | 台/百生 | 100 × computers ÷ students
--   pupils_per_computer | 生机比 | 生/台 | students ÷ computers
--   books_per_pupil | 生均图书册数 | 册/生 | books ÷ students
--   multimedia_classrooms_per_100 | 每百名学生拥有网络多媒体教室数 | 间/百生 | 100 × multimedia classrooms ÷ students
--   building_area_per_pupil | 生均校舍建筑面积 | 平方米/生 | building floor area ÷ students
--   building_area_per_pupil_min | 生均校舍建筑面积标准 | 平方米/生 | the provincial standard of the stage, when the pipeline sets one
--   building_area_meets_standard | 生均校舍建筑面积达标 | | building_area_per_pupil ≥ building_area_per_pupil_min
--   teaching_aux_area_per_pupil | 生均教学及辅助用房面积 | 平方米/生 | teaching and auxiliary floor area ÷ students
--   sports_area_per_pupil | 生均体育运动场馆面积 | 平方米/生 | sports grounds and halls ÷ students
--   equipment_investment | 教学仪器设备购置投入 | 元 | equipment and ICT investment this year (stage all only; investments are not split by stage)
--   units_added | 增添设备台套 | 台套 | equipment units added this year (stage all only)
--   equipment_value_change_rate | 生均仪器设备值增长率 | 比率 | year-on-year change of equipment_value_per_pupil (null in a series' first year)
with

units as (
    select * from int_unit_indicators where in_balance
),

by_stage as (
    select
        county_code,
        year,
        coalesce(stage, 'all') as stage,
        count(*) as units,
        sum(students) as students,
        sum(equipment_value) as equipment_value,
        sum(computers) as computers,
        sum(books) as books,
        sum(multimedia_classrooms) as multimedia_classrooms,
        sum(building_area_m2) as building_area_m2,
        sum(teaching_aux_area_m2) as teaching_aux_area_m2,
        sum(sports_area_m2) as sports_area_m2
    from units
    group by grouping sets ((county_code, year, stage), (county_code, year))
),

ratios as (
    select
        b.county_code,
        b.year,
        b.stage,
        b.units,
        b.students,
        b.equipment_value,
        b.equipment_value / nullif(b.students, 0) as equipment_value_per_pupil,
        b.computers,
        100.0 * b.computers / nullif(b.students, 0) as computers_per_100,
        cast(b.students as double) / nullif(b.computers, 0) as pupils_per_computer,
        cast(b.books as double) / nullif(b.students, 0) as books_per_pupil,
        100.0 * b.multimedia_classrooms / nullif(b.students, 0) as multimedia_classrooms_per_100,
        b.building_area_m2 / nullif(b.students, 0) as building_area_per_pupil,
        t.building_area_per_pupil_min,
        b.building_area_m2 / nullif(b.students, 0) >= t.building_area_per_pupil_min as building_area_meets_standard,
        b.teaching_aux_area_m2 / nullif(b.students, 0) as teaching_aux_area_per_pupil,
        b.sports_area_m2 / nullif(b.students, 0) as sports_area_per_pupil,
        case when b.stage = 'all' then i.investment_equipment + i.investment_ict end as equipment_investment,
        case when b.stage = 'all' then i.units_added end as units_added
    from by_stage as b
    left join int_investments_by_year as i on b.county_code = i.county_code and b.year = i.year
    left join int_thresholds_wide as t on b.stage = t.stage
),

final as (
    select
        cur.*,
        case when prev.year = cur.year - 1 then
            (cur.equipment_value_per_pupil - prev.equipment_value_per_pupil) / nullif(prev.equipment_value_per_pupil, 0)
        end as equipment_value_change_rate
    from ratios as cur
    left join ratios as prev on prev.county_code = cur.county_code and prev.stage = cur.stage and prev.year = cur.year - 1
)

select * from final
order by county_code, year, stage
