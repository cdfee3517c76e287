//! Reference tables for the SQL models: thresholds and standards (`sql/reference/thresholds.csv`
//! with the pipeline's overrides) and the run's methodology settings.
//!
//! `ref_thresholds(threshold_id, stage, value, unit, source, description)` has one row per
//! threshold and stage; a threshold given for `all` stages is also listed under `primary` and
//! `junior`, so models join on stage. `ref_settings` is one row of the global settings and
//! `ref_county_settings` one row per county with its school system. `ref_indicators` and
//! `ref_assessment_items` are the indicator and assessment-item catalogues of `sql/reference/`;
//! `ref_evidence(county_code, year, item, files, bytes)` counts the run's evidence files
//! (佐证材料) per county, year and item, from the ledger.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ledger::EvidenceRecord;
use crate::pipeline::Pipeline;
use crate::sql_files;

/// One threshold or standard.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Threshold {
    /// Id (`quality_cv_max`, `q4_standard`, …).
    pub threshold_id: String,
    /// `primary`, `junior` or `all`.
    pub stage: String,
    /// The value.
    pub value: f64,
    /// Unit, in words.
    pub unit: String,
    /// Where it comes from (a national document, or the pipeline file for provincial standards).
    pub source: String,
    /// What it means.
    pub description: String,
}

/// Every threshold and standard of `sql/reference/thresholds.csv`; a row without a value is a
/// standard with no national default (a provincial one, set in a pipeline file).
fn catalogue() -> Result<Vec<(Threshold, bool)>> {
    let text = sql_files::file("reference/thresholds.csv")?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| Error::SqlProject(format!("reference/thresholds.csv row {}: {e}", i + 2)))?;
        let has_value = !r[2].trim().is_empty();
        let value = if has_value {
            r[2].parse().map_err(|_| {
                Error::SqlProject(format!("reference/thresholds.csv row {}: value {:?} is not a number", i + 2, &r[2]))
            })?
        } else {
            f64::NAN
        };
        let threshold = Threshold {
            threshold_id: r[0].to_owned(),
            stage: r[1].to_owned(),
            value,
            unit: r[3].to_owned(),
            source: r[4].to_owned(),
            description: r[5].to_owned(),
        };
        out.push((threshold, has_value));
    }
    Ok(out)
}

/// The national defaults shipped in `sql/reference/thresholds.csv`.
pub fn national_thresholds() -> Result<Vec<Threshold>> {
    Ok(catalogue()?.into_iter().filter(|(_, has_value)| *has_value).map(|(t, _)| t).collect())
}

/// The thresholds in effect for a pipeline: national defaults with its `[standards]` applied.
pub fn thresholds(pipeline: &Pipeline) -> Result<Vec<Threshold>> {
    let catalogue = catalogue()?;
    // A standard in 元 says nothing about amounts in another currency: for a source in USD or
    // TWD it is not applied (its verdicts are not assessable) unless the pipeline sets its own.
    let in_yuan = |t: &Threshold| t.unit.starts_with('元');
    let foreign_money = !pipeline.settings.currency.is_yuan();
    let mut rows: Vec<Threshold> =
        catalogue.iter().filter(|(t, v)| *v && !(foreign_money && in_yuan(t))).map(|(t, _)| t.clone()).collect();
    for (id, by_stage) in &pipeline.standards {
        for (stage, value) in by_stage {
            let template = catalogue.iter().find(|(t, _)| &t.threshold_id == id).map(|(t, _)| t.clone());
            rows.retain(|t| !(&t.threshold_id == id && (&t.stage == stage || stage == "all")));
            rows.push(Threshold {
                threshold_id: id.clone(),
                stage: stage.clone(),
                value: *value,
                unit: template
                    .as_ref()
                    .map(|t| match t.unit.strip_prefix('元') {
                        Some(rest) if foreign_money => format!("{}{rest}", pipeline.settings.currency.code),
                        _ => t.unit.clone(),
                    })
                    .unwrap_or_default(),
                source: format!("pipeline {}", pipeline.name),
                description: template
                    .map(|t| t.description)
                    .unwrap_or_else(|| "provincial standard set in the pipeline file".into()),
            });
        }
    }
    // `all` also answers for each stage that has no row of its own.
    let mut expanded = rows.clone();
    for t in rows.iter().filter(|t| t.stage == "all") {
        for stage in crate::contract::Stage::ALL.iter().map(|s| s.as_str()) {
            if !rows.iter().any(|r| r.threshold_id == t.threshold_id && r.stage == stage) {
                expanded.push(Threshold { stage: stage.into(), ..t.clone() });
            }
        }
    }
    expanded.sort_by(|a, b| (&a.threshold_id, &a.stage).cmp(&(&b.threshold_id, &b.stage)));
    Ok(expanded)
}

