//! Running the models: views for staging, Parquet for intermediate models and marts (each
//! computed once, as dbt's tables), group of counties by group, with the marts' checks.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;

use super::checks::run_checks;
use super::groups::CountyGroup;
use super::project::{Layer, Model, reads_submissions};
use super::session::register_parquet;
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::ledger::{MartRecord, WrittenFile};
use crate::load;
use crate::storage::Location;

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
    job_timeout: Option<std::time::Duration>,
    on_model: &dyn Fn(&str, &CountyGroup),
) -> Result<(Vec<MartRecord>, Vec<WrittenFile>)> {
    let grouped = groups.len() > 1;
    let table_error = |name: &str, e| Error::sql(name, "staging", e);
    let mut staging = Vec::new();
    if grouped {
        for table in Table::ALL {
            let provider = ctx.table_provider(table.name()).await.map_err(|e| table_error(table.name(), e))?;
            staging.push((table.name(), provider));
        }
    }
    let by_county = reads_submissions(models);
    // What each model costs over all groups, for the log (the benchmark reads it per stage).
    let mut spent = vec![std::time::Duration::ZERO; models.len()];
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
        for (position, model) in models.iter().enumerate().filter(|(_, m)| index == 0 || by_county.contains(&m.name)) {
            on_model(&model.name, group);
            let started = std::time::Instant::now();
            // The model and its checks: both are jobs on a cluster.
            let building = async {
                let written = run_model(ctx, out, run_id, model, index, grouped).await?;
                // Every model's checks, on the group's rows it just made (a view's on its query).
                run_checks(ctx, model).await?;
                Ok::<_, Error>(written)
            };
            let written = within(job_timeout, model, group, building).await?;
            let took = started.elapsed();
            spent[position] += took;
            tracing::debug!(seconds = took.as_secs_f64(), group = index, "model {} built", model.name);
            let Some(written) = written else { continue };
            if model.layer == Layer::Marts {
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
    for (model, time) in models.iter().zip(&spent) {
        tracing::info!(seconds = time.as_secs_f64(), groups = groups.len(), "model {} built", model.name);
    }
    if grouped {
        // Later readers (warnings, the report, the dictionary) see every group.
        for (name, provider) in staging {
            replace_table(ctx, name, provider).map_err(|e| table_error(name, e))?;
        }
        for model in models.iter().filter(|m| m.layer == Layer::Staging) {
            let df = ctx.sql(&model.sql).await.map_err(|e| model.error(e))?;
            replace_table(ctx, &model.name, df.into_view()).map_err(|e| model.error(e))?;
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
        ctx.deregister_table(model.name.as_str()).map_err(|e| Error::sql(&model.name, &path, e))?;
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

/// A model's jobs on a cluster, failed once they take longer than `limit` (a job whose
/// executors were lost may never end); without a limit, as they are.
async fn within<T>(
    limit: Option<std::time::Duration>,
    model: &Model,
    group: &CountyGroup,
    jobs: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(limit) = limit else { return jobs.await };
    tokio::time::timeout(limit, jobs).await.map_err(|_| {
        Error::Engine(format!(
            "model {} ({}) did not finish within {} on the cluster (its executors may have been lost): nothing of \
             this run is published; check the cluster and run again, or raise --job-timeout",
            model.name,
            group.describe(),
            humantime::format_duration(limit)
        ))
    })?
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
    let sql_error = |e| model.error(e);
    let df = ctx.sql(&model.sql).await.map_err(sql_error)?;
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
    let stream = stream.map_err(|e| model.error(e));
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
