-- stg_county_facts: the county-level facts of the quality-balance assessment (salaries, special education, senior quotas, migrant and disabled children), as submitted and normalised.
-- Grain: one row per (county_code, year).
-- Inputs: county_facts (staging Parquet)
-- Methodology: assessment.md §1 county_facts; §2 g6, g7, g8, g14, g15, e2
-- Checks: unique (county_code, year)
select
    county_code,
    year,
    cast(civil_servant_avg_salary as double) as civil_servant_avg_salary,
    special_ed_pupils,
    cast(special_ed_public_funds as double) as special_ed_public_funds,
    cast(public_funds_benchmark_primary as double) as public_funds_benchmark_primary,
    cast(public_funds_benchmark_junior as double) as public_funds_benchmark_junior,
    senior_quota_plan,
    senior_quota_allocated,
    senior_quota_rural,
    migrant_eligible,
    migrant_in_purchased_places,
    disabled_children,
    disabled_enrolled,
    source_uri,
    source_row
from county_facts
