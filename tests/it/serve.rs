//! `junheng serve` with real PostgreSQL clients: Debian's `psql`, and SQLAlchemy + psycopg +
//! pandas from the test venv (JUNHENG_PYTHON).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{copy_tree, junheng, published, repo, rows, seed_output};
use crate::interop::python;

/// A running `junheng serve`, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    addr: String,
    /// Where the audit log goes when the test does not say (not into the shared outputs).
    _audit: tempfile::TempDir,
}

impl Server {
    /// Start serving `out`; without a password or `--users`, with `--no-auth`.
    pub(crate) fn start(out: &Path, args: &[&str], password: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_junheng"));
        let audit = tempfile::tempdir().unwrap();
        cmd.args(["serve", "--out", out.to_str().unwrap(), "--listen", "127.0.0.1:0"]).args(args);
        if password.is_none() && !args.contains(&"--users") {
            cmd.arg("--no-auth");
        }
        if !args.contains(&"--audit-log") && !args.contains(&"--users") {
            cmd.arg("--audit-log").arg(audit.path().join("audit.jsonl"));
        }
        cmd.env_remove("RUST_LOG")
            .env_remove("JUNHENG_SERVE_PASSWORD")
            .env_remove("JUNHENG_SERVE_USER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = password {
            cmd.env("JUNHENG_SERVE_PASSWORD", p);
        }
        let mut child = cmd.spawn().expect("start junheng serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
        let Some(addr) = first.split("@").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_owned) else {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
            panic!("junheng serve did not start: {first}\n{stderr}");
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr, _audit: audit }
    }

    pub(crate) fn url(&self, user_password: &str) -> String {
        format!("postgresql://{user_password}@{}/junheng", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's psql, when the machine has it (.ci/run installs postgresql-client).
fn psql_available() -> bool {
    let found = Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("JUNHENG_REQUIRE_ALL").is_none(),
            "psql is not installed (apt-get install postgresql-client)"
        );
        eprintln!("skipped: psql is not installed (apt-get install postgresql-client)");
    }
    found
}

/// Run one psql command: (succeeded, stdout, stderr). Unaligned, tuples only.
pub(crate) fn psql(url: &str, sql: &str, password: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]).env("PGCONNECT_TIMEOUT", "20");
    match password {
        Some(p) => cmd.env("PGPASSWORD", p),
        None => cmd.env_remove("PGPASSWORD"),
    };
    let out = cmd.output().expect("run psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn psql_ok(url: &str, sql: &str) -> String {
    let (ok, stdout, stderr) = psql(url, sql, None);
    assert!(ok, "{sql}: {stderr}");
    stdout
}

#[tokio::test]
async fn psql_reads_every_table_as_its_parquet_holds_it() {
    if !psql_available() {
        return;
    }
    let out = seed_output();
    let server = Server::start(&out, &[], None);
    let url = server.url("junheng");
    // Every mart and staging table: the same number of rows over the wire as in its Parquet
    // (read here with DataFusion straight from the documented paths).
    let ctx = published(&out).await;
    let listed = psql_ok(&url, "select table_name from information_schema.tables order by 1");
    for mart in ["county_overview", "balance_cv", "balance_summary", "retention", "dropout", "funding"] {
        assert!(listed.lines().any(|l| l == mart), "{mart} is not listed: {listed}");
        let parquet = rows(&ctx, &format!("select count(*) from {mart}")).await[0][0].clone();
        assert_eq!(psql_ok(&url, &format!("select count(*) from {mart}")), parquet, "{mart}");
    }
    for table in ["schools", "pupils", "teachers", "facilities", "finance", "investments", "survey"] {
        let parquet = rows(&ctx, &format!("select count(*) from staging_{table}")).await[0][0].clone();
        assert_eq!(psql_ok(&url, &format!("select count(*) from {table}")), parquet, "{table}");
    }
    // Values: the report's composite CVs, a money total, codes as text.
    assert_eq!(
        psql_ok(
            &url,
            "select stage || '=' || round(basic_composite_cv, 3) from balance_summary where year = 2018 order by stage"
        ),
        "junior=0.346\nprimary=0.548"
    );
    let total =
        rows(&ctx, "select cast(sum(education_appropriation) as varchar) from staging_finance").await[0][0].clone();
    assert_eq!(psql_ok(&url, "select sum(education_appropriation) from finance"), total);
    // Types a BI tool maps: codes text, counts bigint, money numeric, rates double, years integer.
    let types = psql_ok(
        &url,
        "select table_name || '.' || column_name || ':' || data_type from information_schema.columns \
         where (table_name, column_name) in (('pupils','school_code'), ('pupils','students'), ('finance','education_appropriation'), \
         ('retention','retention_rate'), ('retention','year')) order by 1",
    );
    assert_eq!(
        types,
        "finance.education_appropriation:numeric\npupils.school_code:text\npupils.students:bigint\n\
         retention.retention_rate:double precision\nretention.year:integer"
    );
    // What clients send on connect.
    assert!(psql_ok(&url, "select version()").starts_with("PostgreSQL 16"));
    assert_eq!(psql_ok(&url, "select current_schema()"), "public");
    assert_eq!(psql_ok(&url, "show search_path"), "public");
    assert_eq!(psql_ok(&url, "select current_database()"), "junheng");
    let described = psql_ok(&url, "\\dt");
    assert!(described.contains("balance_cv") && described.contains("quarantine_pupils"), "{described}");
}

