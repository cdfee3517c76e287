"""What a BI tool does on connect, against `junheng serve`: SQLAlchemy's inspector lists schemas,
tables and columns with their types (as Superset does), then pandas reads a mart over the wire and
the result is compared with the same mart read straight from its Parquet with pyarrow.

usage: bi_client.py URL OUTPUT_DIR     (URL: postgresql+psycopg://user[:password]@host:port/junheng)
Prints one line per check; exits non-zero on the first disagreement.
"""
import sys

import pandas as pd
import pyarrow.dataset as ds
import sqlalchemy as sa

url, out = sys.argv[1], sys.argv[2]
engine = sa.create_engine(url)
inspector = sa.inspect(engine)

schemas = inspector.get_schema_names()
assert "public" in schemas, schemas
tables = set(inspector.get_table_names(schema="public"))
expected = {"schools", "pupils", "teachers", "facilities", "finance", "investments", "survey", "runs",
            "county_overview", "balance_cv", "balance_summary", "retention", "funding"}
assert expected <= tables, expected - tables
assert {t for t in tables if t.startswith("quarantine_")}, tables
print(f"tables: {len(tables)}")

types = {c["name"]: str(c["type"]) for c in inspector.get_columns("balance_cv", schema="public")}
assert types["county_code"] == "TEXT" and types["year"] == "INTEGER", types
assert types["students"] == "BIGINT" and types["cv"] == "DOUBLE PRECISION", types
finance = {c["name"]: str(c["type"]) for c in inspector.get_columns("finance", schema="public")}
money = [t for n, t in finance.items() if n == "education_appropriation"]
assert money and (money[0].startswith("NUMERIC") or money[0] == "DOUBLE PRECISION"), finance
for table in sorted(tables):
    columns = inspector.get_columns(table, schema="public")
    assert columns, table
    assert inspector.get_pk_constraint(table, schema="public")["constrained_columns"] == []
    assert inspector.get_foreign_keys(table, schema="public") == []
    assert inspector.get_indexes(table, schema="public") == []
print("columns: every table reflects, codes TEXT, counts BIGINT, rates DOUBLE PRECISION, money", money[0])

wire = pd.read_sql("select * from balance_summary order by county_code, year, stage", engine)
parquet = ds.dataset(f"{out}/marts/balance_summary", format="parquet").to_table().to_pandas()
parquet = parquet.sort_values(["county_code", "year", "stage"]).reset_index(drop=True)
assert list(wire.columns) == list(parquet.columns), (list(wire.columns), list(parquet.columns))
for column in wire.columns:
    a, b = wire[column], parquet[column]
    if pd.api.types.is_float_dtype(b):
        assert ((a - b).abs().fillna(0) < 1e-12).all() and (a.isna() == b.isna()).all(), column
    else:
        assert [None if pd.isna(x) else x for x in a] == [None if pd.isna(x) else x for x in b], column
print(f"balance_summary over the wire equals its Parquet: {len(wire)} rows x {len(wire.columns)} columns")

with engine.connect() as connection:
    rows = connection.execute(
        sa.text("select school_code from schools where year = :year order by school_code limit 3"), {"year": 2018}
    ).fetchall()
    assert rows and all(isinstance(r[0], str) for r in rows), rows
    try:
        connection.execute(sa.text("insert into runs (run_id) values (:id)"), {"id": "x"})
        raise SystemExit("an INSERT went through")
    except sa.exc.DBAPIError as refused:
        assert "read-only" in str(refused), refused
print("bound parameters work; INSERT over the extended protocol is refused")
