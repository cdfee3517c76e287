//! The command line: clap definitions (doc comments here are the `--help` text) and the parsers
//! of the values people type — durations (`30m`, `7d`) and sizes (`512MiB`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use junheng::transform::Engine;

/// junheng (均衡) — statistics for county compulsory-education balanced development
/// (县域义务教育均衡发展): validate county submissions, publish them as Parquet, and build the
/// trend and indicator marts.
#[derive(Debug, Parser)]
#[command(name = "junheng", version, propagate_version = true, after_long_help = junheng::exit::help())]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, normalise and publish a submission, then rebuild the marts.
    ///
    /// With no pipeline file, reads the standard layout from --source:
    ///   <source>/{county_code}/{year}/{table}.csv|json   (table: schools pupils teachers
    ///   facilities finance investments survey, or 学校 学生 教职工 办学条件 经费 项目投入 满意度调查)
    ///
    /// Publishes under --out: staging/<table>/year=YYYY/, quarantine/<table>/year=YYYY/,
    /// marts/<mart>/, dictionary.json and runs/<run_id>.json (the run ledger). Readers never see
    /// a half-written run: everything goes into versions/<run_id>/ first and is switched in at once.
    #[command(after_long_help = format!("EXAMPLES:
  junheng run pipelines/wudalianchi.toml
  junheng run --source fixtures/wudalianchi --out out/wudalianchi
  junheng run pipelines/wudalianchi.toml --out /tmp/try-it

{}", junheng::exit::help()))]
    Run(RunArgs),

    /// Check a submission and print every finding; publishes nothing.
    ///
    /// Takes the same inputs as `run` and exits the same way, so it can gate an upload.
    #[command(after_long_help = format!("EXAMPLES:
  junheng validate --source fixtures/bad
  junheng validate pipelines/wudalianchi.toml

