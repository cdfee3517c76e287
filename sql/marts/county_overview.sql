-- county_overview: the headline figures of a county's year, as in the first paragraph of a county report.
-- Grain: one row per (county_code, year).
-- Inputs: int_county_years, int_schools, int_pupils_with_school, int_teachers_by_school_stage, stg_facilities, stg_survey
-- Methodology: outputs.md county_overview; §4 (stage enrolment); §6 (pupils per computer)
-- Checks: unique (county_code, year); not_null (county_code, year); students = students_primary + students_junior; students = students_urban + students_town + students_rural + students_unknown
-- Columns:
--   county_code | 县区代码 | | 6-digit administrative division code
--   county_name | 县区名称 | | name of the county (from the schools table)
--   year | 年份 | | statistical year (autumn census)
--   schools | 学校数 | 所 | schools, teaching points not counted (private schools included)
--   schools_primary | 小学数 | 所 | primary schools
--   schools_junior | 初级中学数 | 所 | junior secondary schools
--   schools_nine_year | 九年一贯制学校数 | 所 | nine-year schools
--   schools_twelve_year | 十二年一贯制学校数 | 所 | twelve-year schools
--   schools_complete_secondary | 完全中学数 | 所 | complete secondary schools
--   schools_teaching_point | 教学点数 | 个 | teaching points
--   schools_private | 民办学校数 | 所 | private schools and teaching points among them
--   schools_standardised | 标准化学校数 | 所 | schools marked as passing provincial standardisation
--   students | 在校生数 | 人 | pupils enrolled, all schools and teaching points
--   students_primary | 小学在校生数 | 人 | pupils in primary grades
--   students_junior | 初中在校生数 | 人 | pupils in junior grades
--   students_urban | 城区在校生数 | 人 | pupils in schools classified urban (城区)
--   students_town | 镇区在校生数 | 人 | pupils in schools classified town (镇区)
--   students_rural | 乡村在校生数 | 人 | pupils in schools classified rural (乡村)
--   students_unknown | 城乡类型不详在校生数 | 人 | pupils in schools the source does not classify (area_type unknown): in no urban, town or rural figure
--   students_primary_urban | 城区小学在校生数 | 人 | primary pupils in urban schools
--   students_primary_town | 镇区小学在校生数 | 人 | primary pupils in town schools
--   students_primary_rural | 乡村小学在校生数 | 人 | primary pupils in rural schools
--   students_junior_urban | 城区初中在校生数 | 人 | junior pupils in urban schools
--   students_junior_town | 镇区初中在校生数 | 人 | junior pupils in town schools
--   students_junior_rural | 乡村初中在校生数 | 人 | junior pupils in rural schools
--   classes | 班数 | 个 | classes
--   full_time_teachers | 专任教师数 | 人 | full-time teachers
--   posts_established | 核定编制数 | 个 | established staff posts
--   staff_on_payroll | 在编教职工数 | 人 | staff on the payroll
--   posts_vacant | 空编数 | 个 | established posts minus staff on payroll
--   site_area_m2 | 占地面积 | 平方米 | school site area
--   building_area_m2 | 校舍建筑面积 | 平方米 | school building floor area
--   building_area_per_pupil | 生均校舍建筑面积 | 平方米/生 | building area ÷ pupils
--   equipment_value | 教学仪器设备值 | 元 | value of teaching equipment
--   books | 图书册数 | 册 | library books
--   computers | 计算机台数 | 台 | computers for teaching
--   computers_per_pupil | 生均计算机台数 | 台/生 | computers ÷ pupils (the seed report's "生机比 0.114")
--   pupils_per_computer | 生机比 | 生/台 | pupils ÷ computers (生机比 N:1)
--   questionnaires | 问卷总数 | 份 | satisfaction questionnaires handed out
--   valid_questionnaires | 有效问卷 | 份 | valid questionnaires
--   satisfied | 满意问卷数 | 份 | questionnaires answering satisfied
--   satisfaction_rate | 满意度 | 比率 | satisfied ÷ valid questionnaires (fraction)
with

county_years as (
    select * from int_county_years
),

schools as (
    select
        county_code,
        year,
        sum(case when school_type <> 'teaching_point' then 1 else 0 end) as schools,
        sum(case when school_type = 'primary' then 1 else 0 end) as schools_primary,
        sum(case when school_type = 'junior' then 1 else 0 end) as schools_junior,
        sum(case when school_type = 'nine_year' then 1 else 0 end) as schools_nine_year,
        sum(case when school_type = 'twelve_year' then 1 else 0 end) as schools_twelve_year,
        sum(case when school_type = 'complete_secondary' then 1 else 0 end) as schools_complete_secondary,
        sum(case when school_type = 'teaching_point' then 1 else 0 end) as schools_teaching_point,
        sum(case when not is_public then 1 else 0 end) as schools_private,
        sum(case when is_standardised and school_type <> 'teaching_point' then 1 else 0 end) as schools_standardised
    from int_schools
    group by county_code, year
),

pupils as (
    select
        county_code,
        year,
        sum(students) as students,
        sum(case when stage = 'primary' then students else 0 end) as students_primary,
        sum(case when stage = 'junior' then students else 0 end) as students_junior,
        sum(case when area_type = 'urban' then students else 0 end) as students_urban,
        sum(case when area_type = 'town' then students else 0 end) as students_town,
        sum(case when area_type = 'rural' then students else 0 end) as students_rural,
        sum(case when area_type = 'unknown' then students else 0 end) as students_unknown,
        sum(case when stage = 'primary' and area_type = 'urban' then students else 0 end) as students_primary_urban,
        sum(case when stage = 'primary' and area_type = 'town' then students else 0 end) as students_primary_town,
        sum(case when stage = 'primary' and area_type = 'rural' then students else 0 end) as students_primary_rural,
        sum(case when stage = 'junior' and area_type = 'urban' then students else 0 end) as students_junior_urban,
        sum(case when stage = 'junior' and area_type = 'town' then students else 0 end) as students_junior_town,
        sum(case when stage = 'junior' and area_type = 'rural' then students else 0 end) as students_junior_rural,
        sum(classes) as classes
    from int_pupils_with_school
    group by county_code, year
),

teachers as (
    select
        county_code,
        year,
        sum(full_time_teachers) as full_time_teachers,
        sum(posts_established) as posts_established,
        sum(staff_on_payroll) as staff_on_payroll
    from int_teachers_by_school_stage
    group by county_code, year
),

facilities as (
    select
        county_code,
        year,
        sum(site_area_m2) as site_area_m2,
        sum(building_area_m2) as building_area_m2,
        sum(equipment_value) as equipment_value,
        sum(books) as books,
        sum(computers) as computers
    from stg_facilities
    group by county_code, year
),

survey as (
    select county_code, year, questionnaires, valid_questionnaires, satisfied
    from stg_survey
),

final as (
    select
        county_years.county_code,
        county_years.county_name,
        county_years.year,
        coalesce(schools.schools, 0) as schools,
        coalesce(schools.schools_primary, 0) as schools_primary,
        coalesce(schools.schools_junior, 0) as schools_junior,
        coalesce(schools.schools_nine_year, 0) as schools_nine_year,
        coalesce(schools.schools_twelve_year, 0) as schools_twelve_year,
        coalesce(schools.schools_complete_secondary, 0) as schools_complete_secondary,
        coalesce(schools.schools_teaching_point, 0) as schools_teaching_point,
        coalesce(schools.schools_private, 0) as schools_private,
        coalesce(schools.schools_standardised, 0) as schools_standardised,
        pupils.students,
        pupils.students_primary,
        pupils.students_junior,
        pupils.students_urban,
        pupils.students_town,
        pupils.students_rural,
        pupils.students_unknown,
        pupils.students_primary_urban,
        pupils.students_primary_town,
        pupils.students_primary_rural,
        pupils.students_junior_urban,
        pupils.students_junior_town,
        pupils.students_junior_rural,
        pupils.classes,
        teachers.full_time_teachers,
        teachers.posts_established,
        teachers.staff_on_payroll,
        teachers.posts_established - teachers.staff_on_payroll as posts_vacant,
        facilities.site_area_m2,
        facilities.building_area_m2,
        facilities.building_area_m2 / nullif(pupils.students, 0) as building_area_per_pupil,
        facilities.equipment_value,
        facilities.books,
        facilities.computers,
        cast(facilities.computers as double) / nullif(pupils.students, 0) as computers_per_pupil,
        cast(pupils.students as double) / nullif(facilities.computers, 0) as pupils_per_computer,
        survey.questionnaires,
        survey.valid_questionnaires,
        survey.satisfied,
        cast(survey.satisfied as double) / nullif(survey.valid_questionnaires, 0) as satisfaction_rate
    from county_years
    left join schools on county_years.county_code = schools.county_code and county_years.year = schools.year
    left join pupils on county_years.county_code = pupils.county_code and county_years.year = pupils.year
    left join teachers on county_years.county_code = teachers.county_code and county_years.year = teachers.year
    left join facilities on county_years.county_code = facilities.county_code and county_years.year = facilities.year
    left join survey on county_years.county_code = survey.county_code and county_years.year = survey.year
)

select * from final
order by county_code, year
