-- stg_facilities: buildings, grounds and equipment by school (and stage, when given) and year; money as double for arithmetic.
-- Grain: one row per (year, school_code, stage); stage is null for a multi-stage school reported as a whole.
-- Inputs: facilities (staging Parquet)
-- Methodology: §1 (apportioning), §2 (b1–b5), §3 (q4–q7), §6
-- Checks: unique (year, school_code, stage)
select
    county_code,
    year,
    school_code,
    stage,
    site_area_m2,
    building_area_m2,
    teaching_aux_area_m2,
    sports_area_m2,
    cast(equipment_value as double) as equipment_value,
    books,
    computers,
    multimedia_classrooms,
    music_rooms,
    art_rooms,
    source_uri,
    source_row
from facilities
