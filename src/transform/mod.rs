//! Transform: the SQL project under `sql/`, run through DataFusion in dependency order.
//!
//! Models are layered like a dbt project — `staging/` renames and casts the Parquet tables,
//! `intermediate/` joins and aggregates, `marts/` are the published tables — one model per file,
//! named by the file stem, each opening with a header (what, grain, inputs, methodology, checks,
//! columns). Staging and intermediate models are views; marts are executed, streamed to
//! Parquet, checked (`unique`, `not_null`) and read back for the marts that use them.
//! Reference data (`sql/reference/*.csv`: thresholds and standards) and the run's settings are
//! registered as tables, so no threshold is a literal inside a model.

pub mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::ledger::MartRecord;
use crate::load::{self, WrittenFile};
use crate::storage::Location;

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// The URL under which the output store is registered with DataFusion.
pub const OUTPUT_STORE_URL: &str = "junheng://output";

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
    /// The SQL (a single query).
    pub sql: &'static str,
    /// Its header.
    pub header: Header,
    /// Models it reads.
    pub depends_on: Vec<String>,
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
        } else if text.starts_with("Inputs:") {
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
    let mut models = Vec::new();
    for (path, sql) in SQL_FILES.iter().filter(|(p, _)| p.ends_with(".sql")) {
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
            .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
            .map_err(|e| Error::Sql { model: name.clone(), file: path.to_string(), source: Box::new(e) })?;
        let refs = ctx.state().resolve_table_references(&statement).map_err(|e| Error::Sql {
            model: name.clone(),
            file: path.to_string(),
            source: Box::new(e),
        })?;
        let depends_on: BTreeSet<String> = refs.iter().map(|r| r.table().to_owned()).collect();
        models.push(Model {
            name,
            layer,
            path,
            sql,
            header: parse_header(sql),
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

/// Where the SQL models run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process (the default).
    #[default]
    Local,
    /// An Apache DataFusion Ballista cluster: its scheduler (`df://host:50050`), or `standalone`
    /// for a scheduler and executor started in this process (tests, trying it out).
    Ballista(String),
}

impl Engine {
    /// `local`, `ballista://host:port` or `ballista-standalone`.
    pub fn parse(text: &str) -> Result<Engine> {
        let engine = match text.trim() {
            "" | "local" => return Ok(Engine::Local),
            "ballista-standalone" => Engine::Ballista("standalone".into()),
            other => match other.strip_prefix("ballista://").or_else(|| other.strip_prefix("df://")) {
                Some(address) if !address.is_empty() => Engine::Ballista(format!("df://{address}")),
                _ => {
                    return Err(Error::Config(format!(
                        "engine {other:?}: use local, ballista://HOST:PORT (a Ballista scheduler) or ballista-standalone"
                    )));
                }
            },
        };
        if cfg!(feature = "ballista") {
            Ok(engine)
        } else {
            Err(Error::Config(format!(
                "engine {text:?}: this junheng was built without Ballista; build it with `cargo build --release --features ballista`"
            )))
        }
    }

    /// Whether the models run outside this process (tables must then be addressed by URLs the
    /// cluster can read, and hold no in-memory data).
    pub fn is_distributed(&self) -> bool {
        matches!(self, Engine::Ballista(_))
    }
}

/// The URL prefix under which the output's objects are addressed in a session (a config
/// extension: absent means [`OUTPUT_STORE_URL`], the store registered in this process).
#[derive(Debug)]
struct TableBase(String);

/// The URL a cluster can read the output under: `file:///abs/dir` or `s3://bucket`.
fn shared_base(out: &Location) -> Result<String> {
    if let Some(root) = &out.local_root {
        return Ok(format!("file://{}", root.display()));
    }
    let prefix = out.prefix.as_ref();
    let base = out.url.trim_end_matches('/');
    let base = if prefix.is_empty() { base } else { base.strip_suffix(&format!("/{prefix}")).unwrap_or(base) };
    if base.starts_with("memory://") {
        return Err(Error::Config(format!("{}: a cluster cannot read an in-memory output", out.url)));
    }
    Ok(base.to_owned())
}

/// A DataFusion session over a version of the output: staging Parquet tables registered by name.
pub async fn session(out: &Location, run_id: &str) -> Result<SessionContext> {
    session_on(out, run_id, &Engine::Local, None).await
}

/// [`session`] on an engine; the local engine spills sorts and aggregates to temporary files
/// beyond `memory_limit` bytes.
pub async fn session_on(
    out: &Location,
    run_id: &str,
    engine: &Engine,
    memory_limit: Option<usize>,
) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(true);
    // Text read from Parquet as plain strings, not views: a view array keeps the whole page it
    // points into alive, so a few codes kept in a hash table could hold many pages.
    config.options_mut().execution.parquet.schema_force_view_types = false;
    let url = ObjectStoreUrl::parse(OUTPUT_STORE_URL).map_err(|e| Error::Config(e.to_string()))?;
    let ctx = match engine {
        Engine::Local => {
            let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
            if let Some(limit) = memory_limit {
                // Fair shares among the spilling operators of a plan; joins' build sides cannot
                // spill and take what is left.
                runtime =
                    runtime.with_memory_pool(Arc::new(datafusion::execution::memory_pool::FairSpillPool::new(limit)));
            }
            let runtime = runtime.build_arc().map_err(|e| Error::Config(format!("SQL engine: {e}")))?;
            let ctx = SessionContext::new_with_config_rt(config, runtime);
            ctx.runtime_env().register_object_store(url.as_ref(), out.store.clone());
            ctx
        }
        Engine::Ballista(scheduler) => {
            let base = shared_base(out)?;
            config = config.with_extension(Arc::new(TableBase(base.clone())));
            ballista_session(config, out, &base, scheduler).await?
        }
    };
    for table in Table::ALL {
        let file_schema = crate::normalise::schema(table);
        let folder = format!("{}/staging/{}/", load::version_path(run_id), table.name());
        if engine.is_distributed() && !has_objects(out, &folder).await? {
            register_empty(&ctx, out, run_id, table, &file_schema).await?;
            continue;
        }
        register_parquet(&ctx, out, &folder, table.name(), Some(file_schema), true).await?;
    }
    Ok(ctx)
}

/// Whether anything is stored under a folder of the output.
async fn has_objects(out: &Location, relative_dir: &str) -> Result<bool> {
    let prefix = out.child(relative_dir);
    let first = out.store.list(Some(&prefix)).next().await.transpose();
    Ok(first.map_err(|e| Error::store("list", &prefix, e))?.is_some())
}

/// A table nobody submitted, for a cluster: one Parquet file with no rows (the columns and the
/// `year` column). Ballista 55 cannot run a scan of no files: its executors plan it differently
/// from its scheduler and the job never finishes.
async fn register_empty(
    ctx: &SessionContext,
    out: &Location,
    run_id: &str,
    table: Table,
    file_schema: &arrow::datatypes::SchemaRef,
) -> Result<()> {
    let mut fields: Vec<Field> = file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("year", DataType::Int32, false));
    let schema = Arc::new(Schema::new(fields));
    let relative = format!("empty/{}/part-0.parquet", table.name());
    load::write_stream(out, run_id, &relative, schema.clone(), futures::stream::empty()).await?;
    let folder = format!("{}/empty/{}/", load::version_path(run_id), table.name());
    register_parquet(ctx, out, &folder, table.name(), Some(schema), false).await
}

/// A session whose queries run on Ballista. The output's store is registered under its own URL
/// (for the in-process cluster and for planning here); a remote cluster's scheduler and
/// executors must reach the same URL themselves (a shared folder mounted at the same path, or
/// the same S3 bucket with credentials in their environment).
#[cfg(feature = "ballista")]
async fn ballista_session(
    config: SessionConfig,
    out: &Location,
    base: &str,
    scheduler: &str,
) -> Result<SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::SessionStateBuilder;
    let err = |e: datafusion::error::DataFusionError| Error::Sql {
        model: "ballista".into(),
        file: scheduler.to_owned(),
        source: Box::new(e),
    };
    let mut config = config.upgrade_for_ballista();
    // Per-partition sorts merged above a union rely on each branch's constant columns, which a
    // stage boundary forgets: Ballista 55 then rejects the plan (school_changes' event order).
    config.options_mut().optimizer.repartition_sorts = false;
    // Ballista 55's adaptive planner re-plans a stage over an empty table without end; the
    // static planner runs the same plans to the same results.
    let config = config.set_str("ballista.planner.adaptive.enabled", "false");
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new().build_arc().map_err(err)?;
    if out.local_root.is_none() {
        let url = url::Url::parse(base).map_err(|e| Error::Config(format!("{base}: {e}")))?;
        runtime.register_object_store(&url, out.store.clone());
    }
    let state =
        SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    if scheduler == "standalone" {
        SessionContext::standalone_with_state(state).await.map_err(err)
    } else {
        // The client connects lazily, at the first query; say now, plainly, if nobody is there.
        let address = scheduler.trim_start_matches("df://");
        let reachable =
            tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect(address));
        match reachable.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(Error::Config(format!(
                    "cannot reach the Ballista scheduler at {address}: {e} (start one with `ballista-scheduler`, or check --engine)"
                )));
            }
            Err(_) => {
                return Err(Error::Config(format!(
                    "cannot reach the Ballista scheduler at {address}: no answer in 10 s (check --engine and the network)"
                )));
            }
        }
        SessionContext::remote_with_state(scheduler, state).await.map_err(err)
    }
}

