-- school_standards: each school-stage unit against the seven quality standards (at least {standards_min_reached} reached and the rest at least {standards_other_min_ratio} of theirs).
-- Grain: one row per (year, unit_id).
-- Inputs: int_unit_indicators, int_thresholds_wide, ref_indicators
-- Methodology: §3 — standards q1–q7 per stage; a unit meets them when all reach their standard, or at least {standards_min_reached} do and the rest reach ≥ {standards_other_min_ratio} of theirs; teaching points with fewer than {standards_min_pupils_teaching_point} pupils (when they are units of their own) are outside the test
-- Checks: unique (year, unit_id); standards_met between 0 and (select count(*) from ref_indicators where scheme = 'quality')
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   unit_id | 学校学段单位 | | <school_code>:<stage>
--   school_code | 学校标识码 | | the unit's school
--   school_name | 学校名称 | | name of the school
--   stage | 学段 | | primary or junior
--   students | 在校生数 | 人 | pupils of the unit
--   in_standards_test | 纳入达标评估 | | public unit with pupils, not a teaching point below the pupil minimum
--   q1_ratio | 高于规定学历教师达标率 | 比率 | q1 ÷ its standard
--   q2_ratio | 骨干教师达标率 | 比率 | q2 ÷ its standard
--   q3_ratio | 体育艺术教师达标率 | 比率 | q3 ÷ its standard
--   q4_ratio | 教学及辅助用房达标率 | 比率 | q4 ÷ its standard
--   q5_ratio | 体育运动场馆达标率 | 比率 | q5 ÷ its standard
--   q6_ratio | 教学仪器设备值达标率 | 比率 | q6 ÷ its standard
--   q7_ratio | 网络多媒体教室达标率 | 比率 | q7 ÷ its standard
--   standards_met | 达标指标数 | 个 | quality indicators at or above their standard
--   lowest_ratio | 最低达标率 | 比率 | the smallest of the seven ratios
--   meets_standards | 达到标准 | | standards_met = every quality indicator, or at least {standards_min_reached} with lowest_ratio ≥ {standards_other_min_ratio}; null when an indicator is unknown or the unit is outside the test
with

units as (
    select * from int_unit_indicators
),

ratios as (
    select
        u.county_code,
        u.year,
        u.unit_id,
        u.school_code,
        u.school_name,
        u.stage,
        u.students,
        u.in_balance
            and not (u.school_type = 'teaching_point' and u.students < a.standards_min_pupils_teaching_point)
            as in_standards_test,
        u.q1 / t.q1_standard as q1_ratio,
        u.q2 / t.q2_standard as q2_ratio,
        u.q3 / t.q3_standard as q3_ratio,
        u.q4 / t.q4_standard as q4_ratio,
        u.q5 / t.q5_standard as q5_ratio,
        u.q6 / t.q6_standard as q6_ratio,
        u.q7 / t.q7_standard as q7_ratio,
        a.standards_min_reached,
        a.standards_other_min_ratio
    from units as u
    left join int_thresholds_wide as t on u.stage = t.stage
    cross join (
        select standards_min_reached, standards_other_min_ratio, standards_min_pupils_teaching_point
        from int_thresholds_wide where stage = 'all'
    ) as a
),

-- How many quality indicators there are (q1–q7): all of them reached is the first way to pass.
quality_count as (
    select count(*) as quality_indicators from ref_indicators where scheme = 'quality'
),

counted as (
    select
        *,
        (case when q1_ratio >= 1 then 1 else 0 end) + (case when q2_ratio >= 1 then 1 else 0 end)
            + (case when q3_ratio >= 1 then 1 else 0 end) + (case when q4_ratio >= 1 then 1 else 0 end)
            + (case when q5_ratio >= 1 then 1 else 0 end) + (case when q6_ratio >= 1 then 1 else 0 end)
            + (case when q7_ratio >= 1 then 1 else 0 end) as standards_met,
        least(q1_ratio, q2_ratio, q3_ratio, q4_ratio, q5_ratio, q6_ratio, q7_ratio) as lowest_ratio,
        q1_ratio is not null and q2_ratio is not null and q3_ratio is not null and q4_ratio is not null
            and q5_ratio is not null and q6_ratio is not null and q7_ratio is not null as all_known
    from ratios
),

final as (
    select
        county_code,
        year,
        unit_id,
        school_code,
        school_name,
        stage,
        students,
        in_standards_test,
        q1_ratio, q2_ratio, q3_ratio, q4_ratio, q5_ratio, q6_ratio, q7_ratio,
        standards_met,
        lowest_ratio,
        case
            when in_standards_test and all_known then
                standards_met >= quality_indicators
                or (standards_met >= standards_min_reached and lowest_ratio >= standards_other_min_ratio)
        end as meets_standards
    from counted
    cross join quality_count
)

select * from final
order by county_code, year, unit_id