#[test]
fn sqlalchemy_and_pandas_see_what_superset_sees() {
    if !psql_available() {
        return;
    }
    let Some(python) = python() else { return };
    let out = seed_output();
    let server = Server::start(&out, &[], None);
    let check = Command::new(python)
        .arg(repo().join("tests/interop/bi_client.py"))
        .arg(format!("postgresql+psycopg://junheng@{}/junheng", server.addr))
        .arg(&out)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&check.stderr));
    assert!(stdout.contains("over the wire equals its Parquet"), "{stdout}");
}

#[test]
fn writes_ddl_and_file_access_are_refused() {
    if !psql_available() {
        return;
    }
    let out = seed_output();
    let server = Server::start(&out, &[], None);
    let url = server.url("junheng");
    let dir = tempfile::tempdir().unwrap();
    let copied = dir.path().join("copied.csv");
    for sql in [
        "insert into runs (run_id) values ('x')".to_owned(),
        "update schools set school_name = 'x'".to_owned(),
        "delete from pupils".to_owned(),
        "drop table pupils".to_owned(),
        "create table t as select 1 as a".to_owned(),
        "create view v as select 1 as a".to_owned(),
        "select 1 as a into t2".to_owned(),
        format!("copy (select * from schools) to '{}'", copied.display()),
        "CREATE EXTERNAL TABLE secrets STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
        "set datafusion.runtime.memory_limit = '100G'".to_owned(),
        // The guard reads the parsed name: quoting that DataFusion normalises does not pass.
        "SET \"datafusion\".runtime.memory_limit = '100G'".to_owned(),
        "SET \"DataFusion\".execution.batch_size = 2000000000".to_owned(),
        "SET work_mem = '1GB'".to_owned(),
    ] {
        let (ok, _, stderr) = psql(&url, &sql, None);
        assert!(!ok && stderr.contains("refused"), "{sql} was not refused: {stderr}");
    }
    // What drivers send on connecting still passes.
    assert_eq!(
        psql_ok(&url, "SET extra_float_digits = 3; SET TIME ZONE 'UTC'; SET application_name = 'bi'; select 1"),
        "SET\nSET\nSET\n1"
    );
    assert!(!copied.exists(), "COPY wrote a file");
    assert_eq!(
        psql_ok(&url, "select count(*) from information_schema.tables where table_name in ('t', 't2', 'v', 'secrets')"),
        "0"
    );
    assert_eq!(psql_ok(&url, "select count(*) from runs"), "1");
}

