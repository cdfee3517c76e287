//! The Delta tables under `tables/`: delta-rs and Polars read every published table by its
//! stable path and find exactly the rows `junheng query` reads, one Delta version per run; a
//! re-submitted county-year's commit replaces only its year's files; vacuum deletes only what no
//! recent version holds; an output of the previous release gains its tables; a log another tool
//! wrote to is refused. The kill -9 tests (atomic.rs, s3.rs) check the logs with
//! [`assert_tables_follow`] after every kill.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::prelude::{ParquetReadOptions, SessionContext, cast, ident};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::Value;

use crate::common::{copy_tree, junheng, published, repo, value};
use crate::interop::python;

/// One Delta table's latest state, replayed by the test from its JSON log entries (in version
/// order), independently of junheng's own reader: the log's latest version, the version of its
/// latest junheng `txn`, and the files of the latest version with their `numRecords`.
#[derive(Debug, PartialEq)]
pub(crate) struct LogState {
    pub version: u64,
    pub txn: Option<u64>,
    pub files: BTreeMap<String, u64>,
}

/// Replay a table's log entries, the first being version 0.
pub(crate) fn replay(entries: &[Vec<u8>]) -> LogState {
    let mut state = LogState { version: 0, txn: None, files: BTreeMap::new() };
    for (version, entry) in entries.iter().enumerate() {
        state.version = version as u64;
        for line in String::from_utf8_lossy(entry).lines().filter(|l| !l.trim().is_empty()) {
            let action: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("version {version}: {e}"));
            if let Some(add) = action.get("add") {
                let stats: Value = serde_json::from_str(add["stats"].as_str().expect("stats")).unwrap();
                state.files.insert(add["path"].as_str().unwrap().to_owned(), stats["numRecords"].as_u64().unwrap());
            } else if let Some(remove) = action.get("remove") {
                state.files.remove(remove["path"].as_str().unwrap());
            } else if let Some(txn) = action.get("txn").filter(|t| t["appId"] == "junheng") {
                state.txn = txn["version"].as_u64();
            }
        }
    }
    state
}

/// The files (path in the Delta table → rows) a committed ledger gives the table `key`
/// (`staging/pupils`): each file it lists under that folder, named in the table by the run that
/// wrote it (`year=2017/<run id>-part-0.parquet`), so a file carried from run to run is one file.
pub(crate) fn ledger_files(ledger: &Value, key: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{key}/");
    let mut files = BTreeMap::new();
    for file in ledger["files_written"].as_array().unwrap() {
        let Some(rest) = file["path"].as_str().unwrap().strip_prefix(&prefix) else { continue };
        let origin = file["origin"].as_str().unwrap_or_else(|| ledger["run_id"].as_str().unwrap());
        let path = match rest.rsplit_once('/') {
            Some((folder, name)) => format!("{folder}/{origin}-{name}"),
            None => format!("{origin}-{rest}"),
        };
        files.insert(path, file["rows"].as_u64().unwrap());
    }
    files
}

/// Every table the latest committed ledger records holds, at its latest Delta version, exactly
/// the files and rows of that ledger — or, for a sync a kill cut short, of the committed ledger
/// before it; `logs` maps each table (`staging/pupils`) to its log entries. `committed` is every
/// published ledger, in version order.
pub(crate) fn assert_tables_follow(logs: &BTreeMap<String, Vec<Vec<u8>>>, committed: &[Value]) {
    let latest = committed.last().expect("a committed ledger");
    let previous = committed.len().checked_sub(2).map(|i| &committed[i]);
    let tables = latest["delta_versions"].as_object().expect("the ledger records its tables' versions");
    assert!(!tables.is_empty());
    for (key, version) in tables {
        let entries = logs.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(!entries.is_empty() || previous.is_some(), "{key}: no Delta log after the first run");
        if entries.is_empty() {
            // A table new in the latest run whose sync was cut short before reaching it.
            assert!(previous.is_some_and(|p| p["delta_versions"].get(key).is_none()), "{key}: its log is missing");
            continue;
        }
        let state = replay(entries);
        if state.txn == latest["version"].as_u64() {
            assert_eq!(Some(state.version), version.as_u64(), "{key}: the version the ledger recorded");
            assert_eq!(state.files, ledger_files(latest, key), "{key}: the latest run's files");
        } else {
            let previous = previous.unwrap_or_else(|| panic!("{key}: txn {:?} names no committed run", state.txn));
            assert_eq!(state.txn, previous["version"].as_u64(), "{key}: neither the latest run nor its predecessor");
            assert_eq!(state.files, ledger_files(previous, key), "{key}: the previous run's files");
        }
    }
}

