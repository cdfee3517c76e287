"""An independent implementation of methodology.md, checked against junheng's published marts.

Usage: python independent.py OUT_DIR

Reads the published *staging* tables with pandas (default settings: 6-3, w = 1, teaching points
merged into their parent, cohort retention), computes the balance CVs and composites, retention,
dropout and the funding legs from the methodology's text — not from junheng's SQL — and compares
every value with the published marts to 1e-9 relative (booleans exactly). Exits 1 on a mismatch.
"""

import math
import sys

import pandas as pd
import pyarrow.dataset as ds

OUT = sys.argv[1]
REL = 1e-9
failures = []


def table(area, name, partitioned=True):
    path = f"{OUT}/{area}/{name}"
    return ds.dataset(path, format="parquet", partitioning="hive" if partitioned else None).to_table().to_pandas()


def close(a, b):
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and (b is None or (isinstance(b, float) and math.isnan(b)))
    return abs(float(a) - float(b)) <= REL * max(1.0, abs(float(a)), abs(float(b)))


def compare(what, expected, published, keys, columns):
    e = expected.set_index(keys)
    p = published.set_index(keys)
    if set(e.index) != set(p.index):
        failures.append(f"{what}: rows differ; only expected {sorted(set(e.index) - set(p.index))[:5]}, only published {sorted(set(p.index) - set(e.index))[:5]}")
        return
    for key in e.index:
        for c in columns:
            a, b = e.at[key, c], p.at[key, c]
            if isinstance(a, (bool,)) or isinstance(b, (bool,)):
                if (None if pd.isna(a) else bool(a)) != (None if pd.isna(b) else bool(b)):
                    failures.append(f"{what} {key} {c}: expected {a}, published {b}")
            elif not close(None if pd.isna(a) else a, None if pd.isna(b) else b):
                failures.append(f"{what} {key} {c}: expected {a}, published {b}")


schools = table("staging", "schools")
pupils = table("staging", "pupils")
teachers = table("staging", "teachers")
facilities = table("staging", "facilities")
finance = table("staging", "finance")
for df in (schools, pupils, teachers, facilities, finance):
    df["year"] = df["year"].astype(int)

LAST_PRIMARY = 6
STAGES = {"primary": ["primary"], "teaching_point": ["primary"], "junior": ["junior"], "complete_secondary": ["primary", "junior"], "nine_year": ["primary", "junior"], "twelve_year": ["primary", "junior"]}

# ---- §1 school-stage units ----
pupils["stage_"] = pupils["grade"].apply(lambda g: "primary" if g <= LAST_PRIMARY else "junior")
own = pupils.groupby(["year", "school_code", "stage_"])["students"].sum()

members = []
for _, s in schools.iterrows():
    for stage in STAGES[s.school_type]:
        unit_school = s.parent_school_code if s.school_type == "teaching_point" and isinstance(s.parent_school_code, str) else s.school_code
        members.append((s.county_code, s.year, s.school_code, stage, unit_school))
members = pd.DataFrame(members, columns=["county_code", "year", "school_code", "stage", "unit_school"])

def own_pupils(year, school, stage):
    return float(own.get((year, school, stage), 0))

fac_parts = []
for _, f in facilities.iterrows():
    kind = schools[(schools.year == f.year) & (schools.school_code == f.school_code)].school_type.iloc[0]
    if isinstance(f.stage, str):
        shares = {f.stage: 1.0}
    else:
        p_pri, p_jun = own_pupils(f.year, f.school_code, "primary"), own_pupils(f.year, f.school_code, "junior")
        total = p_pri + 1.0 * p_jun
        shares = {st: (p_pri if st == "primary" else p_jun) / total if total else float("nan") for st in STAGES[kind]}
    for st, share in shares.items():
        row = {"year": f.year, "school_code": f.school_code, "stage": st}
        for c in ["teaching_aux_area_m2", "sports_area_m2", "equipment_value", "books", "computers", "multimedia_classrooms"]:
            v = f[c]
            row[c] = float("nan") if pd.isna(v) else float(v) * share
        fac_parts.append(row)
fac = pd.DataFrame(fac_parts).groupby(["year", "school_code", "stage"]).sum(min_count=1).reset_index() if fac_parts else pd.DataFrame()

tea = teachers.groupby(["year", "school_code", "stage"])[["full_time_teachers", "teachers_above_degree", "teachers_mid_senior_title", "backbone_teachers", "pe_arts_teachers"]].sum(min_count=1).reset_index()
m = members.copy()
m["students"] = [own_pupils(r.year, r.school_code, r.stage) for r in m.itertuples()]
m = m.merge(tea, on=["year", "school_code", "stage"], how="left").merge(fac, on=["year", "school_code", "stage"], how="left")
numerators = ["full_time_teachers", "teachers_above_degree", "teachers_mid_senior_title", "backbone_teachers", "pe_arts_teachers",
              "teaching_aux_area_m2", "sports_area_m2", "equipment_value", "books", "computers", "multimedia_classrooms"]
