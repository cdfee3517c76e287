"""The peer in the benchmark: what an analyst would do with DuckDB instead of junheng.

usage: duckdb_pipeline.py SOURCE OUT REFERENCE_DIR SQL_DIR

1. Read every county's CSV files of the synthetic country (`junheng generate national`), with
   the normalisation those files need: the Chinese headers of facilities.csv and
   investments.csv renamed, 万元 turned into 元, the investment categories and 小学/初中 mapped to
   codes, full-width brackets in names made ASCII (as junheng's NFKC does), a blank stage filled
   from the school type, the stage of a grade (6-3), county code and year
   taken from the path, and the provenance columns junheng keeps (source_uri, source_row).
2. Write the same staging Parquet junheng writes (`staging/<table>/year=YYYY/`).
3. Run junheng's own SQL project (`sql/`: staging → intermediate → marts, unchanged — it runs on
   DuckDB as written) over that Parquet and write every mart to `marts/<mart>.parquet`.

It does not validate anything: no row is checked against the contract, nothing is quarantined,
no ledger is written. That is the work junheng does on top; the benchmark reports both.
REFERENCE_DIR holds junheng's reference tables as Parquet (constants of the contract, exported
once by bench/run.sh with `junheng query`).
"""
import glob
import os
import sys
import time

import duckdb

source, out, reference, sql_dir = sys.argv[1:5]
con = duckdb.connect()
con.execute("set preserve_insertion_order = false")
timings = {}


def timed(label, statement):
    started = time.time()
    con.execute(statement)
    timings[label] = time.time() - started


def csv(table):
    # every county-year file of the table, all cells as text, with the file name
    return (
        f"read_csv('{source}/*/*/{table}.csv', all_varchar = true, union_by_name = true, "
        f"filename = true, header = true)"
    )


def provenance(table):
    return (
        f"regexp_extract(filename, '([0-9]{{6}})/[0-9]{{4}}/{table}', 1) as path_county, "
        f"cast(regexp_extract(filename, '/([0-9]{{4}})/{table}', 1) as integer) as year, "
        f"regexp_extract(filename, '([0-9]{{6}}/[0-9]{{4}}/{table}.csv)', 1) as source_uri, "
        f"cast(null as varchar) as source_sheet, "
        f"row_number() over (partition by filename) + 1 as source_row, "
        f"'duckdb' as run_id"
    )


def copy(table, select):
    timed(
        f"staging/{table}",
        f"copy ({select}) to '{out}/staging/{table}' (format parquet, partition_by (year), overwrite_or_ignore)",
    )


def count(column):
    return f"cast(nullif(trim({column}), '') as bigint)"


def money(column, scale=1):
    return f"cast(cast(nullif(trim({column}), '') as decimal(18, 2)) * {scale} as decimal(18, 2))"


def number(column):
    return f"cast(nullif(trim({column}), '') as double)"


started = time.time()
os.makedirs(f"{out}/staging", exist_ok=True)
os.makedirs(f"{out}/marts", exist_ok=True)

timed("read schools", f"create table raw_schools as select *, {provenance('schools')} from {csv('schools')}")
copy(
    "schools",
    """select county_code, county_name, school_code, replace(replace(school_name, '（', '('), '）', ')') as school_name,
              school_type, area_type,
              nullif(parent_school_code, '') as parent_school_code,
              cast(is_public as boolean) as is_public, cast(is_standardised as boolean) as is_standardised,
              source_uri, source_sheet, source_row, run_id, year
       from raw_schools""",
)
con.execute("create table school_types as select year, school_code, school_type from raw_schools")

copy(
    "pupils",
    f"""select path_county as county_code, school_code, cast(grade as integer) as grade,
               case when cast(grade as integer) <= 6 then 'primary' else 'junior' end as stage,
               {count('students')} as students, {count('classes')} as classes, {count('entrants')} as entrants,
               {count('graduates')} as graduates, {count('dropouts')} as dropouts,
               {count('transfers_in')} as transfers_in, {count('transfers_out')} as transfers_out,
               {count('left_behind')} as left_behind, {count('migrant')} as migrant,
               {count('special_needs')} as special_needs,
               source_uri, source_sheet, source_row, run_id, year
        from (select *, {provenance('pupils')} from {csv('pupils')})""",
)

fill_stage = """coalesce(nullif(r.stage, ''), case t.school_type when 'junior' then 'junior' else 'primary' end)"""
copy(
    "teachers",
    f"""select r.path_county as county_code, r.school_code, {fill_stage} as stage,
               {count('posts_established')} as posts_established, {count('staff_on_payroll')} as staff_on_payroll,
               {count('full_time_teachers')} as full_time_teachers,
               {count('teachers_above_degree')} as teachers_above_degree,
               {count('teachers_mid_senior_title')} as teachers_mid_senior_title,
               {count('backbone_teachers')} as backbone_teachers, {count('pe_arts_teachers')} as pe_arts_teachers,
               {count('teachers_exchanged')} as teachers_exchanged, {count('backbone_exchanged')} as backbone_exchanged,
               r.source_uri, r.source_sheet, r.source_row, r.run_id, r.year
        from (select *, {provenance('teachers')} from {csv('teachers')}) r
        left join school_types t on t.year = r.year and t.school_code = r.school_code""",
)