#[cfg(not(feature = "ballista"))]
async fn ballista_session(_: SessionConfig, _: &Location, _: &str, scheduler: &str) -> Result<SessionContext> {
    Err(Error::Config(format!("engine {scheduler}: this junheng was built without the `ballista` feature")))
}

/// Register a Parquet folder (or one `.parquet` file) of the output as a table (`year`
/// partitioned when `by_year`).
pub async fn register_parquet(
    ctx: &SessionContext,
    out: &Location,
    relative_dir: &str,
    name: &str,
    schema: Option<arrow::datatypes::SchemaRef>,
    by_year: bool,
) -> Result<()> {
    let path = out.child(relative_dir);
    let base = ctx.state().config().get_extension::<TableBase>().map_or(OUTPUT_STORE_URL.to_owned(), |b| b.0.clone());
    // A folder is listed; a `.parquet` path is that one file.
    let slash = if relative_dir.ends_with(".parquet") { "" } else { "/" };
    let url = format!("{base}/{path}{slash}");
    let table_url = ListingTableUrl::parse(&url).map_err(|e| Error::Config(format!("{url}: {e}")))?;
    let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if by_year {
        options = options.with_table_partition_cols(vec![("year".to_owned(), DataType::Int32)]);
    }
    let mut config = ListingTableConfig::new(table_url).with_listing_options(options);
    config = match schema {
        Some(s) => config.with_schema(s),
        None => config.infer_schema(&ctx.state()).await.map_err(|e| Error::Sql {
            model: name.into(),
            file: url.clone(),
            source: Box::new(e),
        })?,
    };
    let table = ListingTable::try_new(config).map_err(|e| Error::Sql {
        model: name.into(),
        file: url.clone(),
        source: Box::new(e),
    })?;
    ctx.register_table(name, Arc::new(table)).map_err(|e| Error::Sql {
        model: name.into(),
        file: url,
        source: Box::new(e),
    })?;
    Ok(())
}

