//! DataFusion sessions: the one place they are built — for a run's SQL stage (locally or on
//! Ballista), for readers of a committed version (`query`, `report`, `explain`), for `serve`'s
//! connections and for unit tests of models — and how the output's Parquet folders become tables.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use super::project::{Layer, Model, ModelVars, project};
use super::{OUTPUT_STORE_URL, reference};
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::load;
use crate::pipeline::TeacherCounts;
use crate::storage::Location;

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
                    return Err(Error::Usage(format!(
                        "engine {other:?}: use local, ballista://HOST:PORT (a Ballista scheduler) or ballista-standalone"
                    )));
                }
            },
        };
        if cfg!(feature = "ballista") {
            Ok(engine)
        } else {
            Err(Error::Usage(format!(
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

/// How much memory a session's queries may hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Memory {
    /// No limit (a run's default: joins cannot spill, and a cap too small for them stops the run).
    #[default]
    Unbounded,
    /// Sorts and aggregates spill to temporary files beyond this many bytes (fair shares among
    /// the spilling operators of a plan; joins' build sides take what is left).
    Spill(usize),
    /// Queries that would hold more than this many bytes fail (a server's connection).
    Limit(usize),
}

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Where the queries run.
    pub engine: Engine,
    /// What memory they may hold.
    pub memory: Memory,
    /// Partitions (threads) per query.
    pub target_partitions: usize,
    /// Whether DataFusion's own `information_schema` is there (`serve` supplies PostgreSQL's).
    pub information_schema: bool,
    /// Text read from Parquet as string views (DataFusion's default) rather than plain strings.
    pub string_views: bool,
    /// The catalog and schema unqualified table names resolve in (`serve`: `junheng.public`).
    pub default_schema: Option<(String, String)>,
    /// How the version's teachers table counts staff (its staging type, and the models' rounding).
    pub teacher_counts: TeacherCounts,
}

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            engine: Engine::Local,
            memory: Memory::Unbounded,
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            information_schema: true,
            // Plain strings: a view array keeps the whole page it points into alive, so a few
            // codes kept in a hash table could hold many pages.
            string_views: false,
            default_schema: None,
            teacher_counts: TeacherCounts::Headcount,
        }
    }
}

/// The URL prefix under which the output's objects are addressed in a session (a config
/// extension: absent means [`OUTPUT_STORE_URL`], the store registered in this process).
#[derive(Debug)]
struct TableBase(String);

/// Build a session; the output's store (if any) is registered so its Parquet can be read.
pub async fn new_session(out: Option<&Location>, spec: &SessionSpec) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_target_partitions(spec.target_partitions)
        .with_information_schema(spec.information_schema)
        .with_extension(Arc::new(ModelVars { teacher_counts: spec.teacher_counts }));
    config.options_mut().execution.parquet.schema_force_view_types = spec.string_views;
    if let Some((catalog, schema)) = &spec.default_schema {
        config = config.with_default_catalog_and_schema(catalog, schema).with_create_default_catalog_and_schema(true);
    }
    if let Engine::Ballista(scheduler) = &spec.engine {
        let out = out.ok_or_else(|| Error::Engine("a cluster needs an output to read".into()))?;
        let base = shared_base(out)?;
        config = config.with_extension(Arc::new(TableBase(base.clone())));
        return ballista_session(config, out, &base, scheduler).await;
    }
    let runtime = match spec.memory {
        Memory::Unbounded => RuntimeEnvBuilder::new(),
        Memory::Spill(limit) => RuntimeEnvBuilder::new().with_memory_pool(Arc::new(FairSpillPool::new(limit))),
        // DataFusion's own hard limit, which names the largest consumers when a query exceeds it.
        Memory::Limit(limit) => RuntimeEnvBuilder::new().with_memory_limit(limit, 1.0),
    };
    let runtime = runtime.build_arc().map_err(|e| Error::Engine(e.to_string()))?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    if let Some(out) = out {
        let url = ObjectStoreUrl::parse(OUTPUT_STORE_URL).map_err(|e| Error::Engine(e.to_string()))?;
        ctx.runtime_env().register_object_store(url.as_ref(), out.store.clone());
    }
    Ok(ctx)
}

