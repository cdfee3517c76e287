//! The committed version of an output as named tables, for `junheng query`, `report`, `explain`
//! and `serve`: every staging table by its name (`pupils`, `schools` …), every mart by its name,
//! quarantine as `quarantine_<table>`, and the run history as `runs`. Only committed data is
//! visible: the tables are the files the latest ledger lists.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, RunCounts, RunSummary};
use crate::marts::plain_strings;
use crate::normalise::quarantine;
use crate::storage::Location;
use crate::{load, publish, transform};

mod parts;
pub use parts::CompleteTable;

/// A committed version, opened for reading.
pub struct Published {
    /// The session with every table registered.
    pub ctx: SessionContext,
    /// The ledger of the committed version.
    pub ledger: Ledger,
    /// The output it belongs to.
    pub out: Location,
    /// Every run of the output, as the `runs` table shows them.
    pub history: RunHistory,
}

/// Open the latest committed version of an output.
pub async fn open(url: &str) -> Result<Published> {
    open_location(crate::storage::open(url, false)?).await
}

/// Open the latest committed version of an output already opened as a location.
pub async fn open_location(out: Location) -> Result<Published> {
    let url = out.url.clone();
    // The run summaries and one ledger, not every ledger the output ever had.
    let runs = publish::history(&out).await?;
    let ledger = publish::latest_of(&out, &runs).await?.ok_or_else(|| {
        Error::NotFound(format!("{} has no committed run yet; run `junheng run … --out {url}` first", out.url))
    })?;
    let pipeline = crate::pipeline::Pipeline::from_record(&ledger.pipeline)?;
    let ctx = transform::session(&out, &ledger.run_id, pipeline.settings.teacher_counts).await?;
    let version = load::version_path(&ledger.run_id);
    for mart in &ledger.marts {
        transform::register_parquet(&ctx, &out, &format!("{version}/marts/{}/", mart.name), &mart.name, None, false)
            .await?;
    }
    for table in Table::ALL {
        let name = format!("quarantine_{}", table.name());
        let dir = format!("{version}/quarantine/{}/", table.name());
        transform::register_parquet(&ctx, &out, &dir, &name, Some(quarantine::schema(table)), true).await?;
    }
    require_complete(&ctx, &out, &ledger).await?;
    let history = RunHistory::of(runs);
    ctx.register_table("runs", history.table(None)?).map_err(|e| Error::sql("runs", "ledgers", e))?;
    // The reference tables and the staging and intermediate models, as views over this version,
    // so reports and explanations read the same formulas the marts were built with.
    let counties = ledger.slices.iter().map(|s| s.county_code.clone()).filter(|c| !c.is_empty()).collect();
    transform::reference::register(&ctx, &pipeline, &counties, &ledger.evidence)?;
    let models = transform::project(&ctx)?;
    transform::register_views(&ctx, &models, transform::Layer::Intermediate).await?;
    Ok(Published { ctx, ledger, out, history })
}

/// Make every staging, quarantine and mart table of the version read whole or fail: its folder
/// must hold exactly the part files the ledger lists (a part deleted outside junheng is an
/// error, not fewer rows).
async fn require_complete(ctx: &SessionContext, out: &Location, ledger: &Ledger) -> Result<()> {
    let version = load::version_path(&ledger.run_id);
    let mut folders: Vec<(String, String)> = Table::ALL
        .iter()
        .flat_map(|t| {
            [
                (t.name().to_owned(), format!("staging/{}/", t.name())),
                (format!("quarantine_{}", t.name()), format!("quarantine/{}/", t.name())),
            ]
        })
        .collect();
    folders.extend(ledger.marts.iter().map(|m| (m.name.clone(), format!("marts/{}/", m.name))));
    for (name, folder) in folders {
        let expected = ledger
            .files_written
            .iter()
            .filter_map(|f| f.path.strip_prefix(folder.as_str()).map(str::to_owned))
            .collect();
        let err = |e| Error::sql(&name, "ledger", e);
        let inner = ctx.table_provider(name.as_str()).await.map_err(err)?;
        let complete =
            CompleteTable::new(inner, &name, ledger.version, out, out.child(&format!("{version}/{folder}")), expected);
        ctx.deregister_table(name.as_str()).map_err(err)?;
        ctx.register_table(name.as_str(), Arc::new(complete)).map_err(err)?;
    }
    Ok(())
}

/// The run history of an output: the rows of the `runs` table.
#[derive(Debug, Clone, Default)]
pub struct RunHistory {
    runs: Vec<RunSummary>,
}

