-- school_changes: schools that opened, closed, changed code, or whose enrolment changed more than threefold from one year to the next.
-- Grain: one row per (county_code, year, school_code, event).
-- Inputs: int_schools, int_pupils_with_school
-- Methodology: inputs.md "Rules across rows and tables" (year-on-year flags are warnings, never rejections); a school is followed within its county, so one that moved to another county (a redrawn boundary) is closed in the old county and opened in the new
-- Checks: unique (county_code, year, school_code, event); not_null (county_code, year, school_code, event)
-- Columns:
--   county_code | 县区代码 | | 6-digit administrative division code
--   year | 年份 | | the year the change is seen (the school's state differs from the year before)
--   school_code | 学校标识码 | | the school (for a code change, its new code)
--   school_name | 学校名称 | | the school's name
--   school_type | 办学类型 | | the school's type
--   event | 变动类型 | | opened, closed, code_changed or students_changed_threefold
--   previous_school_code | 原学校标识码 | | for code_changed: the code used the year before
--   students | 在校生数 | 人 | pupils this year (null for a closed school)
--   previous_students | 上年在校生数 | 人 | pupils the year before (null for an opened school)
with

schools as (
    select county_code, year, school_code, school_name, school_type from int_schools
),

enrolment as (
    select year, school_code, sum(students) as students
    from int_pupils_with_school
    group by year, school_code
),

school_years as (
    select s.*, e.students
    from schools as s
    left join enrolment as e on s.year = e.year and s.school_code = e.school_code
),

-- Years in which a county submitted schools, and the year it submitted before.
county_years as (
    select county_code, year, lag(year) over (partition by county_code order by year) as previous_year
    from (select distinct county_code, year from schools)
),

this_and_previous as (
    select cy.county_code, cy.year, cy.previous_year
    from county_years as cy
    where cy.previous_year = cy.year - 1
),

closed_candidates as (
    select tp.county_code, tp.year, prev.school_code, prev.school_name, prev.school_type, prev.students as previous_students
    from this_and_previous as tp
    join school_years as prev on prev.county_code = tp.county_code and prev.year = tp.previous_year
    left join school_years as cur
        on cur.county_code = prev.county_code and cur.year = tp.year and cur.school_code = prev.school_code
    where cur.school_code is null
),

opened_candidates as (
    select tp.county_code, tp.year, cur.school_code, cur.school_name, cur.school_type, cur.students
    from this_and_previous as tp
    join school_years as cur on cur.county_code = tp.county_code and cur.year = tp.year
    left join school_years as prev
        on prev.county_code = cur.county_code and prev.year = tp.previous_year and prev.school_code = cur.school_code
    where prev.school_code is null
),

-- A code that disappears while its name appears under a new code: one school, renumbered.
code_changes as (
    select o.county_code, o.year, o.school_code, o.school_name, o.school_type, c.school_code as previous_school_code,
        o.students, c.previous_students
    from opened_candidates as o
    join closed_candidates as c
        on o.county_code = c.county_code and o.year = c.year and o.school_name = c.school_name
),

events as (
    select county_code, year, school_code, school_name, school_type, 'code_changed' as event, previous_school_code,
        students, previous_students
    from code_changes
    union all
    select o.county_code, o.year, o.school_code, o.school_name, o.school_type, 'opened', cast(null as varchar),
        o.students, cast(null as bigint)
    from opened_candidates as o
    where not exists (select 1 from code_changes as x where x.year = o.year and x.school_code = o.school_code)
    union all
    select c.county_code, c.year, c.school_code, c.school_name, c.school_type, 'closed', cast(null as varchar),
        cast(null as bigint), c.previous_students
    from closed_candidates as c
    where not exists (select 1 from code_changes as x where x.year = c.year and x.previous_school_code = c.school_code)
    union all
    select cur.county_code, cur.year, cur.school_code, cur.school_name, cur.school_type, 'students_changed_threefold',
        cast(null as varchar), cur.students, prev.students
    from school_years as cur
    join school_years as prev
        on prev.county_code = cur.county_code and prev.school_code = cur.school_code and prev.year = cur.year - 1
    where prev.students > 0 and cur.students > 0
        and (cur.students > 3 * prev.students or prev.students > 3 * cur.students)
)

select * from events
order by county_code, year, school_code, event