/// Each Delta table's log entries under an output (a folder or an s3:// URL), by table key
/// (`staging/pupils`), in version order (the entries' names are zero-padded versions).
pub(crate) async fn logs(out: &str) -> BTreeMap<String, Vec<Vec<u8>>> {
    let loc = junheng::storage::open(out, false).unwrap();
    let tables = format!("{}/", loc.child("tables"));
    let mut named: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for location in listed(&loc, "tables").await {
        let path = location.to_string();
        let Some((key, entry)) = path.strip_prefix(&tables).and_then(|rest| rest.split_once("/_delta_log/")) else {
            continue;
        };
        if entry.ends_with(".json") {
            named.entry(key.to_owned()).or_default().insert(entry.to_owned(), body(&loc, &location).await);
        }
    }
    named.into_iter().map(|(key, entries)| (key, entries.into_values().collect())).collect()
}

/// Every published ledger of an output (a folder or an s3:// URL), in version order.
pub(crate) async fn committed(out: &str) -> Vec<Value> {
    let loc = junheng::storage::open(out, false).unwrap();
    let mut all = Vec::new();
    for location in listed(&loc, "runs").await.into_iter().filter(|l| l.as_ref().ends_with(".json")) {
        let ledger: Value = serde_json::from_slice(&body(&loc, &location).await).unwrap();
        if ledger["published"] == true {
            all.push(ledger);
        }
    }
    all.sort_by_key(|l| l["version"].as_u64());
    all
}

/// [`assert_tables_follow`] on an output's Delta logs and committed ledgers.
pub(crate) async fn assert_output_follows(out: &str) {
    assert_tables_follow(&logs(out).await, &committed(out).await);
}

/// Every object under a folder of the output.
async fn listed(loc: &junheng::storage::Location, folder: &str) -> Vec<object_store::path::Path> {
    loc.store.list(Some(&loc.child(folder))).map_ok(|m| m.location).try_collect().await.unwrap()
}

async fn body(loc: &junheng::storage::Location, location: &object_store::path::Path) -> Vec<u8> {
    loc.store.get(location).await.unwrap().bytes().await.unwrap().to_vec()
}