impl RunHistory {
    /// The history of these runs, oldest first.
    pub fn of(runs: Vec<RunSummary>) -> RunHistory {
        RunHistory { runs }
    }

    /// The `runs` table. With `counties`, only those counties' rows are counted (the sums of
    /// their county-years in each ledger), and the input counts, which cannot be split by
    /// county, are NULL: a login that sees some counties learns nothing of the others.
    pub fn table(&self, counties: Option<&dyn Fn(&str) -> bool>) -> Result<Arc<MemTable>> {
        let runs = &self.runs;
        let counts = |r: &RunSummary| -> RunCounts {
            match counties {
                None => r.totals,
                Some(shown) => {
                    let mut sum = RunCounts::default();
                    for (_, c) in r.by_county.iter().filter(|(county, _)| shown(county)) {
                        sum += *c;
                    }
                    sum
                }
            }
        };
        let text = |f: &dyn Fn(&RunSummary) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(runs.iter().map(f)))
        };
        let number = |f: &dyn Fn(&RunSummary) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(runs.iter().map(|r| f(r) as i64)))
        };
        let whole_output = |f: &dyn Fn(&RunSummary) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter(runs.iter().map(|r| counties.is_none().then(|| f(r) as i64))))
        };
        let batch = RecordBatch::try_from_iter(vec![
            ("run_id", text(&|r| r.run_id.clone())),
            ("version", number(&|r| r.version)),
            ("published", Arc::new(BooleanArray::from_iter(runs.iter().map(|r| Some(r.published)))) as ArrayRef),
            ("status", text(&|r| r.status.clone())),
            ("started_at", text(&|r| r.started_at.clone())),
            ("finished_at", text(&|r| r.finished_at.clone())),
            ("pipeline", text(&|r| r.pipeline.clone())),
            ("inputs", whole_output(&|r| r.inputs)),
            ("inputs_read", whole_output(&|r| r.inputs_read)),
            ("rows_read", number(&|r| counts(r).rows_read)),
            ("rows_published", number(&|r| counts(r).rows_published)),
            ("rows_quarantined", number(&|r| counts(r).rows_quarantined)),
            ("warnings", number(&|r| counts(r).warnings)),
            ("exit_code", number(&|r| r.exit_code.max(0) as u64)),
        ])
        .map_err(|e| Error::arrow("runs", e))?;
        Ok(Arc::new(
            MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(|e| Error::sql("runs", "ledgers", e))?,
        ))
    }
}

/// Output formats of `junheng query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// What a reader may run: queries, `SHOW` and `SET`; never DDL or DML (no `INSERT` into a
/// published table, no `COPY … TO` a file, no `CREATE EXTERNAL TABLE` over an arbitrary file).
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false)
}

/// Run a read-only query and collect its batches.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let err = |e| Error::sql("query", sql.chars().take(80).collect::<String>(), e);
    ctx.sql_with_options(sql, read_only()).await.map_err(err)?.collect().await.map_err(err)
}

/// Render batches in a text format.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Table => Ok(arrow::util::pretty::pretty_format_batches(batches)
            .map_err(|e| Error::arrow("formatting", e))?
            .to_string()
            + "\n"),
        OutputFormat::Csv => {
            let mut buf = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for b in batches {
                    writer.write(&plain_strings(b)?).map_err(|e| Error::arrow("writing CSV", e))?;
                }
            }
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        OutputFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut writer = arrow::json::ArrayWriter::new(&mut buf);
                for b in batches {
                    writer.write(&plain_strings(b)?).map_err(|e| Error::arrow("writing JSON", e))?;
                }
                writer.finish().map_err(|e| Error::arrow("writing JSON", e))?;
            }
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
            Ok(String::from_utf8_lossy(&buf).into_owned() + "\n")
        }
    }
}

/// Write batches to a local Parquet file.
pub fn write_parquet(batches: &[RecordBatch], path: &std::path::Path) -> Result<u64> {
    let io = |source| Error::Io { operation: "write", path: path.to_path_buf(), source };
    let file = std::fs::File::create(path).map_err(io)?;
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(load::writer_properties()))
        .map_err(|source| Error::Parquet { location: path.display().to_string(), source })?;
    let mut rows = 0;
    for b in batches {
        writer.write(b).map_err(|source| Error::Parquet { location: path.display().to_string(), source })?;
        rows += b.num_rows() as u64;
    }
    writer.close().map_err(|source| Error::Parquet { location: path.display().to_string(), source })?;
    Ok(rows)
}
