//! The transform stage on Apache DataFusion Ballista (an in-process scheduler and executor:
//! `--engine ballista-standalone`) gives the same marts as the local engine. Built and run with
//! `--features ballista` (scripts/test does).

use std::path::Path;

use crate::common::junheng;

/// One row of a mart: its exact fields (and nulls) as text, and its floating-point values.
type MartRow = (Vec<String>, Vec<f64>);

/// Every row of a Parquet folder, sorted by its exact (non-floating-point) fields.
fn sorted_rows(dir: &Path) -> Vec<MartRow> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let reader = SerializedFileReader::new(std::fs::File::open(entry.unwrap().path()).unwrap()).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let (mut exact, mut floats) = (Vec::new(), Vec::new());
            for (name, field) in row.unwrap().get_column_iter() {
                match field {
                    Field::Double(x) => floats.push(*x),
                    other => exact.push(format!("{name}={other}")),
                }
            }
            rows.push((exact, floats));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal)));
    rows
}

/// Equal to the last few bits: a sum of doubles depends on the order it is added in, and the
/// engines partition rows differently (integers and text must be identical).
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

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
        let marts: Vec<String> = std::fs::read_dir(local.join("marts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(marts.len(), 13);
        for mart in &marts {
            let (ours, theirs) =
                (sorted_rows(&local.join("marts").join(mart)), sorted_rows(&cluster.join("marts").join(mart)));
            assert_eq!(ours.len(), theirs.len(), "{source} {mart}");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(a.0, b.0, "{source} {mart}");
                assert_eq!(a.1.len(), b.1.len(), "{source} {mart}");
                assert!(a.1.iter().zip(&b.1).all(|(x, y)| close(*x, *y)), "{source} {mart}: {a:?} ≠ {b:?}");
            }
        }
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