/// The URL a cluster can read the output under: `file:///abs/dir` or `s3://bucket`.
fn shared_base(out: &Location) -> Result<String> {
    if let Some(root) = &out.local_root {
        return Ok(format!("file://{}", root.display()));
    }
    let prefix = out.prefix.as_ref();
    let base = out.url.trim_end_matches('/');
    let base = if prefix.is_empty() { base } else { base.strip_suffix(&format!("/{prefix}")).unwrap_or(base) };
    if base.starts_with("memory://") {
        return Err(Error::Usage(format!("{}: a cluster cannot read an in-memory output", out.url)));
    }
    Ok(base.to_owned())
}

/// A session over a version of the output, its staging Parquet tables registered by name (staff
/// counted as the version's run counted them).
pub async fn session(out: &Location, run_id: &str, teacher_counts: TeacherCounts) -> Result<SessionContext> {
    session_on(out, run_id, &SessionSpec { teacher_counts, ..SessionSpec::default() }).await
}

/// [`session`] as `spec` says (a run's engine and memory).
pub async fn session_on(out: &Location, run_id: &str, spec: &SessionSpec) -> Result<SessionContext> {
    let ctx = new_session(Some(out), spec).await?;
    for table in Table::ALL {
        let file_schema = crate::normalise::schema(table, spec.teacher_counts);
        let folder = format!("{}/staging/{}/", load::version_path(run_id), table.name());
        if spec.engine.is_distributed() && !has_objects(out, &folder).await? {
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

/// The staging schema with its `year` partition column (last, as a listing table adds it).
fn with_year(file_schema: &SchemaRef, year_first: bool) -> SchemaRef {
    let year = Field::new("year", DataType::Int32, false);
    let mut fields: Vec<Field> = file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    if year_first {
        fields.insert(0, year);
    } else {
        fields.push(year);
    }
    Arc::new(Schema::new(fields))
}

/// A table nobody submitted, for a cluster: one Parquet file with no rows (the columns and the
/// `year` column). Ballista 55 cannot run a scan of no files: its executors plan it differently
/// from its scheduler and the job never finishes.
async fn register_empty(
    ctx: &SessionContext,
    out: &Location,
    run_id: &str,
    table: Table,
    file_schema: &SchemaRef,
) -> Result<()> {
    let schema = with_year(file_schema, false);
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
    let err = |e| Error::sql("ballista", scheduler, e);
    let mut config = config.upgrade_for_ballista();
    // Per-partition sorts merged above a union rely on each branch's constant columns, which a
    // stage boundary forgets: Ballista 55 then rejects the plan (school_changes' event order).
    config.options_mut().optimizer.repartition_sorts = false;
    // Ballista 55's adaptive planner re-plans a stage over an empty table without end; the
    // static planner runs the same plans to the same results.
    let config = config.set_str("ballista.planner.adaptive.enabled", "false");
    let runtime = RuntimeEnvBuilder::new().build_arc().map_err(err)?;
    if out.local_root.is_none() {
        let url = url::Url::parse(base).map_err(|e| Error::Url { url: base.to_owned(), message: e.to_string() })?;
        runtime.register_object_store(&url, out.store.clone());
    }
    let state =
        SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    if scheduler == "standalone" {
        return SessionContext::standalone_with_state(state).await.map_err(err);
    }
    // The client connects lazily, at the first query; say now, plainly, if nobody is there.
    let address = scheduler.trim_start_matches("df://");
    let reachable = tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect(address));
    match reachable.await {
        Ok(Ok(_)) => SessionContext::remote_with_state(scheduler, state).await.map_err(err),
        Ok(Err(e)) => Err(Error::Engine(format!(
            "cannot reach the Ballista scheduler at {address}: {e} (start one with `ballista-scheduler`, or check --engine)"
        ))),
        Err(_) => Err(Error::Engine(format!(
            "cannot reach the Ballista scheduler at {address}: no answer in 10 s (check --engine and the network)"
        ))),
    }
}

#[cfg(not(feature = "ballista"))]
async fn ballista_session(_: SessionConfig, _: &Location, _: &str, scheduler: &str) -> Result<SessionContext> {
    Err(Error::Usage(format!("engine {scheduler}: this junheng was built without the `ballista` feature")))
}

/// Register a Parquet folder (or one `.parquet` file) of the output as a table (`year`
/// partitioned when `by_year`).
pub async fn register_parquet(
    ctx: &SessionContext,
    out: &Location,
    relative_dir: &str,
    name: &str,
    schema: Option<SchemaRef>,
    by_year: bool,
) -> Result<()> {
    let path = out.child(relative_dir);
    let base = ctx.state().config().get_extension::<TableBase>().map_or(OUTPUT_STORE_URL.to_owned(), |b| b.0.clone());
    // A folder is listed; a `.parquet` path is that one file.
    let slash = if relative_dir.ends_with(".parquet") { "" } else { "/" };
    let url = format!("{base}/{path}{slash}");
    let table_url = ListingTableUrl::parse(&url).map_err(|e| Error::sql(name, &url, e))?;
    let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if by_year {
        options = options.with_table_partition_cols(vec![("year".to_owned(), DataType::Int32)]);
    }
    let mut config = ListingTableConfig::new(table_url).with_listing_options(options);
    config = match schema {
        Some(s) => config.with_schema(s),
        None => config.infer_schema(&ctx.state()).await.map_err(|e| Error::sql(name, &url, e))?,
    };
    let table = ListingTable::try_new(config).map_err(|e| Error::sql(name, &url, e))?;
    ctx.register_table(name, Arc::new(table)).map_err(|e| Error::sql(name, &url, e))?;
    Ok(())
}

/// Register every model up to `through` as a view of its SQL (staging, or staging and
/// intermediate), in dependency order.
pub async fn register_views(ctx: &SessionContext, models: &[Model], through: Layer) -> Result<()> {
    for model in models.iter().filter(|m| m.layer <= through) {
        let err = |e| Error::sql(&model.name, format!("sql/{}", model.path), e);
        let df = ctx.sql(&model.sql).await.map_err(err)?;
        ctx.register_table(model.name.as_str(), df.into_view()).map_err(err)?;
    }
    Ok(())
}

/// A session in which every model is a view over empty staging tables, with the pipeline's
/// reference tables. Tests replace a model's inputs with their own tables and run its SQL, the
/// way dbt unit-tests a model.
pub async fn views_session(
    pipeline: &crate::pipeline::Pipeline,
    counties: &BTreeSet<String>,
) -> Result<(SessionContext, Vec<Model>)> {
    let teacher_counts = pipeline.settings.teacher_counts;
    let spec = SessionSpec { target_partitions: 2, teacher_counts, ..SessionSpec::default() };
    let ctx = new_session(None, &spec).await?;
    for table in Table::ALL {
        let schema = with_year(&crate::normalise::schema(table, teacher_counts), true);
        let err = |e| Error::sql(table.name(), "empty staging", e);
        let empty = datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).map_err(err)?;
        ctx.register_table(table.name(), Arc::new(empty)).map_err(err)?;
    }
    reference::register(&ctx, pipeline, counties, &[])?;
    let models = project(&ctx)?;
    register_views(&ctx, &models, Layer::Marts).await?;
    Ok((ctx, models))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_named_as_people_write_them() {
        assert_eq!(Engine::parse("local").unwrap(), Engine::Local);
        let message = Engine::parse("spark://host:7077").unwrap_err().to_string();
        assert!(message.contains("ballista://HOST:PORT"), "{message}");
        match Engine::parse("ballista://scheduler:50050") {
            Ok(engine) => assert_eq!(engine, Engine::Ballista("df://scheduler:50050".into())),
            Err(e) => assert!(!cfg!(feature = "ballista") && e.to_string().contains("--features ballista")),
        }
    }
}
