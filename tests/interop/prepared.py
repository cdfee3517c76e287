"""A server-side prepared statement held across versions, as a BI tool's connection pool holds one.

usage: prepared.py URL      (URL: postgresql://user@host:port/junheng)

Prepares `select count(*), max(year) from pupils where year >= %s` once (psycopg's prepare=True,
so the server keeps the plan), then executes it each time a line arrives on stdin, and prints one
line per execution: `ok COUNT MAX_YEAR` or `error MESSAGE`. Ends at the end of stdin.
"""
import sys

import psycopg

url = sys.argv[1]
sql = "select count(*), max(year) from pupils where year >= %s"
with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
    def execute():
        try:
            count, max_year = conn.execute(sql, (2009,), prepare=True).fetchone()
            print(f"ok {count} {max_year}", flush=True)
        except psycopg.Error as e:
            print(f"error {str(e).strip()}".replace("\n", " "), flush=True)

    execute()
    for _ in sys.stdin:
        execute()
