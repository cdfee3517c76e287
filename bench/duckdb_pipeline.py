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
   DuckDB as written) over that Parquet, each intermediate model and mart computed once as a
   table (as junheng computes each once), and write every mart to `marts/<mart>.parquet`.

The quality-balance assessment's tables (学校经费, 县级指标, 质量监测), its new columns and the
evidence folders are read too when the country has them (`generate national` writes them unless
told `--without-assessment`).

It does not validate anything: no row is checked against the contract, nothing is quarantined,
no ledger is written. That is the work junheng does on top; the benchmark reports both.
REFERENCE_DIR holds junheng's reference tables as Parquet (constants of the contract, exported
once by bench/run.sh with `junheng query`).
"""
import functools
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
    timings[label] = timings.get(label, 0.0) + time.time() - started


def raw(table):
    """Every county-year file of the table, all cells as text, with its provenance, as the table
    raw_<table>; its name. A year at a time: union_by_name opens every file of a query at once,
    and the whole country's 28 000 files of a table are more than a process may hold open here
    (ulimit -n 20000). The newest year first: it has every column the country sent, and an older
    year's file lacking one gets nulls there (insert by name)."""
    name = f"raw_{table}"
    # the year is the path's (as junheng takes it); a file's own year column is left out
    star = "* exclude (year)" if "year" in header(table) else "*"
    years = sorted({f.split("/")[-2] for f in files(table)}, reverse=True)
    for index, year in enumerate(years):
        read = (
            f"select {star}, {provenance(table)} from read_csv('{source}/*/{year}/{table}.csv', all_varchar = true, "
            f"union_by_name = true, filename = true, header = true)"
        )
        statement = f"create table {name} as {read}" if index == 0 else f"insert into {name} by name {read}"
        timed(f"read {table}", statement)
    return name


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
    # the text of the files is not needed once staged (the schools' is: school types below)
    for (name,) in con.execute("select table_name from duckdb_tables() where table_name like 'raw_%'").fetchall():
        if name != "raw_schools":
            con.execute(f'drop table "{name}"')


def count(column):
    return f"cast(nullif(trim({column}), '') as bigint)"


def money(column, scale=1):
    return f"cast(cast(nullif(trim({column}), '') as decimal(18, 2)) * {scale} as decimal(18, 2))"


def number(column):
    return f"cast(nullif(trim({column}), '') as double)"


@functools.cache
def files(table):
    # every county-year file of the table, oldest year first — listed once (the whole country's
    # tree is 222 000 files, and the header and every optional column ask)
    return sorted(glob.glob(f"{source}/*/*/{table}.csv"), key=lambda f: f.split("/")[-2])


@functools.cache
def header(table):
    # the columns of the table's files (the newest year's file has every column the country sent)
    if not files(table):
        return []
    with open(files(table)[-1], encoding="utf-8") as f:
        return f.readline().strip().split(",")


def optional(table, column, cast):
    # a column counties added later (the quality-balance assessment's): null where a file lacks it
    return cast(column) if column.strip('"') in header(table) else f"cast(null as {CAST_TYPES[cast]})"


CAST_TYPES = {}
CAST_TYPES[count] = "bigint"
CAST_TYPES[number] = "double"


def boolean(column):
    return f"case when trim({column}) in ('true', '是', '1') then true when trim({column}) in ('false', '否', '0') then false end"


CAST_TYPES[boolean] = "boolean"


started = time.time()
os.makedirs(f"{out}/staging", exist_ok=True)
os.makedirs(f"{out}/marts", exist_ok=True)

