-- stg_investments: investment projects by county, fiscal year and category, amount (元) as double.
-- Grain: one row per project-year as submitted (no key).
-- Inputs: investments (staging Parquet)
-- Methodology: §5 (investment by category), §6 (equipment added)
select
    county_code,
    year,
    school_code,
    category,
    cast(amount as double) as amount,
    units_added,
    area_m2,
    description,
    source_uri,
    source_row
from investments
