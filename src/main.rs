//! The junheng binary: parse the command line, call the library, print, and decide the exit
//! code — in one place, at the end of `main`.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use junheng::pipeline::Pipeline;
use junheng::run::{self, Request, Status};
use junheng::{Error, summary};

use cli::{Cli, Command, SourceArgs};
use junheng::load::vacuum::parse_duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if cli.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
            let plan = run::plan(&request).await?;
            if !cli.quiet && !args.json {
                print!("{}", plan.describe(request.allow_removals));
            }
            if args.dry_run {
                return Ok(Status::Success);
            }
            let outcome = run::execute(&request, plan).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&outcome.ledger).unwrap_or_default());
            } else if !cli.quiet && !outcome.nothing_changed {
                print!("{}", summary::findings_text(&outcome, args.source.show.min(20)));
                print!("{}", summary::summary_text(&outcome));
            }
            Ok(outcome.status)
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
            let request = Request::new(pipeline, None, run::new_run_id(now), now);
            let outcome = run::run(request).await?;
            if !cli.quiet {
                print!("{}", summary::findings_text(&outcome, args.show));
                print!("{}", summary::summary_text(&outcome));
            }
            Ok(outcome.status)
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
