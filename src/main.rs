//! The junheng binary: parse the command line, call the library, print, and decide the exit
//! code — in one place, at the end of `main`.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use junheng::pipeline::Pipeline;
use junheng::run::{self, Request, Status};
use junheng::{Error, summary};

use cli::{Cli, Command, SourceArgs};

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
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
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
            let request = Request { pipeline, output: Some(output), run_id: run::new_run_id(now), started_at: now };
            let outcome = run::run(request).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&outcome.ledger).unwrap_or_default());
            } else if !cli.quiet {
                print!("{}", summary::findings_text(&outcome, args.source.show.min(20)));
                print!("{}", summary::summary_text(&outcome));
            }
            Ok(outcome.status)
        }
        Command::Validate(args) => {
            let pipeline = load_pipeline(&args)?;
            let now = chrono::Utc::now();
            let request = Request { pipeline, output: None, run_id: run::new_run_id(now), started_at: now };
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