#[test]
fn a_statement_over_its_time_limit_is_cancelled() {
    if !psql_available() {
        return;
    }
    let server = Server::start(&seed_output(), &["--statement-timeout", "2s"], None);
    let started = Instant::now();
    let (ok, _, stderr) = psql(&server.url("junheng"), "select count(*) from generate_series(1, 20000000000)", None);
    assert!(!ok && stderr.contains("statement timeout"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "cancelled after {:?}", started.elapsed());
    // The connection limit's neighbour: the server still answers.
    assert_eq!(psql_ok(&server.url("junheng"), "select 1"), "1");
}

#[test]
fn passwords_are_required_when_set_and_before_leaving_loopback() {
    if !psql_available() {
        return;
    }
    let server = Server::start(&seed_output(), &[], Some("s3cret-password"));
    let url = server.url("junheng");
    let (ok, stdout, stderr) = psql(&url, "select count(*) from runs", Some("s3cret-password"));
    assert!(ok && stdout == "1", "{stderr}");
    let (ok, _, stderr) = psql(&url, "select 1", Some("wrong"));
    assert!(!ok && stderr.to_lowercase().contains("password"), "{stderr}");
    let (ok, _, stderr) = psql(&server.url("postgres"), "select 1", Some("s3cret-password"));
    assert!(!ok && stderr.to_lowercase().contains("password"), "another user name got in: {stderr}");
    let (ok, _, _) = psql(&url, "select 1", None);
    assert!(!ok, "no password got in");
    // No logins at all is refused, and the message says how to give them.
    let out = seed_output();
    let none = junheng(&["serve", "--out", out.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("--users") && none.stderr.contains("JUNHENG_SERVE_PASSWORD"), "{}", none.stderr);
    // --no-auth is for loopback only; any other address needs logins and TLS.
    let open = junheng(&["serve", "--out", out.to_str().unwrap(), "--listen", "0.0.0.0:0", "--no-auth"]);
    assert_eq!(open.code, 2);
    assert!(open.stderr.contains("--no-auth"), "{}", open.stderr);
    // `serve` with a password from the environment: its exit code and what it said.
    let with_password = |listen: &str, password: &str| {
        let ran = Command::new(env!("CARGO_BIN_EXE_junheng"))
            .args(["serve", "--out", out.to_str().unwrap(), "--listen", listen])
            .env("JUNHENG_SERVE_PASSWORD", password)
            .output()
            .unwrap();
        (ran.status.code(), String::from_utf8_lossy(&ran.stderr).into_owned())
    };
    let (code, stderr) = with_password("0.0.0.0:0", "s3cret-password");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("needs TLS"), "{stderr}");
    // Short passwords are refused.
    let (_, stderr) = with_password("127.0.0.1:0", "short");
    assert!(stderr.contains("at least 12 characters"), "{stderr}");
}

#[test]
fn tls_is_used_when_a_certificate_is_configured() {
    if !psql_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = Server::start(
        &seed_output(),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--require-tls"],
        Some("tls-password-1"),
    );
    // verify-full checks the certificate and the host; channel_binding=require makes libpq use
    // SCRAM-SHA-256-PLUS, which binds the login to this server's certificate.
    let url =
        format!("{}?sslmode=verify-full&sslrootcert={}&channel_binding=require", server.url("junheng"), cert.display());
    let (ok, stdout, stderr) = psql(&url, "\\conninfo", Some("tls-password-1"));
    assert!(ok && stdout.contains("SSL connection"), "{stdout}\n{stderr}");
    let (ok, stdout, _) = psql(&url, "select count(*) from runs", Some("tls-password-1"));
    assert!(ok && stdout == "1");
    // --require-tls: a client that does not ask for TLS is told so, and not let in.
    let plain = format!("{}?sslmode=disable", server.url("junheng"));
    let (ok, _, stderr) = psql(&plain, "select 1", Some("tls-password-1"));
    assert!(!ok && stderr.contains("requires TLS"), "{stderr}");
    // A certificate that cannot be read stops the server instead of serving in plain text.
    std::fs::write(&key, "not a key").unwrap();
    let bad = junheng(&[
        "serve",
        "--out",
        seed_output().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--no-auth",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    assert!(bad.stderr.contains("TLS"), "{}", bad.stderr);
}

#[test]
fn connections_beyond_the_limit_are_refused() {
    if !psql_available() {
        return;
    }
    let server = Server::start(&seed_output(), &["--max-connections", "1"], None);
    let url = server.url("junheng");
    // The first client stays connected (psql reading statements from a pipe kept open).
    let mut first = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b"select 41 + 1;\n").unwrap();
    stdin.flush().unwrap();
    let mut answer = String::new();
    BufReader::new(first.stdout.take().unwrap()).read_line(&mut answer).unwrap();
    assert_eq!(answer.trim(), "42");
    let (ok, _, stderr) = psql(&url, "select 1", None);
    assert!(!ok && stderr.contains("too many connections"), "{stderr}");
    drop(stdin);
    let _ = first.wait();
    // Once it has gone, the next one gets in.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, stdout, stderr) = psql(&url, "select 1", None);
        if ok {
            assert_eq!(stdout, "1");
            break;
        }
        assert!(Instant::now() < deadline, "{stderr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readers_during_a_commit_see_the_old_or_the_new_version_never_a_mix() {
    if !psql_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (source, out) = (dir.path().join("src"), dir.path().join("out"));
    copy_tree(&repo().join("fixtures/wudalianchi"), &source);
    let year_2018 = dir.path().join("2018");
    std::fs::rename(source.join("231182/2018"), &year_2018).unwrap();
    let first = junheng(&["run", "--quiet", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let server = Server::start(&out, &["--refresh", "0"], None);
    let url = server.url("junheng");
    // One statement reading three tables of the version: a mixed answer would pair one version's
    // pupils with the other's overview or run history.
    let sql = "select (select count(*) from pupils) || ',' || (select sum(students) from county_overview) \
               || ',' || (select max(version) from runs)";
    let old = psql_ok(&url, sql);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (url, seen, stop) = (url.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (ok, stdout, stderr) = psql(&url, sql, None);
                    assert!(ok, "a reader failed: {stderr}");
                    seen.lock().unwrap().push(stdout);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // The 2018 submission arrives; the run commits version 2 while the readers read.
    std::fs::rename(&year_2018, source.join("231182/2018")).unwrap();
    let second = junheng(&["run", "--quiet", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    // Visible to new statements without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let now = psql_ok(&url, sql);
        if now != old {
            break now;
        }
        assert!(Instant::now() < deadline, "the new version never became visible");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader panicked");
    }
    assert!(old.ends_with(",1") && new.ends_with(",2"), "{old} → {new}");
    let seen = seen.lock().unwrap();
    let mixed: Vec<&String> = seen.iter().filter(|s| **s != old && **s != new).collect();
    assert!(mixed.is_empty(), "answers from neither version: {mixed:?}");
    assert!(seen.contains(&old) && seen.contains(&new), "{} answers", seen.len());
    eprintln!("{} answers during the commit: old {old}, new {new}", seen.len());
}

/// A users-file entry made by `junheng serve-user` (the password from the environment).
fn serve_user(name: &str, areas: &[&str], password: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_junheng"));
    cmd.args(["serve-user", name]).env("JUNHENG_SERVE_PASSWORD", password);
    for area in areas {
        cmd.args(["--area", area]);
    }
    let made = cmd.output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let text = String::from_utf8(made.stdout).unwrap();
    assert!(!text.contains(password), "the plaintext password is in the users file");
    text
}

#[test]
fn each_login_sees_only_the_counties_of_its_areas_and_is_audited() {
    if !psql_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (source, out) = (dir.path().join("national"), dir.path().join("out"));
    let generated =
        junheng(&["generate", "national", "--counties", "6", "--years", "2", "--out", source.to_str().unwrap()]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let run = junheng(&["run", "--quiet", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(run.code <= 1, "{}", run.stderr);
    // The expected counts are worked out from the Parquet itself, read with DataFusion.
    let ctx = tokio::runtime::Runtime::new().unwrap().block_on(published(&out));
    let parquet = |sql: &str| {
        let ctx = ctx.clone();
        let sql = sql.to_owned();
        std::thread::spawn(move || tokio::runtime::Runtime::new().unwrap().block_on(rows(&ctx, &sql))).join().unwrap()
    };
    let counties: Vec<String> = parquet("select distinct county_code from staging_schools order by 1")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(counties.len() >= 6, "{counties:?}");
    let county = counties[0].clone();
    let province = county[..2].to_owned();
    let in_province = counties.iter().filter(|c| c.starts_with(&province)).count();
    let password = "a county's long password";
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        [
            serve_user("county", &[&county], password),
            serve_user("province", &[&province], password),
            serve_user("everyone", &["*"], password),
        ]
        .join("\n"),
    )
    .unwrap();
    let server = Server::start(&out, &["--users", users.to_str().unwrap()], None);
    let as_user = |user: &str, sql: &str| {
        let (ok, stdout, stderr) = psql(&server.url(user), sql, Some(password));
        assert!(ok, "{user}: {sql}: {stderr}");
        stdout
    };
    // Every table the whole output has: a county login counts exactly its own rows in each.
    let listed = as_user(
        "everyone",
        "select table_name from information_schema.columns where column_name = 'county_code' order by 1",
    );
    let with_county: Vec<&str> = listed.lines().collect();
    // The marts, the staging tables and their quarantine tables: more than 30 have a county_code.
    assert!(with_county.len() > 30, "{with_county:?}");
    for table in &with_county {
        // The analyst's paths name staging tables staging_<table>; marts and quarantine as served.
        let is_mart = out.join("marts").join(table).exists();
        let path_name =
            if is_mart || table.starts_with("quarantine_") { table.to_string() } else { format!("staging_{table}") };
        // A quarantine with no rows has no files, so no path to read: nothing to count.
        let on_disk = !table.starts_with("quarantine_")
            || out.join("quarantine").join(table.trim_start_matches("quarantine_")).exists();
        let theirs = if on_disk {
            parquet(&format!("select count(*) from {path_name} where county_code = '{county}'"))[0][0].clone()
        } else {
            "0".to_owned()
        };
        assert_eq!(as_user("county", &format!("select count(*) from {table}")), theirs, "{table}");
        let others = format!("select count(*) from {table} where county_code is null or county_code <> '{county}'");
        assert_eq!(as_user("county", &others), "0", "{table}");
    }
    // Joins, subqueries and unions see the same filter.
    assert_eq!(
        as_user(
            "county",
            "select count(distinct s.county_code) from pupils p join schools s on p.school_code = s.school_code"
        ),
        "1"
    );
    assert_eq!(
        as_user(
            "county",
            "select count(*) from (select county_code from pupils union all select county_code from balance_cv) t \
                           where county_code not in (select county_code from schools)"
        ),
        "0"
    );
    assert_eq!(as_user("province", "select count(distinct county_code) from schools"), in_province.to_string());
    assert_eq!(as_user("everyone", "select count(distinct county_code) from schools"), counties.len().to_string());
    // information_schema lists only what can be filtered; runs counts only the login's rows.
    let county_tables = as_user("county", "select table_name from information_schema.tables order by 1");
    let mut expected: Vec<&str> = with_county.clone();
    expected.push("runs");
    expected.sort();
    assert_eq!(county_tables.lines().collect::<Vec<_>>(), expected);
    let ledger = crate::common::ledger(&out);
    let county_rows: u64 = ledger["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["county_code"] == county.as_str())
        .map(|s| s["rows_read"].as_u64().unwrap())
        .sum();
    assert_eq!(as_user("county", "select rows_read, inputs is null from runs"), format!("{county_rows}|t"));
    assert_eq!(
        as_user("everyone", "select rows_read from runs"),
        ledger["totals"]["rows_read"].as_u64().unwrap().to_string()
    );
    // EXPLAIN (whose plans name files) is refused to a restricted login.
    let (ok, _, stderr) = psql(&server.url("county"), "explain select * from pupils", Some(password));
    assert!(!ok && stderr.contains("EXPLAIN is refused"), "{stderr}");
    // A wrong password and an unknown name fail alike, and each takes a second.
    let started = Instant::now();
    let (ok, _, wrong) = psql(&server.url("county"), "select 1", Some("not the password at all"));
    let (ok2, _, unknown) = psql(&server.url("nobody"), "select 1", Some(password));
    assert!(!ok && !ok2 && started.elapsed() >= Duration::from_secs(2), "{wrong}\n{unknown}");
    assert_eq!(wrong.replace("county", "USER"), unknown.replace("nobody", "USER"));
    // pandas through SQLAlchemy sees the same one county.
    if let Some(python) = python() {
        let script = "import sys, pandas, sqlalchemy\n\
                      engine = sqlalchemy.create_engine(sys.argv[1])\n\
                      frame = pandas.read_sql('select distinct county_code from balance_cv', engine)\n\
                      print(','.join(sorted(frame['county_code'])))\n";
        let url = format!(
            "postgresql+psycopg://county:{}@{}/junheng",
            password.replace(' ', "%20").replace('\'', "%27"),
            server.addr
        );
        let read = Command::new(python).args(["-c", script, &url]).output().unwrap();
        assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
        assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), county);
    }
    // The audit log beside the output: who, what, the version, the rows.
    drop(server);
    let audit_dir = out.join("_audit");
    let text: String =
        std::fs::read_dir(&audit_dir).unwrap().map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap()).collect();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let joined = lines
        .iter()
        .find(|l| l["user"] == "county" && l["statement"].as_str().unwrap().contains("count(distinct s.county_code)"))
        .expect("the join is in the audit log");
    assert_eq!((joined["rows"].as_u64(), joined["outcome"].as_str()), (Some(1), Some("ok")));
    assert_eq!(joined["areas"][0].as_str(), Some(county.as_str()));
    assert_eq!(joined["run_id"], ledger["run_id"]);
    let refused = lines.iter().find(|l| l["statement"] == "explain select * from pupils").unwrap();
    assert_eq!(refused["outcome"], "refused");
    assert!(lines.iter().all(|l| !l.to_string().contains(password)));
}

/// CPU time (user + system, clock ticks) of each of the server's statement threads, by thread id.
fn statement_cpu_ticks(pid: u32) -> std::collections::HashMap<String, u64> {
    let mut ticks = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        // Thread names are cut to 15 bytes: "junheng-stateme".
        if !stat[open + 1..close].starts_with("junheng-statem") {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let used = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks.insert(task.file_name().to_string_lossy().into_owned(), used);
    }
    ticks
}

/// The server's peak resident memory so far (VmHWM), in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn no_statement_takes_the_server_down_or_holds_up_another() {
    if !psql_available() {
        return;
    }
    let limits = ["--memory-limit", "64MiB", "--statement-timeout", "3s"];
    let server = Server::start(&seed_output(), &limits, None);
    let pid = server.child.id();
    // Another connection asks `select 1` every 200 ms throughout; the slowest answer is kept.
    let (stop, slowest) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Duration::ZERO)));
    let pinger = {
        let (url, stop, slowest) = (server.url("pinger"), stop.clone(), slowest.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (ok, stdout, stderr) = psql(&url, "select 1", None);
                assert!(ok && stdout == "1", "{stderr}");
                let took = started.elapsed();
                let mut slowest = slowest.lock().unwrap();
                *slowest = (*slowest).max(took);
                drop(slowest);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let url = server.url("junheng");
    for (sql, error) in [
        // Values a function would build past its cap: refused before they are built.
        ("select length(repeat('x', 1000000000))", "over this server's cap"),
        ("select length(repeat('x', 2000000000))", "over this server's cap"),
        ("select length(lpad('x', 300000000))", "over this server's cap"),
        ("select cardinality(array_repeat(1, 100000000))", "over this server's cap"),
        ("select cardinality(range(1, 100000000))", "over this server's cap"),
        // 68 million minutes, 550 MB as one list: bounded like an integer range.
        (
            "select cardinality(range(date '1970-01-01', date '2100-01-01', interval '1 minute'))",
            "over this server's cap",
        ),
        ("select length(repeat(school_code, 100000)) from pupils", "over this server's cap"),
        // An aggregate of values that are each allowed: the memory pool stops it.
        ("select length(string_agg(repeat('x', 8000), ',')) from pupils, pupils p2", "Resources exhausted"),
        // A literal as large as the values a function may not build.
        (&format!("select length(string_agg('{}', ',')) from pupils", "x".repeat(100_000)), "a literal of"),
        // A nested-loop join that does not yield: the client is answered at its timeout.
        (
            "select count(*) from generate_series(1, 40000) a join generate_series(1, 40000) b on a.value < b.value",
            "statement timeout",
        ),
        ("select count(*) from generate_series(1, 20000000000)", "statement timeout"),
    ] {
        let started = Instant::now();
        let (ok, _, stderr) = psql(&url, sql, None);
        let took = started.elapsed();
        let shown: String = sql.chars().take(80).collect();
        assert!(!ok && stderr.contains(error), "{shown}: {stderr}");
        assert!(took < Duration::from_secs(4), "{shown} took {took:?}, past its 3 s timeout and a second");
        if sql.contains(" join ") {
            // Answered is not enough: the join, which never yields, must also stop working. Its
            // runtime's threads ("junheng-statement") may use a little CPU for a moment after
            // the answer (the batch in hand); a second later, in the next second, almost none
            // (running on, its two threads would use 2 s of CPU per second).
            std::thread::sleep(Duration::from_secs(1));
            let before = statement_cpu_ticks(pid);
            std::thread::sleep(Duration::from_secs(1));
            let after = statement_cpu_ticks(pid);
            let used: u64 = after.iter().map(|(tid, t)| t - before.get(tid).copied().unwrap_or(*t)).sum();
            assert!(used < 30, "{shown}: its threads used {used} ticks (1/100 s) of CPU in the second after");
        }
    }
    stop.store(true, Ordering::Relaxed);
    pinger.join().unwrap();
    let slowest = *slowest.lock().unwrap();
    assert!(slowest < Duration::from_secs(1), "select 1 on another connection took {slowest:?}");
    let peak = peak_mib(pid);
    eprintln!("server peak RSS {peak} MiB; slowest select 1 on another connection {slowest:?}");
    // A debug server with a few connections open holds about 170–200 MiB before any query; the
    // aggregate the memory pool stops adds the most (423–529 MiB were measured).
    assert!(peak < 600, "the server's peak RSS was {peak} MiB under a 64 MiB limit");
    // One login runs 4 statements at once (the default): six from one login wait their turn
    // (unit test bounds::tests) and every one still ends by its timeout.
    let started = Instant::now();
    let greedy: Vec<_> = (0..6)
        .map(|_| {
            let url = server.url("greedy");
            std::thread::spawn(move || psql(&url, "select count(*) from generate_series(1, 20000000000)", None).2)
        })
        .collect();
    let errors: Vec<String> = greedy.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(errors.iter().all(|e| e.contains("statement timeout")), "{errors:?}");
    // Each ends by its own timeout (3 s from its start); a busy machine adds start-up time.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(psql_ok(&url, "select count(*) from runs"), "1");
}

/// Item 7 of the trust issue. Found: a prepared statement kept reading the version it was
/// prepared on (and failed once that version was removed, with the server's paths in the
/// message), and a part file deleted outside junheng silently dropped its rows. The expected
/// counts are the published Parquet's, read by path with DataFusion.
#[tokio::test]
async fn served_data_is_right_or_fails() {
    if !psql_available() {
        return;
    }
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (source, out) = (dir.path().join("src"), dir.path().join("out"));
    copy_tree(&repo().join("fixtures/wudalianchi"), &source);
    let year_2018 = dir.path().join("2018");
    std::fs::rename(source.join("231182/2018"), &year_2018).unwrap();
    let run = |source: &Path| {
        let done = junheng(&["run", "--quiet", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(done.code, 0, "{}", done.stderr);
    };
    run(&source);
    let first_run = std::fs::read_link(out.join("current")).unwrap();
    let server = Server::start(&out, &["--refresh", "0"], None);
    let url = server.url("junheng");
    let pupils = |out: &Path| {
        let out = out.to_owned();
        async move { crate::common::value(&published(&out).await, "select count(*) from staging_pupils").await }
    };
    let (v1_pupils, v1_max_year) = (pupils(&out).await, "2017");

    // A pooled connection prepares the statement on version 1 and keeps it.
    let mut client = Command::new(&python)
        .arg(repo().join("tests/interop/prepared.py"))
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python");
    let mut ask = client.stdin.take().unwrap();
    let mut answers = BufReader::new(client.stdout.take().unwrap()).lines();
    let prepared = answers.next().expect("the first answer").unwrap();
    let mut execute = || {
        writeln!(ask, "again").unwrap();
        answers.next().expect("an answer").unwrap()
    };
    assert_eq!(prepared, format!("ok {v1_pupils} {v1_max_year}"));

    // Version 2 (2018 submitted) is committed; the same prepared statement reads it.
    std::fs::rename(&year_2018, source.join("231182/2018")).unwrap();
    run(&source);
    let v2_pupils = pupils(&out).await;
    assert_ne!(v1_pupils, v2_pupils);
    assert_eq!(psql_ok(&url, "select max(version) from runs"), "2");
    assert_eq!(execute(), format!("ok {v2_pupils} 2018"), "the prepared statement stayed on version 1");

    // Version 1 removed as vacuum removes it: the statement is unaffected.
    std::fs::remove_dir_all(out.join(&first_run)).unwrap();
    assert_eq!(execute(), format!("ok {v2_pupils} 2018"));

    // A part of version 2 deleted outside junheng: every reader gets an error naming the table
    // and version, never fewer rows, and never the server's paths.
    let part = std::fs::read_link(out.join("current")).unwrap();
    let part = out.join(part).join("staging/pupils/year=2015/part-0.parquet");
    let kept = dir.path().join("kept.parquet");
    std::fs::rename(&part, &kept).unwrap();
    let root = out.to_str().unwrap();
    let failed = execute();
    assert!(
        failed.starts_with("error ") && failed.contains("table `pupils` of version 2 is missing 1 of its"),
        "{failed}"
    );
    assert!(failed.contains("year=2015/part-0.parquet") && !failed.contains(root), "{failed}");
    let (ok, _, stderr) = psql(&url, "select count(*) from pupils", None);
    assert!(!ok && stderr.contains("table `pupils` of version 2 is missing") && !stderr.contains(root), "{stderr}");
    let (ok, _, stderr) = psql(&url, "select count(*) from county_overview o join pupils p using (county_code)", None);
    assert!(!ok && stderr.contains("missing 1 of its"), "{stderr}");
    let query = junheng(&["query", "--out", root, "select count(*) from pupils"]);
    assert_ne!(query.code, 0);
    assert!(query.stderr.contains("table `pupils` of version 2 is missing 1 of its"), "{}", query.stderr);
    // Tables that are whole still answer.
    assert_eq!(psql_ok(&url, "select count(*) > 0 from schools"), "t");

    std::fs::rename(&kept, &part).unwrap();
    assert_eq!(execute(), format!("ok {v2_pupils} 2018"));
    drop(ask);
    assert!(client.wait().unwrap().success());
}

/// Bytes the server has written to its stderr so far, counted by a thread that drains it.
fn count_stderr(server: &mut Server) -> Arc<std::sync::atomic::AtomicU64> {
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut stderr = server.child.stderr.take().unwrap();
    let counter = written.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 65536];
        while let Ok(n @ 1..) = std::io::Read::read(&mut stderr, &mut buffer) {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    written
}

/// User plus system CPU time of a whole process, in clock ticks (1/100 s).
fn process_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Open `n` TCP connections to `addr` from the loopback address `from`, and send nothing.
fn idle_sockets(runtime: &tokio::runtime::Runtime, from: &str, addr: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    runtime.block_on(async {
        let mut open = Vec::new();
        for _ in 0..n {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
            open.push(socket.connect(addr.parse().unwrap()).await.unwrap());
        }
        open
    })
}

#[test]
fn idle_sockets_and_exhausted_descriptors_lock_nobody_out() {
    if !psql_available() {
        return;
    }
    let mut server = Server::start(&seed_output(), &["--startup-timeout", "2s"], None);
    let (pid, written) = (server.child.id(), count_stderr(&mut server));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // 24 sockets that never log in, from another loopback address (127.0.0.2), hold only that
    // address's 8 places (--max-startups-per-address): a login from 127.0.0.1 gets in at once.
    let idle = idle_sockets(&runtime, "127.0.0.2", &server.addr, 24);
    let started = Instant::now();
    let (ok, stdout, stderr) = psql(&server.url("junheng"), "select 1", None);
    assert!(ok && stdout == "1", "{stderr}");
    // (Not instantly: a session is built for each of the 8 before it logs in, on these 2 cores.)
    assert!(started.elapsed() < Duration::from_secs(5), "a login waited {:?} behind idle sockets", started.elapsed());
    // The server closes every one of them: 8 at a time, each after --startup-timeout (2 s) in a
    // place or waiting for one, so all 24 within three rounds and their session builds (a read
    // ends: 0 bytes or reset).
    runtime.block_on(async {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for mut socket in idle {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout_at(deadline, socket.read(&mut byte)).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "an idle socket was still open after 20 s: {read:?}");
        }
    });
    // Out of file descriptors (the server's soft limit lowered, while it runs, below the number
    // it has open — by 8, so that sockets it closes meanwhile free no place — and every accept
    // fails; 100 connections from 127.0.0.3 wait in the backlog): the accept loop backs off instead of spinning — a few ticks of CPU and a few lines of log per
    // second, where it used 100 % of a core and wrote 906 MB in 5 s.
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let limit = |soft: usize| {
        let set = Command::new("prlimit").args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")]).status();
        assert!(set.unwrap().success());
    };
    limit(open - 8);
    let (cpu_before, log_before) = (process_cpu_ticks(pid), written.load(Ordering::Relaxed));
    let flood = idle_sockets(&runtime, "127.0.0.3", &server.addr, 100);
    std::thread::sleep(Duration::from_secs(3));
    let cpu = process_cpu_ticks(pid) - cpu_before;
    let log = written.load(Ordering::Relaxed) - log_before;
    assert!(cpu < 30, "the server used {cpu} ticks of CPU in 3 s with no descriptors left");
    assert!(log < 100_000, "the server wrote {log} bytes of log in 3 s with no descriptors left");
    // Descriptors again, the flood gone: logins work again. The backlog's 100 closed connections
    // are accepted first, 8 sessions built at a time; on a loaded machine a login may meanwhile
    // miss the 2 s --startup-timeout, so it is tried again for up to 20 s.
    limit(1024);
    drop(flood);
    let started = Instant::now();
    loop {
        let (ok, stdout, stderr) = psql(&server.url("junheng"), "select 1", None);
        if ok && stdout == "1" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no login within 20 s after the flood: {stderr}");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("no descriptors left: {cpu} ticks of CPU and {log} bytes of log in 3 s");
}

#[test]
fn a_lagging_pointer_is_served_past_without_reopening_the_output() {
    if !psql_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = ["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap(), "--force"];
    assert_eq!(junheng(&run).code, 0);
    let first_pointer = std::fs::read(out.join("current.json")).unwrap();
    assert_eq!(junheng(&run).code, 0);
    // As a run stopped between its commit and its pointer leaves it: current.json names version 1.
    std::fs::write(out.join("current.json"), first_pointer).unwrap();
    let mut server = Server::start(&out, &["--refresh", "100ms"], None);
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = server.child.stderr.take().unwrap();
    let kept = log.clone();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        kept.lock().unwrap().push_str(&text);
    });
    // Statements every 150 ms for 3 s, each past a refresh: the pointer is read each time, but
    // the output is opened again only if the pointer changes — it does not.
    for _ in 0..20 {
        let (ok, stdout, stderr) = psql(&server.url("junheng"), "select 1", None);
        assert!(ok && stdout == "1", "{stderr}");
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(server);
    drain.join().unwrap();
    let log = log.lock().unwrap();
    // The lagging pointer is reported once, when the output is first opened (before, each
    // refresh opened the output again under a lock shared by every statement).
    assert_eq!(log.matches("current.json names another run").count(), 1, "{log}");
}
