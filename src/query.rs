//! The committed version of an output as named tables, for `junheng query`, `report`, `explain`
//! and `serve`: every staging table by its name (`pupils`, `schools` …), every mart by its name,
//! quarantine as `quarantine_<table>`, and the run history as `runs`. Only committed data is
//! visible: the tables are the files the latest ledger lists.

use std::sync::Arc;

use chrono::{DateTime, Utc};

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

/// Open the version of an output that was published as of `as_of` (time travel).
pub async fn open_as_of(url: &str, as_of: &AsOf) -> Result<Published> {
    open_location_as_of(crate::storage::open(url, false)?, as_of).await
}

/// Open the latest committed version of an output already opened as a location.
pub async fn open_location(out: Location) -> Result<Published> {
    open_location_as_of(out, &AsOf::Latest).await
}

/// Which committed version a reader opens: the latest, or an earlier one (`--as-of`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum AsOf {
    /// The latest published version.
    #[default]
    Latest,
    /// The version a run published (its run id, as `junheng runs` lists it).
    Run(String),
    /// A version by its number.
    Version(u64),
    /// The version that was the published one at this moment: the last published at or before it.
    Time(DateTime<Utc>),
}

impl AsOf {
    /// Read `--as-of`: a run id (`20261204T024152Z-69b4`), a version number (`3`), or a moment
    /// (`2026-12-01T10:00:00+08:00`, `2026-12-01 10:00` in this machine's time zone, or a date
    /// `2026-12-01`, meaning the end of that day here).
    pub fn parse(text: &str) -> std::result::Result<AsOf, String> {
        use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
        let t = text.trim();
        if t.is_empty() || t == "latest" {
            return Ok(AsOf::Latest);
        }
        if let Ok(version) = t.trim_start_matches(['v', 'V']).parse::<u64>() {
            return Ok(AsOf::Version(version));
        }
        if let Ok(moment) = DateTime::parse_from_rfc3339(t) {
            return Ok(AsOf::Time(moment.with_timezone(&Utc)));
        }
        let local = |naive: NaiveDateTime| {
            Local.from_local_datetime(&naive).earliest().map(|m| AsOf::Time(m.with_timezone(&Utc)))
        };
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Some(as_of) = NaiveDateTime::parse_from_str(t, format).ok().and_then(local) {
                return Ok(as_of);
            }
        }
        if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return day.and_hms_opt(23, 59, 59).and_then(local).ok_or_else(|| format!("{t:?} is not a day here"));
        }
        // A run id as junheng makes them: 20261204T024152Z-69b4.
        let run_id =
            t.len() >= 16 && t.as_bytes()[8] == b'T' && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if run_id {
            return Ok(AsOf::Run(t.to_owned()));
        }
        Err(format!(
            "{text:?} is not a run id (20261204T024152Z-69b4), a version number (3) or a moment \
             (2026-12-01, 2026-12-01 10:00, 2026-12-01T10:00:00+08:00)"
        ))
    }

    /// The published run this names among `runs` (oldest first), or why there is none.
    pub fn pick<'a>(&self, runs: &'a [RunSummary], url: &str) -> Result<&'a RunSummary> {
        let mut published = runs.iter().filter(|r| r.published);
        let listed = format!("`junheng runs --out {url}` lists the published runs");
        let found = match self {
            AsOf::Latest => published.next_back(),
            AsOf::Run(id) => published.find(|r| &r.run_id == id),
            AsOf::Version(version) => published.find(|r| r.version == *version),
            AsOf::Time(moment) => published.rfind(|r| {
                DateTime::parse_from_rfc3339(&r.finished_at).is_ok_and(|f| f.with_timezone(&Utc) <= *moment)
            }),
        };
        found.ok_or_else(|| {
            Error::NotFound(match self {
                AsOf::Latest => format!("{url} has no committed run yet; run `junheng run … --out {url}` first"),
                AsOf::Run(id) => format!("{url} has no published run {id}; {listed}"),
                AsOf::Version(v) => format!("{url} has no published version {v}; {listed}"),
                AsOf::Time(moment) => format!(
                    "nothing of {url} was published at or before {} ({}); {listed}",
                    moment.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %:z"),
                    moment.to_rfc3339()
                ),
            })
        })
    }
}

