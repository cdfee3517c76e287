//! The SQL project under `sql/`: its models, their headers, and the order they run in.
//!
//! Models are layered like a dbt project — `staging/` renames and casts the Parquet tables,
//! `intermediate/` joins and aggregates, `marts/` are the published tables — one model per file,
//! named by the file stem, each opening with a header (what, grain, inputs, methodology, checks,
//! columns) that the data dictionary publishes.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::prelude::SessionContext;

use super::SQL_FILES;
use crate::contract::Table;
use crate::error::{Error, Result};

/// A layer of the SQL project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// Renames and casts of the staging Parquet tables.
    Staging,
    /// Joins and aggregates.
    Intermediate,
    /// Published tables.
    Marts,
}

impl Layer {
    /// The folder of the version a layer's tables are written to (staging models are views).
    pub fn folder(self) -> &'static str {
        match self {
            Layer::Staging => "staging",
            Layer::Intermediate => "intermediate",
            Layer::Marts => "marts",
        }
    }
}

/// One documented column of a model (from its `Columns:` header block).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColumnDoc {
    /// Column name.
    pub name: String,
    /// Chinese label.
    pub label: String,
    /// Unit (empty when none).
    pub unit: String,
    /// What it means.
    pub meaning: String,
}

/// The header of a model file.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Header {
    /// First line: what the model is.
    pub what: String,
    /// `Grain:` line.
    pub grain: String,
    /// `Methodology:` line (which section it implements).
    pub methodology: String,
    /// `Inputs:` entries: the tables the model reads, as its author declares them.
    pub inputs: Vec<String>,
    /// `Checks:` entries.
    pub checks: Vec<String>,
    /// `Columns:` entries.
    pub columns: Vec<ColumnDoc>,
}

/// One SQL model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Table name (the file stem).
    pub name: String,
    /// Its layer.
    pub layer: Layer,
    /// Path under `sql/`.
    pub path: &'static str,
    /// The SQL (a single query), its [`ModelVars`] filled in.
    pub sql: String,
    /// Its header.
    pub header: Header,
    /// Models it reads.
    pub depends_on: Vec<String>,
}

impl Model {
    /// A DataFusion error in this model, naming it and its file.
    pub fn error(&self, e: datafusion::error::DataFusionError) -> Error {
        Error::sql(&self.name, format!("sql/{}", self.path), e)
    }
}

/// What a model's SQL may leave to the run's settings, as dbt's `{{ var('…') }}`: the type and
/// rounding of staff counts, which are persons (bigint) or full-time equivalents (double). Only
/// these names exist; a model naming another is a project error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelVars {
    /// How the teachers table counts staff.
    pub teacher_counts: crate::pipeline::TeacherCounts,
}

impl ModelVars {
    /// The variables a session was made with (the defaults when it was made without).
    pub fn of(ctx: &SessionContext) -> ModelVars {
        ctx.state().config().get_extension::<ModelVars>().map_or_else(ModelVars::default, |v| *v)
    }

    /// The variables by name, with their values.
    fn values(self) -> [(&'static str, &'static str); 2] {
        use crate::pipeline::TeacherCounts::{Fte, Headcount};
        match self.teacher_counts {
            Headcount => [("teacher_count_type", "bigint"), ("teacher_count_decimals", "0")],
            Fte => [("teacher_count_type", "double"), ("teacher_count_decimals", "2")],
        }
    }