for c in numerators:
    m[c] = m[c].astype(float)
units = m.groupby(["county_code", "year", "unit_school", "stage"]).agg({"students": "sum", **{c: lambda x: x.sum(min_count=1) for c in numerators}}).reset_index()
public = schools.set_index(["year", "school_code"])["is_public"].to_dict()
units["public"] = [public.get((r.year, r.unit_school), True) for r in units.itertuples()]
units = units[(units.public) & (units.students > 0)]

X = {
    "b1": lambda u: u.teaching_aux_area_m2 / u.students, "b2": lambda u: u.sports_area_m2 / u.students,
    "b3": lambda u: u.equipment_value / u.students, "b4": lambda u: 100 * u.computers / u.students,
    "b5": lambda u: u.books / u.students, "b6": lambda u: u.full_time_teachers / u.students,
    "b7": lambda u: u.teachers_above_degree / u.students, "b8": lambda u: u.teachers_mid_senior_title / u.students,
    "q1": lambda u: 100 * u.teachers_above_degree / u.students, "q2": lambda u: 100 * u.backbone_teachers / u.students,
    "q3": lambda u: 100 * u.pe_arts_teachers / u.students, "q4": lambda u: u.teaching_aux_area_m2 / u.students,
    "q5": lambda u: u.sports_area_m2 / u.students, "q6": lambda u: u.equipment_value / u.students,
    "q7": lambda u: 100 * u.multimedia_classrooms / u.students,
}

# ---- §2, §3 weighted CV ----
cv_rows = []
for (county, year, stage), g in units.groupby(["county_code", "year", "stage"]):
    for ind, f in X.items():
        x = f(g)
        ok = x.notna()
        P_i, x = g.students[ok].astype(float), x[ok]
        if len(x) == 0:
            continue
        P = P_i.sum()
        mean = (P_i * x).sum() / P
        sd = math.sqrt(((P_i / P) * (x - mean) ** 2).sum())
        cv = sd / mean if mean != 0 else float("nan")
        threshold = (0.50 if stage == "primary" else 0.45) if ind.startswith("q") else float("nan")
        passes = (cv <= threshold) if ind.startswith("q") else None
        cv_rows.append((county, year, stage, "basic" if ind.startswith("b") else "quality", ind, len(x), int(P), mean, sd, cv, passes))
expected_cv = pd.DataFrame(cv_rows, columns=["county_code", "year", "stage", "scheme", "indicator", "units", "students", "mean", "sd", "cv", "passes"])
published_cv = table("marts", "balance_cv", partitioned=False)
compare("balance_cv", expected_cv, published_cv, ["county_code", "year", "stage", "scheme", "indicator"], ["units", "students", "mean", "sd", "cv", "passes"])

summary = []
for (county, year, stage), g in expected_cv.groupby(["county_code", "year", "stage"]):
    basic = g[g.scheme == "basic"].cv
    quality = g[g.scheme == "quality"]
    composite = basic.mean() if len(basic) == 8 else float("nan")
    summary.append((county, year, stage, composite, (composite <= (0.65 if stage == "primary" else 0.55)) if len(basic) == 8 else None,
                    bool(quality.passes.all()) if len(quality) == 7 else None))
expected_summary = pd.DataFrame(summary, columns=["county_code", "year", "stage", "basic_composite_cv", "basic_passes", "quality_resource_passes"])
published_summary = table("marts", "balance_summary", partitioned=False)
published_summary = published_summary.merge(expected_summary[["county_code", "year", "stage"]], on=["county_code", "year", "stage"])
compare("balance_summary", expected_summary, published_summary, ["county_code", "year", "stage"], ["basic_composite_cv", "basic_passes", "quality_resource_passes"])

# ---- §4 retention and dropout (all schools) ----
by_grade = pupils.groupby(["county_code", "year", "grade"]).agg(students=("students", "sum"), entrants=("entrants", lambda x: x.sum(min_count=1)))
ret = []
for (county, year) in pupils.groupby(["county_code", "year"]).groups:
    for stage, entry, final, years in [("primary", 1, LAST_PRIMARY, LAST_PRIMARY), ("junior", LAST_PRIMARY + 1, 9, 9 - LAST_PRIMARY), ("nine_year", 1, 9, 9)]:
        start = year - (years - 1)
        fin = by_grade.students.get((county, year, final), float("nan"))
        ent = by_grade.entrants.get((county, start, entry), float("nan"))
        rate = fin / ent if not pd.isna(ent) and ent != 0 and not pd.isna(fin) else float("nan")
        ret.append((county, year, stage, start, rate))