/// Read every Delta table of `out` (a folder or an s3:// URL) with delta-rs and Polars
/// (tests/interop/read_delta.py), their rows dumped under `dump`; the script's summary by table.
/// With `time_travel` each table's version 0 is read too (not after a vacuum removed its files).
pub(crate) fn read_with_delta_rs(python: &str, out: &str, dump: &Path, time_travel: bool) -> BTreeMap<String, Value> {
    let read = std::process::Command::new(python)
        .arg(repo().join("tests/interop/read_delta.py"))
        .args([out, dump.to_str().unwrap()])
        .args(if time_travel { None } else { Some("--no-time-travel") })
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&read.stdout);
    assert!(read.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&read.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Each dumped Delta table holds exactly the rows of the table `published` registers under
/// `name_of(key)`: the dump is cast to junheng's column types (delta-rs reads decimals, dates and
/// timestamps into its own Arrow types) and compared with EXCEPT ALL both ways, so every row
/// and every duplicate counts. A table `published` lacks (no published folder) must be empty.
pub(crate) async fn assert_same_rows(
    published: &SessionContext,
    dump: &Path,
    summary: &BTreeMap<String, Value>,
    name_of: impl Fn(&str) -> String,
) {
    for (key, read) in summary {
        let name = name_of(key);
        let Ok(ours) = published.table(name.as_str()).await else {
            assert_eq!(read["rows"], 0, "{key}: Delta rows for a table junheng published no folder of");
            continue;
        };
        let theirs = published
            .read_parquet(
                dump.join(format!("{}.parquet", key.replace('/', "."))).to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
        let columns: Vec<_> = ours
            .schema()
            .fields()
            .iter()
            .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
            .collect();
        let theirs = theirs.select(columns).unwrap();
        let (ours_count, theirs_count) = (ours.clone().count().await.unwrap(), theirs.clone().count().await.unwrap());
        assert_eq!(ours_count, theirs_count, "{key}: rows");
        assert_eq!(read["rows"].as_u64(), Some(ours_count as u64), "{key}");
        let missing = ours
            .clone()
            .except(theirs.clone())
            .unwrap_or_else(|e| panic!("{key}: {e} {:?}", ours.schema()))
            .count()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let extra = theirs.except(ours).unwrap().count().await.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!((missing, extra), (0, 0), "{key}: rows junheng publishes that Delta lacks, and the reverse");
    }
}

/// An output folder as the text [`logs`] and [`committed`] take.
fn out_str(out: &Path) -> &str {
    out.to_str().unwrap()
}

/// How [`published`] names a table: `staging_pupils`, `quarantine_pupils`, `balance_cv`.
fn local_name(key: &str) -> String {
    match key.split_once('/') {
        Some(("marts", name)) => name.to_owned(),
        Some((area, name)) => format!("{area}_{name}"),
        None => key.to_owned(),
    }
}

fn run(src: &Path, out: &Path, extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["run", "--quiet", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(extra);
    junheng(&args)
}

fn scratch_source(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    copy_tree(&repo().join("fixtures/wudalianchi"), &src);
    src
}

/// Re-submit 2018's pupils with one school's grade 1 changed from 157 to 160 pupils.
fn resubmit_2018_pupils(src: &Path) {
    let path = src.join("231182/2018/pupils.csv");
    let text = std::fs::read_to_string(&path).unwrap().replacen("2018,2123118001,1,157,", "2018,2123118001,1,160,", 1);
    std::fs::write(&path, text).unwrap();
}

#[tokio::test]
async fn delta_rs_and_polars_read_every_table_as_junheng_publishes_it_one_version_per_run() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let first = read_with_delta_rs(&python, out.to_str().unwrap(), &dir.path().join("dump1"), true);
    // Ten staging, ten quarantine tables and every mart, each at version 0 of its own log.
    let marts = crate::common::ledger(&out)["marts"].as_array().unwrap().len();
    assert_eq!(first.len(), 20 + marts);
    assert!(first.values().all(|t| t["version"] == 0 && t["history"] == serde_json::json!(["WRITE"])), "{first:?}");
    assert_eq!(first["staging/pupils"]["partitions"], serde_json::json!(["year"]));
    assert_eq!(first["marts/balance_cv"]["partitions"], serde_json::json!([]));
    assert_same_rows(&published(&out).await, &dir.path().join("dump1"), &first, local_name).await;
    assert_output_follows(out_str(&out)).await;

    // Unchanged: no run, no Delta version.
    let before = logs(out_str(&out)).await;
    assert!(run(&src, &out, &[]).code == 0);
    assert_eq!(logs(out_str(&out)).await, before);

    // One county-year re-submitted: every table gets the run's version; staging/pupils' commit
    // replaces 2018's file and nothing else.
    resubmit_2018_pupils(&src);
    assert_eq!(run(&src, &out, &[]).code, 0);
    let second = read_with_delta_rs(&python, out.to_str().unwrap(), &dir.path().join("dump2"), true);
    assert!(second.values().all(|t| t["version"] == 1 && t["history"].as_array().unwrap().len() == 2), "{second:?}");
    let ctx = published(&out).await;
    assert_same_rows(&ctx, &dir.path().join("dump2"), &second, local_name).await;
    assert_eq!(
        value(
            &ctx,
            "select students from staging_pupils where year = 2018 and school_code = '2123118001' and grade = 1"
        )
        .await,
        "160"
    );
    let commit =
        std::fs::read_to_string(out.join("tables/staging/pupils/_delta_log/00000000000000000001.json")).unwrap();
    let actions: Vec<Value> = commit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let paths = |kind: &str| -> Vec<String> {
        actions.iter().filter_map(|a| a.get(kind)).map(|a| a["path"].as_str().unwrap().to_owned()).collect()
    };
    let (added, removed) = (paths("add"), paths("remove"));
    assert_eq!((added.len(), removed.len()), (1, 1), "{commit}");
    assert!(added[0].starts_with("year=2018/") && removed[0].starts_with("year=2018/"), "{commit}");
    // Time travel: version 0 still reads as the first run published it.
    for (key, read) in &second {
        assert_eq!(read["rows_at_version_0"], first[key]["rows"], "{key}");
    }
    assert_output_follows(out_str(&out)).await;
}

#[tokio::test]
async fn vacuum_deletes_only_the_table_files_no_version_within_the_retention_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    for _ in 0..2 {
        assert_eq!(run(&src, &out, &["--force"]).code, 0);
    }
    // A file no commit names (a sync killed after its copy).
    let stray = out.join("tables/staging/pupils/year=2017/20000101T000000Z-dead-part-0.parquet");
    std::fs::write(&stray, b"left by a killed sync").unwrap();
    let on_disk = |out: &Path| -> usize {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(
                    |p| if p.is_dir() { count(&p) } else { usize::from(p.extension().is_some_and(|e| e == "parquet")) },
                )
                .sum()
        }
        count(&out.join("tables"))
    };
    let active: usize = logs(out_str(&out)).await.values().map(|entries| replay(entries).files.len()).sum();
    // Two forced runs: every file twice (the first run's removed by the second), and the stray one.
    assert_eq!(on_disk(&out), 2 * active + 1);
    // Within the retention period nothing goes.
    let cli = junheng(&["vacuum", "--out", out.to_str().unwrap(), "--keep", "7d"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(cli.stdout.contains("deleted 0 data files of the Delta tables"), "{}", cli.stdout);
    // Two hours on with a minute's retention: the first run's files and the stray one.
    let location = junheng::storage::open(out.to_str().unwrap(), false).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let vacuum =
        |dry_run| junheng::publish::vacuum::vacuum(&location, std::time::Duration::from_secs(60), later, dry_run);
    assert_eq!(vacuum(true).await.unwrap().table_files.len(), active + 1);
    assert_eq!(on_disk(&out), 2 * active + 1, "a dry run deletes nothing");
    let report = vacuum(false).await.unwrap();
    assert_eq!(report.table_files.len(), active + 1, "{report:?}");
    assert!(!stray.exists());
    assert_eq!(on_disk(&out), active, "what is left is exactly the latest versions' files");
    // The latest versions still read whole (each of their files is there, with its rows).
    assert_output_follows(out_str(&out)).await;
    if let Some(python) = python() {
        let read = read_with_delta_rs(&python, out.to_str().unwrap(), &dir.path().join("dump"), false);
        assert!(read.values().all(|t| t["version"] == 1), "{read:?}");
    }
}

#[tokio::test]
async fn an_output_of_the_previous_release_gains_its_tables_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let first = logs(out_str(&out)).await;
    // As the previous release left it: no tables/, and a current.json without their versions.
    std::fs::remove_dir_all(out.join("tables")).unwrap();
    let pointer: Value = serde_json::from_slice(&std::fs::read(out.join("current.json")).unwrap()).unwrap();
    let mut old = pointer.clone();
    old.as_object_mut().unwrap().remove("tables");
    std::fs::write(out.join("current.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    // The next run finds nothing changed and still writes the tables, as the first run did.
    let again = junheng(&["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.starts_with("nothing changed"), "{}", again.stdout);
    let migrated = logs(out_str(&out)).await;
    assert_eq!(migrated.keys().collect::<Vec<_>>(), first.keys().collect::<Vec<_>>());
    for (key, entries) in &migrated {
        assert_eq!(replay(entries), replay(&first[key]), "{key}");
    }
    let now: Value = serde_json::from_slice(&std::fs::read(out.join("current.json")).unwrap()).unwrap();
    assert_eq!(now["tables"], pointer["tables"]);
    assert_tables_follow(&migrated, &committed(out_str(&out)).await);
}

#[tokio::test]
async fn a_table_another_tool_committed_to_is_refused_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let before = std::fs::read_to_string(out.join("current.json")).unwrap();
    // Spark's OPTIMIZE (or any writer) commits version 1 of staging/pupils.
    let log = out.join("tables/staging/pupils/_delta_log");
    std::fs::write(
        log.join("00000000000000000001.json"),
        "{\"commitInfo\":{\"timestamp\":1,\"operation\":\"OPTIMIZE\",\"operationParameters\":{}}}\n",
    )
    .unwrap();
    resubmit_2018_pupils(&src);
    let refused = junheng(&["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("tables/staging/pupils") && refused.stderr.contains("was not written by junheng"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(out.join("current.json")).unwrap(), before, "nothing published");
    // As the message says: delete the table, and the next run starts it again.
    std::fs::remove_dir_all(out.join("tables/staging/pupils")).unwrap();
    let again = run(&src, &out, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_output_follows(out_str(&out)).await;
}
