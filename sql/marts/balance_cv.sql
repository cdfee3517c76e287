-- balance_cv: the enrolment-weighted difference coefficient (差异系数) of every basic and quality indicator across a county's school-stage units.
-- Grain: one row per (county_code, year, stage, scheme, indicator).
-- Inputs: int_weighted_cv, int_thresholds_wide, ref_indicators
-- Methodology: §2 — P = Σ P_i; X̄ = Σ P_i·X_i / P; S = sqrt(Σ (P_i/P)(X_i − X̄)²) (population form); CV = S / X̄. §3 — quality CVs pass at ≤ {quality_cv_max}, each on its own
-- Checks: unique (county_code, year, stage, scheme, indicator); not_null (county_code, year, stage, scheme, indicator, units, students)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | statistical year
--   stage | 学段 | | primary or junior
--   scheme | 评估类型 | | basic (基本均衡, b1–b8) or quality (优质均衡, q1–q7)
--   indicator | 指标 | | b1…b8 or q1…q7 (ref_indicators names them)
--   indicator_name | 指标名称 | | the indicator's Chinese name
--   units | 学校数 | 个 | school-stage units counted (public, with pupils, with the indicator's numerator)
--   students | 学生数 | 人 | P = Σ P_i over those units
--   mean | 均值 | | X̄, the enrolment-weighted mean (= county total of the numerator ÷ P)
--   sd | 标准差 | | S, the enrolment-weighted population standard deviation
--   cv | 差异系数 | | S ÷ X̄
--   threshold | 标准 | | the CV threshold (quality scheme only; basic passes on the composite, see balance_summary)
--   passes | 达标 | | cv ≤ threshold (quality scheme only)
with

aggregated as (
    select * from int_weighted_cv where scheme in ('basic', 'quality')
),

final as (
    select
        a.county_code,
        a.year,
        a.stage,
        a.scheme,
        a.indicator,
        i.name_zh as indicator_name,
        a.units,
        a.students,
        a.mean,
        a.sd,
        a.cv,
        case when a.scheme = 'quality' then t.quality_cv_max end as threshold,
        case when a.scheme = 'quality' then a.cv <= t.quality_cv_max end as passes
    from aggregated as a
    left join int_thresholds_wide as t on a.stage = t.stage
    left join ref_indicators as i on a.indicator = i.indicator
)

select * from final
order by county_code, year, stage, scheme, indicator