expected_ret = pd.DataFrame(ret, columns=["county_code", "year", "stage", "cohort_start_year", "retention_rate"])
compare("retention", expected_ret, table("marts", "retention", partitioned=False), ["county_code", "year", "stage"], ["cohort_start_year", "retention_rate"])

stage_year = pupils.groupby(["county_code", "year", "stage_"]).agg(students=("students", "sum"), dropouts=("dropouts", lambda x: x.sum(min_count=1))).reset_index()
drop = []
for r in stage_year.itertuples():
    prev = stage_year[(stage_year.county_code == r.county_code) & (stage_year.stage_ == r.stage_) & (stage_year.year == r.year - 1)]
    base = float(prev.students.iloc[0]) if len(prev) else float("nan")
    rate = r.dropouts / base if not pd.isna(base) and base != 0 and not pd.isna(r.dropouts) else float("nan")
    drop.append((r.county_code, r.year, r.stage_, base, rate))
expected_drop = pd.DataFrame(drop, columns=["county_code", "year", "stage", "base_students", "dropout_rate"])
compare("dropout", expected_drop, table("marts", "dropout", partitioned=False), ["county_code", "year", "stage"], ["base_students", "dropout_rate"])

# ---- §5 三个增长 ----
fin_rows = []
f = finance.copy()
for c in f.columns:
    if c not in ("county_code", "year", "source_uri", "source_sheet", "source_row", "run_id"):
        f[c] = f[c].astype(float)
f = f.set_index(["county_code", "year"])
for (county, year), cur in f.iterrows():
    if (county, year - 1) not in f.index:
        fin_rows.append((county, year, None, None, None, None, float("nan")))
        continue
    prev = f.loc[(county, year - 1)]
    g = lambda c: (cur[c] - prev[c]) / prev[c]
    leg1 = g("education_appropriation") > g("recurrent_revenue")
    leg2 = cur.exp_per_pupil_primary > prev.exp_per_pupil_primary and cur.exp_per_pupil_junior > prev.exp_per_pupil_junior
    salary = True if pd.isna(cur.avg_teacher_salary) or pd.isna(prev.avg_teacher_salary) else cur.avg_teacher_salary > prev.avg_teacher_salary
    leg3 = cur.public_funds_per_pupil_primary > prev.public_funds_per_pupil_primary and cur.public_funds_per_pupil_junior > prev.public_funds_per_pupil_junior and salary
    gap = 0.0 if leg1 else prev.education_appropriation * cur.recurrent_revenue / prev.recurrent_revenue - cur.education_appropriation
    fin_rows.append((county, year, bool(leg1), bool(leg2), bool(leg3), bool(leg1 and leg2 and leg3), gap))
expected_fin = pd.DataFrame(fin_rows, columns=["county_code", "year", "appropriation_outpaces_revenue", "per_pupil_expenditure_rises", "public_funds_and_salary_rise", "three_increases_met", "appropriation_gap"])
published_fin = table("marts", "funding", partitioned=False)
published_fin = published_fin.merge(expected_fin[["county_code", "year"]], on=["county_code", "year"])
compare("funding", expected_fin, published_fin, ["county_code", "year"], ["appropriation_outpaces_revenue", "per_pupil_expenditure_rises", "public_funds_and_salary_rise", "three_increases_met", "appropriation_gap"])

# ---- county_overview ----
ov = []
for (county, year), g in pupils.groupby(["county_code", "year"]):
    ov.append((county, year, int(g.students.sum()), int(g[g.stage_ == "primary"].students.sum()), int(g[g.stage_ == "junior"].students.sum())))
expected_ov = pd.DataFrame(ov, columns=["county_code", "year", "students", "students_primary", "students_junior"])
published_ov = table("marts", "county_overview", partitioned=False)
published_ov = published_ov.merge(expected_ov[["county_code", "year"]], on=["county_code", "year"])
compare("county_overview", expected_ov, published_ov, ["county_code", "year"], ["students", "students_primary", "students_junior"])

checked = len(expected_cv) + len(expected_summary) + len(expected_ret) + len(expected_drop) + len(expected_fin) + len(expected_ov)
if failures:
    print("\n".join(failures[:50]), file=sys.stderr)
    print(f"{len(failures)} mismatches", file=sys.stderr)
    sys.exit(1)
print(f"{checked} rows agree with the independent implementation")