raw("schools")
copy(
    "schools",
    f"""select county_code, county_name, school_code, replace(replace(school_name, '（', '('), '）', ')') as school_name,
              school_type, area_type,
              nullif(parent_school_code, '') as parent_school_code,
              cast(is_public as boolean) as is_public,
              coalesce({optional('schools', 'is_boarding', boolean)}, false) as is_boarding,  -- inputs: default false
              cast(is_standardised as boolean) as is_standardised,
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
               {optional('pupils', 'largest_class', count)} as largest_class,
               {optional('pupils', 'entrants_in_catchment', count)} as entrants_in_catchment,
               source_uri, source_sheet, source_row, run_id, year
        from {raw('pupils')}""",
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
               {optional('teachers', 'certified_teachers', count)} as certified_teachers,
               {optional('teachers', 'trained_360h', count)} as trained_360h,
               {optional('teachers', 'exchange_eligible', count)} as exchange_eligible,
               r.source_uri, r.source_sheet, r.source_row, r.run_id, r.year
        from {raw('teachers')} r
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
               {optional('facilities', '"音乐专用教室数"', count)} as music_rooms,
               {optional('facilities', '"美术专用教室(间)"', count)} as art_rooms,
               r.source_uri, r.source_sheet, r.source_row, r.run_id, r.year
        from {raw('facilities')} r
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
        from {raw('finance')}""",
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
        from {raw('investments')}""",
)

copy(
    "survey",
    f"""select "县区代码" as county_code, {count('"问卷总数"')} as questionnaires,
               {count('"有效问卷"')} as valid_questionnaires, {count('"满意问卷数"')} as satisfied,
               source_uri, source_sheet, source_row, run_id, year
        from {raw('survey')}""",
)

# The quality-balance assessment's tables (Chinese file names and headers), when the country sent them.
def assessment_table(table, file, select, empty):
    if files(file):
        copy(table, select.format(source=raw(file)))
    else:  # junheng publishes the table empty; so does the peer
        con.execute(f"create table empty_{table} as {empty}")
        os.makedirs(f"{out}/staging/{table}/year=0", exist_ok=True)
        con.execute(f"copy empty_{table} to '{out}/staging/{table}/year=0/empty.parquet' (format parquet)")


provenance_columns = "source_uri, source_sheet, source_row, run_id, year"
assessment_table(
    "school_funds",
    "学校经费",
    f"""select path_county as county_code, "学校标识码" as school_code,
               {money('"年度公用经费预算(元)"')} as public_funds_budget, {money('"教师培训经费(元)"')} as training_expenditure,
               {provenance_columns} from {{source}}""",
    """select ''::varchar as county_code, ''::varchar as school_code, 0::decimal(18, 2) as public_funds_budget,
              0::decimal(18, 2) as training_expenditure, ''::varchar as source_uri, null::varchar as source_sheet,
              0::bigint as source_row, ''::varchar as run_id where false""",
)
facts = [
    ("公务员平均工资收入", "civil_servant_avg_salary", money), ("特殊教育学校在校生数", "special_ed_pupils", count),
    ("特殊教育学校公用经费", "special_ed_public_funds", money),
    ("小学生均公用经费基准定额", "public_funds_benchmark_primary", money),
    ("初中生均公用经费基准定额", "public_funds_benchmark_junior", money),
    ("优质普通高中招生计划数", "senior_quota_plan", count), ("分配到初中学校的招生名额", "senior_quota_allocated", count),
    ("分配到农村初中的名额", "senior_quota_rural", count), ("符合条件的随迁子女数", "migrant_eligible", count),
    ("在政府购买学位民办学校就读的随迁子女数", "migrant_in_purchased_places", count),
    ("适龄残疾儿童少年数", "disabled_children", count), ("残疾儿童少年入学人数", "disabled_enrolled", count),
]
assessment_table(
    "county_facts",
    "县级指标",
    "select \"县区代码\" as county_code, "
    + ", ".join(f'{read(chr(34) + zh + chr(34))} as {name}' for zh, name, read in facts)
    + f", {provenance_columns} from {{source}}",
    "select ''::varchar as county_code, "
    + ", ".join(f"{'0::decimal(18, 2)' if read is money else '0::bigint'} as {name}" for _, name, read in facts)
    + ", ''::varchar as source_uri, null::varchar as source_sheet, 0::bigint as source_row, ''::varchar as run_id where false",
)
# Levels as monitoring reports write them (Ⅲ, Ⅲ级, III, 三级, 水平Ⅲ) and rates as 0.125 or 12.5%.
level = """case regexp_replace(regexp_replace(trim("学业水平"), '^(学业水平|水平|等级)', ''), '级$', '')
             when 'Ⅰ' then 1 when 'I' then 1 when '一' then 1 when '1' then 1
             when 'Ⅱ' then 2 when 'II' then 2 when '二' then 2 when '2' then 2
             when 'Ⅲ' then 3 when 'III' then 3 when '三' then 3 when '3' then 3
             when 'Ⅳ' then 4 when 'IV' then 4 when '四' then 4 when '4' then 4 end"""
