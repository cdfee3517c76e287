//! The junheng binary: parse the command line, call the library, print, and decide the exit
//! code — in one place, at the end of `main`.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use junheng::pipeline::Pipeline;
use junheng::run::{self, Request, Status};
use junheng::{Error, summary};

use cli::{Cli, Command, ExplainWhat, SourceArgs};
use junheng::load::vacuum::parse_duration;

/// mimalloc (its v2 line) returns freed memory to the system after 10 ms and keeps per-thread
/// caches small. A national run's resident memory was far above its live heap with the system
/// allocator, and with mimalloc v3 (356 counties in 38 SQL groups: 568 MB with v3, 366 MB with
/// v2, whose live heap stays under 160 MB).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ballista's scheduler logs, as errors, metrics it cannot attach to a plan display: not ours to report.
    let default_level = if cli.quiet { "error" } else { "warn" };
    let default_level = format!("{default_level},ballista_scheduler::display=off,ballista_scheduler::state::aqe=error");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.as_str().into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Deep SQL plans recurse deeply when planned and (on Ballista) serialised: 2 MiB worker stacks
    // overflow on the marts in unoptimised builds.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(16 << 20).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(Status::Success) => ExitCode::SUCCESS,
        Ok(Status::Rejected) => ExitCode::from(1),
        Err(error) => {
            // Every error's message already includes its cause.
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn execute(cli: Cli) -> Result<Status, Error> {
    match cli.command {
        Command::Run(args) => {
            let pipeline = load_pipeline(&args.source)?;
            let output = args.out.clone().or_else(|| pipeline.output.clone()).ok_or_else(|| {
                Error::Config("no output: give --out DIR (or [output] url in the pipeline file)".into())
            })?;
            let now = chrono::Utc::now();
            let mut request = Request::new(pipeline, Some(output), run::new_run_id(now), now);
            request.allow_removals = args.allow_removals;
            request.force = args.force;
            request.wait_for_lock = args.wait.as_deref().map(parse_duration).transpose().map_err(Error::Config)?;
            request.engine = junheng::transform::Engine::parse(&args.engine)?;
            request.transform_rows = args.transform_rows.max(1);
            request.memory_limit =
                args.memory_limit.as_deref().map(junheng::serve::parse_size).transpose().map_err(Error::Config)?;
            if args.source.errors.is_some() {
                request.findings_limit = usize::MAX;
            }
            let plan = run::plan(&request).await?;
            if !cli.quiet && !args.json {
                print!("{}", plan.describe(request.allow_removals));
            }
            if args.dry_run {
                return Ok(Status::Success);
            }
            let bar = (!cli.quiet && !args.json).then(progress_bar).flatten();
            if let Some(bar) = &bar {
                request.progress = Some(bar.0.clone());
            }
            let outcome = run::execute(&request, plan).await?;
            if let Some(bar) = bar {
                bar.1.finish_and_clear();
            }
            write_errors(&outcome, args.source.errors.as_deref(), cli.quiet)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&outcome.ledger).unwrap_or_default());
            } else if !cli.quiet && !outcome.nothing_changed {
                print!("{}", summary::findings_text(&outcome, args.source.show.min(20)));
                print!("{}", summary::summary_text(&outcome));
            }
            Ok(outcome.status)
        }
        Command::Query(args) => {
            let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
            let published = junheng::query::open(&url).await?;
            let statements: Vec<String> = match &args.sql {
                Some(sql) => vec![sql.clone()],
                None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                    return interactive(&published.ctx).await;
                }
                None => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                        .map_err(|e| Error::Config(format!("reading SQL from stdin: {e}")))?;
                    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
                }
            };
            for sql in statements {
                let batches = junheng::query::collect(&published.ctx, &sql).await?;
                if args.format == "parquet" {
                    let path = args
                        .output
                        .clone()
                        .ok_or_else(|| Error::Config("--format parquet needs --output FILE".into()))?;
                    let rows = junheng::query::write_parquet(&batches, &path)?;
                    if !cli.quiet {
                        eprintln!("wrote {rows} rows to {}", path.display());
                    }
                    continue;
                }
                let format = match args.format.as_str() {
                    "csv" => junheng::query::OutputFormat::Csv,
                    "json" => junheng::query::OutputFormat::Json,
                    _ => junheng::query::OutputFormat::Table,
                };
                let text = junheng::query::render(&batches, format)?;
                match &args.output {
                    Some(path) => std::fs::write(path, text).map_err(|source| Error::Io {
                        operation: "write",
                        path: path.clone(),
                        source,
                    })?,
                    None => print!("{text}"),
                }
            }
            Ok(Status::Success)
        }
        Command::Report(args) => {
            let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
            let published = junheng::query::open(&url).await?;
            let dictionary =
                junheng::dictionary::build(&junheng::transform::project(&published.ctx)?, &published.ctx).await?;
            let pages = junheng::report::build(&published.ctx, &published.ledger, &dictionary).await?;
            std::fs::create_dir_all(&args.to).map_err(|source| Error::Io {
                operation: "create folder",
                path: args.to.clone(),
                source,
            })?;
            for (name, html) in &pages {
                let path = args.to.join(name);
                std::fs::write(&path, html).map_err(|source| Error::Io { operation: "write", path, source })?;
            }
            if !cli.quiet {
                println!(
                    "wrote {} pages to {} (open {})",
                    pages.len(),
                    args.to.display(),
                    args.to.join("index.html").display()
                );
            }
            Ok(Status::Success)
        }
        Command::Explain(args) => {
            let url = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
            let published = junheng::query::open(&url).await?;
            let target = match args.what {
                ExplainWhat::Cv { county, year, stage, indicator } => {
                    junheng::explain::Target::Cv { county, year, stage, indicator }
                }
                ExplainWhat::Retention { county, year, stage } => {
                    junheng::explain::Target::Retention { county, year, stage }
                }
                ExplainWhat::Dropout { county, year, stage } => {
                    junheng::explain::Target::Dropout { county, year, stage }
                }
                ExplainWhat::Funding { county, year } => junheng::explain::Target::Funding { county, year },
            };
            print!("{}", junheng::explain::explain(&published, &target).await?);
            Ok(Status::Success)
        }
        Command::Serve(args) => {
            let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
            let password = std::env::var("JUNHENG_SERVE_PASSWORD").ok().filter(|p| !p.is_empty());
            let options = junheng::serve::ServeOptions {
                out: url.clone(),
                listen: args.listen,
                user: std::env::var("JUNHENG_SERVE_USER").ok().filter(|u| !u.is_empty()).unwrap_or("junheng".into()),
                tls: args.tls_cert.zip(args.tls_key),
                statement_timeout: parse_duration(&args.statement_timeout).map_err(Error::Config)?,
                memory_limit: junheng::serve::parse_size(&args.memory_limit).map_err(Error::Config)?,
                max_connections: args.max_connections,
                refresh: parse_duration(&args.refresh).map_err(Error::Config)?,
                password,
            };
            let quiet = cli.quiet;
            let (user, secured, tls) = (options.user.clone(), options.password.is_some(), options.tls.is_some());
            junheng::serve::serve(options, |addr, snapshot| {
                if !quiet {
                    println!(
                        "serving {url} (run {}, version {}) on postgresql://{user}@{addr}/{}{}",
                        snapshot.run_id,
                        snapshot.version,
                        junheng::serve::DATABASE,
                        if tls { "?sslmode=require" } else { "" }
                    );
                    if !secured {
                        println!("  no JUNHENG_SERVE_PASSWORD: anyone on this machine can read (loopback only)");
                    }
                    println!("  read-only; new runs appear without a restart; Ctrl-C stops");
                }
            })
            .await?;
            Ok(Status::Success)
        }
        Command::Runs(args) => {
            let out = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
            let ledgers = junheng::load::ledgers(&junheng::storage::open(&out, false)?).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&ledgers).unwrap_or_default());
            } else {
                print!("{}", summary::runs_text(&ledgers));
            }
            Ok(Status::Success)
        }
        Command::Vacuum(args) => {
            let url = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
            let out = junheng::storage::open(&url, false)?;
            let keep = parse_duration(&args.keep).map_err(Error::Config)?;
            let lock = junheng::load::lock::acquire(&out, "vacuum", Some(std::time::Duration::from_secs(600))).await?;
            let report = junheng::load::vacuum::vacuum(&out, keep, chrono::Utc::now(), args.dry_run).await;
            lock.release().await?;
            let report = report?;
            if !cli.quiet {
                let verb = if args.dry_run { "would delete" } else { "deleted" };
                for (id, why) in &report.deleted {
                    println!("{verb} version {id}: {why}");
                }
                for (id, why) in &report.kept {
                    println!("kept version {id}: {why}");
                }
                println!("{verb} {} versions ({} objects)", report.deleted.len(), report.objects);
            }
            Ok(Status::Success)
        }
        Command::Schedule(args) => {
            let until = args
                .duration
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(Error::Config)?
                .map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default());
            let exe =
                std::env::current_exe().map_err(|e| Error::Config(format!("cannot find the junheng binary: {e}")))?;
            let quiet = cli.quiet;
            let mut log = |line: String| {
                if !quiet {
                    println!("{} {line}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
                }
            };
            junheng::schedule::serve(&args.pipelines, exe, until, &mut log).await?;
            Ok(Status::Success)
        }
        Command::Validate(args) => {
            let pipeline = load_pipeline(&args)?;
            let now = chrono::Utc::now();
            let mut request = Request::new(pipeline, None, run::new_run_id(now), now);
            if args.errors.is_some() {
                request.findings_limit = usize::MAX;
            }
            let outcome = run::run(request).await?;
            write_errors(&outcome, args.errors.as_deref(), cli.quiet)?;
            if !cli.quiet {
                print!("{}", summary::findings_text(&outcome, args.show));
                print!("{}", summary::summary_text(&outcome));
            }
            Ok(outcome.status)
        }
        Command::Generate(args) if args.what == "national" => {
            let options = junheng::generate::national::NationalOptions {
                counties: args.counties,
                years: args.years,
                xlsx: args.xlsx,
                seed: args.seed,
            };
            let bar = (!cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
                let bar = indicatif::ProgressBar::new(args.counties as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} counties {elapsed_precise} (eta {eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let report = junheng::generate::national::write(&args.out, &options, &|_| {
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            })?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if !cli.quiet {
                println!(
                    "wrote {} counties × {} years to {}: {} files, {} rows, {:.1} MB, {} schools in the last year",
                    args.counties,
                    args.years,
                    args.out.display(),
                    report.files,
                    report.rows,
                    report.bytes as f64 / 1e6,
                    report.schools_last_year
                );
            }
            Ok(Status::Success)
        }
        Command::Generate(args) => {
            junheng::generate::seed::write(&args.out)?;
            if !cli.quiet {
                println!("wrote the example county to {}", args.out.display());
            }
            Ok(Status::Success)
        }
    }
}

/// A progress bar on stderr when it is a terminal (quiet otherwise), and the callback feeding it.
fn progress_bar() -> Option<(run::Progress, indicatif::ProgressBar)> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
            .ok()?
            .progress_chars("=> "),
    );
    let handle = bar.clone();
    let callback = move |event: run::ProgressEvent| match event {
        run::ProgressEvent::Reading(n) => {
            handle.set_length(n);
            handle.set_message("reading files");
        }
        run::ProgressEvent::FileRead(_) => handle.inc(1),
        run::ProgressEvent::BuildingMarts(n) => {
            handle.set_length(n);
            handle.set_position(0);
            handle.set_message("building marts");
        }
        run::ProgressEvent::ModelBuilt(name) => {
            handle.inc(1);
            handle.set_message(name);
        }
        run::ProgressEvent::Finished => handle.set_message("committed"),
    };
    Some((run::Progress(std::sync::Arc::new(callback)), bar))
}

