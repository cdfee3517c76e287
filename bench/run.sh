#!/usr/bin/env bash
# junheng against DuckDB, side by side, on the same synthetic country, at 1×, 4× and 16× a base
# size (default base 178 counties × 10 years, so 16× ≈ the whole country: 2 848 counties,
# ≈ 200 000 schools). For each size:
#
#   1. generate the submissions once (`junheng generate national`, not timed);
#   2. time junheng end to end: extract, validate, normalise, load Parquet, every mart, ledger,
#      report (`junheng run`);
#   3. time DuckDB reading the same CSVs, writing the same staging Parquet and running the same
#      SQL project to the same marts (bench/duckdb_pipeline.py);
#   4. check both produced the same marts (bench/compare_marts.py);
#
# and print wall time, CPU time (user + system) and peak RSS of each (/usr/bin/time -v for
# DuckDB; bench/profile.py, which takes the same figures from wait4(2), for junheng), and
# junheng's ratio to DuckDB; then where junheng's time went, stage by stage (wall, CPU, CPU ÷
# wall, peak RSS), and what the quality-balance assessment's models cost in the SQL stage.
# With --assessment-cost, junheng also runs on the same country generated without the
# assessment's inputs (`generate national --without-assessment`), in the same run: the
# difference is what the new tables, columns, evidence and marts cost. The tables also go to
# $BENCH_DIR/results.md.
#
#   bench/run.sh                         # 178, 712 and 2 848 counties (needs ~6 GB of disk)
#   bench/run.sh --base 20 --sizes "1 4" # a quick look
#   bench/run.sh --sizes 16 --assessment-cost   # the whole country, with and without the assessment
#
# Builds junheng in the release profile (about 30 minutes the first time on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

