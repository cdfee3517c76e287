//! The SQL project's files, embedded when junheng is built (so it runs its models from
//! anywhere), and the reference data among them that more than one stage reads: which
//! thresholds and standards exist (`sql/reference/thresholds.csv`), so that a pipeline file's
//! `[standards]` can be checked against them when it is read.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// The text of a file under `sql/` (`reference/thresholds.csv`).
pub fn file(path: &str) -> Result<&'static str> {
    SQL_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .ok_or_else(|| Error::SqlProject(format!("{path} is missing")))
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