grade_zh = " ".join(f"when '{zh}年级' then '{i + 1}'" for i, zh in enumerate("一二三四五六七八九"))
rate = """case when ends_with(trim("校际差异率"), '%') then cast(rtrim(trim("校际差异率"), '%') as double) / 100
                else cast(nullif(trim("校际差异率"), '') as double) end"""
assessment_table(
    "monitoring",
    "质量监测",
    f"""select "县区代码" as county_code, "监测科目" as subject,
               cast(case trim("年级") {grade_zh} else trim("年级") end as integer) as grade,
               cast({level} as integer) as level, {rate} as difference_rate,
               source_uri, source_sheet, source_row, run_id, year from {{source}}""",
    """select ''::varchar as county_code, ''::varchar as subject, 0::integer as grade, 0::integer as level,
              0::double as difference_rate, ''::varchar as source_uri, null::varchar as source_sheet,
              0::bigint as source_row, ''::varchar as run_id where false""",
)

# Evidence files (佐证材料): counted per county, year and the item their folder names; never read.
items = [r[0] for r in con.execute(f"select distinct item from read_parquet('{reference}/ref_assessment_items.parquet') where kind = 'evidence'").fetchall()]
items.sort(key=len, reverse=True)
evidence = {}
for path in glob.glob(f"{source}/*/*/evidence/*/**", recursive=True):
    if not os.path.isfile(path):
        continue
    county, year, _, folder = os.path.relpath(path, source).split("/")[:4]
    item = next((i for i in items if folder.lower().startswith(i) and not folder[len(i):len(i) + 1].isdigit()), None)
    if item:
        files, size = evidence.get((county, int(year), item), (0, 0))
        evidence[(county, int(year), item)] = (files + 1, size + os.path.getsize(path))
con.execute("create table ref_evidence (county_code varchar, year integer, item varchar, files bigint, bytes bigint)")
if evidence:
    con.executemany("insert into ref_evidence values (?, ?, ?, ?, ?)", [(c, y, i, f, b) for (c, y, i), (f, b) in evidence.items()])
ingest = time.time() - started

# The SQL project, unchanged, over the staging Parquet just written.
started = time.time()
for table in ["schools", "pupils", "teachers", "facilities", "finance", "investments", "survey", "school_funds", "county_facts", "monitoring"]:
    con.execute(
        f"create view {table} as select * from read_parquet('{out}/staging/{table}/*/*.parquet', hive_partitioning = true)"
    )
for name in ["ref_indicators", "ref_thresholds", "ref_school_type_stages", "ref_settings", "ref_county_settings", "ref_assessment_items"]:
    con.execute(f"create table {name} as select * from read_parquet('{reference}/{name}.parquet')")
models = []
for layer in ["staging", "intermediate", "marts"]:
    for path in sorted(glob.glob(f"{sql_dir}/{layer}/*.sql")):
        models.append((layer, os.path.basename(path)[:-4], open(path, encoding="utf-8").read()))
pending = list(models)
while pending:
    left = []
    for layer, name, text in pending:
        # Each intermediate model and mart is computed once, as junheng computes it (a chain of
        # views would recompute every upstream model for each mart that reads it).
        kind = "view" if layer == "staging" else "table"
        try:
            timed(f"{layer}/{name}", f"create {kind} {name} as {text}")
        except duckdb.CatalogException:
            left.append((layer, name, text))  # an input model is not defined yet
    if len(left) == len(pending):
        raise SystemExit(f"cannot define {[m[1] for m in left]}")
    pending = left
for layer, name, _ in models:
    if layer == "marts":
        timed(f"write marts/{name}", f"copy {name} to '{out}/marts/{name}.parquet' (format parquet)")
transform = time.time() - started

rows = con.execute(f"select count(*) from read_parquet('{out}/staging/*/*/*.parquet', union_by_name = true)").fetchone()[0]
print(f"duckdb {duckdb.__version__}: ingest {ingest:.1f} s, marts {transform:.1f} s, {rows} staging rows")
slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:6]
print("  slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
