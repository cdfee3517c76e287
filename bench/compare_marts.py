"""Check that the two tools of the benchmark computed the same marts: every mart's rows, sorted on
its text and integer columns, equal to 1e-9 (relative) in its floating-point columns.

usage: compare_marts.py JUNHENG_OUT DUCKDB_OUT
"""
import glob
import os
import sys

import numpy as np
import pyarrow.parquet as pq

junheng_out, duckdb_out = sys.argv[1:3]
disagreements = []
checked = 0
for path in sorted(glob.glob(f"{duckdb_out}/marts/*.parquet")):
    name = os.path.basename(path)[:-8]
    ours = pq.read_table(f"{junheng_out}/marts/{name}").to_pandas()
    theirs = pq.read_table(path).to_pandas()
    if len(ours) != len(theirs) or list(ours.columns) != list(theirs.columns):
        disagreements.append(f"{name}: {len(ours)} rows {list(ours.columns)[:4]}… vs {len(theirs)} rows")
        continue
    floats = [c for c in ours.columns if ours[c].dtype.kind == "f" or theirs[c].dtype.kind == "f"]
    keys = [c for c in ours.columns if c not in floats]
    ours = ours.sort_values(keys, na_position="first").reset_index(drop=True)
    theirs = theirs.sort_values(keys, na_position="first").reset_index(drop=True)
    for c in keys:
        a = ours[c].astype(object).where(ours[c].notna(), None).tolist()
        b = theirs[c].astype(object).where(theirs[c].notna(), None).tolist()
        if [str(x) for x in a] != [str(x) for x in b]:
            disagreements.append(f"{name}.{c}")
    for c in floats:
        a, b = ours[c].astype(float).to_numpy(), theirs[c].astype(float).to_numpy()
        close = np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
        if not close.all():
            disagreements.append(f"{name}.{c}: {int((~close).sum())} values differ")
    checked += 1
if checked == 0:
    disagreements.append(f"no marts under {duckdb_out}/marts")
if disagreements:
    print("marts differ: " + "; ".join(disagreements[:10]))
    sys.exit(1)
print(f"the {checked} marts agree (floats to 1e-9)")
