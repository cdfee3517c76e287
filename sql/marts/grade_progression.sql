-- grade_progression: pupils of a grade who are found in the next grade of the same school a year later (the grade-progression ratio).
-- Grain: one row per (county_code, year, from_grade); year is the first of the two census years.
-- Inputs: int_pupils_with_school
-- Methodology: §4 (a per-grade complement to cohort retention, for sources without entrants); schools matched on their code within their county, both years present
-- Checks: unique (county_code, year, from_grade); not_null (county_code, year, from_grade)
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 年份 | | census year t
--   from_grade | 年级 | | grade g at census t
--   to_grade | 次年年级 | | grade g + 1 at census t + 1
--   schools | 学校数 | 所 | schools with grade g at t and grade g + 1 at t + 1
--   students | 在校生数 | 人 | grade-g pupils at t in those schools
--   next_year_students | 次年在校生数 | 人 | grade-(g + 1) pupils at t + 1 in the same schools
--   progression_rate | 升级率 | 比率 | next_year_students ÷ students (above 1 with transfers in)
with

pupils as (
    select county_code, year, school_code, grade, students from int_pupils_with_school
),

matched as (
    select
        cur.county_code,
        cur.year,
        cur.grade as from_grade,
        cur.grade + 1 as to_grade,
        cur.school_code,
        cur.students,
        nxt.students as next_year_students
    from pupils as cur
    join pupils as nxt
        on nxt.county_code = cur.county_code and nxt.school_code = cur.school_code and nxt.year = cur.year + 1
            and nxt.grade = cur.grade + 1
)

select
    county_code,
    year,
    from_grade,
    to_grade,
    count(*) as schools,
    sum(students) as students,
    sum(next_year_students) as next_year_students,
    cast(sum(next_year_students) as double) / nullif(sum(students), 0) as progression_rate
from matched
group by county_code, year, from_grade, to_grade
order by county_code, year, from_grade
