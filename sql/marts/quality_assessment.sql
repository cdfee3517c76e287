-- quality_assessment: the quality-balance assessment (优质均衡, 教督〔2017〕6号) item by item — resources (q1–q7, the units meeting the standards), government (g1–g15), quality (e1–e9) and recognition (s1) — with each item's value, the rule it is held to and its status.
-- Grain: one row per (county_code, year, item, stage), for every year the county submitted schools.
-- Inputs: int_schools, stg_pupils, stg_teachers, stg_facilities, stg_finance, stg_survey, stg_school_funds, stg_county_facts, stg_monitoring, balance_cv, school_indicators, school_standards, school_conditions, retention, int_pupils_with_school, int_thresholds_wide, ref_assessment_items, ref_thresholds, ref_county_settings, ref_evidence
-- Methodology: assessment.md §2 — q1–q7 CV ≤ {quality_cv_max}; items counting schools or rows (q_units, g3, g4, g5, g6, e4, e9) met when every assessed unit meets (value = 1), not_met when any fails, not_reported when none fails and one lacks a value, not_applicable when none is assessed; county ratios met when value ≥ threshold, not_reported when a needed value is missing, not_applicable on a zero denominator of g7 (pupils), g11b, g14, g15, e2; a table the county did not submit that year makes its items not_reported; evidence items submitted when a file is there
-- Checks: unique (county_code, year, item, stage); not_null (county_code, year, part, item, stage, kind, status); status in ('met', 'not_met', 'not_reported', 'not_applicable', 'evidence_submitted', 'evidence_missing'); (kind = 'evidence') = (status in ('evidence_submitted', 'evidence_missing')); failing is null or failing <= assessed; missing is null or missing <= assessed
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   ordinal | 序号 | | the item's place in the official list (resources, then government, quality, recognition; the seven CVs primary then junior)
--   part | 评估内容 | | resources (资源配置), government (政府保障程度), quality (教育质量) or recognition (社会认可度)
--   item | 指标 | | q1…q7, q_units, g1…g15 (g11b: backbone teachers among those exchanged), e1…e9, s1
--   stage | 学段 | | primary or junior; all for an item of the whole county
--   item_zh | 指标内容 | | the indicator as 教督〔2017〕6号 words it
--   inputs_zh | 所需数据 | | the tables and columns (or evidence folder) the item is decided from: what a county fills in
--   kind | 类型 | | computed (from the data) or evidence (judged from documents; junheng tracks the files)
--   numerator | 分子 | | q1–q7: S; school and row counts: the units that meet; county ratios: the numerator's sum
--   denominator | 分母 | | q1–q7: X̄; school and row counts: the units assessed; county ratios: the denominator's sum
--   value | 数值 | | the CV, the share of units that meet, the ratio, or the number of evidence files
--   threshold | 标准 | | the CV limit, 1 for every unit, or the ratio's minimum
--   comparison | 比较 | | <=, = or >= (value against threshold)
--   value_unit | 数值单位 | | cv (a difference coefficient), share (of the units assessed that meet), ratio (a fraction), yuan_per_pupil (元 per pupil) or files
--   assessed | 评估对象数 | 个 | schools, units or rows assessed (school-level items; units in the CV for q1–q7)
--   failing | 未达标数 | 个 | assessed units that fail
--   missing | 未填报数 | 个 | assessed units lacking a value
--   status | 状态 | | met, not_met, not_reported, not_applicable, evidence_submitted or evidence_missing
--   files | 佐证文件数 | 个 | evidence items: files submitted under evidence/<item>…/
--   bytes | 佐证文件大小 | 字节 | evidence items: their total size
with

years as (
    select distinct county_code, year from int_schools
),

