//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// A TCP port of 127.0.0.1 free now (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Wait up to 30 s for a server a test started to listen on `port` of 127.0.0.1.
pub fn wait_for_port(port: u16, what: &str) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} did not listen on port {port} within 30 s");
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a run of the binary printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the real `junheng` binary from the repository root.
pub fn junheng(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .expect("run junheng");
    Output {
        // A process ended by a signal: minus the signal's number (-9 for SIGKILL).
        code: out
            .status
            .code()
            .unwrap_or_else(|| -std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(1)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Register every published table of an output folder the way an analyst reads it: through
/// the documented paths (`<out>/staging/<table>/year=…`, `<out>/marts/<mart>/`).
pub async fn published(out: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    for area in ["staging", "quarantine"] {
        let dir = out.join(area);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.unwrap();
            let name = format!("{area}_{}", entry.file_name().to_string_lossy());
            let options = ParquetReadOptions::default().table_partition_cols(vec![("year".into(), DataType::Int32)]);
            ctx.register_parquet(&name, entry.path().to_str().unwrap(), options).await.unwrap();
        }
    }
    for entry in std::fs::read_dir(out.join("marts")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        ctx.register_parquet(&name, entry.path().to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    }
    ctx
}

/// Rows of a query as text.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    junheng::transform::query_text(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The single value of a query, as text.
pub async fn value(ctx: &SessionContext, sql: &str) -> String {
    let r = rows(ctx, sql).await;
    assert_eq!(r.len(), 1, "{sql} returned {} rows", r.len());
    r[0][0].clone()
}

/// The latest run ledger of an output folder.
pub fn ledger(out: &Path) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    runs.sort();
    serde_json::from_slice(&std::fs::read(runs.last().expect("a ledger")).unwrap()).unwrap()
}

/// Run `junheng run` once per test binary and share the output folder (read-only for tests).
pub fn shared_output(key: &str, args: &[&str]) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static OUTPUTS: OnceLock<Mutex<HashMap<String, (tempfile::TempDir, PathBuf)>>> = OnceLock::new();
    let mut outputs = OUTPUTS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let entry = outputs.entry(key.to_owned()).or_insert_with(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        let run = junheng(&all);
        assert!(run.code <= 1, "{key}: {}\n{}", run.stdout, run.stderr);
        (dir, out)
    });
    entry.1.clone()
}

/// The seed county's published output (pipelines/wudalianchi.toml), shared.
pub fn seed_output() -> PathBuf {
    shared_output("seed", &["run", "pipelines/wudalianchi.toml"])
}

/// The edge-case fixture's published output (fixtures/edge.toml), shared.
pub fn edge_output() -> PathBuf {
    shared_output("edge", &["run", "fixtures/edge.toml"])
}

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

/// Every mart of the SQL project holds the same rows in two outputs (in any order and any number
/// of parts): text and integers identical, doubles to the last few bits.
pub fn assert_same_marts(ours: &Path, theirs: &Path, what: &str) {
    assert_same_marts_except(ours, theirs, &[], what);
}

/// As [`assert_same_marts`], leaving out the marts named in `except`.
pub fn assert_same_marts_except(ours: &Path, theirs: &Path, except: &[&str], what: &str) {
    let marts: Vec<String> = std::fs::read_dir(ours.join("marts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let project = junheng::transform::project(&SessionContext::new()).unwrap();
    let expected = project.iter().filter(|m| m.layer == junheng::transform::Layer::Marts).count();
    assert_eq!(marts.len(), expected, "{what}");
    for mart in marts.iter().filter(|m| !except.contains(&m.as_str())) {
        let (a_rows, b_rows) =
            (sorted_rows(&ours.join("marts").join(mart)), sorted_rows(&theirs.join("marts").join(mart)));
        assert_eq!(a_rows.len(), b_rows.len(), "{what} {mart}");
        for (a, b) in a_rows.iter().zip(&b_rows) {
            assert_eq!(a.0, b.0, "{what} {mart}");
            assert_eq!(a.1.len(), b.1.len(), "{what} {mart}");
            assert!(a.1.iter().zip(&b.1).all(|(x, y)| close(*x, *y)), "{what} {mart}: {a:?} ≠ {b:?}");
        }
    }
}

/// Copy a folder tree (a link is copied as the file it points to).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