{}", junheng::exit::help()))]
    Validate(SourceArgs),

    /// Ask the published tables a question in SQL (only committed data is visible).
    ///
    /// Every staging table is there by name (schools, pupils, teachers, facilities, finance,
    /// investments, survey), every mart (county_overview, balance_cv, retention …), quarantine as
    /// quarantine_<table>, and the run history as runs. Without SQL on a terminal, it asks for
    /// statements interactively (end each with `;`); without a terminal, it reads SQL from stdin.
    #[command(after_long_help = "EXAMPLES:
  junheng query --out out/wudalianchi \"select year, stage, round(basic_composite_cv, 3) from balance_summary order by 1, 2\"
  junheng query --pipeline pipelines/wudalianchi.toml --format csv \"select * from retention\" > retention.csv
  junheng query --out out/wudalianchi --format parquet --output cv.parquet \"select * from balance_cv\"
  junheng query --out out/wudalianchi \"show tables\"")]
    Query(QueryArgs),

    /// Write the HTML report of an output's committed version to a folder.
    ///
    /// One page per county (headline figures, trend charts, indicator tables, school standards,
    /// shortcomings), an index over counties and the data dictionary. `junheng run` also writes
    /// it into the version it publishes (report/), unless the pipeline says [report] enabled = false.
    #[command(after_long_help = "EXAMPLES:
  junheng report --out out/wudalianchi --to report
  junheng report --pipeline pipelines/wudalianchi.toml --to /var/www/junheng")]
    Report(ReportArgs),

    /// Show how a published number was computed, and which source rows it came from.
    #[command(after_long_help = "EXAMPLES:
  junheng explain --out out/wudalianchi cv --county 231182 --year 2018 --stage junior --indicator b3
  junheng explain --out out/wudalianchi retention --county 231182 --year 2016 --stage primary
  junheng explain --out out/wudalianchi dropout --county 231182 --year 2015 --stage junior
  junheng explain --out out/wudalianchi funding --county 231182 --year 2016
  junheng explain --out out/wudalianchi item --county 231182 --year 2018 --item g5 --stage junior")]
    Explain(ExplainArgs),

    /// Write the quality-balance application workbook (优质均衡申报表) of a county and year.
    ///
    /// One XLSX per county and year, from the published marts only, with the sheets 资源配置,
    /// 差异系数, 政府保障程度, 教育质量, 社会认可度, 佐证材料 and 差距清单: cells of items not met
    /// are shaded, items not reported say 待填报. Reads local and S3 outputs; writes to a local folder.
    #[command(after_long_help = "EXAMPLES:
  junheng export --out out/wudalianchi --county 231182 --to apply
  junheng export --pipeline pipelines/wudalianchi.toml --county 231182 --year 2017 --to apply
  junheng export --out s3://bucket/published --to apply          # every county, each its latest year")]
    Export(ExportArgs),

    /// List the runs of an output: when, what changed, counts and exit status.
    #[command(after_long_help = "EXAMPLES:
  junheng runs --out out/wudalianchi
  junheng runs pipelines/wudalianchi.toml --json")]
    Runs(RunsArgs),

    /// Delete old versions of an output once no reader can still be using them.
    ///
    /// A version is deleted when a newer one has been published for longer than --keep; a version
    /// no committed run names (left by an interrupted run) when it is older than --keep. The
    /// latest version is always kept. The ledgers of deleted versions, and of failed runs older
    /// than --keep, move to _archive/runs/ (kept for inspection, out of readers' way); every run
    /// stays in `junheng runs` by its summary in _history/. In the Delta tables under tables/, a
    /// data file is deleted once a commit removed it more than --keep ago (or no commit ever
    /// added it); Delta time travel reaches back as far as the files kept.
    #[command(after_long_help = "EXAMPLES:
  junheng vacuum --out out/wudalianchi --keep 7d --dry-run
  junheng vacuum --out s3://bucket/published --keep 30d")]
    Vacuum(VacuumArgs),

    /// Run pipelines on the cron expressions in their [schedule], one run at a time each.
    ///
    /// Each run is a child `junheng run PIPELINE` process; the scheduler logs every start and how
    /// it ended (exit 0/1/2), and keeps going when a run fails. Stop it with Ctrl-C (or --for).
    #[command(after_long_help = "EXAMPLES:
  junheng schedule pipelines/wudalianchi.toml pipelines/nyc-doe.toml
  junheng schedule pipelines/wudalianchi.toml --for 1h

In the pipeline file:
  [schedule]
  cron = \"0 2 * * *\"      # 02:00 every day (minute hour day month weekday; seconds optional first)")]
    Schedule(ScheduleArgs),

    /// Serve the published tables read-only over the PostgreSQL wire protocol (for BI tools, psql, pandas).
    ///
    /// Every staging table, mart, quarantine_<table> and the run history (runs) of the latest
    /// committed version, in database `junheng`, schema `public`. A newly committed run becomes
    /// visible to new statements within --refresh, without a restart; a statement never sees two
    /// versions at once. Only reads are accepted: INSERT, UPDATE, DELETE, CREATE, DROP, COPY … are
    /// refused with SQLSTATE 25006.
    ///
    /// Logins: those of --users users.toml, each seeing only the counties of its areas (made
    /// with `junheng serve-user`); or one login, user JUNHENG_SERVE_USER (default `junheng`) with
    /// password JUNHENG_SERVE_PASSWORD, which sees every area — from the environment, never a flag,
    /// so they stay out of `ps` and shell history; or --no-auth on loopback. Passwords are checked
    /// with SCRAM-SHA-256 (-PLUS with TLS). Beyond loopback TLS is required. Every statement goes
    /// to an audit log beside the output.
    #[command(after_long_help = "EXAMPLES:
  junheng serve --out out/wudalianchi --no-auth
  psql \"postgresql://junheng@127.0.0.1:5433/junheng\" -c \"select * from balance_summary\"

  junheng serve --out s3://bucket/published --users users.toml --listen 0.0.0.0:5433 \\
      --tls-cert /etc/junheng/server.crt --tls-key /etc/junheng/server.key
  psql \"postgresql://heihe@HOST:5433/junheng?sslmode=verify-full&sslrootcert=ca.crt\"