-- Which tables a county submitted in a year (a table it did not submit makes its items not_reported).
submitted as (
    select
        y.county_code,
        y.year,
        p.county_code is not null as has_pupils,
        t.county_code is not null as has_teachers,
        f.county_code is not null as has_facilities,
        sf.county_code is not null as has_school_funds,
        m.county_code is not null as has_monitoring
    from years as y
    left join (select distinct county_code, year from stg_pupils) as p on y.county_code = p.county_code and y.year = p.year
    left join (select distinct county_code, year from stg_teachers) as t on y.county_code = t.county_code and y.year = t.year
    left join (select distinct county_code, year from stg_facilities) as f on y.county_code = f.county_code and y.year = f.year
    left join (select distinct county_code, year from stg_school_funds) as sf
        on y.county_code = sf.county_code and y.year = sf.year
    left join (select distinct county_code, year from stg_monitoring) as m on y.county_code = m.county_code and y.year = m.year
),

items as (
    select
        cast(ordinal as int) as ordinal, item, stage, part, kind, threshold_id,
        cast(nullif(threshold_value, '') as double) as threshold_value, nullif(comparison, '') as comparison, value_unit,
        item_zh, inputs_zh
    from ref_assessment_items
),

-- Every county-year with every item (and stage) of the assessment.
grid as (
    select y.county_code, y.year, i.*
    from years as y
    cross join items as i
),

units as (
    select county_code, year, stage, count(*) as units
    from school_indicators
    where in_balance
    group by county_code, year, stage
),

-- q1–q7: the quality CVs of balance_cv.
cvs as (
    select
        g.county_code, g.year, g.item, g.stage,
        c.sd as numerator, c.mean as denominator, c.cv as value, c.units as assessed,
        cast(null as bigint) as failing, cast(null as bigint) as missing,
        not (s.has_pupils and case when g.item in ('q1', 'q2', 'q3') then s.has_teachers else s.has_facilities end)
            as absent,
        coalesce(u.units, 0) = 0 as nothing_to_assess,
        c.cv is null as incomplete,
        coalesce(c.cv > c.threshold, false) as fails
    from grid as g
    join submitted as s on g.county_code = s.county_code and g.year = s.year
    left join balance_cv as c
        on g.county_code = c.county_code and g.year = c.year and g.stage = c.stage
        and c.scheme = 'quality' and c.indicator = g.item
    left join units as u on g.county_code = u.county_code and g.year = u.year and g.stage = u.stage
    where g.item in ('q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7')
),

-- Items counting schools or rows: (county, year, item, stage, assessed, met, failing, missing, table submitted).
unit_counts as (
    select
        county_code, year, 'q_units' as item, stage,
        sum(case when in_standards_test then 1 else 0 end) as assessed,
        sum(case when in_standards_test and meets_standards then 1 else 0 end) as met,
        sum(case when in_standards_test and not meets_standards then 1 else 0 end) as failing,
        sum(case when in_standards_test and meets_standards is null then 1 else 0 end) as missing
    from school_standards
    group by county_code, year, stage
),

school_counts as (
    select county_code, year, 'g3' as item, 'all' as stage,
        sum(case when g3_assessed then 1 else 0 end) as assessed, sum(case when g3_met then 1 else 0 end) as met,
        sum(case when not g3_met then 1 else 0 end) as failing,
        sum(case when g3_assessed and g3_met is null then 1 else 0 end) as missing
    from school_conditions group by county_code, year
    union all
    select county_code, year, 'g4', 'all',
        sum(case when g4_assessed then 1 else 0 end), sum(case when g4_met then 1 else 0 end),
        sum(case when not g4_met then 1 else 0 end), sum(case when g4_assessed and g4_met is null then 1 else 0 end)
    from school_conditions group by county_code, year
    union all
    select county_code, year, 'g6', 'all',
        sum(case when g6_assessed then 1 else 0 end), sum(case when g6_met then 1 else 0 end),
        sum(case when not g6_met then 1 else 0 end), sum(case when g6_assessed and g6_met is null then 1 else 0 end)
    from school_conditions group by county_code, year
    union all
    select county_code, year, 'e4', 'all',
        sum(case when e4_assessed then 1 else 0 end), sum(case when e4_met then 1 else 0 end),
        sum(case when not e4_met then 1 else 0 end), sum(case when e4_assessed and e4_met is null then 1 else 0 end)
    from school_conditions group by county_code, year
),

