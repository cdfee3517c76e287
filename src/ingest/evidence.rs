//! Evidence (佐证材料): the files a county submits for the items judged from documents. They are
//! never read as data; each gets a ledger record with its size and SHA-256, so an inspection
//! team can see what was submitted and that it has not changed since.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use crate::error::Result;
use crate::extract::layout::EvidenceFile;
use crate::ledger::{EvidenceRecord, EvidenceState, Ledger};
use crate::storage::Location;

/// How many evidence files are hashed at once (they are read as streams).
const HASHING_AT_ONCE: usize = 4;

/// The ledger records of the source's evidence files, in path order, and the run's warnings
/// about them (a folder naming no item; files gone since the last run). `known` holds the
/// SHA-256 the plan already has (unchanged files, files it hashed): only the others are read.
pub async fn record(
    source: &Location,
    files: &[EvidenceFile],
    known: &HashMap<String, String>,
    parent: Option<&Ledger>,
) -> Result<(Vec<EvidenceRecord>, Vec<String>, Vec<String>)> {
    let previous: HashMap<&str, &EvidenceRecord> =
        parent.iter().flat_map(|p| p.evidence.iter()).map(|e| (e.path.as_str(), e)).collect();
    let hashes: Vec<String> = futures::stream::iter(files.iter().map(|file| async move {
        match known.get(&file.relative) {
            Some(sha) => Ok(sha.clone()),
            None => source.sha256(&file.location).await,
        }
    }))
    .buffered(HASHING_AT_ONCE)
    .try_collect()
    .await?;
    let mut warnings = Vec::new();
    let records: Vec<EvidenceRecord> = files
        .iter()
        .zip(hashes)
        .map(|(file, sha256)| {
            if file.item.is_none() {
                warnings.push(format!(
                    "evidence file {} is in a folder that names no assessment item ({}); it is not counted \
                     (put it under evidence/<item>…/, e.g. evidence/g1-规划布局/)",
                    file.relative,
                    crate::sql_files::evidence_items().map(|i| i.join(", ")).unwrap_or_default()
                ));
            }
            let state = match previous.get(file.relative.as_str()) {
                None => EvidenceState::New,
                Some(before) if before.sha256 == sha256 => EvidenceState::Unchanged,
                Some(_) => EvidenceState::Changed,
            };
            EvidenceRecord {
                path: file.relative.clone(),
                uri: file.uri.clone(),
                county_code: file.county_code.clone(),
                year: file.year,
                item: file.item.clone(),
                size: file.size,
                e_tag: file.e_tag.clone(),
                last_modified: file.last_modified.to_rfc3339(),
                sha256,
                state,
            }
        })
        .collect();
    let present: std::collections::HashSet<&str> = files.iter().map(|f| f.relative.as_str()).collect();
    let mut removed: Vec<String> = previous.keys().filter(|p| !present.contains(*p)).map(|p| (*p).to_owned()).collect();
    removed.sort();
    for path in &removed {
        let run = parent.map_or("?", |p| p.run_id.as_str());
        warnings.push(format!("evidence file {path} (recorded by run {run}) is gone from the source"));
    }
    Ok((records, warnings, removed))
}
