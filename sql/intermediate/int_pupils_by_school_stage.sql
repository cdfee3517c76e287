-- int_pupils_by_school_stage: a school's own pupils, classes and large classes in one stage of one year.
-- Grain: one row per (year, school_code, stage).
-- Inputs: int_pupils_with_school, int_thresholds_wide
-- Methodology: §1 (pupils decide the stage by grade); §3 (大班额 ≥ large_class_min, 超大班额 ≥ huge_class_min per class; with per-grade data a grade's pupils ÷ classes)
-- Checks: unique (year, school_code, stage)
with

limits as (
    select large_class_min, huge_class_min from int_thresholds_wide where stage = 'all'
),

final as (
    select
        p.county_code,
        p.year,
        p.school_code,
        p.stage,
        sum(p.students) as students,
        sum(p.classes) as classes,
        sum(case when p.classes > 0 and p.students >= limits.large_class_min * p.classes then p.classes end) as large_classes,
        sum(case when p.classes > 0 and p.students >= limits.huge_class_min * p.classes then p.classes end) as huge_classes
    from int_pupils_with_school as p
    cross join limits
    group by p.county_code, p.year, p.school_code, p.stage
)

select * from final
