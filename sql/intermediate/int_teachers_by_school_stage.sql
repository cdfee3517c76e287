-- int_teachers_by_school_stage: teaching staff by school, stage and year, a row without a stage split between the school's stages.
-- Grain: one row per (year, school_code, stage); stage is null only for a school without pupils whose row gave none.
-- Inputs: stg_teachers, int_pupils_by_school_stage
-- Methodology: §2 (b6–b8), §3 (q1–q3), inputs.md teachers; a row without a stage (a source that counts a school's teachers once: [settings] teachers_without_stage = apportion_by_pupils, or a school whose type is derived from its grades) is split between the stages the school has pupils in, in whole teachers: primary = round(T · P_primary / (P_primary + P_junior)), junior = T − primary; with [settings] teacher_counts = fte, in hundredths of a full-time equivalent (round(…, 2)); the rounding and the type are the variables teacher_count_decimals and teacher_count_type of the run (transform::ModelVars)
-- Checks: unique (year, school_code, stage)
with

own_pupils as (
    select
        year,
        school_code,
        coalesce(sum(case when stage = 'primary' then students end), 0) as p_primary,
        coalesce(sum(case when stage = 'junior' then students end), 0) as p_junior
    from int_pupils_by_school_stage
    group by year, school_code
),

-- The stages a row without a stage is split into, with the primary share of the school's pupils.
parts as (
    select
        t.year,
        t.school_code,
        s.stage,
        cast(p.p_primary as double) / (p.p_primary + p.p_junior) as primary_share
    from stg_teachers as t
    join own_pupils as p on t.year = p.year and t.school_code = p.school_code
    cross join (select 'primary' as stage union all select 'junior' as stage) as s
    where t.stage is null
        and p.p_primary + p.p_junior > 0
        and ((s.stage = 'primary' and p.p_primary > 0) or (s.stage = 'junior' and p.p_junior > 0))
),

stated as (
    select
        county_code, year, school_code, stage, posts_established, staff_on_payroll, full_time_teachers,
        teachers_above_degree, teachers_mid_senior_title, backbone_teachers, pe_arts_teachers, teachers_exchanged,
        backbone_exchanged, certified_teachers, trained_360h, exchange_eligible, source_uri, source_row
    from stg_teachers as t
    where t.stage is not null
        or not exists (
            select 1 from own_pupils as p
            where p.year = t.year and p.school_code = t.school_code and p.p_primary + p.p_junior > 0
        )
),

apportioned as (
    select
        t.county_code,
        t.year,
        t.school_code,
        x.stage,
        cast(case x.stage when 'primary' then round(t.posts_established * x.primary_share, {{ teacher_count_decimals }}) else t.posts_established - round(t.posts_established * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as posts_established,
        cast(case x.stage when 'primary' then round(t.staff_on_payroll * x.primary_share, {{ teacher_count_decimals }}) else t.staff_on_payroll - round(t.staff_on_payroll * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as staff_on_payroll,
        cast(case x.stage when 'primary' then round(t.full_time_teachers * x.primary_share, {{ teacher_count_decimals }}) else t.full_time_teachers - round(t.full_time_teachers * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as full_time_teachers,
        cast(case x.stage when 'primary' then round(t.teachers_above_degree * x.primary_share, {{ teacher_count_decimals }}) else t.teachers_above_degree - round(t.teachers_above_degree * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as teachers_above_degree,
        cast(case x.stage when 'primary' then round(t.teachers_mid_senior_title * x.primary_share, {{ teacher_count_decimals }}) else t.teachers_mid_senior_title - round(t.teachers_mid_senior_title * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as teachers_mid_senior_title,
        cast(case x.stage when 'primary' then round(t.backbone_teachers * x.primary_share, {{ teacher_count_decimals }}) else t.backbone_teachers - round(t.backbone_teachers * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as backbone_teachers,
        cast(case x.stage when 'primary' then round(t.pe_arts_teachers * x.primary_share, {{ teacher_count_decimals }}) else t.pe_arts_teachers - round(t.pe_arts_teachers * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as pe_arts_teachers,
        cast(case x.stage when 'primary' then round(t.teachers_exchanged * x.primary_share, {{ teacher_count_decimals }}) else t.teachers_exchanged - round(t.teachers_exchanged * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as teachers_exchanged,
        cast(case x.stage when 'primary' then round(t.backbone_exchanged * x.primary_share, {{ teacher_count_decimals }}) else t.backbone_exchanged - round(t.backbone_exchanged * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as backbone_exchanged,
        cast(case x.stage when 'primary' then round(t.certified_teachers * x.primary_share, {{ teacher_count_decimals }}) else t.certified_teachers - round(t.certified_teachers * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as certified_teachers,
        cast(case x.stage when 'primary' then round(t.trained_360h * x.primary_share, {{ teacher_count_decimals }}) else t.trained_360h - round(t.trained_360h * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as trained_360h,
        cast(case x.stage when 'primary' then round(t.exchange_eligible * x.primary_share, {{ teacher_count_decimals }}) else t.exchange_eligible - round(t.exchange_eligible * x.primary_share, {{ teacher_count_decimals }}) end as {{ teacher_count_type }}) as exchange_eligible,
        t.source_uri,
        t.source_row
    from stg_teachers as t
    join parts as x on t.year = x.year and t.school_code = x.school_code
    where t.stage is null
)

select * from stated
union all
select * from apportioned