/// A CSV shipped under `sql/reference/` as a table of text columns (numbers are cast in SQL).
fn csv_table(name: &str) -> Result<RecordBatch> {
    let path = format!("reference/{name}.csv");
    let text = sql_files::file(&path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().map_err(|e| Error::SqlProject(format!("{path}: {e}")))?.iter().map(str::to_owned).collect();
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::SqlProject(format!("{path}: {e}")))?;
    let columns: Vec<(String, ArrayRef)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.clone(),
                Arc::new(StringArray::from_iter_values(records.iter().map(|r| r.get(i).unwrap_or("")))) as ArrayRef,
            )
        })
        .collect();
    RecordBatch::try_from_iter(columns).map_err(|e| Error::arrow(path, e))
}

/// Register the reference tables ([`TABLES`]) for a pipeline, its counties and the evidence
/// files of the run.
pub fn register(
    ctx: &SessionContext,
    pipeline: &Pipeline,
    counties: &BTreeSet<String>,
    evidence: &[EvidenceRecord],
) -> Result<()> {
    register_batch(ctx, "ref_indicators", csv_table("indicators")?)?;
    register_batch(ctx, "ref_assessment_items", csv_table("assessment_items")?)?;
    register_batch(ctx, "ref_evidence", evidence_table(evidence)?)?;
    // Which stages each school type teaches, from the contract (the one place that says so).
    let pairs: Vec<(&str, &str)> = crate::contract::SCHOOL_TYPE
        .values
        .iter()
        .filter_map(|(kind, _, _)| crate::contract::SchoolType::parse(kind))
        .flat_map(|kind| kind.stages().iter().map(move |stage| (kind.as_str(), stage.as_str())))
        .collect();
    let stages = RecordBatch::try_from_iter(vec![
        ("school_type", Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| p.0))) as ArrayRef),
        ("stage", Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| p.1))) as ArrayRef),
    ])
    .map_err(|e| Error::arrow("ref_school_type_stages", e))?;
    register_batch(ctx, "ref_school_type_stages", stages)?;
    let t = thresholds(pipeline)?;
    let strings =
        |f: &dyn Fn(&Threshold) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(t.iter().map(f))) };
    let batch = RecordBatch::try_from_iter(vec![
        ("threshold_id", strings(&|x| &x.threshold_id)),
        ("stage", strings(&|x| &x.stage)),
        ("value", Arc::new(Float64Array::from_iter_values(t.iter().map(|x| x.value))) as ArrayRef),
        ("unit", strings(&|x| &x.unit)),
        ("source", strings(&|x| &x.source)),
        ("description", strings(&|x| &x.description)),
    ])
    .map_err(|e| Error::arrow("ref_thresholds", e))?;
    register_batch(ctx, "ref_thresholds", batch)?;

    let s = &pipeline.settings;
    let settings = RecordBatch::try_from_iter(vec![
        ("apportion_junior_weight", Arc::new(Float64Array::from(vec![s.apportion_junior_weight])) as ArrayRef),
        ("teaching_points", Arc::new(StringArray::from(vec![enum_text(&s.teaching_points)])) as ArrayRef),
        ("retention_definition", Arc::new(StringArray::from(vec![enum_text(&s.retention_definition)])) as ArrayRef),
        ("currency", Arc::new(StringArray::from(vec![s.currency.code])) as ArrayRef),
    ])
    .map_err(|e| Error::arrow("ref_settings", e))?;
    register_batch(ctx, "ref_settings", settings)?;

    let systems: BTreeMap<&String, crate::contract::SchoolSystem> =
        counties.iter().map(|c| (c, s.school_system(Some(c)))).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("county_code", DataType::Utf8, false),
        Field::new("school_system", DataType::Utf8, false),
        Field::new("last_primary_grade", DataType::Int32, false),
        Field::new("primary_years", DataType::Int32, false),
        Field::new("junior_years", DataType::Int32, false),
    ]));
    let last = |sys: &crate::contract::SchoolSystem| sys.last_primary_grade() as i32;
    let county_settings = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(systems.keys().map(|c| c.as_str()))),
            Arc::new(StringArray::from_iter_values(systems.values().map(|s| s.as_str()))),
            Arc::new(Int32Array::from_iter_values(systems.values().map(last))),
            Arc::new(Int32Array::from_iter_values(systems.values().map(last))),
            Arc::new(Int32Array::from_iter_values(systems.values().map(|s| 9 - last(s)))),
        ],
    )
    .map_err(|e| Error::arrow("ref_county_settings", e))?;
    register_batch(ctx, "ref_county_settings", county_settings)
}

