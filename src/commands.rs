//! One function per command: each turns its arguments into a library call and prints what a
//! person (or a scheduler) reads. Errors go back to `main`, which prints them and exits 2.

use std::path::Path;
use std::time::Duration;

use junheng::exit::ExitStatus;
use junheng::job::{self, Progress, ProgressEvent, Request};
use junheng::pipeline::Pipeline;
use junheng::run::{self, Outcome};
use junheng::{Error, summary};

use crate::cli::{
    Cli, Command, ExplainArgs, ExplainWhat, ExportArgs, GenerateArgs, QueryArgs, ReportArgs, RunArgs, RunsArgs,
    ScheduleArgs, ServeArgs, ServeUserArgs, SourceArgs, VacuumArgs,
};

/// What stops a command: the library's errors, and the generators' (which are not the
/// library's: they are tools).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The pipeline, its input or its output failed.
    #[error(transparent)]
    Junheng(#[from] Error),
    /// A generator could not write its files.
    #[error(transparent)]
    Generate(#[from] junheng_generate::Error),
}

impl Failure {
    /// The status the command ends with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Failure::Junheng(e) => e.exit_status(),
            Failure::Generate(_) => ExitStatus::Failed,
        }
    }
}

/// Run the command the command line names.
pub async fn execute(cli: Cli) -> Result<ExitStatus, Failure> {
    let quiet = cli.quiet;
    Ok(match cli.command {
        Command::Run(args) => run(args, quiet).await?,
        Command::Validate(args) => validate(args, quiet).await?,
        Command::Query(args) => query(args, quiet).await?,
        Command::Report(args) => report(args, quiet).await?,
        Command::Explain(args) => explain(args).await?,
        Command::Export(args) => export(args, quiet).await?,
        Command::Serve(args) => serve(args, quiet).await?,
        Command::ServeUser(args) => serve_user(args)?,
        Command::Runs(args) => runs(args).await?,
        Command::Vacuum(args) => vacuum(args, quiet).await?,
        Command::Schedule(args) => schedule(args, quiet).await?,
        Command::Generate(args) => generate(args, quiet)?,
        Command::Pipeline(args) => {
            let crate::cli::PipelineCommand::Keys { markdown } = args.command;
            let reference =
                if markdown { junheng::pipeline::keys::markdown() } else { junheng::pipeline::keys::text() };
            print!("{reference}");
            ExitStatus::Success
        }
    })
}

/// `junheng run`: plan, print the plan, run it, print the summary.
async fn run(args: RunArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let pipeline = load_pipeline(&args.source)?;
    let output = args
        .out
        .clone()
        .or_else(|| pipeline.output.clone())
        .ok_or_else(|| Error::Usage("no output: give --out DIR (or [output] url in the pipeline file)".into()))?;
    let now = chrono::Utc::now();
    let mut request = Request::new(pipeline, Some(output), job::new_run_id(now), now);
    request.allow_removals = args.allow_removals;
    request.force = args.force;
    request.wait_for_lock = args.wait;
    request.engine = args.engine;
    request.transform_rows = args.transform_rows;
    request.job_timeout = (!args.job_timeout.is_zero()).then_some(args.job_timeout);
    request.memory_limit = args.memory_limit;
    let show = args.source.show.unwrap_or(20);
    request.findings_limit = request.findings_limit.max(show);
    if args.source.errors.is_some() {
        request.findings_limit = usize::MAX;
    }
    let plan = run::plan(&request).await?;
    let talk = !quiet && !args.json;
    if talk {
        print!("{}", plan.describe(request.allow_removals));
    }
    if args.dry_run {
        return Ok(ExitStatus::Success);
    }
    let bar = talk.then(progress_bar).flatten();
    if let Some((progress, _)) = &bar {
        request.progress = Some(progress.clone());
    }
    let outcome = run::execute(&request, plan).await?;
    if let Some((_, bar)) = bar {
        bar.finish_and_clear();
    }
    write_errors(&outcome, args.source.errors.as_deref(), quiet)?;
    if args.json {
        let json = serde_json::to_string_pretty(&outcome.ledger)
            .map_err(|source| Error::Json { context: "run ledger".into(), source })?;
        println!("{json}");
    } else if !quiet && !outcome.nothing_changed {
        print!("{}", summary::findings_text(&outcome, show));
        print!("{}", summary::summary_text(&outcome));
    }
    Ok(outcome.status)
}

/// `junheng validate`: check everything, publish nothing.
async fn validate(args: SourceArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let pipeline = load_pipeline(&args)?;
    let now = chrono::Utc::now();
    let mut request = Request::new(pipeline, None, job::new_run_id(now), now);
    let show = args.show.unwrap_or(200);
    request.findings_limit = request.findings_limit.max(show);
    if args.errors.is_some() {
        request.findings_limit = usize::MAX;
    }
    let outcome = run::run(request).await?;
    write_errors(&outcome, args.errors.as_deref(), quiet)?;
    if !quiet {
        print!("{}", summary::findings_text(&outcome, show));
        print!("{}", summary::summary_text(&outcome));
    }
    Ok(outcome.status)
}

