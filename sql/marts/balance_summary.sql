-- balance_summary: the county's verdicts per stage — the basic composite CV against its threshold, every quality CV against its own, and units meeting the standards.
-- Grain: one row per (county_code, year, stage).
-- Inputs: balance_cv, school_standards, int_unit_indicators, int_thresholds_wide, ref_indicators, stg_survey
-- Methodology: §2 — composite = plain mean of the 8 CVs, passes at ≤ {basic_composite_cv_max}; §3 — resource part passes only if every one of the 7 CVs passes at ≤ {quality_cv_max} (a mean of the 7 is informative only); satisfaction ≥ {satisfaction_min}
-- Checks: unique (county_code, year, stage); not_null (county_code, year, stage)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   stage | 学段 | | primary or junior
--   units_total | 纳入计算学校数 | 个 | school-stage units in the balance indicators (public, with pupils)
--   units_excluded_no_pupils | 无学生单位数 | 个 | public units left out because they have no pupils
--   units_private | 民办学校单位数 | 个 | private units (reported, not in balance indicators)
--   basic_cvs | 基本均衡差异系数个数 | 个 | how many of the 8 basic CVs could be computed
--   basic_composite_cv | 综合差异系数 | | mean of the 8 CVs b1–b8 (null unless all 8 are known)
--   basic_threshold | 综合差异系数标准 | | {basic_composite_cv_max}
--   basic_passes | 基本均衡达标 | | basic_composite_cv ≤ basic_threshold
--   quality_cvs | 优质均衡差异系数个数 | 个 | how many of the 7 quality CVs could be computed
--   quality_max_cv | 最大差异系数 | | the largest of the 7 quality CVs
--   quality_mean_cv | 差异系数均值 | | mean of the 7 quality CVs (informative only; the test is per indicator)
--   quality_threshold | 优质均衡差异系数标准 | | {quality_cv_max}
--   quality_failing_indicators | 未达标指标 | | quality indicators whose CV exceeds the threshold, comma-separated
--   quality_resource_passes | 资源配置达标 | | every one of the 7 CVs ≤ quality_threshold (null unless all 7 are known)
--   units_meeting_standards | 达标学校数 | 个 | units in the standards test meeting at least {standards_min_reached} of the standards (and the rest at {standards_other_min_ratio} of theirs)
--   units_in_standards_test | 参评学校数 | 个 | units in the standards test
--   satisfaction_rate | 满意度 | 比率 | satisfied ÷ valid questionnaires of the county's survey
--   satisfaction_threshold | 满意度标准 | 比率 | {satisfaction_min}
--   satisfaction_passes | 满意度达标 | | satisfaction_rate ≥ satisfaction_threshold
with

-- Every county, year and stage with units or CVs (a CV table alone is enough to judge).
spine as (
    select distinct county_code, year, stage from int_unit_indicators
    union
    select distinct county_code, year, stage from balance_cv
),

units as (
    select
        county_code,
        year,
        stage,
        sum(case when in_balance then 1 else 0 end) as units_total,
        sum(case when excluded_reason = 'no_pupils' then 1 else 0 end) as units_excluded_no_pupils,
        sum(case when excluded_reason = 'private' then 1 else 0 end) as units_private
    from int_unit_indicators
    group by county_code, year, stage
),

basic as (
    select county_code, year, stage, count(cv) as basic_cvs, avg(cv) as mean_cv
    from balance_cv
    where scheme = 'basic'
    group by county_code, year, stage
),

quality as (
    select
        county_code,
        year,
        stage,
        count(cv) as quality_cvs,
        max(cv) as quality_max_cv,
        avg(cv) as quality_mean_cv,
        bool_and(passes) as all_pass,
        string_agg(case when not passes then indicator end, ',' order by indicator) as quality_failing_indicators
    from balance_cv
    where scheme = 'quality'
    group by county_code, year, stage
),

standards as (
    select
        county_code,
        year,
        stage,
        sum(case when meets_standards then 1 else 0 end) as units_meeting_standards,
        sum(case when in_standards_test then 1 else 0 end) as units_in_standards_test
    from school_standards
    group by county_code, year, stage
),

survey as (
    select county_code, year, cast(satisfied as double) / nullif(valid_questionnaires, 0) as satisfaction_rate
    from stg_survey
),

indicator_counts as (
    select
        sum(case when scheme = 'basic' then 1 else 0 end) as basic_indicators,
        sum(case when scheme = 'quality' then 1 else 0 end) as quality_indicators
    from ref_indicators
),

final as (
    select
        sp.county_code,
        sp.year,
        sp.stage,
        coalesce(u.units_total, 0) as units_total,
        coalesce(u.units_excluded_no_pupils, 0) as units_excluded_no_pupils,
        coalesce(u.units_private, 0) as units_private,
        coalesce(b.basic_cvs, 0) as basic_cvs,
        case when b.basic_cvs = n.basic_indicators then b.mean_cv end as basic_composite_cv,
        t.basic_composite_cv_max as basic_threshold,
        case when b.basic_cvs = n.basic_indicators then b.mean_cv <= t.basic_composite_cv_max end as basic_passes,
        coalesce(q.quality_cvs, 0) as quality_cvs,
        q.quality_max_cv,
        q.quality_mean_cv,
        t.quality_cv_max as quality_threshold,
        q.quality_failing_indicators,
        case when q.quality_cvs = n.quality_indicators then q.all_pass end as quality_resource_passes,
        coalesce(s.units_meeting_standards, 0) as units_meeting_standards,
        coalesce(s.units_in_standards_test, 0) as units_in_standards_test,
        v.satisfaction_rate,
        t.satisfaction_min as satisfaction_threshold,
        v.satisfaction_rate >= t.satisfaction_min as satisfaction_passes
    from spine as sp
    cross join indicator_counts as n
    left join units as u on sp.county_code = u.county_code and sp.year = u.year and sp.stage = u.stage
    left join basic as b on sp.county_code = b.county_code and sp.year = b.year and sp.stage = b.stage
    left join quality as q on sp.county_code = q.county_code and sp.year = q.year and sp.stage = q.stage
    left join standards as s on sp.county_code = s.county_code and sp.year = s.year and sp.stage = s.stage
    left join survey as v on sp.county_code = v.county_code and sp.year = v.year
    left join int_thresholds_wide as t on sp.stage = t.stage
)

select * from final
order by county_code, year, stage