copy(
    "facilities",
    f"""select r.path_county as county_code, r."学校标识码" as school_code,
               coalesce(case r."学段" when '小学' then 'primary' when '初中' then 'junior' else nullif(r."学段", '') end,
                        case t.school_type when 'junior' then 'junior' else 'primary' end) as stage,
               {number('"占地面积(平方米)"')} as site_area_m2, {number('"校舍建筑面积(平方米)"')} as building_area_m2,
               {number('"教学及辅助用房面积(平方米)"')} as teaching_aux_area_m2,
               {number('"体育运动场馆面积(平方米)"')} as sports_area_m2,
               {money('"教学仪器设备值(元)"')} as equipment_value, {count('"图书册数(册)"')} as books,
               {count('"计算机台数(台)"')} as computers, {count('"网络多媒体教室数"')} as multimedia_classrooms,
               r.source_uri, r.source_sheet, r.source_row, r.run_id, r.year
        from (select *, {provenance('facilities')} from {csv('facilities')}) r
        left join school_types t on t.year = r.year and t.school_code = r."学校标识码" """,
)

copy(
    "finance",
    f"""select county_code, {money('recurrent_revenue')} as recurrent_revenue,
               {money('education_appropriation')} as education_appropriation,
               {money('exp_per_pupil_primary')} as exp_per_pupil_primary,
               {money('exp_per_pupil_junior')} as exp_per_pupil_junior,
               {money('public_funds_per_pupil_primary')} as public_funds_per_pupil_primary,
               {money('public_funds_per_pupil_junior')} as public_funds_per_pupil_junior,
               {money('avg_teacher_salary')} as avg_teacher_salary,
               {money('general_education_expenditure')} as general_education_expenditure,
               {money('arrears_committed')} as arrears_committed, {money('arrears_repaid')} as arrears_repaid,
               source_uri, source_sheet, source_row, run_id, year
        from (select *, {provenance('finance')} from {csv('finance')})""",
)

# The contract's names and aliases of the categories (inputs.md).
categories = {
    "标准化建设": "standardisation", "标准化学校建设": "standardisation",
    "新建校舍": "new_building", "新建学校": "new_building", "新校区建设": "new_building",
    "维修改造": "renovation", "薄弱学校改造": "renovation", "改造薄弱学校": "renovation", "全面改薄": "renovation",
    "教学仪器设备购置": "equipment", "仪器设备购置": "equipment", "教学仪器设备": "equipment",
    "信息化建设": "ict", "教育信息化": "ict", "教师培训": "teacher_training",
    "学生资助": "student_aid", "校园安全": "safety", "其他": "other",
}
case = " ".join(f"when '{zh}' then '{code}'" for zh, code in categories.items())
copy(
    "investments",
    f"""select "县区代码" as county_code, cast(null as varchar) as school_code,
               case "投入类别" {case} else 'other' end as category,
               {money('"金额(万元)"', 10000)} as amount, {count('"增添设备台套"')} as units_added,
               {number('"面积(平方米)"')} as area_m2,
               replace(replace("项目名称", '（', '('), '）', ')') as description,
               source_uri, source_sheet, source_row, run_id, year
        from (select *, {provenance('investments')} from {csv('investments')})""",
)

copy(
    "survey",
    f"""select "县区代码" as county_code, {count('"问卷总数"')} as questionnaires,
               {count('"有效问卷"')} as valid_questionnaires, {count('"满意问卷数"')} as satisfied,
               source_uri, source_sheet, source_row, run_id, year
        from (select *, {provenance('survey')} from {csv('survey')})""",
)
ingest = time.time() - started

# The SQL project, unchanged, over the staging Parquet just written.
started = time.time()
for table in ["schools", "pupils", "teachers", "facilities", "finance", "investments", "survey"]:
    con.execute(
        f"create view {table} as select * from read_parquet('{out}/staging/{table}/*/*.parquet', hive_partitioning = true)"
    )
for name in ["ref_indicators", "ref_thresholds", "ref_school_type_stages", "ref_settings", "ref_county_settings"]:
    con.execute(f"create table {name} as select * from read_parquet('{reference}/{name}.parquet')")
models = []
for layer in ["staging", "intermediate", "marts"]:
    for path in sorted(glob.glob(f"{sql_dir}/{layer}/*.sql")):
        models.append((layer, os.path.basename(path)[:-4], open(path, encoding="utf-8").read()))
pending = list(models)
while pending:
    left = []
    for layer, name, text in pending:
        try:
            con.execute(f"create view {name} as {text}")
        except duckdb.CatalogException:
            left.append((layer, name, text))  # an input model is not defined yet
    if len(left) == len(pending):
        raise SystemExit(f"cannot define {[m[1] for m in left]}")
    pending = left
for layer, name, _ in models:
    if layer == "marts":
        timed(f"marts/{name}", f"copy (select * from {name}) to '{out}/marts/{name}.parquet' (format parquet)")
transform = time.time() - started

rows = con.execute(f"select count(*) from read_parquet('{out}/staging/*/*/*.parquet', union_by_name = true)").fetchone()[0]
print(f"duckdb {duckdb.__version__}: ingest {ingest:.1f} s, marts {transform:.1f} s, {rows} staging rows")
slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:6]
print("  slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
