-- quality_assessment_summary: a county's quality-balance readiness at a glance — per part, how many computed items are met, not met or still to be reported; how many evidence items have files; and whether everything computed holds.
-- Grain: one row per (county_code, year).
-- Inputs: quality_assessment
-- Methodology: assessment.md §3 — counts of computed rows (item × stage) per part; computed_met true when every computed row is met or not_applicable, false when any is not_met, null otherwise; evidence_complete when every evidence item has a file
-- Checks: unique (county_code, year); not_null (county_code, year, evidence_complete)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   resources_met | 资源配置达标项数 | 项 | computed rows met (item × stage)
--   resources_not_met | 资源配置未达标项数 | 项 | computed rows not met
--   resources_not_reported | 资源配置待填报项数 | 项 | computed rows not reported
--   government_met | 政府保障程度达标项数 | 项 | computed rows met
--   government_not_met | 政府保障程度未达标项数 | 项 | computed rows not met
--   government_not_reported | 政府保障程度待填报项数 | 项 | computed rows not reported
--   quality_met | 教育质量达标项数 | 项 | computed rows met
--   quality_not_met | 教育质量未达标项数 | 项 | computed rows not met
--   quality_not_reported | 教育质量待填报项数 | 项 | computed rows not reported
--   recognition_met | 社会认可度达标项数 | 项 | computed rows met
--   recognition_not_met | 社会认可度未达标项数 | 项 | computed rows not met
--   recognition_not_reported | 社会认可度待填报项数 | 项 | computed rows not reported
--   not_applicable | 不适用项数 | 项 | computed rows with nothing to assess
--   evidence_submitted | 已提交佐证项数 | 项 | evidence items with a file
--   evidence_missing | 缺佐证材料项数 | 项 | evidence items without one
--   computed_met | 计算项全部达标 | | every computed row met or not applicable (false when any is not met; null while any is not reported)
--   evidence_complete | 佐证材料齐全 | | every evidence item has a file
with

counted as (
    select
        county_code,
        year,
        sum(case when part = 'resources' and status = 'met' then 1 else 0 end) as resources_met,
        sum(case when part = 'resources' and status = 'not_met' then 1 else 0 end) as resources_not_met,
        sum(case when part = 'resources' and status = 'not_reported' then 1 else 0 end) as resources_not_reported,
        sum(case when part = 'government' and status = 'met' then 1 else 0 end) as government_met,
        sum(case when part = 'government' and status = 'not_met' then 1 else 0 end) as government_not_met,
        sum(case when part = 'government' and status = 'not_reported' then 1 else 0 end) as government_not_reported,
        sum(case when part = 'quality' and status = 'met' then 1 else 0 end) as quality_met,
        sum(case when part = 'quality' and status = 'not_met' then 1 else 0 end) as quality_not_met,
        sum(case when part = 'quality' and status = 'not_reported' then 1 else 0 end) as quality_not_reported,
        sum(case when part = 'recognition' and status = 'met' then 1 else 0 end) as recognition_met,
        sum(case when part = 'recognition' and status = 'not_met' then 1 else 0 end) as recognition_not_met,
        sum(case when part = 'recognition' and status = 'not_reported' then 1 else 0 end) as recognition_not_reported,
        sum(case when status = 'not_applicable' then 1 else 0 end) as not_applicable,
        sum(case when status = 'evidence_submitted' then 1 else 0 end) as evidence_submitted,
        sum(case when status = 'evidence_missing' then 1 else 0 end) as evidence_missing,
        sum(case when status = 'not_met' then 1 else 0 end) as any_not_met,
        sum(case when status = 'not_reported' then 1 else 0 end) as any_not_reported
    from quality_assessment
    group by county_code, year
)

select
    county_code,
    year,
    resources_met,
    resources_not_met,
    resources_not_reported,
    government_met,
    government_not_met,
    government_not_reported,
    quality_met,
    quality_not_met,
    quality_not_reported,
    recognition_met,
    recognition_not_met,
    recognition_not_reported,
    not_applicable,
    evidence_submitted,
    evidence_missing,
    case when any_not_met > 0 then false when any_not_reported > 0 then null else true end as computed_met,
    evidence_missing = 0 as evidence_complete
from counted
order by county_code, year