/// Open the version `as_of` names of an output already opened as a location.
pub async fn open_location_as_of(out: Location, as_of: &AsOf) -> Result<Published> {
    // The run summaries and one ledger, not every ledger the output ever had.
    let runs = publish::history(&out).await?;
    let run = as_of.pick(&runs, &out.url)?;
    let ledger = match publish::read_ledger(&out, &run.run_id).await {
        Ok(ledger) => ledger,
        // Vacuum moves the ledgers of the versions it deletes to _archive/runs/.
        Err(_) if *as_of != AsOf::Latest && publish::archived(&out, &run.run_id).await => {
            return Err(Error::NotFound(format!(
                "version {} of {} (run {}) was deleted by `junheng vacuum`; its ledger is kept in _archive/runs/, \
                 its tables are not. Keep versions longer with `vacuum --keep`",
                run.version, out.url, run.run_id
            )));
        }
        Err(e) => return Err(e),
    };
    if *as_of != AsOf::Latest {
        tracing::info!("reading version {} of {} (run {}), as of {as_of:?}", ledger.version, out.url, ledger.run_id);
    }
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

/// Run a read-only query and collect its batches: at least one, so that an empty answer still
/// carries its columns (a Parquet file or CSV header of no rows keeps the table's schema).
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let err = |e| Error::sql("query", sql.chars().take(80).collect::<String>(), e);
    let frame = ctx.sql_with_options(sql, read_only()).await.map_err(err)?;
    let schema: arrow::datatypes::SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await.map_err(err)?;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
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

#[cfg(test)]
mod as_of_tests {
    use super::*;

    fn run(run_id: &str, version: u64, published: bool, finished_at: &str) -> RunSummary {
        RunSummary {
            run_id: run_id.into(),
            version,
            published,
            finished_at: finished_at.into(),
            ..RunSummary::default()
        }
    }

    #[test]
    fn as_of_reads_run_ids_versions_and_moments_as_people_write_them() {
        assert_eq!(AsOf::parse("latest"), Ok(AsOf::Latest));
        assert_eq!(AsOf::parse("3"), Ok(AsOf::Version(3)));
        assert_eq!(AsOf::parse("v3"), Ok(AsOf::Version(3)));
        assert_eq!(AsOf::parse("20261204T024152Z-69b4"), Ok(AsOf::Run("20261204T024152Z-69b4".into())));
        let beijing = AsOf::parse("2026-12-01T10:00:00+08:00").unwrap();
        assert_eq!(beijing, AsOf::Time("2026-12-01T02:00:00Z".parse().unwrap()));
        // A date alone is the end of that day on this machine's clock.
        let AsOf::Time(day) = AsOf::parse("2026-12-01").unwrap() else { panic!("a date is a moment") };
        assert_eq!(day.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string(), "2026-12-01 23:59:59");
        assert!(matches!(AsOf::parse("2026-12-01 10:00"), Ok(AsOf::Time(_))));
        let wrong = AsOf::parse("yesterday").unwrap_err();
        assert!(wrong.contains("run id") && wrong.contains("2026-12-01"), "{wrong}");
    }

    #[test]
    fn as_of_picks_the_version_published_then_and_says_when_there_is_none() {
        let runs = [
            run("20261201T010000Z-aaaa", 1, true, "2026-12-01T01:05:00Z"),
            run("20261202T010000Z-bbbb", 2, false, "2026-12-02T01:05:00Z"),
            run("20261203T010000Z-cccc", 2, true, "2026-12-03T01:05:00Z"),
        ];
        let pick = |as_of: AsOf| as_of.pick(&runs, "out").map(|r| r.run_id.clone());
        assert_eq!(pick(AsOf::Latest).unwrap(), "20261203T010000Z-cccc");
        assert_eq!(pick(AsOf::Version(1)).unwrap(), "20261201T010000Z-aaaa");
        assert_eq!(pick(AsOf::Version(2)).unwrap(), "20261203T010000Z-cccc", "the run that published it");
        // On the 2nd the first version was still the published one (the failed run published nothing).
        assert_eq!(pick(AsOf::Time("2026-12-02T12:00:00Z".parse().unwrap())).unwrap(), "20261201T010000Z-aaaa");
        assert_eq!(pick(AsOf::Time("2026-12-03T01:05:00Z".parse().unwrap())).unwrap(), "20261203T010000Z-cccc");
        let before = pick(AsOf::Time("2026-11-30T00:00:00Z".parse().unwrap())).unwrap_err().to_string();
        assert!(
            before.contains("nothing of out was published at or before") && before.contains("junheng runs"),
            "{before}"
        );
        let failed = pick(AsOf::Run("20261202T010000Z-bbbb".into())).unwrap_err().to_string();
        assert!(failed.contains("no published run 20261202T010000Z-bbbb"), "{failed}");
        assert!(matches!(AsOf::Version(9).pick(&runs, "out"), Err(Error::NotFound(_))));
        assert!(matches!(AsOf::Latest.pick(&[], "out"), Err(Error::NotFound(_))));
    }
}

#[cfg(test)]
mod export_tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_answer_written_as_parquet_keeps_its_columns() {
        let ctx = SessionContext::new();
        let batches = collect(&ctx, "select 'x' as school_code, 1 as students where false").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        assert_eq!(write_parquet(&batches, &path).unwrap(), 0);
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let names: Vec<_> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["school_code", "students"]);
        assert_eq!(render(&batches, OutputFormat::Csv).unwrap(), "school_code,students\n");
        assert_eq!(render(&batches, OutputFormat::Json).unwrap(), "[]\n");
    }
}