-- g5: the grade rows with classes of public schools and teaching points, by stage.
class_rows as (
    select
        p.county_code, p.year, 'g5' as item, p.stage,
        count(*) as assessed,
        sum(case when p.largest_class <= t.class_size_max then 1 else 0 end) as met,
        sum(case when p.largest_class > t.class_size_max then 1 else 0 end) as failing,
        sum(case when p.largest_class is null then 1 else 0 end) as missing
    from int_pupils_with_school as p
    join int_thresholds_wide as t on p.stage = t.stage
    where p.is_public and p.classes > 0
    group by p.county_code, p.year, p.stage
),

-- e9: the monitoring rows of the year; a known failure of one measure wins over the other's gap.
monitoring_rows as (
    select
        m.county_code, m.year, 'e9' as item, 'all' as stage,
        count(*) as assessed,
        sum(case when m.level >= l.monitoring_level_min and m.difference_rate < l.monitoring_difference_rate_max then 1 else 0 end)
            as met,
        sum(case when m.level < l.monitoring_level_min or m.difference_rate >= l.monitoring_difference_rate_max then 1 else 0 end)
            as failing,
        sum(
            case
                when coalesce(m.level < l.monitoring_level_min, false) then 0
                when coalesce(m.difference_rate >= l.monitoring_difference_rate_max, false) then 0
                when m.level is null or m.difference_rate is null then 1
                else 0
            end
        ) as missing
    from stg_monitoring as m
    cross join (select * from int_thresholds_wide where stage = 'all') as l
    group by m.county_code, m.year
),

counts as (
    select * from unit_counts
    union all
    select * from school_counts
    union all
    select * from class_rows
    union all
    select * from monitoring_rows
),

counted as (
    select
        g.county_code, g.year, g.item, g.stage,
        cast(c.met as double) as numerator, cast(c.assessed as double) as denominator,
        cast(c.met as double) / nullif(c.assessed, 0) as value,
        coalesce(c.assessed, 0) as assessed, coalesce(c.failing, 0) as failing, coalesce(c.missing, 0) as missing,
        not case g.item
            when 'g3' then s.has_facilities and s.has_pupils
            when 'g4' then s.has_pupils
            when 'g5' then s.has_pupils
            when 'g6' then s.has_school_funds
            when 'e4' then s.has_school_funds
            when 'e9' then s.has_monitoring
            else s.has_pupils and s.has_teachers and s.has_facilities
        end as absent,
        coalesce(c.assessed, 0) = 0 as nothing_to_assess,
        coalesce(c.missing, 0) > 0 as incomplete,
        coalesce(c.failing, 0) > 0 as fails
    from grid as g
    join submitted as s on g.county_code = s.county_code and g.year = s.year
    left join counts as c on g.county_code = c.county_code and g.year = c.year and g.item = c.item and g.stage = c.stage
    where g.item in ('q_units', 'g3', 'g4', 'g5', 'g6', 'e4', 'e9')
),

-- The teachers of public schools (teaching points apart), for g9, g11, g11b and g12.
teacher_sums as (
    select
        t.county_code,
        t.year,
        sum(t.trained_360h) as trained_360h,
        sum(t.full_time_teachers) as full_time_teachers,
        sum(case when t.trained_360h is null or t.full_time_teachers is null then 1 else 0 end) as g9_gaps,
        sum(case when s.school_type <> 'teaching_point' then t.teachers_exchanged end) as teachers_exchanged,
        sum(case when s.school_type <> 'teaching_point' then t.exchange_eligible end) as exchange_eligible,
        sum(case when s.school_type <> 'teaching_point' then t.backbone_exchanged end) as backbone_exchanged,
        sum(case when s.school_type <> 'teaching_point' then t.certified_teachers end) as certified_teachers,
        sum(case when s.school_type <> 'teaching_point' then t.full_time_teachers end) as school_full_time_teachers,
        sum(case when s.school_type <> 'teaching_point' and t.teachers_exchanged is null then 1 else 0 end) as exchanged_gaps,
        sum(case when s.school_type <> 'teaching_point' and t.exchange_eligible is null then 1 else 0 end) as eligible_gaps,
        sum(case when s.school_type <> 'teaching_point' and t.backbone_exchanged is null then 1 else 0 end) as backbone_gaps,
        sum(
            case when s.school_type <> 'teaching_point' and (t.certified_teachers is null or t.full_time_teachers is null) then 1 else 0 end
        ) as certified_gaps
    from stg_teachers as t
    join int_schools as s on t.year = s.year and t.school_code = s.school_code
    where s.is_public
    group by t.county_code, t.year
),

