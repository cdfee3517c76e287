"""Read every Delta table of a junheng output with delta-rs (the `deltalake` package) and Polars.

Usage: python read_delta.py OUT DUMP_DIR [--no-time-travel]

OUT is a local folder or an s3:// URL (credentials and endpoint from the AWS_* variables the
tests set). The tables are found the way a user finds them: `current.json` names each one
(`staging/pupils` → its Delta version) and each lives at OUT/tables/<area>/<name>/.

For each table: delta-rs opens it by path and reads the latest version; Polars reads it too
(`scan_delta`) and must agree on the rows; the version delta-rs sees must be the one
current.json names, and its junheng transaction the committed run's version; version 0 is read
again by time travel (skipped with --no-time-travel: after `junheng vacuum` the files of old
versions are gone, as they are after a Delta VACUUM, and `rows_at_version_0` is null). Each table's rows are written to DUMP_DIR/<area>.<name>.parquet (for the
Rust test to compare with what `junheng query` reads) and a JSON summary goes to stdout:
{"staging/pupils": {"version": 1, "rows": 250, "files": 4, "history": ["WRITE", "WRITE"],
"txn": 2, "rows_at_version_0": 250}, ...}.
"""

import json
import os
import sys

import polars as pl
import pyarrow.parquet as pq
from deltalake import DeltaTable

out, dump = sys.argv[1].rstrip("/"), sys.argv[2]
time_travel = "--no-time-travel" not in sys.argv[3:]
os.makedirs(dump, exist_ok=True)

if out.startswith("s3://"):
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or os.environ["JUNHENG_S3_ENDPOINT"]
    options = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ALLOW_HTTP": "true",
    }
    # boto3, not pyarrow's S3 filesystem: that one can abort the interpreter at exit
    # ("terminate called without an active exception") when it was not finalised.
    import boto3

    bucket, _, prefix = out[len("s3://"):].partition("/")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=options["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=options["AWS_SECRET_ACCESS_KEY"],
        region_name=options["AWS_REGION"],
    )
    key = f"{prefix}/current.json" if prefix else "current.json"
    pointer = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
else:
    options = None
    with open(os.path.join(out, "current.json")) as f:
        pointer = json.load(f)

failures = []
summary = {}
for key, named_version in sorted(pointer["tables"].items()):
    uri = f"{out}/tables/{key}"
    table = DeltaTable(uri, storage_options=options)
    arrow = table.to_pyarrow_table()
    polars = pl.scan_delta(uri, storage_options=options).collect()
    if polars.height != arrow.num_rows:
        failures.append(f"{key}: polars read {polars.height} rows, delta-rs {arrow.num_rows}")
    if table.version() != named_version:
        failures.append(f"{key}: delta-rs sees version {table.version()}, current.json names {named_version}")
    txn = table.transaction_version("junheng")
    if txn != pointer["version"]:
        failures.append(f"{key}: junheng transaction {txn}, the committed run is version {pointer['version']}")
    history = [commit.get("operation") for commit in reversed(table.history())]
    first = None
    if time_travel:
        first = DeltaTable(uri, version=0, storage_options=options).to_pyarrow_table().num_rows
    pq.write_table(arrow, os.path.join(dump, key.replace("/", ".") + ".parquet"))
    summary[key] = {
        "version": table.version(),
        "rows": arrow.num_rows,
        "files": len(table.file_uris()),
        "history": history,
        "txn": txn,
        "rows_at_version_0": first,
        "partitions": table.metadata().partition_columns,
    }

print(json.dumps(summary))
if failures:
    print("\n".join(failures), file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
# Leave without the interpreter's teardown: after a time-travel read on S3, deltalake 1.6's
# runtime threads abort the process as Python shuts down ("terminate called without an
# active exception"), though every read has finished.
os._exit(1 if failures else 0)