base=178
years=10
sizes="1 4 16"
assessment_cost=no
while [ $# -gt 0 ]; do
  case "$1" in
    --assessment-cost) assessment_cost=yes; shift ;;
    --base) base="$2"; shift 2 ;;
    --years) years="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    *) echo "usage: bench/run.sh [--base COUNTIES] [--years N] [--sizes \"1 4 16\"] [--assessment-cost]" >&2; exit 2 ;;
  esac
done

# DuckDB's read_csv holds every file of its glob open: a table's year is 2 848 files of the whole
# country (the peer reads a year at a time), more than a soft limit of 1 024 allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/junheng-target}"
dir="${BENCH_DIR:-$HOME/.cache/junheng-bench}"
venv="${JUNHENG_VENV:-$HOME/.cache/junheng-venv}"
mkdir -p "$dir"

if [ ! -x /usr/bin/time ]; then
  echo "== apt-get install time (for /usr/bin/time -v)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq time >/dev/null
fi
echo "== python venv with DuckDB ($venv)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt
python="$venv/bin/python"

echo "== cargo build --release (about 30 minutes the first time on 2 cores)"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/junheng"

# "m:ss.cc" or "h:mm:ss" → seconds
seconds() { awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'; }
measure() { # file → "wall cpu rss_mib"
  local wall user sys rss
  wall=$(grep "Elapsed (wall clock)" "$1" | awk '{print $NF}' | seconds)
  user=$(grep "User time" "$1" | awk '{print $NF}')
  sys=$(grep "System time" "$1" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$1" | awk '{print $NF}')
  awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN { printf "%.1f %.1f %.0f\n", w, u + s, r / 1024 }'
}

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
memory=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
duckdb_version=$("$python" -c "import duckdb; print(duckdb.__version__)")
results="$dir/results.md"
{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($cpu), $memory; junheng $("$bin" --version | awk '{print $2}') (release), DuckDB $duckdb_version; $years years per county."
  echo
  echo "| size | counties | schools (last year) | input rows | junheng wall s | junheng CPU s | junheng peak RSS MiB | DuckDB wall s | DuckDB CPU s | DuckDB peak RSS MiB | wall ratio | CPU ratio | junheng µs per row |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$results"
stages="$dir/stages.md"
{
  echo "Where junheng's time went (bench/profile.py; CPU of a stage from /proc samples 0.2 s apart):"
  echo
  echo "| size | inputs | stage | wall s | CPU s | CPU ÷ wall | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
} > "$stages"
models="$dir/models.md"
{
  echo "The SQL stage by model (seconds over every county group; assessment: the quality-balance models):"
  echo
  echo "| size | inputs | SQL stage s | assessment models s | share | the assessment's models |"
  echo "|---|---|---|---|---|---|"
} > "$models"
# The quality-balance assessment's SQL models (issue 13): their staging views and marts.
assessment_models="stg_school_funds stg_county_facts stg_monitoring school_conditions quality_assessment quality_assessment_summary standards_gap standards_gap_totals"

generate() { # counties data_dir [generate options]
  local n="$1" data="$2"; shift 2
  if [ ! -f "$data/.complete" ]; then
    echo "== generating $n counties × $years years $*"
    rm -rf "$data"
    "$bin" generate national --counties "$n" --years "$years" --out "$data" "$@" | tee "$dir/generated.txt"
    mv "$dir/generated.txt" "$data/.complete"
  fi
}

profile_junheng() { # label data out summary.json → one row per stage into stages.md and models.md
  local label="$1" data="$2" out="$3" summary="$4"
  rm -rf "$out"
  "$python" bench/profile.py "$summary" -- "$bin" run --quiet --source "$data" --out "$out" || {
    echo "junheng run failed (see above)"; exit 1; }
  "$python" - "$summary" "$m×" "$label" "$assessment_models" >> "$stages" 3>> "$models" <<'PY'
import json, os, sys
summary = json.load(open(sys.argv[1])); size, label, assessment = sys.argv[2], sys.argv[3], sys.argv[4].split()
for s in summary["stages"] + [{"name": "**whole run**", "wall": summary["wall"], "cpu": summary["cpu"], "peak_rss_mib": summary["rss_mib"]}]:
    ratio = s["cpu"] / s["wall"] if s["wall"] > 0 else 0
    print(f"| {size} | {label} | {s['name']} | {s['wall']:.1f} | {s['cpu']:.1f} | {ratio:.2f} | {s['peak_rss_mib']:.0f} |")
models = summary["models"]; sql = sum(models.values()); ours = {m: models.get(m, 0.0) for m in assessment}
spent = sum(ours.values())
detail = ", ".join(f"{m} {t:.1f}" for m, t in sorted(ours.items(), key=lambda kv: -kv[1]))
share = spent / sql if sql else 0
print(f"| {size} | {label} | {sql:.1f} | {spent:.1f} | {share:.0%} | {detail} |", file=os.fdopen(3, "w"))
PY
}

for m in $sizes; do
  n=$((base * m))
  data="$dir/data-$n-$years"
  generate "$n" "$data"
  rows=$(sed -E 's/.* ([0-9]+) rows.*/\1/' "$data/.complete")
  schools=$(sed -E 's/.* ([0-9]+) schools in the last year.*/\1/' "$data/.complete")
  out_j="$dir/out-junheng-$n"; out_d="$dir/out-duckdb-$n"
  rm -rf "$out_j" "$out_d" "$dir/reference"
  if [ "$assessment_cost" = yes ]; then
    basic="$dir/data-$n-$years-basic"
    generate "$n" "$basic" --without-assessment
    echo "== $m×: $n counties without the assessment's inputs — junheng"
    profile_junheng "without the assessment" "$basic" "$dir/out-junheng-$n-basic" "$dir/profile-junheng-$n-basic.json"
    rm -rf "$dir/out-junheng-$n-basic"
  fi
  echo "== $m×: $n counties, $rows rows — junheng"
  profile_junheng "with the assessment" "$data" "$out_j" "$dir/profile-junheng-$n.json"
  # Reference tables (contract constants) for DuckDB, exported once, not timed.
  mkdir -p "$dir/reference"
  for t in ref_indicators ref_thresholds ref_school_type_stages ref_settings ref_county_settings ref_assessment_items; do
    "$bin" query --quiet --out "$out_j" --format parquet --output "$dir/reference/$t.parquet" "select * from $t"
  done
  echo "== $m×: DuckDB"
  /usr/bin/time -v -o "$dir/time-duckdb-$n.txt" "$python" bench/duckdb_pipeline.py "$data" "$out_d" "$dir/reference" sql
  "$python" bench/compare_marts.py "$out_j" "$out_d"
  read -r jw jc jr < <("$python" -c "import json, sys; s = json.load(open(sys.argv[1])); print('%.1f %.1f %.0f' % (s['wall'], s['cpu'], s['rss_mib']))" "$dir/profile-junheng-$n.json")
  read -r dw dc dr < <(measure "$dir/time-duckdb-$n.txt")
  awk -v m="$m" -v n="$n" -v s="$schools" -v rows="$rows" -v jw="$jw" -v jc="$jc" -v jr="$jr" -v dw="$dw" -v dc="$dc" -v dr="$dr" \
    'BEGIN { printf "| %s× | %d | %d | %d | %.1f | %.1f | %.0f | %.1f | %.1f | %.0f | %.2f | %.2f | %.1f |\n", m, n, s, rows, jw, jc, jr, dw, dc, dr, jw / dw, jc / dc, jw * 1e6 / rows }' \
    >> "$results"
  rm -rf "$out_d"
done

echo
echo "ratio = junheng ÷ DuckDB (below 1: junheng faster). Same data, same run, same machine; DuckDB does no validation."
echo
cat "$results"
echo; cat "$stages"; echo; cat "$models"
{ echo; cat "$stages"; echo; cat "$models"; } >> "$results"