/// Register the staging and intermediate models as views (marts are read from their Parquet).
pub async fn register_views(ctx: &SessionContext, models: &[Model]) -> Result<()> {
    for model in models.iter().filter(|m| m.layer != Layer::Marts) {
        let err =
            |e| Error::Sql { model: model.name.clone(), file: format!("sql/{}", model.path), source: Box::new(e) };
        let df = ctx.sql(model.sql).await.map_err(err)?;
        ctx.register_table(model.name.as_str(), df.into_view()).map_err(err)?;
    }
    Ok(())
}

/// Whole counties whose models run together. The SQL reads one group's staging rows at a time:
/// every model is county-scoped (its grain names the county, or a school, which belongs to one
/// county), so running group by group gives the same rows as running the country at once,
/// with a group's hash tables in memory instead of the country's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountyGroup {
    /// The group's first county code (none: from the lowest code, including rows without one).
    pub from: Option<String>,
    /// The next group's first county code (none: to the highest code).
    pub until: Option<String>,
    /// Staging rows of the group, as the run counted them.
    pub rows: u64,
}

impl CountyGroup {
    /// The whole country as one group.
    pub fn everything(rows: u64) -> CountyGroup {
        CountyGroup { from: None, until: None, rows }
    }

    /// The filter selecting the group's rows of a staging table (`from <= county_code < until`).
    fn filter(&self) -> Option<datafusion::prelude::Expr> {
        use datafusion::prelude::{col, lit};
        let from = self.from.as_ref().map(|c| col("county_code").gt_eq(lit(c.as_str())));
        let until = self.until.as_ref().map(|c| col("county_code").lt(lit(c.as_str())));
        match (from, until) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        }
    }

    /// How the group is named in progress messages.
    pub fn describe(&self) -> String {
        match (&self.from, &self.until) {
            (None, None) => "all counties".into(),
            (Some(f), None) => format!("counties {f}…"),
            (None, Some(u)) => format!("counties before {u}"),
            (Some(f), Some(u)) => format!("counties {f}…{u} (excl.)"),
        }
    }
}