SQLAlchemy / Superset: postgresql+psycopg://junheng:PASSWORD@HOST:5433/junheng
Metabase, Grafana: a PostgreSQL data source, host HOST, port 5433, database junheng, user junheng")]
    Serve(ServeArgs),

    /// Print a login for `serve --users`: its name, its password hashed, and the areas it sees.
    ///
    /// The password is read from JUNHENG_SERVE_PASSWORD, or else from the first line of standard
    /// input (never a flag); it needs at least 12 characters. The hash is PBKDF2-SHA-256 with a
    /// fresh salt (SCRAM-SHA-256's salted password): not the password, but a client can log in
    /// with it, so keep users.toml readable by the server only.
    #[command(after_long_help = "EXAMPLES:
  junheng serve-user wudalianchi --area 231182 >> users.toml     # a county
  junheng serve-user heihe --area 2311 >> users.toml             # a city: every county of it
  junheng serve-user heilongjiang --area 23 --area 15 >> users.toml
  junheng serve-user analyst --area '*' >> users.toml            # every area
  junheng serve --out out/province --users users.toml --listen 0.0.0.0:5433 --tls-cert … --tls-key …

A role gives several logins the same areas:
  [roles.heihe]
  areas = [\"2311\"]
  [[users]]
  name = \"heihe-finance\"
  password = \"pbkdf2-sha256$4096$…\"
  roles = [\"heihe\"]")]
    ServeUser(ServeUserArgs),

    /// Write the bundled example county's submission (generated deterministically).
    ///
    /// `seed` writes 五大连池市 (231182), 2009–2018, in the standard layout: the fixture
    /// `fixtures/wudalianchi/` is exactly this output.
    #[command(after_long_help = "EXAMPLES:
  junheng generate seed --out fixtures/wudalianchi
  junheng generate national --out /data/national                 # 2 850 counties × 10 years, ≈ 1.3 GB
  junheng generate national --counties 178 --years 10 --out /tmp/province")]
    Generate(GenerateArgs),

    /// About pipeline files: every key they accept, by section.
    #[command(after_long_help = "EXAMPLES:
  junheng pipeline keys                     # every section and key, what it takes and does
  junheng pipeline keys --markdown          # the same as docs/pipeline-keys.md")]
    Pipeline(PipelineArgs),
}

/// `pipeline` arguments.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// What to show.
    #[command(subcommand)]
    pub command: PipelineCommand,
}

/// What `pipeline` shows.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Every key a pipeline file accepts, by section (generated from the parser's own lists).
    Keys {
        /// Print Markdown (docs/pipeline-keys.md) instead of text.
        #[arg(long)]
        markdown: bool,
    },
}