/// `junheng query`: SQL over the committed version, as a table, CSV, JSON or Parquet.
async fn query(args: QueryArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
    let published = junheng::query::open_as_of(&url, &args.published.as_of).await?;
    let statements: Vec<String> = match &args.sql {
        Some(sql) => vec![sql.clone()],
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            interactive(&published.ctx).await?;
            return Ok(ExitStatus::Success);
        }
        None => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| Error::Io {
                operation: "read SQL from",
                path: "stdin".into(),
                source,
            })?;
            text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        }
    };
    for sql in statements {
        let batches = junheng::query::collect(&published.ctx, &sql).await?;
        if args.format == "parquet" {
            let path =
                args.output.clone().ok_or_else(|| Error::Usage("--format parquet needs --output FILE".into()))?;
            let rows = junheng::query::write_parquet(&batches, &path)?;
            if !quiet {
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
    Ok(ExitStatus::Success)
}

/// The query prompt on a terminal: line editing and history (as datafusion-cli has), statements
/// ending with `;`.
async fn interactive(ctx: &datafusion::prelude::SessionContext) -> Result<(), Error> {
    use rustyline::error::ReadlineError;
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| Error::Usage(format!("cannot start the SQL prompt: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".junheng_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!("junheng query — end statements with ';', Ctrl-D to leave. Tables: `show tables`.");
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "junheng> " } else { "     ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("the SQL prompt stopped: {e}"))),
        }
        if !buffer.trim_end().ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(sql.trim());
        match junheng::query::collect(ctx, sql.trim().trim_end_matches(';'))
            .await
            .and_then(|b| junheng::query::render(&b, junheng::query::OutputFormat::Table))
        {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// `junheng report`: the HTML report of the committed version, written to a folder.
async fn report(args: ReportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
    let published = junheng::query::open_as_of(&url, &args.published.as_of).await?;
    let dictionary = junheng::dictionary::build(&junheng::transform::project(&published.ctx)?, &published.ctx).await?;
    let language = args.language.unwrap_or(published.ledger.pipeline.report_language);
    let pages = junheng::report::build(&published.ctx, &published.ledger, &dictionary, language).await?;
    junheng::storage::create_folder(&args.to)?;
    for (name, html) in &pages {
        let path = args.to.join(name);
        std::fs::write(&path, html).map_err(|source| Error::Io { operation: "write", path, source })?;
    }
    if !quiet {
        let index = args.to.join("index.html");
        println!("wrote {} pages to {} (open {})", pages.len(), args.to.display(), index.display());
    }
    Ok(ExitStatus::Success)
}

/// `junheng explain`: a published figure, its rule and its input rows.
async fn explain(args: ExplainArgs) -> Result<ExitStatus, Error> {
    let url = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
    let published = junheng::query::open_as_of(&url, &args.as_of).await?;
    let target = match args.what {
        ExplainWhat::Cv { county, year, stage, indicator } => {
            junheng::explain::Target::Cv { county, year, stage, indicator }
        }
        ExplainWhat::Retention { county, year, stage } => junheng::explain::Target::Retention { county, year, stage },
        ExplainWhat::Dropout { county, year, stage } => junheng::explain::Target::Dropout { county, year, stage },
        ExplainWhat::Funding { county, year } => junheng::explain::Target::Funding { county, year },
        ExplainWhat::Item { county, year, item, stage } => junheng::explain::Target::Item { county, year, item, stage },
    };
    print!("{}", junheng::explain::explain(&published, &target).await?);
    Ok(ExitStatus::Success)
}

/// `junheng export`: the application workbooks of the committed version, written to a folder.
async fn export(args: ExportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
    let published = junheng::query::open_as_of(&url, &args.published.as_of).await?;
    let written = junheng::export::export(&published, args.county.as_deref(), args.year, &args.to).await?;
    if !quiet {
        for path in &written {
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitStatus::Success)
}

/// The logins of `serve`: a users file, the one login of the environment, or `--no-auth`.
fn serve_logins(args: &ServeArgs) -> Result<(junheng::serve::Logins, String), Error> {
    use junheng::serve::{Logins, MIN_PASSWORD_CHARS, Users};
    let password = std::env::var("JUNHENG_SERVE_PASSWORD").ok().filter(|p| !p.is_empty());
    let user = std::env::var("JUNHENG_SERVE_USER").ok().filter(|u| !u.is_empty()).unwrap_or("junheng".into());
    if let Some(path) = &args.users {
        if password.is_some() {
            return Err(Error::Usage(
                "give either --users or JUNHENG_SERVE_PASSWORD, not both (a users file holds every login)".into(),
            ));
        }
        let users = Users::read(path)?;
        return Ok((Logins::Users(std::sync::Arc::new(users)), format!("the logins of {}", path.display())));
    }
    match password {
        Some(password) if password.chars().count() < MIN_PASSWORD_CHARS => {
            Err(Error::Usage(format!("JUNHENG_SERVE_PASSWORD needs at least {MIN_PASSWORD_CHARS} characters")))
        }
        Some(password) => {
            let users = Users::one(&user, &password);
            Ok((Logins::Users(std::sync::Arc::new(users)), format!("login {user}, every area")))
        }
        None if args.no_auth => Ok((Logins::NoAuth, "no login: anyone on this machine can read (--no-auth)".into())),
        None => Err(Error::Usage(
            "junheng serve needs logins: --users users.toml (each login with its areas; see `junheng serve-user`), \
             or JUNHENG_SERVE_PASSWORD for one login that sees every area, or --no-auth to let anyone on this \
             machine read (loopback only)"
                .into(),
        )),
    }
}

/// `junheng serve`: the committed version over the PostgreSQL wire protocol.
async fn serve(args: ServeArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let url = output_of(args.published.pipeline.as_deref(), args.published.out.as_deref())?;
    let (logins, who) = serve_logins(&args)?;
    let tls = args.tls_cert.is_some();
    let options = junheng::serve::ServeOptions {
        out: url.clone(),
        as_of: args.published.as_of.clone(),
        listen: args.listen,
        logins,
        tls: args.tls_cert.zip(args.tls_key),
        require_tls: args.require_tls,
        startup_timeout: args.startup_timeout,
        max_startups_per_address: args.max_startups_per_address,
        audit_log: args.audit_log,
        statement_timeout: args.statement_timeout,
        memory_limit: args.memory_limit,
        max_connections: args.max_connections,
        max_statements_per_login: args.max_statements_per_login,
        refresh: args.refresh,
    };
    junheng::serve::serve(options, |addr, snapshot| {
        if quiet {
            return;
        }
        let database = junheng::serve::DATABASE;
        let mode = if tls { "?sslmode=verify-full" } else { "" };
        let (run, version) = (&snapshot.run_id, snapshot.version);
        println!("serving {url} (run {run}, version {version}) on postgresql://USER@{addr}/{database}{mode}");
        println!("  {who}; every statement is in the audit log");
        println!("  read-only; new runs appear without a restart; Ctrl-C stops");
    })
    .await?;
    Ok(ExitStatus::Success)
}

/// `junheng serve-user`: a users-file entry with the password hashed.
fn serve_user(args: ServeUserArgs) -> Result<ExitStatus, Error> {
    let password = match std::env::var("JUNHENG_SERVE_PASSWORD").ok().filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|source| Error::Io {
                operation: "read",
                path: "standard input".into(),
                source,
            })?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let hash = junheng::serve::hash_password(&password).map_err(Error::Usage)?;
    let text = format!(
        "[[users]]\nname = {}\npassword = \"{hash}\"\nareas = [{}]\n",
        toml_string(&args.name),
        args.areas.iter().map(|a| toml_string(a)).collect::<Vec<_>>().join(", ")
    );
    // The same checks `serve --users` makes, so a bad name or area is told now.
    junheng::serve::Users::parse(&text).map_err(Error::Usage)?;
    print!("{text}");
    Ok(ExitStatus::Success)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// `junheng runs`: the run history of an output.
async fn runs(args: RunsArgs) -> Result<ExitStatus, Error> {
    let out = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
    let out = junheng::storage::open(&out, false)?;
    if args.json {
        // Everything, as asked: every ledger in full.
        let ledgers = junheng::publish::ledgers(&out).await?;
        let json = serde_json::to_string_pretty(&ledgers)
            .map_err(|source| Error::Json { context: "run ledgers".into(), source })?;
        println!("{json}");
    } else {
        print!("{}", summary::runs_text(&junheng::publish::history(&out).await?));
    }
    Ok(ExitStatus::Success)
}

/// `junheng vacuum`: delete versions no reader can still be using.
async fn vacuum(args: VacuumArgs, quiet: bool) -> Result<ExitStatus, Error> {
    if args.keep < junheng::publish::vacuum::MIN_KEEP {
        return Err(Error::Usage(format!(
            "--keep {} is too short: a reader (query, serve, a BI tool) that opened a version just before it was \
             superseded needs time to finish; give at least 1m (for example --keep 7d)",
            humantime::format_duration(args.keep)
        )));
    }
    let url = output_of(args.pipeline.as_deref(), args.out.as_deref())?;
    let out = junheng::storage::open(&url, false)?;
    let lock = junheng::publish::lock::acquire(&out, "vacuum", Some(Duration::from_secs(600))).await?;
    let report = junheng::publish::vacuum::vacuum(&out, args.keep, chrono::Utc::now(), args.dry_run).await;
    lock.release().await?;
    let report = report?;
    if !quiet {
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        for (id, why) in &report.deleted {
            println!("{verb} version {id}: {why}");
        }
        for (id, why) in &report.kept {
            println!("kept version {id}: {why}");
        }
        println!("{verb} {} versions ({} objects)", report.deleted.len(), report.objects);
        let verb = if args.dry_run { "would archive" } else { "archived" };
        println!("{verb} {} ledgers to _archive/runs/ (their runs stay in `junheng runs`)", report.archived.len());
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        println!(
            "{verb} {} data files of the Delta tables under tables/ (removed by a commit, or never added, before the retention period)",
            report.table_files.len()
        );
    }
    Ok(ExitStatus::Success)
}

/// `junheng schedule`: run pipelines on their cron expressions until stopped.
async fn schedule(args: ScheduleArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let until =
        args.duration.map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let exe = std::env::current_exe().map_err(|e| Error::Worker(format!("cannot find the junheng binary: {e}")))?;
    let mut log = |line: String| {
        if !quiet {
            println!("{} {line}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        }
    };
    junheng::schedule::serve(&args.pipelines, exe, until, &mut log).await?;
    Ok(ExitStatus::Success)
}

/// `junheng generate seed|national`: the test data (a tool beside the product).
fn generate(args: GenerateArgs, quiet: bool) -> Result<ExitStatus, junheng_generate::Error> {
    if args.what != "national" {
        junheng_generate::seed::write(&args.out)?;
        if !quiet {
            println!("wrote the example county to {}", args.out.display());
        }
        return Ok(ExitStatus::Success);
    }
    let options = junheng_generate::national::NationalOptions {
        counties: args.counties,
        years: args.years,
        xlsx: args.xlsx,
        seed: args.seed,
        assessment: !args.without_assessment,
    };
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(args.counties as u64);
        let style =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} counties {elapsed_precise} (eta {eta})");
        bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        bar
    });
    let report = junheng_generate::national::write(&args.out, &options, &|_| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !quiet {
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
    Ok(ExitStatus::Success)
}

/// A progress bar on stderr when it is a terminal (quiet otherwise), and the callback feeding it.
fn progress_bar() -> Option<(Progress, indicatif::ProgressBar)> {
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
    let callback = move |event: ProgressEvent| match event {
        ProgressEvent::Reading(n) => {
            handle.set_length(n);
            handle.set_message("reading files");
        }
        ProgressEvent::FileRead(_) => handle.inc(1),
        ProgressEvent::BuildingMarts(n) => {
            handle.set_length(n);
            handle.set_position(0);
            handle.set_message("building marts");
        }
        ProgressEvent::ModelBuilt(name) => {
            handle.inc(1);
            handle.set_message(name);
        }
        ProgressEvent::Finished => handle.set_message("committed"),
    };
    Some((Progress(std::sync::Arc::new(callback)), bar))
}

/// Write the error workbooks when asked to.
fn write_errors(outcome: &Outcome, dir: Option<&Path>, quiet: bool) -> Result<(), Error> {
    let Some(dir) = dir else { return Ok(()) };
    let files = junheng::workbook::write(&outcome.findings, dir)?;
    if !quiet {
        eprintln!("wrote {} error workbook(s) to {}", files.len(), dir.display());
    }
    Ok(())
}

/// The output of a command: --out, or the pipeline file's [output].
fn output_of(pipeline: Option<&Path>, out: Option<&str>) -> Result<String, Error> {
    match (out, pipeline) {
        (Some(out), _) => Ok(out.to_owned()),
        (None, Some(path)) => Pipeline::load(path)?
            .output
            .ok_or_else(|| Error::Usage(format!("{} has no [output] url; give --out", path.display()))),
        (None, None) => Err(Error::Usage("give --out URL or a pipeline file".into())),
    }
}

/// The pipeline a command runs: its file, or the standard layout under --source.
fn load_pipeline(args: &SourceArgs) -> Result<Pipeline, Error> {
    let mut pipeline = match &args.pipeline {
        Some(path) => Pipeline::load(path)?,
        None => {
            let source = args.source.as_deref().ok_or_else(|| {
                Error::Usage("nothing to read: give a pipeline file, or --source DIR in the standard layout".into())
            })?;
            Pipeline::standard(source)
        }
    };
    if let Some(source) = &args.source {
        pipeline.source.url = source.clone();
    }
    Ok(pipeline)
}