    /// A model's SQL with every `{{ name }}` replaced by its value.
    pub fn fill(self, sql: &str) -> std::result::Result<String, String> {
        let values = self.values();
        let mut out = String::with_capacity(sql.len());
        let mut rest = sql;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").ok_or("a `{{` without its `}}`")? + start;
            let name = rest[start + 2..end].trim();
            let value = values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| {
                let known: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                format!("unknown variable {{{{ {name} }}}} (the variables are {})", known.join(", "))
            })?;
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Parse a model header: the leading `--` comment lines.
pub fn parse_header(sql: &str) -> Header {
    let mut header = Header::default();
    let mut in_columns = false;
    for line in sql.lines().map(str::trim).take_while(|l| l.starts_with("--")) {
        let text = line.trim_start_matches('-').trim();
        if header.what.is_empty() {
            header.what = text.to_owned();
            continue;
        }
        if let Some(rest) = text.strip_prefix("Grain:") {
            header.grain = rest.trim().to_owned();
            in_columns = false;
        } else if let Some(rest) = text.strip_prefix("Methodology:") {
            header.methodology = rest.trim().to_owned();
            in_columns = false;
        } else if let Some(rest) = text.strip_prefix("Checks:") {
            header.checks = rest.split(';').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
            in_columns = false;
        } else if text.starts_with("Columns:") {
            in_columns = true;
        } else if let Some(rest) = text.strip_prefix("Inputs:") {
            header.inputs = rest
                .split(',')
                .map(|i| i.split_whitespace().next().unwrap_or_default().to_owned())
                .filter(|i| !i.is_empty())
                .collect();
            in_columns = false;
        } else if in_columns && text.contains('|') {
            let parts: Vec<&str> = text.split('|').map(str::trim).collect();
            header.columns.push(ColumnDoc {
                name: parts.first().copied().unwrap_or_default().to_owned(),
                label: parts.get(1).copied().unwrap_or_default().to_owned(),
                unit: parts.get(2).copied().unwrap_or_default().to_owned(),
                meaning: parts.get(3..).map(|p| p.join(" | ")).unwrap_or_default(),
            });
        }
    }
    header
}

/// The embedded SQL project, models in the order they must run.
pub fn project(ctx: &SessionContext) -> Result<Vec<Model>> {
    let vars = ModelVars::of(ctx);
    let mut models = Vec::new();
    for (path, text) in SQL_FILES.iter().filter(|(p, _)| p.ends_with(".sql")) {
        let sql = vars.fill(text).map_err(|message| Error::SqlProject(format!("sql/{path}: {message}")))?;
        let (folder, file) = path
            .rsplit_once('/')
            .ok_or_else(|| Error::SqlProject(format!("{path}: models live in staging/, intermediate/ or marts/")))?;
        let layer = match folder {
            "staging" => Layer::Staging,
            "intermediate" => Layer::Intermediate,
            "marts" => Layer::Marts,
            other => return Err(Error::SqlProject(format!("{path}: unknown layer {other}"))),
        };
        let name = file.trim_end_matches(".sql").to_owned();
        let statement = ctx
            .state()
            .sql_to_statement(&sql, &datafusion::config::Dialect::Generic)
            .map_err(|e| Error::sql(&name, *path, e))?;
        let refs = ctx.state().resolve_table_references(&statement).map_err(|e| Error::sql(&name, *path, e))?;
        let depends_on: BTreeSet<String> = refs.iter().map(|r| r.table().to_owned()).collect();
        models.push(Model {
            name,
            layer,
            path,
            header: parse_header(&sql),
            sql,
            depends_on: depends_on.into_iter().collect(),
        });
    }
    order(models)
}

/// Sort models so every model comes after what it reads; layers may only read lower layers.
fn order(models: Vec<Model>) -> Result<Vec<Model>> {
    let names: BTreeMap<String, Layer> = models.iter().map(|m| (m.name.clone(), m.layer)).collect();
    for m in &models {
        for dep in &m.depends_on {
            if let Some(&layer) = names.get(dep)
                && (layer > m.layer || (m.layer == Layer::Staging && layer == Layer::Staging))
            {
                return Err(Error::SqlProject(format!("{} ({:?}) may not read {dep} ({layer:?})", m.path, m.layer)));
            }
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut remaining = models;
    let mut ordered = Vec::new();
    while !remaining.is_empty() {
        let (ready, rest): (Vec<Model>, Vec<Model>) = remaining
            .into_iter()
            .partition(|m| m.depends_on.iter().all(|d| !names.contains_key(d) || done.contains(d) || d == &m.name));
        if ready.is_empty() {
            let stuck: Vec<&str> = rest.iter().map(|m| m.path).collect();
            return Err(Error::SqlProject(format!("dependency cycle among {}", stuck.join(", "))));
        }
        let mut ready = ready;
        ready.sort_by(|a, b| (a.layer, &a.name).cmp(&(b.layer, &b.name)));
        for m in ready {
            done.insert(m.name.clone());
            ordered.push(m);
        }
        remaining = rest;
    }
    Ok(ordered)
}

/// The models that read the submissions (the staging tables), directly or through other models.
pub fn reads_submissions(models: &[Model]) -> BTreeSet<String> {
    let mut reading: BTreeSet<String> = Table::ALL.iter().map(|t| t.name().to_owned()).collect();
    // Models come in dependency order: one pass sees every input before its readers.
    for model in models {
        if model.depends_on.iter().any(|d| reading.contains(d)) {
            reading.insert(model.name.clone());
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_variables_are_filled_from_the_settings_and_unknown_ones_refused() {
        use crate::pipeline::TeacherCounts::{Fte, Headcount};
        let sql = "select cast(round(t * s, {{ teacher_count_decimals }}) as {{teacher_count_type}}) from x";
        let persons = ModelVars { teacher_counts: Headcount }.fill(sql).unwrap();
        assert_eq!(persons, "select cast(round(t * s, 0) as bigint) from x");
        let fte = ModelVars { teacher_counts: Fte }.fill(sql).unwrap();
        assert_eq!(fte, "select cast(round(t * s, 2) as double) from x");
        let unknown = ModelVars::default().fill("select {{ year_type }}").unwrap_err();
        assert!(
            unknown.contains("unknown variable {{ year_type }}") && unknown.contains("teacher_count_type"),
            "{unknown}"
        );
        assert!(ModelVars::default().fill("select {{ teacher_count_type").is_err());
    }

    #[test]
    fn headers_are_parsed() {
        let h = parse_header(
            "-- retention: cohort retention.\n-- Grain: one row per (county_code, year, stage).\n-- Inputs: a, b\n-- Methodology: §4\n-- Checks: unique (county_code, year, stage); retention_rate >= 0\n-- Columns:\n--   year | 年份 | | census year\n--   retention_rate | 巩固率 | | rate | fraction\nselect 1",
        );
        assert_eq!(h.what, "retention: cohort retention.");
        assert_eq!(h.grain, "one row per (county_code, year, stage).");
        assert_eq!(h.methodology, "§4");
        assert_eq!(h.checks, ["unique (county_code, year, stage)", "retention_rate >= 0"]);
        assert_eq!(h.columns.len(), 2);
        assert_eq!(h.columns[1].label, "巩固率");
        assert_eq!(h.columns[1].meaning, "rate | fraction");
    }

    #[test]
    fn the_embedded_project_orders_and_documents_every_model() {
        let ctx = SessionContext::new();
        let models = project(&ctx).unwrap();
        assert!(!models.is_empty());
        let position: BTreeMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
        let mut wrong_inputs = Vec::new();
        for m in &models {
            assert!(!m.header.what.is_empty(), "{} has no header", m.path);
            assert!(!m.header.grain.is_empty(), "{} has no Grain line", m.path);
            assert!(m.header.what.starts_with(&format!("{}:", m.name)), "{} header must start with its name", m.path);
            for dep in &m.depends_on {
                if let Some(&p) = position.get(dep.as_str()) {
                    assert!(p < position[m.name.as_str()], "{} runs before its input {dep}", m.name);
                }
            }
            // The header's `Inputs:` is what the SQL reads (explain follows it to a source table).
            let declared: BTreeSet<&str> = m.header.inputs.iter().map(String::as_str).collect();
            let read: BTreeSet<&str> = m.depends_on.iter().map(String::as_str).collect();
            if declared != read {
                wrong_inputs.push(format!("{}: Inputs: lists {declared:?}, the SQL reads {read:?}", m.path));
            }
            // Thresholds are named by id, never written as numbers the pipeline could override.
            let thresholds = [];
            let prose = [&m.header.what, &m.header.grain, &m.header.methodology];
            for text in prose.into_iter().chain(m.header.columns.iter().map(|c| &c.meaning)) {
                crate::transform::reference::with_thresholds(text, &thresholds)
                    .unwrap_or_else(|e| panic!("{}: {e}", m.path));
            }
            if m.layer == Layer::Marts {
                assert!(!m.header.columns.is_empty(), "{} documents no columns", m.path);
                assert!(m.header.checks.iter().any(|c| c.starts_with("unique")), "{} has no unique check", m.path);
            }
        }
        assert!(wrong_inputs.is_empty(), "{}", wrong_inputs.join("\n"));
    }
}
