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