/// Where the submission is.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A pipeline file (pipelines/*.toml). Without one, --source is read in the standard layout.
    pub pipeline: Option<PathBuf>,

    /// Source URL or folder (overrides the pipeline's [source] url).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// Print at most this many findings (default: 200 for validate, 20 for run; every finding
    /// is in quarantine/ after a run, and in --errors workbooks).
    #[arg(long, value_name = "N")]
    pub show: Option<usize>,

    /// Write an error workbook (XLSX) per county and year into this folder, for the submitters.
    #[arg(long, value_name = "DIR")]
    pub errors: Option<PathBuf>,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the submission is.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Output URL or folder (overrides the pipeline's [output] url).
    #[arg(long, value_name = "URL")]
    pub out: Option<String>,

    /// Print the run ledger as JSON on stdout instead of the summary (for schedulers).
    #[arg(long)]
    pub json: bool,

    /// Print what the run would read and replace, and stop (nothing is written).
    #[arg(long)]
    pub dry_run: bool,

    /// Remove the rows of inputs that are gone from the source (by default they are kept).
    #[arg(long)]
    pub allow_removals: bool,

    /// Read every input again, even those unchanged since the last run.
    #[arg(long)]
    pub force: bool,

    /// Wait for another run on the same output to finish (up to this long: 30m, 2h …).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "6h", value_parser = duration)]
    pub wait: Option<Duration>,

    /// Where the SQL models run: local (this process), ballista://HOST:PORT (a Ballista
    /// scheduler; its executors must reach --out at the same URL) or ballista-standalone (a
    /// cluster inside this process). Ballista needs a build with `--features ballista`.
    #[arg(long, value_name = "ENGINE", default_value = "local", env = "JUNHENG_ENGINE", value_parser = engine)]
    pub engine: Engine,

    /// Memory the local SQL engine may hold before its sorts and aggregates spill to temporary
    /// files (512MiB, 4GiB …; default: no limit). Joins cannot spill: a limit too small for
    /// them stops the run with "Resources exhausted" and publishes nothing.
    #[arg(long, value_name = "SIZE", env = "JUNHENG_MEMORY_LIMIT", value_parser = size)]
    pub memory_limit: Option<usize>,

    /// The SQL runs over groups of whole counties holding at most this many staging rows at a
    /// time, so its memory follows the group, not the country (every model is per county;
    /// the results are the same). Lower it if a national run needs less memory; a county or
    /// province under the limit runs in one group.
    #[arg(long, value_name = "ROWS", default_value_t = junheng::job::TRANSFORM_ROWS, env = "JUNHENG_TRANSFORM_ROWS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub transform_rows: u64,

    /// On a Ballista cluster (--engine ballista://…), how long one model's job for one county
    /// group may take before the run fails (exit 2, nothing published): a job whose executors
    /// were lost and never came back must not hold the run, and its lock, forever. 0: no limit.
    /// The local engine has no such limit.
    #[arg(long, value_name = "DURATION", default_value = "1h", env = "JUNHENG_JOB_TIMEOUT", value_parser = duration)]
    pub job_timeout: Duration,
}

/// `query` arguments.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL (one statement); omit it to type statements, or pipe them in.
    pub sql: Option<String>,

    #[command(flatten)]
    pub published: PublishedArgs,

    /// table, csv, json or parquet (parquet needs --output).
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json", "parquet"])]
    pub format: String,

    /// Write the result to this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Which published output a reading command reads: `--out`, or a pipeline file's [output].
#[derive(Debug, Args)]
pub struct PublishedArgs {
    /// Output URL or folder to read.
    #[arg(long, value_name = "URL")]
    pub out: Option<String>,

    /// A pipeline file whose [output] to read (when --out is not given).
    #[arg(long, value_name = "FILE")]
    pub pipeline: Option<PathBuf>,

    /// Read an earlier version instead of the latest: a run id (as `junheng runs` lists them),
    /// a version number, or a moment — the version that was published then (2026-12-01T10:00+08:00;
    /// `2026-12-01 10:00` is this machine's time zone; a date alone is the end of that day).
    #[arg(long, value_name = "RUN|VERSION|TIME", default_value = "latest", value_parser = junheng::query::AsOf::parse)]
    pub as_of: junheng::query::AsOf,
}

/// `serve` arguments. The user and password come from the environment, never from flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub published: PublishedArgs,

    /// Address and port to listen on (port 0 picks a free one). Anything but loopback needs
    /// logins and TLS.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5433")]
    pub listen: std::net::SocketAddr,

    /// The logins and the areas each may see (TOML; lines made by `junheng serve-user`). Without
    /// it, JUNHENG_SERVE_USER/JUNHENG_SERVE_PASSWORD is one login that sees every area.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

    /// Let anyone on this machine read, under any name, without a password (loopback only).
    #[arg(long, conflicts_with = "users")]
    pub no_auth: bool,

    /// TLS certificate (PEM); with --tls-key, clients connect with sslmode=verify-full.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM, PKCS#8).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Refuse clients that do not ask for TLS (always so when listening beyond loopback).
    #[arg(long)]
    pub require_tls: bool,

    /// Longest a client may take from connecting to being logged in, like 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub startup_timeout: Duration,

    /// Connections from one address that may be logging in at once; more are refused.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_startups_per_address: usize,

    /// Write the audit log (one JSON line per statement) to this file instead of
    /// `_audit/serve-<date>.jsonl` beside the output (`_audit/serve/<date>/` on an object store).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// Longest a statement may run (planning and sending its rows), like 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub statement_timeout: Duration,

    /// Memory the queries of one connection may use, like 512MiB, 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = size)]
    pub memory_limit: usize,

    /// Connections open at once; more are refused (SQLSTATE 53300).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_connections: usize,

    /// Statements one login may have running at once; more wait their turn within their
    /// --statement-timeout.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_statements_per_login: usize,

    /// How often to look for a newly committed run, like 1s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    pub refresh: Duration,
}

