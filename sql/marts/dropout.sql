-- dropout: the annual dropout rate (辍学率) of each stage — dropouts of the school year over the enrolment that began it.
-- Grain: one row per (county_code, year, stage); stage is primary or junior.
-- Inputs: int_pupils_with_school
-- Methodology: §4 — Σ dropouts of the stage's grades reported at census Y (the school year ending then; unreported cells ignored) ÷ stage enrolment at census Y − 1; null in a series' first year
-- Checks: unique (county_code, year, stage); not_null (county_code, year, stage); base_students is not null or dropout_rate is null
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | census year Y at which the dropouts are reported
--   school_year | 学年 | | the school year that ended at census Y ((Y−1)-Y), as reports label it
--   stage | 学段 | | primary or junior
--   dropouts | 辍学人数 | 人 | Σ dropouts of the stage's grades reported at census Y (null if none reported)
--   students | 在校生数 | 人 | stage enrolment at census Y
--   base_students | 学年初在校生数 | 人 | stage enrolment at census Y − 1 (null when that census is missing)
--   dropout_rate | 辍学率 | 比率 | dropouts ÷ base_students
with

stage_years as (
    select county_code, year, stage, sum(students) as students, sum(dropouts) as dropouts
    from int_pupils_with_school
    group by county_code, year, stage
),

final as (
    select
        cur.county_code,
        cur.year,
        cast(cur.year - 1 as varchar) || '-' || cast(cur.year as varchar) as school_year,
        cur.stage,
        cur.dropouts,
        cur.students,
        prev.students as base_students,
        cast(cur.dropouts as double) / nullif(prev.students, 0) as dropout_rate
    from stage_years as cur
    left join stage_years as prev
        on prev.county_code = cur.county_code and prev.stage = cur.stage and prev.year = cur.year - 1
)

select * from final
order by county_code, year, stage