/// The names of the reference tables [`register`] registers.
pub const TABLES: [&str; 7] = [
    "ref_indicators",
    "ref_assessment_items",
    "ref_evidence",
    "ref_school_type_stages",
    "ref_thresholds",
    "ref_settings",
    "ref_county_settings",
];

/// The evidence files that name an item, counted per county, year and item (files in a folder
/// naming no item are not counted: the ledger lists them with a warning).
fn evidence_table(evidence: &[EvidenceRecord]) -> Result<RecordBatch> {
    let mut counted: BTreeMap<(&str, i32, &str), (i64, i64)> = BTreeMap::new();
    for e in evidence {
        if let (Some(county), Some(year), Some(item)) = (&e.county_code, e.year, &e.item) {
            let entry = counted.entry((county.as_str(), year, item.as_str())).or_default();
            entry.0 += 1;
            entry.1 += e.size as i64;
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("county_code", DataType::Utf8, false),
        Field::new("year", DataType::Int32, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("files", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(counted.keys().map(|k| k.0))),
            Arc::new(Int32Array::from_iter_values(counted.keys().map(|k| k.1))),
            Arc::new(StringArray::from_iter_values(counted.keys().map(|k| k.2))),
            Arc::new(Int64Array::from_iter_values(counted.values().map(|v| v.0))),
            Arc::new(Int64Array::from_iter_values(counted.values().map(|v| v.1))),
        ],
    )
    .map_err(|e| Error::arrow("ref_evidence", e))
}

/// Write the registered reference tables into the version (`reference/<name>/part-0.parquet`)
/// and register those files in their place, for engines that run outside this process. The
/// version then also records exactly which thresholds and settings its marts used.
pub async fn materialise(
    ctx: &SessionContext,
    out: &crate::storage::Location,
    run_id: &str,
) -> Result<Vec<crate::ledger::WrittenFile>> {
    let mut written = Vec::new();
    for name in TABLES {
        let err = |e| Error::Sql { model: name.into(), file: "reference".into(), source: Box::new(e) };
        // Read the in-memory table here, not through the session: its planner would send the
        // query to the cluster, which cannot see this process's memory.
        let provider = ctx.table_provider(name).await.map_err(err)?;
        let state = ctx.state();
        let plan = provider.scan(&state, None, &[], None).await.map_err(err)?;
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.map_err(err)?;
        let Some(schema) = batches.first().map(|b| b.schema()) else { continue };
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        written.push(
            crate::load::write_stream(out, run_id, &format!("reference/{name}/part-0.parquet"), schema, stream).await?,
        );
        ctx.deregister_table(name).map_err(err)?;
        super::register_parquet(
            ctx,
            out,
            &format!("{}/reference/{name}/", crate::load::version_path(run_id)),
            name,
            None,
            false,
        )
        .await?;
    }
    Ok(written)
}

/// Header prose with every `{threshold_id}` written as the id and its value in effect:
/// `{quality_cv_max}` → `quality_cv_max (primary 0.5, junior 0.45)`, `{satisfaction_min}` →
/// `satisfaction_min (0.85)`. An id no threshold has is an error (a typo in a header); braces
/// around anything but a snake_case id (`V_{t−1}`) are left as written.
pub fn with_thresholds(text: &str, thresholds: &[Threshold]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let known = crate::sql_files::threshold_ids().map_err(|e| e.to_string())?;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let id = &rest[open + 1..open + close];
        out.push_str(&rest[..open]);
        // Only a snake_case id is a threshold; `V_{t−1}` is a formula.
        if !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') || id.is_empty() {
            out.push_str(&rest[open..open + close + 1]);
            rest = &rest[open + close + 1..];
            continue;
        }
        if !known.contains(id) {
            return Err(format!("{{{id}}} names no threshold of sql/reference/thresholds.csv"));
        }
        out.push_str(&describe(id, thresholds));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `id (value)` or `id (primary value, junior value)`, as the thresholds in effect have it.
fn describe(id: &str, thresholds: &[Threshold]) -> String {
    let of = |stage: &str| thresholds.iter().find(|t| t.threshold_id == id && t.stage == stage).map(|t| t.value);
    match (of("primary"), of("junior"), of("all")) {
        (Some(p), Some(j), _) if p != j => format!("{id} (primary {p}, junior {j})"),
        (Some(v), _, _) | (None, Some(v), _) | (None, None, Some(v)) => format!("{id} ({v})"),
        (None, None, None) => format!("{id} (not set)"),
    }
}

fn enum_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn register_batch(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<()> {
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(|e| Error::Sql {
        model: name.into(),
        file: "reference".into(),
        source: Box::new(e),
    })?;
    ctx.register_table(name, Arc::new(table)).map_err(|e| Error::Sql {
        model: name.into(),
        file: "reference".into(),
        source: Box::new(e),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_defaults_match_methodology() {
        let t = national_thresholds().unwrap();
        let get = |id: &str, stage: &str| t.iter().find(|x| x.threshold_id == id && x.stage == stage).map(|x| x.value);
        assert_eq!(get("basic_composite_cv_max", "primary"), Some(0.65));
        assert_eq!(get("basic_composite_cv_max", "junior"), Some(0.55));
        assert_eq!(get("quality_cv_max", "junior"), Some(0.45));
        assert_eq!(get("q5_standard", "junior"), Some(10.2));
        assert_eq!(get("q6_standard", "primary"), Some(2000.0));
        assert!(t.iter().all(|x| !x.source.is_empty()), "every threshold names its source");
    }

    #[test]
    fn pipeline_overrides_replace_and_all_expands() {
        let mut p = Pipeline::standard("x");
        p.name = "hlj".into();
        p.standards.insert(
            "building_area_per_pupil_min".into(),
            BTreeMap::from([("primary".into(), 4.1), ("junior".into(), 5.2)]),
        );
        p.standards.insert("satisfaction_min".into(), BTreeMap::from([("all".into(), 0.9)]));
        let t = thresholds(&p).unwrap();
        let get = |id: &str, stage: &str| {
            t.iter().find(|x| x.threshold_id == id && x.stage == stage).map(|x| (x.value, x.source.clone()))
        };
        assert_eq!(get("building_area_per_pupil_min", "junior"), Some((5.2, "pipeline hlj".into())));
        assert_eq!(get("satisfaction_min", "primary").map(|x| x.0), Some(0.9));
        assert_eq!(t.iter().filter(|x| x.threshold_id == "satisfaction_min").count(), 3);
        assert_eq!(get("quality_cv_max", "primary").map(|x| x.0), Some(0.5));
    }
}
