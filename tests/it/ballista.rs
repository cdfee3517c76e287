//! The transform stage on Apache DataFusion Ballista (an in-process scheduler and executor:
//! `--engine ballista-standalone`) gives the same marts as the local engine. Built and run with
//! `--features ballista` (scripts/test does).

use crate::common::{assert_same_marts, junheng};

#[test]
fn the_marts_on_ballista_standalone_equal_the_local_engines() {
    let dir = tempfile::tempdir().unwrap();
    for source in ["fixtures/wudalianchi", "fixtures/edge"] {
        let (local, cluster) = (dir.path().join("local"), dir.path().join("ballista"));
        let _ = std::fs::remove_dir_all(&local);
        let _ = std::fs::remove_dir_all(&cluster);
        let a = junheng(&["run", "--quiet", "--source", source, "--out", local.to_str().unwrap()]);
        let b = junheng(&[
            "run",
            "--quiet",
            "--engine",
            "ballista-standalone",
            "--source",
            source,
            "--out",
            cluster.to_str().unwrap(),
        ]);
        // The edge fixture has rejected rows (exit 1): both engines publish and say so alike.
        assert_eq!(a.code, b.code, "{}\n{}", a.stderr, b.stderr);
        assert!(a.code == 0 || a.code == 1, "{}", a.stderr);
        assert_same_marts(&local, &cluster, source);
        // County by county on the cluster too (each group's parts registered as single files).
        let grouped = dir.path().join("ballista-grouped");
        let _ = std::fs::remove_dir_all(&grouped);
        let c = junheng(&[
            "run",
            "--quiet",
            "--engine",
            "ballista-standalone",
            "--transform-rows",
            "1",
            "--source",
            source,
            "--out",
            grouped.to_str().unwrap(),
        ]);
        assert_eq!(a.code, c.code, "{}", c.stderr);
        assert_same_marts(&local, &grouped, source);
        // The version records the reference tables the cluster read.
        assert!(cluster.join("current/reference/ref_thresholds/part-0.parquet").exists());
    }
}

#[test]
fn an_engine_that_cannot_be_reached_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = junheng(&[
        "run",
        "--quiet",
        "--engine",
        "ballista://127.0.0.1:1",
        "--source",
        "fixtures/edge",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("ballista") || run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
    // Nothing was committed.
    assert!(!dir.path().join("out/current").exists());
}
