//! Object storage end to end on a real S3-compatible server (moto, started by `scripts/test`
//! on 127.0.0.1; its endpoint is in JUNHENG_S3_ENDPOINT): s3 → s3 runs, idempotent reruns,
//! replacing one county-year, put-if-absent, `kill -9` at many points, a server that stalls and
//! one that goes away.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::common::{junheng, published, repo, rows};

/// The S3 endpoint of the test server, or None (the test then says how to get one).
pub(crate) fn endpoint() -> Option<String> {
    match std::env::var("JUNHENG_S3_ENDPOINT") {
        Ok(e) => Some(e),
        Err(_) if std::env::var_os("JUNHENG_REQUIRE_ALL").is_some() => panic!("JUNHENG_S3_ENDPOINT is not set"),
        Err(_) => {
            eprintln!("skipped: no S3 server (scripts/test starts one: eval \"$(scripts/s3-server start)\")");
            None
        }
    }
}

/// One unsigned HTTP/1.1 request with no body to a local server; its whole response.
fn plain_request(endpoint: &str, method: &str, path: &str) -> String {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Create a bucket with a plain S3 `PUT /bucket` (moto accepts it without a signature).
fn create_bucket(endpoint: &str, bucket: &str) {
    let response = plain_request(endpoint, "PUT", &format!("/{bucket}"));
    assert!(response.starts_with("HTTP/1.1 200") || response.contains("BucketAlreadyOwnedByYou"), "{response}");
}

/// What an S3 output's `current.json` says: the committed run, its version and its prefix.
pub(crate) async fn pointer(loc: &junheng::storage::Location) -> serde_json::Value {
    let bytes = loc.store.get(&loc.child("current.json")).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A fresh bucket for one test.
pub(crate) fn bucket(endpoint: &str, name: &str) -> String {
    let bucket = format!("{name}-{}", std::process::id());
    create_bucket(endpoint, &bucket);
    bucket
}

/// Upload a local folder under an S3 URL.
async fn upload(local: &Path, url: &str) {
    let target = junheng::storage::open(url, false).unwrap();
    for entry in walk(local) {
        let relative = entry.strip_prefix(local).unwrap().to_string_lossy().replace('\\', "/");
        target.store.put(&target.child(&relative), PutPayload::from(std::fs::read(&entry).unwrap())).await.unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out.sort();
    out
}

/// Every object under a URL with its ETag.
async fn objects(url: &str) -> Vec<(String, Option<String>)> {
    let loc = junheng::storage::open(url, false).unwrap();
    let mut all: Vec<(String, Option<String>)> =
        loc.store.list(Some(&loc.prefix)).map_ok(|m| (m.location.to_string(), m.e_tag)).try_collect().await.unwrap();
    all.sort();
    all
}

/// The marts of the committed version of an S3 output, read as an analyst would: through
/// `current.json` to `versions/<run_id>/`.
async fn published_s3(url: &str) -> SessionContext {
    let loc = junheng::storage::open(url, false).unwrap();
    let pointer = pointer(&loc).await;
    let prefix = pointer["prefix"].as_str().unwrap().to_owned();
    let ctx = SessionContext::new();
    let bucket_url =
        url::Url::parse(&format!("s3://{}", url.trim_start_matches("s3://").split('/').next().unwrap())).unwrap();
    ctx.runtime_env().register_object_store(&bucket_url, loc.store.clone());
    let ledger: serde_json::Value = serde_json::from_slice(
        &loc.store
            .get(&loc.child(&format!("runs/{}.json", pointer["run_id"].as_str().unwrap())))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    for mart in ledger["marts"].as_array().unwrap() {
        let name = mart["name"].as_str().unwrap();
        ctx.register_parquet(name, &format!("{url}/{prefix}/marts/{name}/"), ParquetReadOptions::default())
            .await
            .unwrap();
    }
    ctx
}

/// The ledger of the committed run of an S3 output.
async fn ledger_s3(url: &str) -> serde_json::Value {
    let loc = junheng::storage::open(url, false).unwrap();
    let pointer = pointer(&loc).await;
    let run = format!("runs/{}.json", pointer["run_id"].as_str().unwrap());
    serde_json::from_slice(&loc.store.get(&loc.child(&run)).await.unwrap().bytes().await.unwrap()).unwrap()
}

async fn assert_same(a: &SessionContext, b: &SessionContext, marts: &[&str]) {
    for mart in marts {
        let (x, y) = (rows(a, &format!("select * from {mart}")).await, rows(b, &format!("select * from {mart}")).await);
        assert_eq!(x.len(), y.len(), "{mart}");
        for (l, r) in x.iter().zip(&y) {
            let same = l.iter().zip(r).all(|(p, q)| p == q || matches!((p.parse::<f64>(), q.parse::<f64>()), (Ok(p), Ok(q)) if (p - q).abs() <= 1e-12 * p.abs().max(q.abs())));
            assert!(same, "{mart}:\n{l:?}\n{r:?}");
        }
    }
}

const MARTS: &[&str] = &[
    "county_overview",
    "enrolment_trend",
    "balance_cv",
    "balance_summary",
    "retention",
    "dropout",
    "funding",
    "quality_assessment",
    "school_conditions",
];

#[tokio::test]
async fn s3_to_s3_runs_are_incremental_and_equal_to_local_runs() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint, "junheng-e2e");
    let (src, out) = (format!("s3://{bucket}/submissions"), format!("s3://{bucket}/published"));
    upload(&repo().join("fixtures/wudalianchi"), &src).await;
    let run = junheng(&["run", "--source", &src, "--out", &out]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The same county, run locally, publishes the same marts.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("out");
    assert_eq!(junheng(&["run", "--source", "fixtures/wudalianchi", "--out", local.to_str().unwrap()]).code, 0);
    assert_same(&published_s3(&out).await, &published(&local).await, MARTS).await;
    assert_delta_reads_as_published(&out, &dir.path().join("delta1"), 0).await;
    // Evidence on S3: every file with the SHA-256 the local run found (the files are the same).
    let evidence = |ledger: &serde_json::Value| {
        let mut files: Vec<(String, String)> = ledger["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].as_str().unwrap().to_owned(), e["sha256"].as_str().unwrap().to_owned()))
            .collect();
        files.sort();
        files
    };
    let on_s3 = evidence(&ledger_s3(&out).await);
    // 2017's g1 file and 2018's seven (g1 ×2, g2, g10, e3, e5, e7).
    assert_eq!(on_s3.len(), 8, "the example's eight evidence files");
    assert_eq!(on_s3, evidence(&crate::common::ledger(&local)));
    // The application workbook is written from an S3 output as from a local one.
    let apply = dir.path().join("apply");
    let export = junheng(&["export", "--out", &out, "--county", "231182", "--to", apply.to_str().unwrap()]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert!(apply.join("231182_2018_优质均衡申报表.xlsx").exists(), "{}", export.stdout);

    // Again, unchanged: nothing changed, and not one object is created or rewritten.
    let before = objects(&format!("s3://{bucket}")).await;
    let again = junheng(&["run", "--source", &src, "--out", &out]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    assert_eq!(objects(&format!("s3://{bucket}")).await, before);

    // One county-year re-submitted: only it is read; its rows are replaced, nothing else moves.
    let survey = std::fs::read_to_string(repo().join("fixtures/wudalianchi/231182/2018/survey.csv"))
        .unwrap()
        .replace(",936\n", ",940\n");
    let loc = junheng::storage::open(&src, false).unwrap();
    loc.store.put(&loc.child("231182/2018/survey.csv"), PutPayload::from(survey.into_bytes())).await.unwrap();
    let dry = junheng(&["run", "--dry-run", "--source", &src, "--out", &out]);
    assert!(
        dry.stdout.contains("231182/2018/survey.csv (survey): changed") && dry.stdout.contains("reading 1"),
        "{}",
        dry.stdout
    );
    assert_eq!(objects(&format!("s3://{bucket}")).await.len(), before.len(), "--dry-run writes nothing");
    // A replaced evidence document is a change too (the plan lists it, the ledger hashes it anew).
    let g2 = "231182/2018/evidence/g2-办学标准/五大连池市义务教育学校办学标准.txt";
    loc.store.put(&loc.child(g2), PutPayload::from(&b"revised standard"[..])).await.unwrap();
    let third = junheng(&["run", "--source", &src, "--out", &out]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stdout.contains(&format!("{g2}: changed")), "{}", third.stdout);
    let revised =
        ledger_s3(&out).await["evidence"].as_array().unwrap().iter().find(|e| e["path"] == g2).unwrap().clone();
    use sha2::Digest;
    assert_eq!(revised["sha256"], hex::encode(sha2::Sha256::digest(b"revised standard")));
    let ctx = published_s3(&out).await;
    assert_eq!(crate::common::value(&ctx, "select satisfied from county_overview where year = 2018").await, "940");
    assert_eq!(crate::common::value(&ctx, "select satisfied from county_overview where year = 2017").await, "911");
    assert_same(&ctx, &published(&local).await, &["balance_cv", "retention", "funding"]).await;
    // The re-submission made the tables' second versions (the unchanged rerun made none).
    assert_delta_reads_as_published(&out, &dir.path().join("delta2"), 1).await;
}

/// delta-rs and Polars read every Delta table of the S3 output `out` by its stable path at
/// `version` (one per run that published), and each table's rows are exactly those `junheng
/// query` answers for it (`select *`, written as Parquet); every table follows the committed ledger.
async fn assert_delta_reads_as_published(out: &str, dump: &Path, version: u64) {
    let Some(python) = crate::interop::python() else { return };
    let read = crate::delta::read_with_delta_rs(&python, out, dump, true);
    assert!(read.values().all(|t| t["version"] == version), "{read:?}");
    assert!(read.values().all(|t| t["history"].as_array().unwrap().len() as u64 == version + 1), "{read:?}");
    assert!(read.keys().filter(|k| k.starts_with("marts/")).count() >= MARTS.len(), "{read:?}");
    // What junheng query reads: staging tables by their own name, quarantine_<table>, marts.
    let query_name = |key: &str| match key.split_once('/') {
        Some(("staging", name)) | Some(("marts", name)) => name.to_owned(),
        _ => key.replace('/', "_"),
    };
    let answered = SessionContext::new();
    for key in read.keys() {
        let file = dump.join(format!("query.{}.parquet", key.replace('/', ".")));
        let sql = format!("select * from {}", query_name(key));
        let query = junheng(&["query", "--out", out, "--format", "parquet", "--output", file.to_str().unwrap(), &sql]);
        assert_eq!(query.code, 0, "{key}: {}", query.stderr);
        answered
            .register_parquet(query_name(key), file.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
    }
    crate::delta::assert_same_rows(&answered, dump, &read, query_name).await;
    crate::delta::assert_output_follows(out).await;
}

#[tokio::test]
async fn the_server_enforces_put_if_absent() {
    // The commit protocol relies on it: the second create of the same ledger must fail.
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint, "junheng-cas");
    let loc = junheng::storage::open(&format!("s3://{bucket}/x"), false).unwrap();
    let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    loc.store.put_opts(&loc.child("runs/a.json"), PutPayload::from_static(b"1"), create()).await.unwrap();
    let second = loc.store.put_opts(&loc.child("runs/a.json"), PutPayload::from_static(b"2"), create()).await;
    assert!(matches!(second, Err(object_store::Error::AlreadyExists { .. })), "{second:?}");
}

/// The ledger `current.json` names must list only files that exist, with their row counts, and
/// every Delta table must hold the latest committed run (or, its sync cut short, the one before).
async fn assert_committed_state_whole(out: &str) -> String {
    let loc = junheng::storage::open(out, false).unwrap();
    let pointer = pointer(&loc).await;
    let run_id = pointer["run_id"].as_str().unwrap().to_owned();
    let ledger =
        loc.store.get(&loc.child(&format!("runs/{run_id}.json"))).await.expect("current.json names a committed run");
    let ledger: serde_json::Value = serde_json::from_slice(&ledger.bytes().await.unwrap()).unwrap();
    for file in ledger["files_written"].as_array().unwrap() {
        let path = loc.child(&format!("versions/{run_id}/{}", file["path"].as_str().unwrap()));
        let meta = loc.store.head(&path).await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(meta.size > 0);
    }
    crate::delta::assert_output_follows(out).await;
    run_id
}

#[tokio::test]
async fn kill_9_at_many_points_on_s3_never_leaves_a_partial_state() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint, "junheng-kill");
    let (src, out) = (format!("s3://{bucket}/submissions"), format!("s3://{bucket}/published"));
    upload(&repo().join("fixtures/wudalianchi"), &src).await;
    assert_eq!(junheng(&["run", "--source", &src, "--out", &out]).code, 0);
    assert_committed_state_whole(&out).await;
    for step in 0..12u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_junheng"))
            .args(["run", "--quiet", "--force", "--wait", "30s", "--source", &src, "--out", &out])
            .current_dir(repo())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + step * 150));
        let _ = child.kill();
        let _ = child.wait();
        assert_committed_state_whole(&out).await;
    }
    // The next run takes over the dead run's lock and completes.
    let last = junheng(&["run", "--force", "--wait", "2m", "--source", &src, "--out", &out]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert_committed_state_whole(&out).await;
    if let Some(python) = crate::interop::python() {
        let dump = tempfile::tempdir().unwrap();
        crate::delta::read_with_delta_rs(&python, &out, dump.path(), true);
    }
}

/// A dedicated S3 server for a test that stops or stalls it.
struct Server {
    child: std::process::Child,
    endpoint: String,
}

impl Server {
    fn start() -> Option<Server> {
        let exe = std::env::var("JUNHENG_MOTO_SERVER").ok()?;
        let port = crate::common::free_port();
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::common::wait_for_port(port, "the S3 server");
        Some(Server { child, endpoint: format!("http://127.0.0.1:{port}") })
    }

    fn signal(&self, signal: &str) {
        Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn junheng_at(endpoint: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(args)
        .current_dir(repo())
        .env("AWS_ENDPOINT", endpoint)
        .env("JUNHENG_STORE_RETRIES", "3")
        .env("JUNHENG_STORE_RETRY_SECONDS", "8")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_stalled_server_is_waited_for_and_a_vanished_one_fails_the_run_cleanly() {
    if endpoint().is_none() {
        return;
    }
    let Some(server) = Server::start() else { panic!("JUNHENG_MOTO_SERVER is not set") };
    create_bucket(&server.endpoint, "stall");
    // Upload through this server (the shared AWS_ENDPOINT points elsewhere).
    let options = junheng::storage::StorageOptions { endpoint: Some(server.endpoint.clone()), ..Default::default() };
    let src = junheng::storage::open_with("s3://stall/submissions", false, &options).unwrap();
    for entry in walk(&repo().join("fixtures/wudalianchi")) {
        let relative =
            entry.strip_prefix(repo().join("fixtures/wudalianchi")).unwrap().to_string_lossy().replace('\\', "/");
        src.store.put(&src.child(&relative), PutPayload::from(std::fs::read(&entry).unwrap())).await.unwrap();
    }
    // Stalled for two seconds mid-run (SIGSTOP, SIGCONT): requests wait, the run completes.
    let child =
        junheng_at(&server.endpoint, &["run", "--source", "s3://stall/submissions", "--out", "s3://stall/published"]);
    std::thread::sleep(Duration::from_millis(700));
    server.signal("-STOP");
    std::thread::sleep(Duration::from_secs(2));
    server.signal("-CONT");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    // Gone for good mid-run: the run fails with exit 2 and a message naming the store, in
    // bounded time, without a panic; nothing new is committed.
    let started = std::time::Instant::now();
    let child = junheng_at(
        &server.endpoint,
        &["run", "--force", "--source", "s3://stall/submissions", "--out", "s3://stall/published"],
    );
    std::thread::sleep(Duration::from_millis(600));
    drop(server);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error:") && stderr.contains("127.0.0.1") && !stderr.contains("panicked"), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(!error.contains("unlock"), "the run's own error is reported, not the lock's: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());
}

/// `tests/interop/oss_proxy.py` in front of the test server, in one of its modes (`oss`,
/// `neither`, `ignore`: see the script).
struct ConditionalProxy {
    child: std::process::Child,
    endpoint: String,
}

impl ConditionalProxy {
    fn start(python: &str, upstream: &str, mode: &str) -> ConditionalProxy {
        let mut child = Command::new(python)
            .args([repo().join("tests/interop/oss_proxy.py").to_str().unwrap(), upstream, mode])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut port).unwrap();
        ConditionalProxy { child, endpoint: format!("http://127.0.0.1:{}", port.trim()) }
    }

    /// How many conditional PUTs of each kind the proxy saw.
    fn stats(&self) -> serde_json::Value {
        let response = plain_request(&self.endpoint, "GET", "/stats");
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    }
}

impl Drop for ConditionalProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store like Alibaba Cloud OSS answers `If-None-Match: *` with 501 and offers
/// `x-oss-forbid-overwrite`: runs lock and commit with that header; a store that offers neither
/// (or ignores both) is refused before anything is published.
#[tokio::test]
async fn an_oss_like_store_commits_with_its_header_and_one_without_either_is_refused() {
    let Some(endpoint) = endpoint() else { return };
    let Some(python) = crate::interop::python() else { return };
    let bucket = bucket(&endpoint, "junheng-oss");
    let src = format!("s3://{bucket}/submissions");
    upload(&repo().join("fixtures/wudalianchi"), &src).await;
    let run = |proxy: &ConditionalProxy, out: &str, extra: &[&str]| {
        let mut args = vec!["run", "--source", &src, "--out", out];
        args.extend(extra);
        let output = Command::new(env!("CARGO_BIN_EXE_junheng"))
            .args(&args)
            .current_dir(repo())
            .env("AWS_ENDPOINT", &proxy.endpoint)
            .env("RUST_LOG", "junheng=info")
            .output()
            .unwrap();
        (
            output.status.code(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };

    let oss = ConditionalProxy::start(&python, &endpoint, "oss");
    let out = format!("s3://{bucket}/oss");
    let (code, log) = run(&oss, &out, &[]);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("x-oss-forbid-overwrite: true") && log.contains("501"), "the way is logged: {log}");
    assert_committed_state_whole(&out).await;
    // Another version on top: the lock and the second ledger are created with the header too.
    let (code, log) = run(&oss, &out, &["--force"]);
    assert_eq!(code, Some(0), "{log}");
    let runs = objects(&format!("{out}/runs")).await;
    assert_eq!(runs.iter().filter(|(k, _)| k.ends_with(".json")).count(), 2, "{runs:?}");
    let stats = oss.stats();
    // Per run: the probe's two creates, the lock, the ledger; the probe's refused create each time.
    assert!(stats["forbid_overwrite"].as_u64().unwrap() >= 8, "{stats}");
    assert!(stats["forbid_overwrite_refused"].as_u64().unwrap() >= 2, "{stats}");
    assert!(objects(&format!("{out}/_junheng/probe")).await.is_empty(), "probe objects are removed");
    // Through the store junheng opens, a create is exclusive and a held lock refuses another run.
    let options = junheng::storage::StorageOptions { endpoint: Some(oss.endpoint.clone()), ..Default::default() };
    let through = junheng::storage::open_with(&out, false, &options).unwrap();
    let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    let marker = through.child("_junheng/created-once");
    through.store.put_opts(&marker, PutPayload::from_static(b"1"), create()).await.unwrap();
    let again = through.store.put_opts(&marker, PutPayload::from_static(b"2"), create()).await;
    assert!(matches!(again, Err(object_store::Error::AlreadyExists { .. })), "{again:?}");
    through.store.delete(&marker).await.unwrap();
    let held = junheng::publish::lock::acquire(&through, "holder-in-test", None).await.unwrap();
    let (code, log) = run(&oss, &out, &["--force"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("holder-in-test") && log.contains("--wait"), "{log}");
    held.release().await.unwrap();

    // Neither way (501 to If-None-Match, the OSS header ignored), or a store that ignores
    // If-None-Match: refused with what the store did, exit 2, nothing published.
    for (mode, said) in [("neither", "501 NotImplemented"), ("ignore", "overwrote an object that existed")] {
        let proxy = ConditionalProxy::start(&python, &endpoint, mode);
        let out = format!("s3://{bucket}/{mode}");
        let (code, log) = run(&proxy, &out, &[]);
        assert_eq!(code, Some(2), "{mode}: {log}");
        assert!(log.contains("cannot create an object only if none exists") && log.contains(said), "{mode}: {log}");
        assert!(!log.contains("panicked"), "{log}");
        assert_eq!(objects(&out).await, vec![], "{mode}: nothing is left under the output");
    }
}
