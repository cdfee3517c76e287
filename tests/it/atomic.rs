//! A run killed at any point leaves the published state whole: `current` names a committed
//! version whose every file is there, and the next run completes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{junheng, repo};

/// The committed version `current` points to: every file its ledger lists exists, whole.
async fn assert_consistent(out: &Path) -> String {
    let target = std::fs::read_link(out.join("current")).expect("current is a symlink");
    let run_id = target.file_name().unwrap().to_string_lossy().into_owned();
    let ledger: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("runs").join(format!("{run_id}.json"))).expect("current names a committed run"),
    )
    .unwrap();
    for file in ledger["files_written"].as_array().unwrap() {
        let path = out.join("current").join(file["path"].as_str().unwrap());
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rows = parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows();
        assert_eq!(rows as u64, file["rows"].as_u64().unwrap(), "{}", path.display());
    }
    // The documented paths resolve through `current`.
    assert!(out.join("marts/county_overview/part-0.parquet").exists());
    // Every Delta table is at the latest committed run's version or, its sync cut short, at the
    // one before (the next run completes it), each with exactly that run's files.
    crate::delta::assert_output_follows(out.to_str().unwrap()).await;
    run_id
}

#[tokio::test]
async fn a_killed_run_never_leaves_a_partial_or_mixed_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = junheng(&["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let committed = assert_consistent(&out).await;
    let mut versions = vec![committed];
    // Kill a run of the seed county at many points of its life (it takes well under 2 s);
    // --force makes every run read and write everything, as a first run does.
    for step in 0..16u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_junheng"))
            .args(["run", "--quiet", "--force", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()])
            .current_dir(repo())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(step * 60));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = assert_consistent(&out).await;
        if !versions.contains(&now) {
            versions.push(now);
        }
    }
    // The next run completes and is published (taking over the lock a killed run left).
    let last = junheng(&["run", "--force", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let final_version = assert_consistent(&out).await;
    assert!(!versions.contains(&final_version) || versions.len() > 1);
    // delta-rs reads every table after the kills at the version current.json names, each table's
    // junheng transaction being the completed run's (read_delta.py checks both).
    if let Some(python) = crate::interop::python() {
        crate::delta::read_with_delta_rs(&python, out.to_str().unwrap(), &dir.path().join("dump"), true);
    }
}

/// Every committed ledger of an output folder: (version, run id), in version order.
fn committed(out: &Path) -> Vec<(u64, String)> {
    let mut all: Vec<(u64, String)> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| {
            let ledger: serde_json::Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            (ledger["version"].as_u64().unwrap(), ledger["run_id"].as_str().unwrap().to_owned())
        })
        .collect();
    all.sort();
    all
}

/// `junheng args` as a run on another machine with a clock ten minutes ahead would be: its own
/// `/etc/hostname` (bound over the real one in a user and mount namespace of its own, which
/// needs no privileges) and its wall clock moved by libfaketime — its monotonic clock, which
/// times its watch of a lock, left true.
fn on_another_host_ahead(args: &[&str], hostname: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", "mount --bind \"$0\" /etc/hostname && exec \"$@\""])
        .arg(hostname)
        .args(["faketime", "-f", "+10m", env!("CARGO_BIN_EXE_junheng")])
        .args(args)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Start run A of `source` and pause it (SIGSTOP) as soon as it holds the output's lock; its pid.
fn start_and_pause_once_locked(source: &[&str], out: &Path) -> (std::process::Child, String) {
    let a = Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(source)
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = out.join("_lock.json");
    let started = std::time::Instant::now();
    while !lock.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "run A never took the lock");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = a.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    (a, pid)
}

/// An output with one committed run (version 1), the arguments of a run of it, and the host
/// name file of the second "host" (see [`on_another_host_ahead`]).
fn an_output_and_another_host(dir: &Path) -> (std::path::PathBuf, Vec<String>, std::path::PathBuf) {
    let out = dir.join("out");
    let source: Vec<String> = ["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap(), "--force"]
        .map(str::to_owned)
        .into();
    let hostname = dir.join("hostname");
    std::fs::write(&hostname, "another-host\n").unwrap();
    let first = junheng(&source.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(first.code, 0, "{}", first.stderr);
    (out, source, hostname)
}

#[tokio::test]
async fn a_run_whose_lock_was_taken_over_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (out, source, hostname) = an_output_and_another_host(dir.path());
    let source: Vec<&str> = source.iter().map(String::as_str).collect();
    let (a, pid) = start_and_pause_once_locked(&source, &out);
    // B's clock says A's heartbeat is ten minutes old; B watches the lock for 40 s by its own
    // monotonic clock, sees it stand still (A is paused), takes it over and publishes version 2.
    let started = std::time::Instant::now();
    let b = on_another_host_ahead(&source, &hostname).output().unwrap();
    let b_stderr = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(0), "{b_stderr}");
    assert!(b_stderr.contains("taking over the lock"), "{b_stderr}");
    // junheng::publish::lock::WATCH: 40 s.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(40), "B took over after {waited:?}, before its watch ended");
    let b_run = crate::common::ledger(&out)["run_id"].as_str().unwrap().to_owned();
    // A wakes up, finishes its work, and finds before committing that the lock is no longer its
    // own: it fails, and publishes nothing.
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let a = a.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&a.stderr);
    assert_eq!(a.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("was lost") && stderr.contains("nothing of this run is published"), "{stderr}");
    // One ledger per version; the pointers name B's; the version numbers were claimed once each.
    let versions = committed(&out);
    assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 2], "{versions:?}");
    assert_eq!(versions[1].1, b_run);
    assert_eq!(assert_consistent(&out).await, b_run);
    let pointer: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("current.json")).unwrap()).unwrap();
    assert_eq!(pointer["run_id"], b_run.as_str());
    assert!(out.join("_commits/0000000001.json").exists() && out.join("_commits/0000000002.json").exists());
    assert!(!out.join("_lock.json").exists(), "B released its lock and A did not write it back");
}

#[tokio::test]
async fn a_paused_holder_that_wakes_within_the_watch_keeps_its_lock_against_a_clock_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (out, source, hostname) = an_output_and_another_host(dir.path());
    let source: Vec<&str> = source.iter().map(String::as_str).collect();
    let (a, pid) = start_and_pause_once_locked(&source, &out);
    // B starts watching A's lock (its heartbeat looks ten minutes old to B); 20 s later A wakes,
    // its heartbeat (due every 15 s) rewrites the lock at once, and B sees a live holder.
    let b = on_another_host_ahead(&source, &hostname).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(20));
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let a = a.wait_with_output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let b = b.wait_with_output().unwrap();
    let b_stderr = String::from_utf8_lossy(&b.stderr);
    // B never took the lock over. It either found A still holding it (refused, naming A) or, A
    // having finished meanwhile, took the free lock and published after A.
    assert!(!b_stderr.contains("taking over the lock"), "{b_stderr}");
    let versions = committed(&out);
    let a_run = versions[1].1.clone();
    match b.status.code() {
        Some(0) => assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 2, 3], "{versions:?}"),
        Some(2) => {
            assert!(b_stderr.contains(&format!("is being published by run {a_run}")), "{b_stderr}");
            assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 2], "{versions:?}");
        }
        other => panic!("B ended with {other:?}: {b_stderr}"),
    }
    assert_eq!(assert_consistent(&out).await, versions.last().unwrap().1);
}
