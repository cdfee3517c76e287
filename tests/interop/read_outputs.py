"""Read every published table of a junheng output with DuckDB, pyarrow and Polars.

Usage: python read_outputs.py OUT_DIR

Checks what an analyst relies on: year partitions recovered as integers, codes as text,
money as decimal(18,2), every column readable by all three, and the same row counts.
Prints one line per table; exits 1 on the first disagreement.
"""

import glob
import os
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

out = sys.argv[1]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


for area in ("staging", "quarantine", "marts"):
    for table_dir in sorted(glob.glob(os.path.join(out, area, "*"))):
        name = f"{area}/{os.path.basename(table_dir)}"
        partitioned = area != "marts"
        pattern = os.path.join(table_dir, "**", "*.parquet")
        duck = duckdb.sql(f"select * from read_parquet('{pattern}', hive_partitioning={str(partitioned).lower()})")
        arrow = ds.dataset(table_dir, format="parquet", partitioning="hive" if partitioned else None).to_table()
        polars = pl.scan_parquet(pattern, hive_partitioning=partitioned).collect()
        counts = {len(duck.fetchall()), arrow.num_rows, polars.height}
        check(len(counts) == 1, f"{name}: row counts differ {counts}")
        columns = dict(zip(duck.columns, [str(t) for t in duck.types]))
        if partitioned:
            check("year" in columns and columns["year"] in ("BIGINT", "INTEGER"), f"{name}: year partition not recovered ({columns.get('year')})")
            check(pa.types.is_integer(arrow.schema.field("year").type), f"{name}: pyarrow year is {arrow.schema.field('year').type}")
            check(polars.schema["year"].is_integer(), f"{name}: polars year is {polars.schema['year']}")
        for code in ("county_code", "school_code", "parent_school_code"):
            if code in columns:
                check(columns[code] == "VARCHAR", f"{name}: {code} is {columns[code]}, not text")
                check(pa.types.is_string(arrow.schema.field(code).type) or pa.types.is_large_string(arrow.schema.field(code).type) or pa.types.is_string_view(arrow.schema.field(code).type), f"{name}: pyarrow {code} is {arrow.schema.field(code).type}")
        if area == "staging":
            for field in arrow.schema:
                if field.name in ("equipment_value", "amount", "recurrent_revenue", "education_appropriation"):
                    check(field.type == pa.decimal128(18, 2), f"{name}: {field.name} is {field.type}, not decimal(18,2)")
        print(f"{name}: {arrow.num_rows} rows, {len(columns)} columns — duckdb, pyarrow and polars agree")

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
