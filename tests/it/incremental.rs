//! Incremental, idempotent runs on a local output: nothing changed writes nothing; a changed
//! county-year replaces exactly its rows; a vanished input needs --allow-removals; a broken new
//! file keeps what was published; old versions are vacuumed; schedules run pipelines.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{copy_tree, junheng, ledger, published, repo, rows, value};

/// Copy the seed fixture to a scratch source folder.
fn scratch_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    copy_tree(&repo().join("fixtures/wudalianchi"), &src);
    src
}

/// Every file under a folder (not following the published symlinks) with its inode and mtime.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path, (meta.ino(), meta.mtime_nsec()));
        }
    }
    out
}

fn run(src: &Path, out: &Path, extra: &[&str]) -> crate::common::Output {
    let mut args = vec!["run", "--source", src.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(extra);
    junheng(&args)
}

#[tokio::test]
async fn an_unchanged_rerun_writes_nothing_and_a_changed_county_year_replaces_exactly_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let before = snapshot(&out);
    let again = run(&src, &out, &[]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.starts_with("nothing changed since the last run"), "{}", again.stdout);
    assert_eq!(snapshot(&out), before, "not one file written");

    // Re-submit 2018's pupils with one school's grade 1 changed from 157 to 160 pupils.
    let path = src.join("231182/2018/pupils.csv");
    let text = std::fs::read_to_string(&path).unwrap().replacen("2018,2123118001,1,157,", "2018,2123118001,1,160,", 1);
    std::fs::write(&path, text).unwrap();
    let third = run(&src, &out, &[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stdout.contains("reading 1:\n  231182/2018/pupils.csv (pupils): changed"), "{}", third.stdout);
    let ctx = published(&out).await;
    // 2018 has the new figure and not the old one; the total moved by exactly 3.
    let grade1 = rows(
        &ctx,
        "select students from staging_pupils where year = 2018 and school_code = '2123118001' and grade = 1",
    )
    .await;
    assert_eq!(grade1, vec![vec!["160"]]);
    assert_eq!(value(&ctx, "select students from county_overview where year = 2018").await, "12518");
    assert_eq!(value(&ctx, "select count(*) from staging_pupils where year = 2018").await, "250", "no old row lingers");
    // Other years' partitions were not rewritten: the new version's files are the old ones.
    let l = ledger(&out);
    let (old, new) = (l["parent_run_id"].as_str().unwrap(), l["run_id"].as_str().unwrap());
    let inode = |run: &str, rel: &str| std::fs::metadata(out.join("versions").join(run).join(rel)).unwrap().ino();
    assert_eq!(
        inode(old, "staging/pupils/year=2017/part-0.parquet"),
        inode(new, "staging/pupils/year=2017/part-0.parquet")
    );
    assert_ne!(
        inode(old, "staging/pupils/year=2018/part-0.parquet"),
        inode(new, "staging/pupils/year=2018/part-0.parquet")
    );
    let states: BTreeMap<String, String> = l["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap().to_owned(), i["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states["231182/2017/pupils.csv"], "unchanged");
    assert_eq!(states["231182/2018/pupils.csv"], "read");
    // The version still holds every row: the ledger's published counts match staging.
    // 5 230 rows of the basic tables and 153 of the assessment's (学校经费 28 + 58 + 56, 县级指标 3,
    // 质量监测 8).
    assert_eq!(l["totals"]["rows_published"], 5383);
}

#[tokio::test]
async fn a_vanished_input_is_kept_until_removals_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    std::fs::remove_file(src.join("231182/2017/survey.csv")).unwrap();
    let kept = run(&src, &out, &[]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert!(kept.stdout.contains("231182/2017/survey.csv: gone from the source; its rows are kept"), "{}", kept.stdout);
    let ctx = published(&out).await;
    assert_eq!(value(&ctx, "select count(*) from staging_survey where year = 2017").await, "1");
    let removed = run(&src, &out, &["--allow-removals"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let ctx = published(&out).await;
    assert_eq!(value(&ctx, "select count(*) from staging_survey where year = 2017").await, "0");
    assert_eq!(value(&ctx, "select count(*) from staging_survey").await, "4");
}

#[tokio::test]
async fn a_broken_resubmission_keeps_what_was_published() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    std::fs::write(src.join("231182/2016/finance.csv"), [0xFFu8, 0xFE, 0x00, 0xD8, 0x00]).unwrap();
    let broken = run(&src, &out, &[]);
    assert_eq!(broken.code, 1, "the file failed: {}", broken.stdout);
    let ctx = published(&out).await;
    // 2016's finance is still the one published before, so 三个增长 of 2016 still fails.
    assert_eq!(value(&ctx, "select three_increases_met from funding where year = 2016").await, "false");
    let l = ledger(&out);
    let input = l["inputs"].as_array().unwrap().iter().find(|i| i["path"] == "231182/2016/finance.csv").unwrap();
    assert_eq!(input["state"], "failed");
    assert_eq!(input["carried_from"], l["parent_run_id"]);
    assert!(l["warnings"].to_string().contains("231182/2016/finance.csv"), "{}", l["warnings"]);
}

#[tokio::test]
async fn a_county_years_schools_changing_rereads_its_other_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let path = src.join("231182/2015/schools.csv");
    let text = std::fs::read_to_string(&path).unwrap().replace("五大连池市第一小学", "五大连池市第一实验小学");
    std::fs::write(&path, text).unwrap();
    let dry = run(&src, &out, &["--dry-run"]);
    assert!(dry.stdout.contains("231182/2015/schools.csv (schools): changed"), "{}", dry.stdout);
    assert!(dry.stdout.contains("231182/2015/pupils.csv (pupils): its schools changed"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("231182/2016/pupils.csv"), "{}", dry.stdout);
}

#[test]
fn vacuum_deletes_superseded_and_abandoned_versions_but_never_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    for _ in 0..3 {
        assert_eq!(run(&src, &out, &["--force"]).code, 0);
    }
    std::fs::create_dir_all(out.join("versions/19990101T000000Z-dead/staging")).unwrap();
    std::fs::write(out.join("versions/19990101T000000Z-dead/staging/x.parquet"), b"left by a killed run").unwrap();
    let keep = junheng(&["vacuum", "--out", out.to_str().unwrap(), "--keep", "7d"]);
    assert_eq!(keep.code, 0, "{}", keep.stderr);
    assert!(keep.stdout.contains("deleted 0 versions"), "{}", keep.stdout);
    // A retention shorter than a minute would delete versions under running readers: refused.
    let zero = junheng(&["vacuum", "--out", out.to_str().unwrap(), "--keep", "0"]);
    assert_eq!(zero.code, 2);
    assert!(zero.stderr.contains("too short"), "{}", zero.stderr);
    // Two hours from now with a minute's retention: the two superseded versions and the dead one go.
    let location = junheng::storage::open(out.to_str().unwrap(), false).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let vacuum = |dry_run: bool| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(junheng::publish::vacuum::vacuum(&location, Duration::from_secs(60), later, dry_run)).unwrap()
    };
    assert_eq!(vacuum(true).deleted.len(), 3);
    assert_eq!(std::fs::read_dir(out.join("versions")).unwrap().count(), 4);
    // A pointer that names an older run (a reader follows it) keeps that run's version.
    let latest = ledger(&out)["run_id"].as_str().unwrap().to_owned();
    let runs_listed = junheng(&["runs", "--out", out.to_str().unwrap(), "--json"]);
    let all: serde_json::Value = serde_json::from_str(&runs_listed.stdout).unwrap();
    let first = all[0]["run_id"].as_str().unwrap().to_owned();
    let pointer = std::fs::read_to_string(out.join("current.json")).unwrap();
    std::fs::write(out.join("current.json"), pointer.replace(&latest, &first)).unwrap();
    let report = vacuum(false);
    assert_eq!(report.deleted.len(), 2, "{report:?}");
    assert!(report.kept.iter().any(|(id, why)| *id == first && why.contains("a pointer names")), "{report:?}");
    // The deleted version's ledger leaves runs/ for the archive; the pointed one's stays.
    assert_eq!(report.archived.len(), 1, "{report:?}");
    assert!(out.join("runs").join(format!("{first}.json")).is_file());
    std::fs::write(out.join("current.json"), pointer).unwrap();
    let report = vacuum(false);
    assert_eq!((report.deleted.len(), report.archived.clone()), (1, vec![first.clone()]), "{report:?}");
    let names = |folder: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(out.join(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("runs"), [format!("{latest}.json")]);
    assert_eq!(names("_archive/runs").len(), 2);
    assert_eq!(names("_history").len(), 3);
    let left: Vec<String> = std::fs::read_dir(out.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [latest]);
    assert!(out.join("marts/county_overview/part-0.parquet").exists(), "the published version is intact");
    // The history keeps every run.
    let runs = junheng(&["runs", "--out", out.to_str().unwrap()]);
    assert_eq!(
        runs.stdout.lines().filter(|l| l.starts_with("20") && l.contains("published")).count(),
        3,
        "{}",
        runs.stdout
    );
}

#[test]
fn schedules_run_each_pipeline_one_at_a_time_and_survive_failures() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    let source = |name: &str| repo().join("fixtures").join(name).display().to_string();
    let output = |name: &str| dir.path().join(name).display().to_string();
    let every_second = "[schedule]\ncron = \"* * * * * *\"\n";
    let edge_settings = "[settings]\nschool_system_by_county = { \"990202\" = \"5-4\" }\n";
    std::fs::write(
        &good,
        format!(
            "[source]\nurl = {:?}\n[output]\nurl = {:?}\n{edge_settings}{every_second}",
            source("edge"),
            output("out-good")
        ),
    )
    .unwrap();
    std::fs::write(
        &bad,
        format!("[source]\nurl = {:?}\n[output]\nurl = {:?}\n{every_second}", source("bad"), output("out-bad")),
    )
    .unwrap();
    let run = junheng(&["schedule", good.to_str().unwrap(), bad.to_str().unwrap(), "--for", "6s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines = |needle: &str| run.stdout.lines().filter(|l| l.contains(needle)).count();
    assert!(lines("good run started") >= 1 && lines("bad run started") >= 1, "{}", run.stdout);
    // One run at a time per pipeline: a tick while a run is going is skipped, not overlapped.
    assert!(lines("run started") >= 3 || lines("still running; skipping") >= 1, "{}", run.stdout);
    assert!(run.stdout.contains("good run finished: exit 0"), "{}", run.stdout);
    assert!(
        run.stdout.contains("bad run finished: exit 1"),
        "a failing pipeline is reported and the scheduler goes on:\n{}",
        run.stdout
    );
    // Unchanged inputs: every run after the first finds nothing changed and commits nothing.
    let runs = junheng(&["runs", "--out", &output("out-good")]);
    assert_eq!(runs.stdout.lines().filter(|l| l.starts_with("20")).count(), 1, "{}", runs.stdout);
    let missing = junheng(&["schedule", repo().join("pipelines/wudalianchi.toml").to_str().unwrap()]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("[schedule]"), "{}", missing.stderr);
}

#[test]
fn a_comment_only_edit_of_the_pipeline_rereads_nothing() {
    // The foreign fixture's pipeline, copied with its files: one run, then the same pipeline with
    // its comments rewritten, a blank line and a key re-quoted — nothing to read again. A changed
    // value (a null marker) is a change: everything is read again.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("foreign");
    copy_tree(&repo().join("fixtures/foreign"), &data);
    let text = std::fs::read_to_string(repo().join("fixtures/foreign.toml")).unwrap();
    let pipeline = dir.path().join("foreign.toml");
    std::fs::write(&pipeline, &text).unwrap();
    let out = dir.path().join("out");
    let first = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let before = snapshot(&out);
    let reworded =
        text.replace("# A small source", "# A very small source").replace("name = \"foreign\"", "\nname = 'foreign'");
    assert_ne!(reworded, text);
    std::fs::write(&pipeline, reworded).unwrap();
    let again = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.starts_with("nothing changed since the last run"), "{}", again.stdout);
    assert_eq!(snapshot(&out), before, "not one file written");
    std::fs::write(&pipeline, text.replace("[source]\n", "[source]\nnull_markers = [\"n/a\"]\n")).unwrap();
    let changed = junheng(&["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(changed.stdout.contains("the pipeline file changed"), "{}", changed.stdout);
}

/// Time travel: after a county re-submitted 2018 (936 → 940 pupils' families satisfied in the
/// survey), `query --as-of` reads the first version by its run id, its number or a moment
/// (`junheng runs` gives both runs' finish times), and `serve --as-of` serves it; a moment
/// before the first version, a version nobody published, a version `vacuum` deleted and a word
/// that is no moment are each refused saying why.
#[test]
fn query_and_serve_as_of_read_an_earlier_version_by_run_version_or_moment() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (scratch_source(dir.path()), dir.path().join("out"));
    assert_eq!(run(&src, &out, &[]).code, 0);
    let survey = src.join("231182/2018/survey.csv");
    std::fs::write(&survey, std::fs::read_to_string(&survey).unwrap().replace(",936\n", ",940\n")).unwrap();
    assert_eq!(run(&src, &out, &[]).code, 0);
    let listed = junheng(&["runs", "--out", out.to_str().unwrap(), "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let (first, second) = (&runs[0], &runs[1]);
    let satisfied = |as_of: &str| {
        let sql = "select satisfied from county_overview where county_code = '231182' and year = 2018";
        junheng(&["query", "--out", out.to_str().unwrap(), "--format", "csv", "--as-of", as_of, sql])
    };
    let value = |as_of: &str| {
        let answer = satisfied(as_of);
        assert_eq!(answer.code, 0, "--as-of {as_of}: {}", answer.stderr);
        answer.stdout.lines().nth(1).unwrap_or_default().to_owned()
    };
    assert_eq!(value("latest"), "940");
    assert_eq!(value("1"), "936");
    assert_eq!(value(first["run_id"].as_str().unwrap()), "936");
    assert_eq!(value(first["finished_at"].as_str().unwrap()), "936", "the moment the first run finished");
    assert_eq!(value(second["finished_at"].as_str().unwrap()), "940");
    assert_eq!(value("2"), "940");

    let before = satisfied("2000-01-01");
    assert_eq!(before.code, 3, "{}", before.stderr);
    assert!(before.stderr.contains("nothing of") && before.stderr.contains("junheng runs"), "{}", before.stderr);
    let unknown = satisfied("7");
    assert_eq!(unknown.code, 3);
    assert!(unknown.stderr.contains("no published version 7"), "{}", unknown.stderr);
    let word = satisfied("yesterday");
    assert_eq!(word.code, 2);
    assert!(word.stderr.contains("version number"), "{}", word.stderr);

    // A server pinned to the first version serves it (and `runs` still lists both runs).
    if which_psql() {
        let server = crate::serve::Server::start(&out, &["--as-of", "1"], None);
        let sql = "select (select satisfied from county_overview where county_code = '231182' and year = 2018), \
                   (select count(*) from runs)";
        assert_eq!(crate::serve::psql_ok(&server.url("junheng"), sql), "936|2");
        // Per session: a server that follows new versions, and a connection that goes back.
        let server = crate::serve::Server::start(&out, &[], None);
        let url = server.url("junheng");
        let one = "select satisfied from county_overview where county_code = '231182' and year = 2018";
        assert_eq!(crate::serve::psql_ok(&url, one), "940");
        assert_eq!(crate::serve::psql_ok(&url, &format!("SET junheng.as_of = '1'; {one}")), "SET\n936");
        let moment = first["finished_at"].as_str().unwrap();
        let back_and_forth = std::process::Command::new("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &url])
            .args(["-c", &format!("SET junheng.as_of = '{moment}'"), "-c", one])
            .args(["-c", "SET junheng.as_of = 'latest'", "-c", one])
            .output()
            .unwrap();
        let answers = String::from_utf8_lossy(&back_and_forth.stdout);
        assert_eq!(answers.split_whitespace().collect::<Vec<_>>(), ["SET", "936", "SET", "940"], "{answers}");
        let (ok, _, error) = crate::serve::psql(&url, "SET junheng.as_of = 'yesterday'", None);
        assert!(!ok && error.contains("version number"), "{error}");
    }

    // Two hours on, with a minute's retention, vacuum deletes version 1: reading it is refused.
    let location = junheng::storage::open(out.to_str().unwrap(), false).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(junheng::publish::vacuum::vacuum(&location, Duration::from_secs(60), later, false)).unwrap();
    let vacuumed = satisfied("1");
    assert_eq!(vacuumed.code, 3, "{}", vacuumed.stderr);
    assert!(vacuumed.stderr.contains("deleted by `junheng vacuum`"), "{}", vacuumed.stderr);
    assert_eq!(value("latest"), "940");
}

fn which_psql() -> bool {
    std::process::Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success())
}
