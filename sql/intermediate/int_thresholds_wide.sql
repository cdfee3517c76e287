-- int_thresholds_wide: the thresholds and standards in effect, one column per threshold, one row per stage.
-- Grain: one row per stage (primary, junior, all).
-- Inputs: ref_thresholds (sql/reference/thresholds.csv with the pipeline's [standards])
-- Methodology: §2, §3, §5 thresholds; assessment.md §2 (the quality-balance items' parameters)
-- Checks: unique (stage)
select
    stage,
    max(case when threshold_id = 'basic_composite_cv_max' then value end) as basic_composite_cv_max,
    max(case when threshold_id = 'quality_cv_max' then value end) as quality_cv_max,
    max(case when threshold_id = 'q1_standard' then value end) as q1_standard,
    max(case when threshold_id = 'q2_standard' then value end) as q2_standard,
    max(case when threshold_id = 'q3_standard' then value end) as q3_standard,
    max(case when threshold_id = 'q4_standard' then value end) as q4_standard,
    max(case when threshold_id = 'q5_standard' then value end) as q5_standard,
    max(case when threshold_id = 'q6_standard' then value end) as q6_standard,
    max(case when threshold_id = 'q7_standard' then value end) as q7_standard,
    max(case when threshold_id = 'standards_min_reached' then value end) as standards_min_reached,
    max(case when threshold_id = 'standards_other_min_ratio' then value end) as standards_other_min_ratio,
    max(case when threshold_id = 'standards_min_pupils_teaching_point' then value end) as standards_min_pupils_teaching_point,
    max(case when threshold_id = 'class_size_max' then value end) as class_size_max,
    max(case when threshold_id = 'large_class_min' then value end) as large_class_min,
    max(case when threshold_id = 'huge_class_min' then value end) as huge_class_min,
    max(case when threshold_id = 'school_size_max' then value end) as school_size_max,
    max(case when threshold_id = 'school_size_max_multi_stage' then value end) as school_size_max_multi_stage,
    max(case when threshold_id = 'junior_retention_min' then value end) as junior_retention_min,
    max(case when threshold_id = 'satisfaction_min' then value end) as satisfaction_min,
    max(case when threshold_id = 'teacher_exchange_min' then value end) as teacher_exchange_min,
    max(case when threshold_id = 'backbone_exchange_min' then value end) as backbone_exchange_min,
    max(case when threshold_id = 'building_area_per_pupil_min' then value end) as building_area_per_pupil_min,
    max(case when threshold_id = 'two_never_decrease_from_year' then value end) as two_never_decrease_from_year,
    max(case when threshold_id = 'special_rooms_classes' then value end) as special_rooms_classes,
    max(case when threshold_id = 'small_school_funding_pupils' then value end) as small_school_funding_pupils,
    max(case when threshold_id = 'training_budget_share_min' then value end) as training_budget_share_min,
    max(case when threshold_id = 'monitoring_level_min' then value end) as monitoring_level_min,
    max(case when threshold_id = 'monitoring_difference_rate_max' then value end) as monitoring_difference_rate_max
from ref_thresholds
group by stage