/// Write the error workbooks when asked to.
fn write_errors(outcome: &run::Outcome, dir: Option<&std::path::Path>, quiet: bool) -> Result<(), Error> {
    let Some(dir) = dir else { return Ok(()) };
    let files = junheng::workbook::write(&outcome.findings, dir)?;
    if !quiet {
        eprintln!("wrote {} error workbook(s) to {}", files.len(), dir.display());
    }
    Ok(())
}

/// Ask for SQL statements on a terminal until end of input.
async fn interactive(ctx: &datafusion::prelude::SessionContext) -> Result<Status, Error> {
    use std::io::{BufRead, Write};
    eprintln!("junheng query — end statements with ';', Ctrl-D to leave. Tables: `show tables`.");
    let mut buffer = String::new();
    let stdin = std::io::stdin();
    loop {
        eprint!("{}", if buffer.is_empty() { "junheng> " } else { "     ...> " });
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| Error::Config(e.to_string()))? == 0 {
            return Ok(Status::Success);
        }
        buffer.push_str(&line);
        if !buffer.trim_end().ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        match junheng::query::collect(ctx, sql.trim().trim_end_matches(';'))
            .await
            .and_then(|b| junheng::query::render(&b, junheng::query::OutputFormat::Table))
        {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

/// The output of a command: --out, or the pipeline file's [output].
fn output_of(pipeline: Option<&std::path::Path>, out: Option<&str>) -> Result<String, Error> {
    match (out, pipeline) {
        (Some(out), _) => Ok(out.to_owned()),
        (None, Some(path)) => Pipeline::load(path)?
            .output
            .ok_or_else(|| Error::Config(format!("{} has no [output] url; give --out", path.display()))),
        (None, None) => Err(Error::Config("give --out URL or a pipeline file".into())),
    }
}

/// The pipeline a command runs: its file, or the standard layout under --source.
fn load_pipeline(args: &SourceArgs) -> Result<Pipeline, Error> {
    let mut pipeline = match &args.pipeline {
        Some(path) => Pipeline::load(path)?,
        None => {
            let source = args.source.as_deref().ok_or_else(|| {
                Error::Config("nothing to read: give a pipeline file, or --source DIR in the standard layout".into())
            })?;
            Pipeline::standard(source)
        }
    };
    if let Some(source) = &args.source {
        pipeline.source.url = source.clone();
    }
    Ok(pipeline)
}
