//! Analysts' tools read the published output: DuckDB, pyarrow and Polars (from the venv that
//! `scripts/test` prepares, named by JUNHENG_PYTHON).

use crate::common::{junheng, repo};

/// The Python with duckdb, pyarrow and polars, or None (the test then says how to get it).
pub fn python() -> Option<String> {
    match std::env::var("JUNHENG_PYTHON") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("JUNHENG_REQUIRE_ALL").is_some() => panic!("JUNHENG_PYTHON is not set"),
        Err(_) => {
            eprintln!("skipped: set JUNHENG_PYTHON to a Python with duckdb, pyarrow and polars (scripts/test does)");
            None
        }
    }
}

#[test]
fn duckdb_pyarrow_and_polars_read_every_published_table() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (source, out) in [("fixtures/wudalianchi", "seed"), ("fixtures/bad", "bad")] {
        let out = dir.path().join(out);
        let run = junheng(&["run", "--source", source, "--out", out.to_str().unwrap()]);
        assert!(run.code <= 1, "{}", run.stderr);
        let read = std::process::Command::new(&python)
            .arg(repo().join("tests/interop/read_outputs.py"))
            .arg(&out)
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&read.stdout);
        assert!(read.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&read.stderr));
        assert!(stdout.contains("marts/county_overview"), "{stdout}");
    }
}

#[test]
fn an_independent_implementation_of_the_methodology_agrees_with_the_marts() {
    // tests/interop/independent.py recomputes CVs, composites, retention, dropout and the funding
    // legs from the published staging tables with pandas, from methodology.md's text, and
    // compares every value with the marts to 1e-9 relative (booleans exactly).
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for source in ["fixtures/wudalianchi", "fixtures/bad", "fixtures/edge"] {
        let out = dir.path().join(source.replace('/', "_"));
        let run = junheng(&["run", "--quiet", "--source", source, "--out", out.to_str().unwrap()]);
        assert!(run.code <= 1, "{source}: {}", run.stderr);
        let check = std::process::Command::new(&python)
            .arg(repo().join("tests/interop/independent.py"))
            .arg(&out)
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{source}: {stdout}\n{}", String::from_utf8_lossy(&check.stderr));
        assert!(stdout.contains("agree with the independent implementation"), "{stdout}");
    }
}
