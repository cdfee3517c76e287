//! Transform: the SQL project under `sql/`, run through DataFusion in dependency order over a
//! version's staging tables.
//!
//! Models are layered like a dbt project ([`project`]); staging models are views, intermediate
//! models and marts are written to Parquet and checked ([`checks`]), group of counties by group
//! ([`groups`], [`models`]). Reference data (`sql/reference/*.csv`: thresholds and standards)
//! and the run's settings are registered as tables ([`reference`]), so no threshold is a literal
//! inside a model. Sessions are built in one place ([`session`]).

pub mod checks;
pub mod groups;
pub mod models;
pub mod project;
pub mod reference;
pub mod session;

use std::collections::{BTreeMap, BTreeSet};

use datafusion::prelude::SessionContext;

pub use groups::{CountyGroup, county_groups};
pub use models::{model_runs, register_written, run_models};
pub use project::{ColumnDoc, Header, Layer, Model, ModelVars, parse_header, project};
pub use session::{
    Engine, Memory, SessionSpec, new_session, register_parquet, register_views, session, session_on, views_session,
};

use crate::error::{Error, Result};
use crate::job::{ProgressEvent, Request};
use crate::ledger::{Ledger, MartRecord, WrittenFile};
use crate::storage::Location;

pub use crate::sql_files::SQL_FILES;

/// The URL under which the output store is registered with DataFusion.
pub const OUTPUT_STORE_URL: &str = "junheng://output";

/// What the transform stage built: the session holding every table, the models, the county
/// groups they ran in, and what was written.
pub struct Built {
    /// The session: staging tables, reference tables, every model registered whole.
    pub ctx: SessionContext,
    /// The models, in the order they ran.
    pub models: Vec<Model>,
    /// The county groups the models ran in.
    pub groups: Vec<CountyGroup>,
    /// The marts, with their row counts.
    pub marts: Vec<MartRecord>,
    /// Every file the models (and, on a cluster, the reference tables) wrote.
    pub files: Vec<WrittenFile>,
}

/// Build every model of the SQL project over the staging tables of the run's version.
pub async fn build(request: &Request, out: &Location, ledger: &Ledger) -> Result<Built> {
    let counties: BTreeSet<String> =
        ledger.slices.iter().map(|s| s.county_code.clone()).filter(|c| !c.is_empty()).collect();
    let spec = SessionSpec {
        engine: request.engine.clone(),
        memory: request.memory_limit.map_or(Memory::Unbounded, Memory::Spill),
        teacher_counts: request.pipeline.settings.teacher_counts,
        ..SessionSpec::default()
    };
    let ctx = session_on(out, &request.run_id, &spec).await?;
    reference::register(&ctx, &request.pipeline, &counties, &ledger.evidence)?;
    let mut files = Vec::new();
    if request.engine.is_distributed() {
        // A cluster cannot read this process's memory: the reference tables go into the version.
        files.extend(reference::materialise(&ctx, out, &request.run_id).await?);
    }
    let models = project(&ctx)?;
    let mut rows_by_county: BTreeMap<String, u64> = BTreeMap::new();
    for slice in &ledger.slices {
        *rows_by_county.entry(slice.county_code.clone()).or_default() += slice.rows_published;
    }
    let groups = county_groups(&rows_by_county, request.transform_rows);
    request.tell(ProgressEvent::BuildingMarts(model_runs(&models, &groups) as u64));
    let several = groups.len() > 1;
    let on_model = |name: &str, group: &CountyGroup| {
        let name = if several { format!("{name} ({})", group.describe()) } else { name.to_owned() };
        request.tell(ProgressEvent::ModelBuilt(name));
    };
    // The local engine cannot lose an executor: only a cluster's jobs are timed.
    let job_timeout = request.job_timeout.filter(|_| request.engine.is_distributed());
    let (marts, mart_files) = run_models(&ctx, out, &request.run_id, &models, &groups, job_timeout, &on_model).await?;
    files.extend(mart_files);
    let ctx = if request.engine.is_distributed() {
        // What reads the results after the SQL stage (notes, dictionary, report: a few queries
        // per county page) reads the same files in this process: on a cluster each query is a
        // job of its own, seconds each, and out of --job-timeout's reach.
        let local = SessionSpec { engine: Engine::Local, ..spec };
        let ctx = session_on(out, &request.run_id, &local).await?;
        reference::register(&ctx, &request.pipeline, &counties, &ledger.evidence)?;
        register_views(&ctx, &models, Layer::Staging).await?;
        register_written(&ctx, out, &request.run_id, &models, None).await?;
        ctx
    } else {
        ctx
    };
    Ok(Built { ctx, models, groups, marts, files })
}

/// Run a query and return every value as display text (for messages and ledger notes).
pub async fn query_text(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<String>>> {
    let err = |e| Error::sql("query", sql, e);
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