entry_grades as (
    select county_code, 1 as grade from ref_county_settings
    union all
    select county_code, last_primary_grade + 1 from ref_county_settings
),

-- g13: the entry grades of public urban and town schools that do not board (teaching points for primary).
catchment as (
    select
        p.county_code, p.year, p.stage,
        sum(p.entrants_in_catchment) as catchment, sum(p.entrants) as entrants,
        sum(case when p.entrants_in_catchment is null or p.entrants is null then 1 else 0 end) as gaps
    from int_pupils_with_school as p
    join entry_grades as e on p.county_code = e.county_code and p.grade = e.grade
    join int_schools as s on p.year = s.year and p.school_code = s.school_code
    where p.is_public and p.area_type in ('urban', 'town') and not s.is_boarding
        and (p.school_type <> 'teaching_point' or p.stage = 'primary')
    group by p.county_code, p.year, p.stage
),

-- g15: the children of migrant workers in public schools (teaching points apart).
migrant as (
    select
        county_code, year, sum(migrant) as migrant,
        sum(case when migrant is null then 1 else 0 end) as gaps
    from int_pupils_with_school
    where is_public and school_type <> 'teaching_point'
    group by county_code, year
),

-- County ratios: (numerator, denominator, every needed value there, nothing to assess).
ratio_inputs as (
    select
        g.county_code, g.year, g.item, g.stage,
        case g.item
            when 'g7' then cf.special_ed_public_funds
            when 'g8' then cast(fi.avg_teacher_salary as double)
            when 'g9' then cast(ts.trained_360h as double)
            when 'g11' then cast(ts.teachers_exchanged as double)
            when 'g11b' then cast(ts.backbone_exchanged as double)
            when 'g12' then cast(ts.certified_teachers as double)
            when 'g13' then cast(ca.catchment as double)
            when 'g14' then cast(cf.senior_quota_allocated as double)
            when 'g15' then cast(mi.migrant + cf.migrant_in_purchased_places as double)
            when 'e1' then cast(re.final_grade_students as double)
            when 'e2' then cast(cf.disabled_enrolled as double)
            when 's1' then cast(su.satisfied as double)
        end as numerator,
        case g.item
            when 'g7' then cast(cf.special_ed_pupils as double)
            when 'g8' then cf.civil_servant_avg_salary
            when 'g9' then cast(ts.full_time_teachers as double)
            when 'g11' then cast(ts.exchange_eligible as double)
            when 'g11b' then cast(ts.teachers_exchanged as double)
            when 'g12' then cast(ts.school_full_time_teachers as double)
            when 'g13' then cast(ca.entrants as double)
            when 'g14' then cast(cf.senior_quota_plan as double)
            when 'g15' then cast(cf.migrant_eligible as double)
            when 'e1' then cast(re.retention_base as double)
            when 'e2' then cast(cf.disabled_children as double)
            when 's1' then cast(su.valid_questionnaires as double)
        end as denominator,
        case g.item
            when 'g9' then ts.g9_gaps = 0
            when 'g11' then ts.exchanged_gaps = 0 and ts.eligible_gaps = 0
            when 'g11b' then ts.exchanged_gaps = 0 and ts.backbone_gaps = 0
            when 'g12' then ts.certified_gaps = 0
            when 'g13' then ca.gaps = 0
            when 'g15' then mi.gaps = 0
            else true
        end as complete,
        case g.item
            when 'g7' then cf.special_ed_pupils = 0
            when 'g11b' then ts.exchanged_gaps = 0 and ts.teachers_exchanged = 0
            when 'g14' then cf.senior_quota_plan = 0
            when 'g15' then cf.migrant_eligible = 0
            when 'e2' then cf.disabled_children = 0
            else false
        end as nothing_to_assess,
        case when g.item = 'e1' then re.retention_rate end as published_rate
    from grid as g
    left join stg_county_facts as cf on g.county_code = cf.county_code and g.year = cf.year
    left join stg_finance as fi on g.county_code = fi.county_code and g.year = fi.year
    left join teacher_sums as ts on g.county_code = ts.county_code and g.year = ts.year
    left join catchment as ca on g.county_code = ca.county_code and g.year = ca.year and g.stage = ca.stage
    left join migrant as mi on g.county_code = mi.county_code and g.year = mi.year
    left join retention as re on g.county_code = re.county_code and g.year = re.year and re.stage = 'junior'
    left join stg_survey as su on g.county_code = su.county_code and g.year = su.year
    where g.kind = 'computed' and g.comparison = '>='
),

