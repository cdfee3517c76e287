//! The SQL project's files, embedded when junheng is built (so it runs its models from
//! anywhere), and the reference data among them that more than one stage reads: which
//! thresholds and standards exist (`sql/reference/thresholds.csv`), so that a pipeline file's
//! `[standards]` can be checked against them when it is read.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// Whether two texts are equal, at compile time.
const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// A build that would embed another checkout's list of sql/ files fails here instead of
// producing a binary that misses models (see build.rs).
const _: () = assert!(
    same_text(SQL_LISTED_FOR, env!("CARGO_MANIFEST_DIR")),
    "sql/ was listed for another checkout sharing this target folder: `touch build.rs` and build again"
);

/// The text of a file under `sql/` (`reference/thresholds.csv`).
pub fn file(path: &str) -> Result<&'static str> {
    SQL_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .ok_or_else(|| Error::SqlProject(format!("{path} is missing")))
}

/// The ids of the quality-balance items judged from documents (`g1`, `g10`, `e3` …), the ones an
/// evidence folder may name (`sql/reference/assessment_items.csv`, kind `evidence`), longest first.
pub fn evidence_items() -> Result<&'static [String]> {
    static IDS: OnceLock<std::result::Result<Vec<String>, String>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let text = file("reference/assessment_items.csv").map_err(|e| e.to_string())?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| e.to_string())?.clone();
        let column =
            |name: &str| headers.iter().position(|h| h == name).ok_or(format!("assessment_items.csv has no {name}"));
        let (item, kind) = (column("item")?, column("kind")?);
        let mut ids = Vec::new();
        for record in reader.records() {
            let r = record.map_err(|e| e.to_string())?;
            if &r[kind] == "evidence" && !ids.iter().any(|i| i == &r[item]) {
                ids.push(r[item].to_owned());
            }
        }
        ids.sort_by(|a: &String, b: &String| b.len().cmp(&a.len()).then(a.cmp(b)));
        Ok(ids)
    });
    ids.as_deref().map_err(|e| Error::SqlProject(e.clone()))
}

/// The id of every threshold and standard a pipeline may set (read once: the file is part of
/// the binary).
pub fn threshold_ids() -> Result<&'static BTreeSet<String>> {
    static IDS: OnceLock<std::result::Result<BTreeSet<String>, String>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let text = file("reference/thresholds.csv").map_err(|e| e.to_string())?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut ids = BTreeSet::new();
        for (i, record) in reader.records().enumerate() {
            let r = record.map_err(|e| format!("reference/thresholds.csv row {}: {e}", i + 2))?;
            ids.insert(r[0].to_owned());
        }
        Ok(ids)
    });
    ids.as_ref().map_err(|e| Error::SqlProject(e.clone()))
}