/// Split counties (code → staging rows) in code order into groups of at most `max_rows` rows;
/// a county larger than that is a group of its own. The groups' ranges are half-open and cover
/// every code, so a row of a county the counts do not know still belongs to exactly one group.
pub fn county_groups(rows_by_county: &BTreeMap<String, u64>, max_rows: u64) -> Vec<CountyGroup> {
    let total: u64 = rows_by_county.values().sum();
    if total <= max_rows.max(1) {
        return vec![CountyGroup::everything(total)];
    }
    let mut groups: Vec<CountyGroup> = Vec::new();
    for (county, &rows) in rows_by_county {
        match groups.last_mut() {
            Some(g) if g.rows + rows <= max_rows => {
                g.rows += rows;
            }
            Some(g) => {
                g.until = Some(county.clone());
                groups.push(CountyGroup { from: Some(county.clone()), until: None, rows });
            }
            None => groups.push(CountyGroup { from: None, until: None, rows }),
        }
    }
    groups
}

/// Run every model, group of counties by group: views for staging, Parquet for intermediate
/// models and marts (with the marts' checks). With one group the models read whole tables and
/// write `part-0.parquet`; with several, group `g` writes `part-<g>.parquet` of every model and
/// its later models read only that part. At the end every table is registered whole.
pub async fn run_models(
    ctx: &SessionContext,
    out: &Location,
    run_id: &str,
    models: &[Model],
    groups: &[CountyGroup],
    on_model: &dyn Fn(&str, &CountyGroup),
) -> Result<(Vec<MartRecord>, Vec<WrittenFile>)> {
    let grouped = groups.len() > 1;
    let table_error =
        |name: &str, e| Error::Sql { model: name.to_owned(), file: "staging".into(), source: Box::new(e) };
    let mut staging = Vec::new();
    if grouped {
        for table in Table::ALL {
            let provider = ctx.table_provider(table.name()).await.map_err(|e| table_error(table.name(), e))?;
            staging.push((table.name(), provider));
        }
    }
    let by_county = reads_submissions(models);
    let mut marts: Vec<MartRecord> = Vec::new();
    let mut files = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        for (name, provider) in &staging {
            let mut df = ctx.read_table(provider.clone()).map_err(|e| table_error(name, e))?;
            if let Some(filter) = group.filter() {
                df = df.filter(filter).map_err(|e| table_error(name, e))?;
            }
            replace_table(ctx, name, df.into_view()).map_err(|e| table_error(name, e))?;
        }
        // A model of reference data alone (thresholds by stage) is the same for every group.
        for model in models.iter().filter(|m| index == 0 || by_county.contains(&m.name)) {
            on_model(&model.name, group);
            let written = run_model(ctx, out, run_id, model, index, grouped).await?;
            let Some(written) = written else { continue };
            if model.layer == Layer::Marts {
                run_checks(ctx, model).await?;
                match marts.iter_mut().find(|m| m.name == model.name) {
                    Some(record) => record.rows += written.rows,
                    None => marts.push(MartRecord {
                        name: model.name.clone(),
                        rows: written.rows,
                        file: if grouped { format!("marts/{}/", model.name) } else { written.path.clone() },
                    }),
                }
            }
            files.push(written);
        }
    }
    if grouped {
        // Later readers (warnings, the report, the dictionary) see every group.
        for (name, provider) in staging {
            replace_table(ctx, name, provider).map_err(|e| table_error(name, e))?;
        }
        for model in models.iter().filter(|m| m.layer == Layer::Staging) {
            let sql_error =
                |e| Error::Sql { model: model.name.clone(), file: format!("sql/{}", model.path), source: Box::new(e) };
            let df = ctx.sql(model.sql).await.map_err(sql_error)?;
            replace_table(ctx, &model.name, df.into_view()).map_err(sql_error)?;
        }
        register_written(ctx, out, run_id, models, None).await?;
    }
    Ok((marts, files))
}

