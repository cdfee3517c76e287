-- equity_cv: how evenly left-behind, migrant and special-needs pupils are spread across a county's schools — the enrolment-weighted CV of each school's share.
-- Grain: one row per (county_code, year, indicator).
-- Inputs: int_weighted_cv
-- Methodology: §2's weighted CV (a junheng equity measure, no official threshold) applied to the §4 shares; schools with pupils whose count is reported
-- Checks: unique (county_code, year, indicator); not_null (county_code, year, indicator, units, students)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   indicator | 指标 | | left_behind_share, migrant_share or special_needs_share
--   units | 学校数 | 所 | schools with pupils reporting the count
--   students | 在校生数 | 人 | their pupils (Σ P_i)
--   mean | 均值 | 比率 | the county's share (Σ count ÷ Σ pupils)
--   sd | 标准差 | | the enrolment-weighted standard deviation of the schools' shares
--   cv | 差异系数 | | sd ÷ mean: 0 when every school has the same share
select county_code, year, indicator, units, students, mean, sd, cv
from int_weighted_cv
where scheme = 'equity'
order by county_code, year, indicator