/// `serve-user` arguments.
#[derive(Debug, Args)]
pub struct ServeUserArgs {
    /// The login name.
    pub name: String,

    /// An area the login sees: a province (`23`), city (`2311`) or county (`231182`) code, or
    /// `*` for all; give it again for several.
    #[arg(long = "area", value_name = "CODE", required = true)]
    pub areas: Vec<String>,
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub published: PublishedArgs,

    /// Folder to write the pages into.
    #[arg(long, value_name = "DIR", default_value = "junheng-report")]
    pub to: PathBuf,

    /// Language of the pages: zh (Chinese) or en (English). Default: the language the run's
    /// pipeline gave in `[report] language`, else zh.
    #[arg(long, value_name = "LANG")]
    pub language: Option<junheng::report::Language>,
}

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub published: PublishedArgs,

    /// County code (every county of the output when left out).
    #[arg(long)]
    pub county: Option<String>,

    /// Year to export (each county's latest assessed year when left out).
    #[arg(long)]
    pub year: Option<i32>,

    /// Folder to write the workbooks into.
    #[arg(long, value_name = "DIR", default_value = "junheng-export")]
    pub to: PathBuf,
}

/// `explain` arguments.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Output URL or folder.
    #[arg(long, value_name = "URL", global = true)]
    pub out: Option<String>,

    /// A pipeline file whose [output] to read.
    #[arg(long, value_name = "FILE", global = true)]
    pub pipeline: Option<PathBuf>,

    /// Explain a figure of an earlier version: a run id, a version number or a moment (as
    /// `query --as-of`).
    #[arg(long, value_name = "RUN|VERSION|TIME", global = true, default_value = "latest",
          value_parser = junheng::query::AsOf::parse)]
    pub as_of: junheng::query::AsOf,

    /// What to explain.
    #[command(subcommand)]
    pub what: ExplainWhat,
}

/// The numbers `explain` can take apart.
#[derive(Debug, Subcommand)]
pub enum ExplainWhat {
    /// A difference coefficient (balance_cv): every unit's pupils, numerator, value and share.
    Cv {
        /// County code.
        #[arg(long)]
        county: String,
        /// Year.
        #[arg(long)]
        year: i32,
        /// primary or junior.
        #[arg(long)]
        stage: String,
        /// b1…b8 or q1…q7.
        #[arg(long)]
        indicator: String,
    },
    /// A retention rate: the cohort's entrants and final-grade pupils, school by school.
    Retention {
        /// County code.
        #[arg(long)]
        county: String,
        /// Year.
        #[arg(long)]
        year: i32,
        /// primary, junior or nine_year.
        #[arg(long)]
        stage: String,
    },
    /// A dropout rate: the dropouts and the enrolment the school year began with.
    Dropout {
        /// County code.
        #[arg(long)]
        county: String,
        /// Year.
        #[arg(long)]
        year: i32,
        /// primary or junior.
        #[arg(long)]
        stage: String,
    },
    /// The three legs of 三个增长 for a fiscal year, from the two years' finance rows.
    Funding {
        /// County code.
        #[arg(long)]
        county: String,
        /// Fiscal year.
        #[arg(long)]
        year: i32,
    },
    /// An item of the quality-balance assessment: its value, rule and status, every school it
    /// assessed (school-level items) and the submitted rows it is decided from.
    Item {
        /// County code.
        #[arg(long)]
        county: String,
        /// Year.
        #[arg(long)]
        year: i32,
        /// q1…q7, q_units, g1…g15, g11b, e1…e9 or s1.
        #[arg(long)]
        item: String,
        /// primary, junior or all (every stage of the item when left out).
        #[arg(long)]
        stage: Option<String>,
    },
}