/// Register the intermediate models and marts a run wrote: one county group's part
/// (`Some(g)`: `part-<g>.parquet`, what a report page of that group's counties reads) or every
/// part (`None`). A model of reference data alone has one part, registered whole.
pub async fn register_written(
    ctx: &SessionContext,
    out: &Location,
    run_id: &str,
    models: &[Model],
    group: Option<usize>,
) -> Result<()> {
    let by_county = reads_submissions(models);
    for model in models.iter().filter(|m| m.layer != Layer::Staging) {
        let folder = format!("{}/{}/{}/", load::version_path(run_id), model.layer.folder(), model.name);
        let path = match group {
            Some(g) if by_county.contains(&model.name) => format!("{folder}part-{g}.parquet"),
            _ => folder,
        };
        ctx.deregister_table(model.name.as_str()).map_err(|e| Error::Sql {
            model: model.name.clone(),
            file: path.clone(),
            source: Box::new(e),
        })?;
        register_parquet(ctx, out, &path, &model.name, None, false).await?;
    }
    Ok(())
}

/// How many model runs [`run_models`] makes over these groups (for progress displays).
pub fn model_runs(models: &[Model], groups: &[CountyGroup]) -> usize {
    let by_county = reads_submissions(models);
    let per_group = models.iter().filter(|m| by_county.contains(&m.name)).count();
    models.len() + per_group * groups.len().saturating_sub(1)
}

/// The models that read the submissions (the staging tables), directly or through other models.
fn reads_submissions(models: &[Model]) -> BTreeSet<String> {
    let mut reading: BTreeSet<String> = Table::ALL.iter().map(|t| t.name().to_owned()).collect();
    // Models come in dependency order: one pass sees every input before its readers.
    for model in models {
        if model.depends_on.iter().any(|d| reading.contains(d)) {
            reading.insert(model.name.clone());
        }
    }
    reading
}

/// Register a table under a name, replacing what had it.
fn replace_table(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn datafusion::catalog::TableProvider>,
) -> datafusion::error::Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, table).map(|_| ())
}

/// Run one model for one group: a staging model becomes a view; an intermediate model or a
/// mart is written (`<folder>/<model>/part-<group>.parquet`) and registered as that file.
async fn run_model(
    ctx: &SessionContext,
    out: &Location,
    run_id: &str,
    model: &Model,
    group: usize,
    grouped: bool,
) -> Result<Option<WrittenFile>> {
    let sql_error =
        |e| Error::Sql { model: model.name.clone(), file: format!("sql/{}", model.path), source: Box::new(e) };
    let df = ctx.sql(model.sql).await.map_err(sql_error)?;
    if model.layer == Layer::Staging {
        replace_table(ctx, &model.name, df.into_view()).map_err(sql_error)?;
        return Ok(None);
    }
    // Intermediate models are written out too, as dbt's tables: each is computed once instead
    // of inside every mart that reads it, the engine frees its hash tables between steps (a
    // national run's peak memory), and on a cluster a mart's plan with every view inlined
    // would be too deep to send to the scheduler.
    let folder = model.layer.folder();
    let schema = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await.map_err(sql_error)?;
    let stream = stream.map_err(|e| Error::Sql {
        model: model.name.clone(),
        file: format!("sql/{}", model.path),
        source: Box::new(e),
    });
    let relative = format!("{folder}/{}/part-{group}.parquet", model.name);
    let written = load::write_stream(out, run_id, &relative, schema, Box::pin(stream)).await?;
    ctx.deregister_table(model.name.as_str()).map_err(sql_error)?;
    let registered = if grouped {
        format!("{}/{relative}", load::version_path(run_id))
    } else {
        format!("{}/{folder}/{}/", load::version_path(run_id), model.name)
    };
    register_parquet(ctx, out, &registered, &model.name, None, false).await?;
    Ok(Some(written))
}

