-- int_investments_by_year: investment per county and fiscal year by category, and cumulative from the first year reported.
-- Grain: one row per (county_code, year).
-- Inputs: stg_investments
-- Methodology: §5 (investment by category and cumulative), §6 (equipment units added)
-- Checks: unique (county_code, year)
with

by_year as (
    select
        county_code,
        year,
        sum(amount) as investment_total,
        sum(case when category = 'standardisation' then amount else 0 end) as investment_standardisation,
        sum(case when category = 'new_building' then amount else 0 end) as investment_new_building,
        sum(case when category = 'renovation' then amount else 0 end) as investment_renovation,
        sum(case when category = 'equipment' then amount else 0 end) as investment_equipment,
        sum(case when category = 'ict' then amount else 0 end) as investment_ict,
        sum(case when category = 'teacher_training' then amount else 0 end) as investment_teacher_training,
        sum(case when category = 'student_aid' then amount else 0 end) as investment_student_aid,
        sum(case when category = 'safety' then amount else 0 end) as investment_safety,
        sum(case when category = 'other' then amount else 0 end) as investment_other,
        sum(units_added) as units_added
    from stg_investments
    group by county_code, year
),

final as (
    select
        *,
        sum(investment_total) over running as cumulative_total,
        sum(investment_standardisation) over running as cumulative_standardisation,
        sum(investment_new_building) over running as cumulative_new_building,
        sum(investment_renovation) over running as cumulative_renovation,
        sum(investment_equipment) over running as cumulative_equipment,
        sum(investment_ict) over running as cumulative_ict,
        sum(investment_teacher_training) over running as cumulative_teacher_training,
        sum(investment_student_aid) over running as cumulative_student_aid,
        sum(investment_safety) over running as cumulative_safety,
        sum(investment_other) over running as cumulative_other,
        sum(units_added) over running as cumulative_units_added
    from by_year
    window running as (partition by county_code order by year rows between unbounded preceding and current row)
)

select * from final
