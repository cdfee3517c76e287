-- stg_schools: every school and teaching point of every year, as submitted and normalised.
-- Grain: one row per (year, school_code).
-- Inputs: schools (staging Parquet)
-- Methodology: inputs.md schools; §1 (private schools, teaching points); school_type as submitted (null where the source gives none: int_schools derives it)
-- Checks: unique (year, school_code); not_null (is_public)
select
    county_code,
    year,
    county_name,
    school_code,
    school_name,
    school_type,
    area_type,
    parent_school_code,
    -- Never null in staging: an empty cell is the contract's default (public), filled by normalise.
    is_public,
    is_boarding,
    is_standardised,
    source_uri,
    source_row
from schools