ratios as (
    select
        r.county_code, r.year, r.item, r.stage, r.numerator, r.denominator,
        case
            when not coalesce(r.complete, false) then null
            when r.item = 'e1' then r.published_rate
            else r.numerator / nullif(r.denominator, 0)
        end as value,
        cast(null as bigint) as assessed, cast(null as bigint) as failing, cast(null as bigint) as missing,
        false as absent,
        coalesce(r.nothing_to_assess, false) as nothing_to_assess
    from ratio_inputs as r
),

ratios_judged as (
    select
        r.*,
        r.value is null as incomplete,
        coalesce(r.value < t.value, false) as fails
    from ratios as r
    join grid as g on r.county_code = g.county_code and r.year = g.year and r.item = g.item and r.stage = g.stage
    left join ref_thresholds as t on t.threshold_id = g.threshold_id and t.stage = r.stage
),

computed as (
    select
        county_code, year, item, stage, numerator, denominator, value, assessed, failing, missing,
        absent, nothing_to_assess, incomplete, fails
    from cvs
    union all
    select
        county_code, year, item, stage, numerator, denominator, value, assessed, failing, missing,
        absent, nothing_to_assess, incomplete, fails
    from counted
    union all
    select
        county_code, year, item, stage, numerator, denominator, value, assessed, failing, missing,
        absent, nothing_to_assess, incomplete, fails
    from ratios_judged
),

final as (
    select
        g.county_code,
        g.year,
        g.part,
        g.item,
        g.stage,
        g.item_zh,
        g.inputs_zh,
        g.kind,
        c.numerator,
        c.denominator,
        case when g.kind = 'evidence' then cast(coalesce(e.files, 0) as double) else c.value end as value,
        case when g.kind = 'computed' then coalesce(g.threshold_value, t.value) end as threshold,
        g.comparison,
        g.value_unit,
        c.assessed,
        c.failing,
        c.missing,
        case
            when g.kind = 'evidence' then case when coalesce(e.files, 0) > 0 then 'evidence_submitted' else 'evidence_missing' end
            -- County ratios: a zero denominator leaves nothing to assess, even with the numerator unknown.
            when g.comparison = '>=' then
                case
                    when c.nothing_to_assess then 'not_applicable'
                    when c.incomplete then 'not_reported'
                    when c.fails then 'not_met'
                    else 'met'
                end
            -- CVs and counts of units: a table not submitted is a gap; then a failure wins over a gap.
            else
                case
                    when c.absent then 'not_reported'
                    when c.fails then 'not_met'
                    when c.nothing_to_assess then 'not_applicable'
                    when c.incomplete then 'not_reported'
                    else 'met'
                end
        end as status,
        case when g.kind = 'evidence' then coalesce(e.files, 0) end as files,
        case when g.kind = 'evidence' then coalesce(e.bytes, 0) end as bytes,
        g.ordinal
    from grid as g
    left join computed as c on g.county_code = c.county_code and g.year = c.year and g.item = c.item and g.stage = c.stage
    left join ref_thresholds as t on t.threshold_id = g.threshold_id and t.stage = g.stage
    left join ref_evidence as e on g.county_code = e.county_code and g.year = e.year and g.item = e.item
)

select
    county_code, year, ordinal, part, item, stage, item_zh, inputs_zh, kind, numerator, denominator, value, threshold, comparison,
    value_unit, assessed, failing, missing, status, files, bytes
from final
order by county_code, year, ordinal