/// `runs` arguments.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A pipeline file whose [output] to list.
    pub pipeline: Option<PathBuf>,

    /// Output URL or folder.
    #[arg(long, value_name = "URL")]
    pub out: Option<String>,

    /// Print the ledgers as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `vacuum` arguments.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// A pipeline file whose [output] to vacuum.
    pub pipeline: Option<PathBuf>,

    /// Output URL or folder.
    #[arg(long, value_name = "URL")]
    pub out: Option<String>,

    /// How long a superseded version stays readable (7d, 12h, 30m; 0 deletes at once).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = duration)]
    pub keep: Duration,

    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `schedule` arguments.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Pipeline files with a [schedule] cron expression.
    #[arg(required = true)]
    pub pipelines: Vec<PathBuf>,

    /// Stop after this long (2h, 30m, 10s); default: run until interrupted.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,
}

/// `generate` arguments.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate: `seed` (the example county) or `national` (a synthetic country drawn
    /// from it: counties × years in the standard layout).
    #[arg(value_parser = ["seed", "national"])]
    pub what: String,

    /// Folder to write into (created if missing; existing files are overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// national: how many counties (2 850 ≈ China's, ≈ 200 000 schools).
    #[arg(long, default_value_t = junheng_generate::national::NATIONAL_COUNTIES, value_name = "N")]
    pub counties: usize,

    /// national: how many years, the last of 2009–2018.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub years: usize,

    /// national: write one workbook per county-year ({county}/{year}.xlsx) instead of CSV files.
    #[arg(long)]
    pub xlsx: bool,

    /// national: varies every county's draw (the default gives the benchmark's data).
    #[arg(long, default_value_t = 2019, value_name = "N")]
    pub seed: u64,

    /// national: leave out the quality-balance assessment's inputs (学校经费, 县级指标, 质量监测,
    /// the new columns and the evidence files), as counties sent before 2016.
    #[arg(long)]
    pub without_assessment: bool,
}

/// A duration as people write one: `30m`, `2h`, `7d`, `1h 30m`, `90s`; a bare number is seconds
/// (`0` is no time at all).
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(seconds) = t.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(t).map_err(|e| format!("{text:?} is not a duration like 30m, 12h or 7d ({e})"))
}

/// A size as people write one: `512MiB`, `2GiB`, `1.5G`, `800M` (K, M and G alone are binary
/// units, as memory is counted), or bytes.
pub fn size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    // A bare K/M/G (or k/m/g) means KiB/MiB/GiB: memory limits are binary by habit.
    let binary = match t.char_indices().last() {
        Some((i, c)) if matches!(c.to_ascii_uppercase(), 'K' | 'M' | 'G') && !t[..i].ends_with(char::is_alphabetic) => {
            format!("{}{}iB", &t[..i], c.to_ascii_uppercase())
        }
        _ => t.to_owned(),
    };
    let bytes: bytesize::ByteSize =
        binary.parse().map_err(|e| format!("{text:?} is not a size like 512MiB or 2GiB ({e})"))?;
    usize::try_from(bytes.as_u64()).map_err(|_| format!("{text:?} is larger than this machine can address"))
}

/// `--engine`: `local`, `ballista://HOST:PORT` or `ballista-standalone`.
fn engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_people_write_them() {
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(duration("soon").is_err());
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("1.5G"), Ok(3 << 29));
        assert_eq!(size("800M"), Ok(800 << 20));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("lots").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
