//! A run killed at any point leaves the published state whole: `current` names a committed
//! version whose every file is there, and the next run completes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{junheng, repo};

/// The committed version `current` points to: every file its ledger lists exists, whole.
fn assert_consistent(out: &Path) -> String {
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
    run_id
}

#[test]
fn a_killed_run_never_leaves_a_partial_or_mixed_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = junheng(&["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let committed = assert_consistent(&out);
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
        let now = assert_consistent(&out);
        if !versions.contains(&now) {
            versions.push(now);
        }
    }
    // The next run completes and is published (taking over the lock a killed run left).
    let last = junheng(&["run", "--force", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap()]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let final_version = assert_consistent(&out);
    assert!(!versions.contains(&final_version) || versions.len() > 1);
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

#[test]
fn a_run_whose_lock_was_taken_over_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let source = ["run", "--source", "fixtures/wudalianchi", "--out", out.to_str().unwrap(), "--force"];
    let first = junheng(&source);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Run A starts and is paused (SIGSTOP) once it holds the lock.
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
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = a.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    // Seen from another host, A's heartbeat is ten minutes old: run B takes the lock over and
    // publishes version 2. (On this host a live process keeps its lock however long it is
    // paused, so the record is made to say another host, as a run on another machine would.)
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    record["host"] = "another-host".into();
    record["heartbeat"] = (chrono::Utc::now() - chrono::Duration::seconds(600)).to_rfc3339().into();
    std::fs::write(&lock, serde_json::to_vec(&record).unwrap()).unwrap();
    let b = junheng(&source);
    assert_eq!(b.code, 0, "{}", b.stderr);
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
    assert_eq!(assert_consistent(&out), b_run);
    let pointer: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("current.json")).unwrap()).unwrap();
    assert_eq!(pointer["run_id"], b_run.as_str());
    assert!(out.join("_commits/0000000001.json").exists() && out.join("_commits/0000000002.json").exists());
    assert!(!lock.exists(), "B released its lock and A did not write it back");
}
