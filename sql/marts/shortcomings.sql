-- shortcomings: 存在的不足 — every standard a county misses, year by year: the balance verdicts, satisfaction, junior retention, the three increases, arrears not yet repaid, large classes and oversized schools.
-- Grain: one row per (county_code, year, stage, shortcoming).
-- Inputs: balance_summary, retention, funding, enrolment_trend, school_indicators, county_overview, int_thresholds_wide
-- Methodology: §2 composite CV above {basic_composite_cv_max}; §3 a quality CV above {quality_cv_max}, satisfaction below {satisfaction_min}, classes of at least {large_class_min} pupils (大班额), schools above {school_size_max} pupils; §4 junior retention below {junior_retention_min}; §5 三个增长 not met, arrears committed and not yet repaid. The report's 存在的不足 and the run's "standards missed" are these rows.
-- Checks: unique (county_code, year, stage, shortcoming); not_null (county_code, year, stage, shortcoming, value, latest); threshold is null or (shortcoming in ('satisfaction', 'junior_retention')) = (value < threshold)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year; the fiscal year for three_increases and arrears_outstanding
--   stage | 学段 | | primary or junior; all for a county-wide standard
--   shortcoming | 不足 | | basic_composite_cv, quality_cv, satisfaction, junior_retention, three_increases, arrears_outstanding, large_classes or oversized_schools
--   value | 数值 | | the figure that misses: the CV (for quality_cv the largest), the rate, the legs not met, the arrears in 元, the large classes, the schools
--   threshold | 标准 | | the standard missed; null where any is one too many (legs, arrears, classes, schools)
--   detail | 说明 | | quality_cv: the indicators above the threshold (q1,q4); three_increases: the legs not met (1,3)
--   gap | 应增拨 | 元 | three_increases: the appropriation leg 1 lacked (funding.appropriation_gap)
--   huge_classes | 超大班额班数 | 个 | large_classes: the very large classes among them
--   latest | 最新年度 | | the year the county's latest report speaks of: its latest census year, or for three_increases its latest fiscal year with the legs known
with

latest_census as (
    select county_code, max(year) as year from county_overview group by county_code
),

latest_fiscal as (
    select county_code, max(year) as year from funding where three_increases_met is not null group by county_code
),

junior_limits as (
    select junior_retention_min from int_thresholds_wide where stage = 'junior'
),

balance as (
    select
        county_code, year, stage, 'basic_composite_cv' as shortcoming, basic_composite_cv as value,
        basic_threshold as threshold, cast(null as varchar) as detail
    from balance_summary
    where not basic_passes
    union all
    select
        county_code, year, stage, 'quality_cv', quality_max_cv, quality_threshold, quality_failing_indicators
    from balance_summary
    where not quality_resource_passes
    union all
    -- One survey per county: a county-wide shortcoming, said once.
    select county_code, year, 'all', 'satisfaction', max(satisfaction_rate), max(satisfaction_threshold), null
    from balance_summary
    where not satisfaction_passes
    group by county_code, year
),

retention_short as (
    select
        r.county_code, r.year, 'junior' as stage, 'junior_retention' as shortcoming, r.retention_rate as value,
        l.junior_retention_min as threshold
    from retention as r
    cross join junior_limits as l
    where r.stage = 'junior' and r.retention_rate < l.junior_retention_min
),

funding_short as (
    select
        county_code,
        year,
        'three_increases' as shortcoming,
        cast(
            (case when not appropriation_outpaces_revenue then 1 else 0 end)
            + (case when not per_pupil_expenditure_rises then 1 else 0 end)
            + (case when not public_funds_and_salary_rise then 1 else 0 end) as double
        ) as value,
        concat_ws(
            ',',
            case when not appropriation_outpaces_revenue then '1' end,
            case when not per_pupil_expenditure_rises then '2' end,
            case when not public_funds_and_salary_rise then '3' end
        ) as detail,
        appropriation_gap as gap
    from funding
    where not three_increases_met
    union all
    select county_code, year, 'arrears_outstanding', cast(arrears_outstanding as double), null, null
    from funding
    where arrears_outstanding > 0
),

classes_short as (
    select
        county_code, year, 'large_classes' as shortcoming, cast(large_classes as double) as value, huge_classes
    from enrolment_trend
    where stage = 'all' and area_type = 'all' and large_classes > 0
),

schools_short as (
    select county_code, year, 'oversized_schools' as shortcoming, cast(count(distinct school_code) as double) as value
    from school_indicators
    where not school_size_within_standard
    group by county_code, year
),

everything as (
    select
        county_code, year, stage, shortcoming, value, threshold, detail,
        cast(null as double) as gap, cast(null as bigint) as huge_classes
    from balance
    union all
    select county_code, year, stage, shortcoming, value, threshold, null, null, null from retention_short
    union all
    select county_code, year, 'all', shortcoming, value, null, detail, gap, null from funding_short
    union all
    select county_code, year, 'all', shortcoming, value, null, null, null, huge_classes from classes_short
    union all
    select county_code, year, 'all', shortcoming, value, null, null, null, null from schools_short
),

final as (
    select
        e.county_code,
        e.year,
        e.stage,
        e.shortcoming,
        e.value,
        e.threshold,
        e.detail,
        e.gap,
        e.huge_classes,
        coalesce(
            case when e.shortcoming = 'three_increases' then e.year = f.year else e.year = c.year end, false
        ) as latest
    from everything as e
    left join latest_census as c on e.county_code = c.county_code
    left join latest_fiscal as f on e.county_code = f.county_code
)

select * from final
order by county_code, year, stage, shortcoming
