-- standards_gap: 差距清单 — what each school-stage unit lacks to reach each quality standard it misses: teachers to hire, m² to build, 元 of equipment to buy, classrooms to equip.
-- Grain: one row per (year, unit_id, indicator), only where the unit's value is below its standard.
-- Inputs: school_standards, int_unit_indicators, int_thresholds_wide, ref_indicators
-- Methodology: assessment.md §3 — for units in the standards test (school_standards), indicators q1–q7 whose value X_i is below the standard: required = standard × P_i ÷ (100 for the per-100-pupils indicators, else 1), computed exactly in decimals and rounded up for counts (teachers, classrooms); shortfall = required − quantity (the unit's numerator)
-- Checks: unique (year, unit_id, indicator); not_null (county_code, year, unit_id, school_code, stage, indicator, students, value, standard, required, shortfall); shortfall > 0
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   unit_id | 学校学段单位 | | <school_code>:<stage>
--   school_code | 学校标识码 | | the unit's school
--   school_name | 学校名称 | | its name
--   stage | 学段 | | primary or junior
--   indicator | 指标 | | q1…q7
--   indicator_name | 指标名称 | | the indicator in Chinese
--   unit | 单位 | | teachers, m², 元 or classrooms: what quantity, required and shortfall count
--   students | 在校生数 | 人 | P_i, the unit's pupils
--   value | 数值 | | X_i, the unit's value of the indicator
--   standard | 标准 | | the standard of the stage (q1_standard … q7_standard)
--   quantity | 现有数量 | | the unit's numerator: teachers, m², 元 or classrooms it has
--   required | 应达数量 | | standard × P_i ÷ (100 or 1), rounded up for teachers and classrooms
--   shortfall | 缺口 | | required − quantity: what closing the gap takes
with

units as (
    select s.county_code, s.year, s.unit_id, s.school_code, s.school_name, s.stage, s.students, u.*
    from school_standards as s
    join int_unit_indicators as u on s.year = u.year and s.unit_id = u.unit_id
    where s.in_standards_test
),

long as (
    select
        u.county_code,
        u.year,
        u.unit_id,
        u.school_code,
        u.school_name,
        u.stage,
        i.indicator,
        i.name_zh as indicator_name,
        i.quantity_kind,
        cast(i.per_pupils as bigint) as per_pupils,
        u.students,
        case i.indicator
            when 'q1' then u.q1 when 'q2' then u.q2 when 'q3' then u.q3 when 'q4' then u.q4
            when 'q5' then u.q5 when 'q6' then u.q6 when 'q7' then u.q7
        end as value,
        case i.indicator
            when 'q1' then t.q1_standard when 'q2' then t.q2_standard when 'q3' then t.q3_standard
            when 'q4' then t.q4_standard when 'q5' then t.q5_standard when 'q6' then t.q6_standard
            when 'q7' then t.q7_standard
        end as standard,
        case i.numerator
            when 'teachers_above_degree' then cast(u.teachers_above_degree as double)
            when 'backbone_teachers' then cast(u.backbone_teachers as double)
            when 'pe_arts_teachers' then cast(u.pe_arts_teachers as double)
            when 'teaching_aux_area_m2' then u.teaching_aux_area_m2
            when 'sports_area_m2' then u.sports_area_m2
            when 'equipment_value' then u.equipment_value
            when 'multimedia_classrooms' then cast(u.multimedia_classrooms as double)
        end as quantity
    from units as u
    cross join ref_indicators as i
    join int_thresholds_wide as t on u.stage = t.stage
    where i.scheme = 'quality'
),

-- Exact decimals: the standard and the quantity in millionths (integers), so 4.2 × 500 ÷ 100 is 21.
scaled as (
    select
        *,
        cast(round(standard * 1000000) as bigint) * students as required_scaled,
        cast(round(quantity * 1000000) as bigint) * per_pupils as quantity_scaled,
        per_pupils * 1000000 as scale
    from long
    where value is not null
),

-- Below the standard, decided on the exact values: quantity × (100 or 1) < standard × P_i.
exact as (
    select * from scaled where quantity_scaled < required_scaled
),

final as (
    select
        county_code,
        year,
        unit_id,
        school_code,
        school_name,
        stage,
        indicator,
        indicator_name,
        case quantity_kind when 'area' then 'm²' when 'money' then '元'
            when 'count' then case when indicator = 'q7' then 'classrooms' else 'teachers' end end as unit,
        students,
        value,
        standard,
        quantity,
        -- Counts are rounded up: ceil of a quotient of integers below 2^53, exact in doubles (a
        -- whole quotient is represented exactly; any other is at least 1 ÷ scale from a whole
        -- number). Written this way, not as (a + b − 1) / b, because engines differ on integer
        -- division (DataFusion truncates, DuckDB does not) and the SQL runs on both.
        case
            when quantity_kind = 'count' then ceil(cast(required_scaled as double) / scale)
            else cast(required_scaled as double) / scale
        end as required,
        case
            when quantity_kind = 'count' then ceil(cast(required_scaled as double) / scale) - quantity
            else cast(required_scaled - quantity_scaled as double) / scale
        end as shortfall
    from exact
)

select * from final
order by county_code, year, unit_id, indicator