/// Run a mart's `unique (…)` and `not_null (…)` checks; a failure is a bug in the model.
async fn run_checks(ctx: &SessionContext, model: &Model) -> Result<()> {
    for check in &model.header.checks {
        let (kind, columns) = match check.split_once('(') {
            Some((k, rest)) => (k.trim(), rest.trim_end_matches(')').trim()),
            None => continue,
        };
        let sql = match kind {
            "unique" => format!(
                "select count(*) as n from (select {columns} from {} group by {columns} having count(*) > 1)",
                model.name
            ),
            "not_null" => {
                let cond: Vec<String> = columns.split(',').map(|c| format!("{} is null", c.trim())).collect();
                format!("select count(*) as n from {} where {}", model.name, cond.join(" or "))
            }
            _ => continue, // other checks are documentation, asserted by tests
        };
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|e| Error::Sql { model: model.name.clone(), file: format!("check {check}"), source: Box::new(e) })?
            .collect()
            .await
            .map_err(|e| Error::Sql {
                model: model.name.clone(),
                file: format!("check {check}"),
                source: Box::new(e),
            })?;
        let failing = batches
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.value(0)))
            .unwrap_or(0);
        if failing > 0 {
            return Err(Error::SqlProject(format!("sql/{}: check `{check}` fails for {failing} rows", model.path)));
        }
    }
    Ok(())
}

/// A session in which every model is a view over empty staging tables, with the pipeline's
/// reference tables. Tests replace a model's inputs with their own tables and run its SQL, the
/// way dbt unit-tests a model; `junheng explain` reads models the same way.
pub async fn views_session(
    pipeline: &crate::pipeline::Pipeline,
    counties: &BTreeSet<String>,
) -> Result<(SessionContext, Vec<Model>)> {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2).with_information_schema(true));
    for table in Table::ALL {
        let staging = crate::normalise::schema(table);
        let mut fields: Vec<Field> = vec![Field::new("year", DataType::Int32, false)];
        fields.extend(staging.fields().iter().map(|f| f.as_ref().clone()));
        let schema = Arc::new(Schema::new(fields));
        let empty = datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).map_err(|e| Error::Sql {
            model: table.name().into(),
            file: "empty staging".into(),
            source: Box::new(e),
        })?;
        ctx.register_table(table.name(), Arc::new(empty)).map_err(|e| Error::Sql {
            model: table.name().into(),
            file: "empty staging".into(),
            source: Box::new(e),
        })?;
    }
    reference::register(&ctx, pipeline, counties)?;
    let models = project(&ctx)?;
    for model in &models {
        let err =
            |e| Error::Sql { model: model.name.clone(), file: format!("sql/{}", model.path), source: Box::new(e) };
        let df = ctx.sql(model.sql).await.map_err(err)?;
        ctx.register_table(model.name.as_str(), df.into_view()).map_err(err)?;
    }
    Ok((ctx, models))
}

/// Run a query and return every value as display text (for messages and ledger notes).
pub async fn query_text(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<String>>> {
    let err = |e| Error::Sql { model: "query".into(), file: sql.to_owned(), source: Box::new(e) };
    let batches = ctx.sql(sql).await.map_err(err)?.collect().await.map_err(err)?;
    let options = arrow::util::display::FormatOptions::default().with_null("");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::arrow("formatting a query result", e))?;
        for row in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn engines_are_named_as_people_write_them() {
        assert_eq!(super::Engine::parse("local").unwrap(), super::Engine::Local);
        let message = super::Engine::parse("spark://host:7077").unwrap_err().to_string();
        assert!(message.contains("ballista://HOST:PORT"), "{message}");
        match super::Engine::parse("ballista://scheduler:50050") {
            Ok(engine) => assert_eq!(engine, super::Engine::Ballista("df://scheduler:50050".into())),
            Err(e) => assert!(!cfg!(feature = "ballista") && e.to_string().contains("--features ballista")),
        }
    }

    use super::*;

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
        for m in &models {
            assert!(!m.header.what.is_empty(), "{} has no header", m.path);
            assert!(!m.header.grain.is_empty(), "{} has no Grain line", m.path);
            assert!(m.header.what.starts_with(&format!("{}:", m.name)), "{} header must start with its name", m.path);
            for dep in &m.depends_on {
                if let Some(&p) = position.get(dep.as_str()) {
                    assert!(p < position[m.name.as_str()], "{} runs before its input {dep}", m.name);
                }
            }
            if m.layer == Layer::Marts {
                assert!(!m.header.columns.is_empty(), "{} documents no columns", m.path);
                assert!(m.header.checks.iter().any(|c| c.starts_with("unique")), "{} has no unique check", m.path);
            }
        }
    }
}
