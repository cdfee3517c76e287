-- standards_gap_totals: what closing a county's gaps to the quality standards takes, per stage and indicator — the totals a bureau budgets from (差距清单合计).
-- Grain: one row per (county_code, year, stage, indicator).
-- Inputs: standards_gap
-- Methodology: assessment.md §3 — Σ shortfall of the units below the standard (teachers and classrooms whole, m² and 元 exact)
-- Checks: unique (county_code, year, stage, indicator); not_null (county_code, year, stage, indicator, units, shortfall); shortfall > 0
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   stage | 学段 | | primary or junior
--   indicator | 指标 | | q1…q7
--   indicator_name | 指标名称 | | the indicator in Chinese
--   unit | 单位 | | teachers, m², 元 or classrooms
--   units | 未达标单位数 | 个 | school-stage units below the standard
--   shortfall | 缺口合计 | | Σ of their shortfalls
select
    county_code,
    year,
    stage,
    indicator,
    max(indicator_name) as indicator_name,
    max(unit) as unit,
    count(*) as units,
    -- Summed in millionths so that a total of exact decimals stays exact.
    cast(sum(cast(round(shortfall * 1000000) as bigint)) as double) / 1000000 as shortfall
from standards_gap
group by county_code, year, stage, indicator
order by county_code, year, stage, indicator
