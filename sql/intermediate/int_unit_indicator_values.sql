-- int_unit_indicator_values: the indicator values of the units that enter the balance indicators, one row per indicator.
-- Grain: one row per (year, unit_id, indicator), units in balance (public, with pupils) whose value is known.
-- Inputs: int_unit_indicators, ref_indicators
-- Methodology: §2, §3 — a unit lacking an indicator's numerator is left out of that indicator only
-- Checks: unique (year, unit_id, indicator)
with

units as (
    select * from int_unit_indicators where in_balance
),

long as (
    select
        u.county_code,
        u.year,
        u.stage,
        u.unit_id,
        i.scheme,
        i.indicator,
        cast(u.students as double) as pupils,
        case i.indicator
            when 'b1' then u.b1 when 'b2' then u.b2 when 'b3' then u.b3 when 'b4' then u.b4
            when 'b5' then u.b5 when 'b6' then u.b6 when 'b7' then u.b7 when 'b8' then u.b8
            when 'q1' then u.q1 when 'q2' then u.q2 when 'q3' then u.q3 when 'q4' then u.q4
            when 'q5' then u.q5 when 'q6' then u.q6 when 'q7' then u.q7
        end as value
    from units as u
    cross join ref_indicators as i
)

select * from long where value is not null
