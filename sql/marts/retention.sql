-- retention: the cohort retention rate (巩固率) of each stage — final-grade pupils over the cohort's entrants when it began the stage.
-- Grain: one row per (county_code, year, stage); stage is primary, junior or nine_year.
-- Inputs: int_pupils_with_school, ref_county_settings, ref_settings
-- Methodology: §4 — primary: last-primary-grade pupils in Y ÷ grade-1 entrants in Y − (primary years − 1); junior: grade-9 pupils in Y ÷ entrants to the first junior grade in Y − (junior years − 1); nine_year: grade 9 in Y ÷ grade-1 entrants in Y − 8. County sums of every school. Above 100 % is valid (transfers in). Null when the cohort's start year (or its entrants) is missing — never guessed. Setting retention_definition = "adjusted" adds transfers in and subtracts transfers out along the cohort's path (census years after the start, at the cohort's grade) to the denominator.
-- Checks: unique (county_code, year, stage); not_null (county_code, year, stage, cohort_start_year); retention_rate >= 0
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | census year Y at which the cohort is in its final grade
--   school_year | 学年 | | the school year that census opens (Y-(Y+1)), as reports label it
--   stage | 学段 | | primary, junior or nine_year
--   school_system | 学制 | | the county's school system (6-3 or 5-4)
--   cohort_start_year | 入学年份 | | census year the cohort entered the stage
--   entry_grade | 起始年级 | | grade the cohort entered (1, or the first junior grade)
--   final_grade | 毕业年级 | | last grade of the stage
--   cohort_entrants | 入学人数 | 人 | entrants to the entry grade in the start year (Σ entrants, all schools)
--   net_transfers | 净转入人数 | 人 | transfers in − out along the cohort's path (used by the adjusted definition)
--   final_grade_students | 毕业年级在校生数 | 人 | pupils in the final grade in year Y
--   retention_base | 巩固率分母 | 人 | cohort_entrants (cohort) or cohort_entrants + net_transfers (adjusted): the rate's denominator, which quality_assessment's e1 reads
--   retention_rate | 巩固率 | 比率 | final_grade_students ÷ retention_base
--   retention_definition | 口径 | | cohort or adjusted
with

by_grade as (
    select
        county_code,
        year,
        grade,
        sum(students) as students,
        sum(entrants) as entrants,
        coalesce(sum(transfers_in), 0) - coalesce(sum(transfers_out), 0) as net_transfers
    from int_pupils_with_school
    group by county_code, year, grade
),

county_years as (
    select distinct county_code, year from by_grade
),

stages as (
    select c.county_code, c.year, s.school_system, 'primary' as stage, cast(1 as int) as entry_grade,
        cast(s.last_primary_grade as int) as final_grade, cast(s.primary_years as int) as stage_years
    from county_years as c join ref_county_settings as s on c.county_code = s.county_code
    union all
    select c.county_code, c.year, s.school_system, 'junior', cast(s.last_primary_grade + 1 as int), cast(9 as int),
        cast(s.junior_years as int)
    from county_years as c join ref_county_settings as s on c.county_code = s.county_code
    union all
    select c.county_code, c.year, s.school_system, 'nine_year', cast(1 as int), cast(9 as int), cast(9 as int)
    from county_years as c join ref_county_settings as s on c.county_code = s.county_code
),

cohorts as (
    select *, year - (stage_years - 1) as cohort_start_year from stages
),

path as (
    select c.county_code, c.year, c.stage, sum(g.net_transfers) as net_transfers
    from cohorts as c
    join by_grade as g
        on g.county_code = c.county_code
        and g.year > c.cohort_start_year
        and g.year <= c.year
        and g.grade = c.entry_grade + (g.year - c.cohort_start_year)
    group by c.county_code, c.year, c.stage
),

cohort_sums as (
    select
        c.county_code,
        c.year,
        cast(c.year as varchar) || '-' || cast(c.year + 1 as varchar) as school_year,
        c.stage,
        c.school_system,
        c.cohort_start_year,
        c.entry_grade,
        c.final_grade,
        e.entrants as cohort_entrants,
        coalesce(p.net_transfers, 0) as net_transfers,
        f.students as final_grade_students,
        case settings.retention_definition
            when 'adjusted' then e.entrants + coalesce(p.net_transfers, 0)
            else e.entrants
        end as retention_base,
        settings.retention_definition
    from cohorts as c
    cross join ref_settings as settings
    left join by_grade as e
        on e.county_code = c.county_code and e.year = c.cohort_start_year and e.grade = c.entry_grade
    left join by_grade as f
        on f.county_code = c.county_code and f.year = c.year and f.grade = c.final_grade
    left join path as p
        on p.county_code = c.county_code and p.year = c.year and p.stage = c.stage
),

final as (
    select
        county_code, year, school_year, stage, school_system, cohort_start_year, entry_grade, final_grade,
        cohort_entrants, net_transfers, final_grade_students, retention_base,
        cast(final_grade_students as double) / nullif(retention_base, 0) as retention_rate,
        retention_definition
    from cohort_sums
)

select * from final
order by county_code, year, stage
