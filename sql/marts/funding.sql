-- funding: 三个增长 (the "three increases") leg by leg, the appropriation gap, 两个只增不减 from {two_never_decrease_from_year}, investment by category and cumulative, and arrears against repayment.
-- Grain: one row per (county_code, year); year is the fiscal (calendar) year.
-- Inputs: stg_finance, int_investments_by_year, int_pupils_with_school, int_thresholds_wide, ref_settings
-- Methodology: §5 — g(V) = (V_t − V_{t−1}) / V_{t−1}, rises strict; leg 1 g(appropriation) > g(revenue); leg 2 both per-pupil expenditures rise; leg 3 both per-pupil public funds rise and the salary rises when both years report it; no legs without year t − 1; appropriation_gap = app_{t−1}·rev_t/rev_{t−1} − app_t when leg 1 fails, else 0; 两个只增不减 from two_never_decrease_from_year: general education expenditure and that per pupil (÷ the county's compulsory pupils) do not fall
-- Checks: unique (county_code, year); not_null (county_code, year); appropriation_gap >= 0
-- Columns:
--   county_code | 县区代码 | | 6-digit county code
--   year | 财政年度 | | fiscal year
--   recurrent_revenue | 财政经常性收入 | 元 | recurrent fiscal revenue
--   education_appropriation | 教育财政拨款 | 元 | fiscal appropriation for compulsory education
--   exp_per_pupil_primary | 小学生均教育事业费 | 元 | budgetary expenditure per primary pupil
--   exp_per_pupil_junior | 初中生均教育事业费 | 元 | budgetary expenditure per junior pupil
--   public_funds_per_pupil_primary | 小学生均公用经费 | 元 | public funds per primary pupil
--   public_funds_per_pupil_junior | 初中生均公用经费 | 元 | public funds per junior pupil
--   avg_teacher_salary | 教职工年人均工资 | 元 | average annual teacher salary
--   general_education_expenditure | 一般公共预算教育支出 | 元 | general public budget education expenditure
--   students | 在校生数 | 人 | the county's compulsory-education pupils at that year's census
--   general_education_expenditure_per_pupil | 生均一般公共预算教育支出 | 元 | general_education_expenditure ÷ students
--   revenue_growth | 经常性收入增长率 | 比率 | g(recurrent_revenue)
--   appropriation_growth | 教育拨款增长率 | 比率 | g(education_appropriation)
--   exp_per_pupil_primary_growth | 小学生均教育事业费增长率 | 比率 | g(exp_per_pupil_primary)
--   exp_per_pupil_junior_growth | 初中生均教育事业费增长率 | 比率 | g(exp_per_pupil_junior)
--   public_funds_per_pupil_primary_growth | 小学生均公用经费增长率 | 比率 | g(public_funds_per_pupil_primary)
--   public_funds_per_pupil_junior_growth | 初中生均公用经费增长率 | 比率 | g(public_funds_per_pupil_junior)
--   avg_teacher_salary_growth | 教师工资增长率 | 比率 | g(avg_teacher_salary)
--   appropriation_outpaces_revenue | 教育拨款增长高于经常性收入增长 | | leg 1
--   per_pupil_expenditure_rises | 生均教育事业费逐年增长 | | leg 2
--   public_funds_and_salary_rise | 生均公用经费和教师工资逐年增长 | | leg 3
--   three_increases_met | 三个增长 | | all three legs
--   appropriation_gap | 应增拨教育经费 | 元 | the extra appropriation leg 1 needed (0 when met)
--   two_never_decrease | 两个只增不减 | | general education expenditure and that per pupil did not fall (from {two_never_decrease_from_year})
--   arrears_committed | 欠拨教育经费 | 元 | arrears of this year the government committed to make up
--   arrears_repaid | 补拨教育经费 | 元 | arrears paid this year
--   arrears_outstanding | 尚欠教育经费 | 元 | committed to date − repaid to date
--   investment_total | 投入合计 | 元 | investment this year, all categories
--   investment_standardisation | 标准化建设投入 | 元 | investment in standardisation
--   investment_new_building | 新建校舍投入 | 元 | investment in new buildings
--   investment_renovation | 维修改造投入 | 元 | renovation and weak-school improvement
--   investment_equipment | 教学仪器设备购置投入 | 元 | teaching equipment purchases
--   investment_ict | 信息化建设投入 | 元 | ICT
--   investment_teacher_training | 教师培训投入 | 元 | teacher training
--   investment_student_aid | 学生资助投入 | 元 | student aid
--   investment_safety | 校园安全投入 | 元 | campus safety
--   investment_other | 其他投入 | 元 | other
--   units_added | 增添设备台套 | 台套 | units of equipment added this year
--   cumulative_total | 累计投入 | 元 | investment to date, all categories
--   cumulative_standardisation | 累计标准化建设投入 | 元 | to date
--   cumulative_new_building | 累计新建校舍投入 | 元 | to date
--   cumulative_renovation | 累计维修改造投入 | 元 | to date
--   cumulative_equipment | 累计教学仪器设备购置投入 | 元 | to date
--   cumulative_ict | 累计信息化建设投入 | 元 | to date
--   cumulative_teacher_training | 累计教师培训投入 | 元 | to date
--   cumulative_student_aid | 累计学生资助投入 | 元 | to date
--   cumulative_safety | 累计校园安全投入 | 元 | to date
--   cumulative_other | 累计其他投入 | 元 | to date
--   cumulative_units_added | 累计增添设备台套 | 台套 | to date
--   currency | 货币 | | ISO 4217 code of every amount of the row (the pipeline's [settings] currency; never converted)
with

students as (
    select county_code, year, sum(students) as students
    from int_pupils_with_school
    group by county_code, year
),

finance as (
    select f.*, s.students, f.general_education_expenditure / nullif(s.students, 0) as general_education_expenditure_per_pupil
    from stg_finance as f
    left join students as s on f.county_code = s.county_code and f.year = s.year
),

fiscal_years as (
    select county_code, year from finance
    union
    select county_code, year from int_investments_by_year
),

growth as (
    select
        cur.*,
        prev.year as previous_year,
        prev.recurrent_revenue as previous_revenue,
        prev.education_appropriation as previous_appropriation,
        (cur.recurrent_revenue - prev.recurrent_revenue) / nullif(prev.recurrent_revenue, 0) as revenue_growth,
        (cur.education_appropriation - prev.education_appropriation) / nullif(prev.education_appropriation, 0) as appropriation_growth,
        (cur.exp_per_pupil_primary - prev.exp_per_pupil_primary) / nullif(prev.exp_per_pupil_primary, 0) as exp_per_pupil_primary_growth,
        (cur.exp_per_pupil_junior - prev.exp_per_pupil_junior) / nullif(prev.exp_per_pupil_junior, 0) as exp_per_pupil_junior_growth,
        (cur.public_funds_per_pupil_primary - prev.public_funds_per_pupil_primary) / nullif(prev.public_funds_per_pupil_primary, 0) as public_funds_per_pupil_primary_growth,
        (cur.public_funds_per_pupil_junior - prev.public_funds_per_pupil_junior) / nullif(prev.public_funds_per_pupil_junior, 0) as public_funds_per_pupil_junior_growth,
        (cur.avg_teacher_salary - prev.avg_teacher_salary) / nullif(prev.avg_teacher_salary, 0) as avg_teacher_salary_growth,
        case when prev.year is not null then
            cur.exp_per_pupil_primary > prev.exp_per_pupil_primary and cur.exp_per_pupil_junior > prev.exp_per_pupil_junior
        end as per_pupil_expenditure_rises,
        case when prev.year is not null then
            cur.public_funds_per_pupil_primary > prev.public_funds_per_pupil_primary
            and cur.public_funds_per_pupil_junior > prev.public_funds_per_pupil_junior
            and (cur.avg_teacher_salary is null or prev.avg_teacher_salary is null or cur.avg_teacher_salary > prev.avg_teacher_salary)
        end as public_funds_and_salary_rise,
        case when prev.year is not null and cur.year >= limits.two_never_decrease_from_year then
            cur.general_education_expenditure >= prev.general_education_expenditure
            and cur.general_education_expenditure_per_pupil >= prev.general_education_expenditure_per_pupil
        end as two_never_decrease
    from finance as cur
    left join finance as prev on prev.county_code = cur.county_code and prev.year = cur.year - 1
    cross join (select two_never_decrease_from_year from int_thresholds_wide where stage = 'all') as limits
),

legs as (
    select
        *,
        case when previous_year is not null then appropriation_growth > revenue_growth end as appropriation_outpaces_revenue
    from growth
),

arrears as (
    select
        county_code,
        year,
        sum(coalesce(arrears_committed, 0)) over running - sum(coalesce(arrears_repaid, 0)) over running as arrears_outstanding
    from stg_finance
    window running as (partition by county_code order by year rows between unbounded preceding and current row)
),

final as (
    select
        fy.county_code,
        fy.year,
        l.recurrent_revenue,
        l.education_appropriation,
        l.exp_per_pupil_primary,
        l.exp_per_pupil_junior,
        l.public_funds_per_pupil_primary,
        l.public_funds_per_pupil_junior,
        l.avg_teacher_salary,
        l.general_education_expenditure,
        l.students,
        l.general_education_expenditure_per_pupil,
        l.revenue_growth,
        l.appropriation_growth,
        l.exp_per_pupil_primary_growth,
        l.exp_per_pupil_junior_growth,
        l.public_funds_per_pupil_primary_growth,
        l.public_funds_per_pupil_junior_growth,
        l.avg_teacher_salary_growth,
        l.appropriation_outpaces_revenue,
        l.per_pupil_expenditure_rises,
        l.public_funds_and_salary_rise,
        l.appropriation_outpaces_revenue and l.per_pupil_expenditure_rises and l.public_funds_and_salary_rise as three_increases_met,
        case
            when l.appropriation_outpaces_revenue then 0.0
            when not l.appropriation_outpaces_revenue
                then l.previous_appropriation * l.recurrent_revenue / l.previous_revenue - l.education_appropriation
        end as appropriation_gap,
        l.two_never_decrease,
        l.arrears_committed,
        l.arrears_repaid,
        a.arrears_outstanding,
        i.investment_total,
        i.investment_standardisation,
        i.investment_new_building,
        i.investment_renovation,
        i.investment_equipment,
        i.investment_ict,
        i.investment_teacher_training,
        i.investment_student_aid,
        i.investment_safety,
        i.investment_other,
        i.units_added,
        i.cumulative_total,
        i.cumulative_standardisation,
        i.cumulative_new_building,
        i.cumulative_renovation,
        i.cumulative_equipment,
        i.cumulative_ict,
        i.cumulative_teacher_training,
        i.cumulative_student_aid,
        i.cumulative_safety,
        i.cumulative_other,
        i.cumulative_units_added,
        settings.currency
    from fiscal_years as fy
    cross join ref_settings as settings
    left join legs as l on fy.county_code = l.county_code and fy.year = l.year
    left join arrears as a on fy.county_code = a.county_code and fy.year = a.year
    left join int_investments_by_year as i on fy.county_code = i.county_code and fy.year = i.year
)

select * from final
order by county_code, year
