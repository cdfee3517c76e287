-- enrolment_trend: pupils, entrants, graduates, classes and class sizes by stage and urban–rural area, year on year.
-- Grain: one row per (county_code, year, stage, area_type); stage and area_type each also 'all'.
-- Inputs: int_pupils_with_school, int_thresholds_wide
-- Methodology: §4 (stage enrolment, shares, year-on-year change and compound growth); §3 (class size, 大班额 ≥ {large_class_min}, 超大班额 ≥ {huge_class_min})
-- Checks: unique (county_code, year, stage, area_type); not_null (county_code, year, stage, area_type); large_classes <= classes; huge_classes <= large_classes; change is null or students - change >= 0
-- Columns:
--   county_code | 县区代码 | | 6-digit administrative division code
--   year | 年份 | | statistical year (autumn census)
--   stage | 学段 | | primary, junior or all
--   area_type | 城乡分类 | | urban, town, rural or all
--   schools | 学校数 | 所 | schools and teaching points with pupils of this stage and area
--   students | 在校生数 | 人 | pupils enrolled
--   entrants | 招生数 | 人 | pupils who entered (entry grades)
--   graduates | 毕业生数 | 人 | graduates of the school year that ended at the census
--   classes | 班数 | 个 | classes
--   avg_class_size | 平均班额 | 人/班 | students ÷ classes
--   large_classes | 大班额班数 | 个 | classes of grade-rows averaging at least {large_class_min} pupils
--   huge_classes | 超大班额班数 | 个 | classes of grade-rows averaging at least {huge_class_min} pupils
--   large_class_share | 大班额比例 | 比率 | large_classes ÷ classes
--   huge_class_share | 超大班额比例 | 比率 | huge_classes ÷ classes
--   change | 增减人数 | 人 | students minus the previous year's (null in a series' first year or after a gap)
--   change_rate | 增减率 | 比率 | change ÷ previous year's students
--   cagr | 年均增长率 | 比率 | compound annual growth of students since the series' first year
--   left_behind | 农村留守儿童 | 人 | rural left-behind children
--   left_behind_share | 留守儿童比例 | 比率 | left_behind ÷ students
--   migrant | 进城务工人员随迁子女 | 人 | children of migrant workers
--   migrant_share | 随迁子女比例 | 比率 | migrant ÷ students
--   special_needs | 随班就读 | 人 | pupils with special needs in regular classes
--   special_needs_share | 随班就读比例 | 比率 | special_needs ÷ students
with

limits as (
    select large_class_min, huge_class_min from int_thresholds_wide where stage = 'all'
),

pupils as (
    select
        p.*,
        case when p.classes > 0 and p.students >= limits.large_class_min * p.classes then p.classes end as large_classes,
        case when p.classes > 0 and p.students >= limits.huge_class_min * p.classes then p.classes end as huge_classes
    from int_pupils_with_school as p
    cross join limits
),

rolled_up as (
    select
        county_code,
        year,
        coalesce(stage, 'all') as stage,
        coalesce(area_type, 'all') as area_type,
        sum(students) as students,
        sum(entrants) as entrants,
        sum(graduates) as graduates,
        sum(classes) as classes,
        coalesce(sum(large_classes), 0) as large_classes,
        coalesce(sum(huge_classes), 0) as huge_classes,
        sum(left_behind) as left_behind,
        sum(migrant) as migrant,
        sum(special_needs) as special_needs
    from pupils
    group by county_code, year, cube (stage, area_type)
),

-- Schools are counted from distinct (school, stage, area) rows, not with count(distinct) over the
-- cube: a distinct-count accumulator per group costs tens of kilobytes, gigabytes nationally.
present as (
    select distinct county_code, year, stage, area_type, school_code from pupils where students > 0
),

school_counts as (
    select county_code, year, stage, area_type, count(*) as schools
    from present
    group by county_code, year, stage, area_type
    union all
    select county_code, year, null as stage, area_type, count(*) as schools
    from (select distinct county_code, year, area_type, school_code from present)
    group by county_code, year, area_type
    union all
    select county_code, year, stage, null as area_type, count(*) as schools
    from (select distinct county_code, year, stage, school_code from present)
    group by county_code, year, stage
    union all
    select county_code, year, null as stage, null as area_type, count(*) as schools
    from (select distinct county_code, year, school_code from present)
    group by county_code, year
),

counted as (
    select r.*, coalesce(c.schools, 0) as schools
    from rolled_up as r
    left join school_counts as c
        on c.county_code = r.county_code
        and c.year = r.year
        and coalesce(c.stage, 'all') = r.stage
        and coalesce(c.area_type, 'all') = r.area_type
),

with_previous as (
    select
        *,
        lag(year) over series as previous_year,
        lag(students) over series as previous_students,
        first_value(year) over series as first_year,
        first_value(students) over series as first_students
    from counted
    window series as (partition by county_code, stage, area_type order by year)
),

final as (
    select
        county_code,
        year,
        stage,
        area_type,
        schools,
        students,
        entrants,
        graduates,
        classes,
        cast(students as double) / nullif(classes, 0) as avg_class_size,
        large_classes,
        huge_classes,
        cast(large_classes as double) / nullif(classes, 0) as large_class_share,
        cast(huge_classes as double) / nullif(classes, 0) as huge_class_share,
        case when previous_year = year - 1 then students - previous_students end as change,
        case when previous_year = year - 1 then cast(students - previous_students as double) / nullif(previous_students, 0) end as change_rate,
        case
            when year > first_year and first_students > 0
                then power(cast(students as double) / first_students, 1.0 / (year - first_year)) - 1
        end as cagr,
        left_behind,
        cast(left_behind as double) / nullif(students, 0) as left_behind_share,
        migrant,
        cast(migrant as double) / nullif(students, 0) as migrant_share,
        special_needs,
        cast(special_needs as double) / nullif(students, 0) as special_needs_share
    from with_previous
)

select * from final
order by county_code, year, stage, area_type
