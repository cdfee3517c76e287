//! Deleting old versions, never while a reader may still use them.
//!
//! A version is deleted when a newer committed version has been published for longer than the
//! retention period (a reader who opened the old one before that has had the whole period to
//! finish), and a version folder no ledger names (a killed run's leftovers) when everything in
//! it is older than the retention period. The latest committed version is kept, and every run
//! stays in the history: the ledgers of deleted versions move to `_archive/runs/`, the summaries stay.
//! The Delta tables under `tables/` are vacuumed by Delta's own rule (see [`super::delta::vacuum`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use super::history;
use crate::error::{Error, Result};
use crate::load::VERSIONS;
use crate::storage::Location;

/// What a vacuum did (or would do, in a dry run).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VacuumReport {
    /// Versions deleted (run ids), with the reason.
    pub deleted: Vec<(String, String)>,
    /// Versions kept, with the reason.
    pub kept: Vec<(String, String)>,
    /// Objects deleted.
    pub objects: u64,
    /// Ledgers moved to `_archive/runs/` (run ids): runs past the retention period whose
    /// versions are gone or that published none. Their summaries stay in the history.
    pub archived: Vec<String>,
    /// Data files deleted from the Delta tables under `tables/` (paths in the output): files
    /// a Delta commit removed longer than the retention period ago, and files no commit ever
    /// added (a killed run's copies) older than it. A Delta reader's time travel reaches back as
    /// far as the files it needs are still there.
    pub table_files: Vec<String>,
}

/// The shortest retention `vacuum` accepts: a reader (`query`, `serve`, a BI tool) that opened
/// a version just before it was superseded needs time to finish.
pub const MIN_KEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Delete versions superseded for longer than `keep`, and abandoned ones older than `keep`.
pub async fn vacuum(out: &Location, keep: Duration, now: DateTime<Utc>, dry_run: bool) -> Result<VacuumReport> {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let runs = history(out).await?;
    let published: Vec<_> = runs.iter().filter(|r| r.published).collect();
    let mut report = VacuumReport::default();
    // When each committed version stopped being the latest.
    let mut superseded: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
    for (i, ledger) in published.iter().enumerate() {
        let next = published
            .get(i + 1)
            .and_then(|n| DateTime::parse_from_rfc3339(&n.finished_at).ok())
            .map(|t| t.with_timezone(&Utc));
        superseded.insert(ledger.run_id.clone(), next);
    }
    // Every version folder, with its newest object.
    let prefix = out.child(VERSIONS);
    let objects: Vec<object_store::ObjectMeta> =
        out.store.list(Some(&prefix)).try_collect().await.map_err(|e| Error::store("list", &prefix, e))?;
    let mut folders: BTreeMap<String, (DateTime<Utc>, Vec<object_store::path::Path>)> = BTreeMap::new();
    for meta in objects {
        let Some(rel) = out.relative(&meta.location) else { continue };
        let Some(id) = rel.strip_prefix(&format!("{VERSIONS}/")).and_then(|r| r.split('/').next()) else { continue };
        let entry = folders.entry(id.to_owned()).or_insert((DateTime::<Utc>::MIN_UTC, Vec::new()));
        entry.0 = entry.0.max(meta.last_modified);
        entry.1.push(meta.location);
    }
    // The latest committed version, and whatever a pointer names (a reader follows those).
    let pointed = super::pointed_runs(out).await?;
    let mut latest: BTreeSet<&str> = published.last().map(|l| l.run_id.as_str()).into_iter().collect();
    latest.extend(pointed.iter().map(String::as_str));
    for (id, (newest, paths)) in folders {
        let verdict = match superseded.get(&id) {
            _ if latest.contains(id.as_str()) => Err("the latest committed version, or one a pointer names".to_owned()),
            Some(Some(at)) if now - *at > keep => Ok(format!("superseded at {}", at.to_rfc3339())),
            Some(Some(at)) => Err(format!("superseded at {}, within the retention period", at.to_rfc3339())),
            Some(None) => Err("the latest committed version".to_owned()),
            None if now - newest > keep => Ok("no committed run names it (an interrupted run)".to_owned()),
            None => Err("uncommitted and recent (a run may be writing it)".to_owned()),
        };
        match verdict {
            Ok(why) => {
                if !dry_run {
                    for path in &paths {
                        match out.store.delete(path).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => return Err(Error::store("delete", path, e)),
                        }
                    }
                    if let Some(root) = &out.local_root {
                        let _ = std::fs::remove_dir_all(root.join(VERSIONS).join(&id));
                    }
                }
                report.objects += paths.len() as u64;
                report.deleted.push((id, why));
            }
            Err(why) => report.kept.push((id, why)),
        }
    }
    let archived = archive_ledgers(out, &runs, &latest, &report, |finished| now - finished > keep, dry_run).await?;
    let table_files = super::delta::vacuum(out, keep, now, dry_run).await?;
    Ok(VacuumReport { archived, table_files, ..report })
}

/// Move out of `runs/` the ledgers no reader needs: of versions deleted now or before (their
/// data is gone), and of runs that published nothing and finished longer ago than the retention
/// period. Opening the output, the next run and `junheng runs` read the summaries and the latest
/// ledger; an archived ledger is still there for an inspector, under `_archive/runs/`.
async fn archive_ledgers(
    out: &Location,
    runs: &[crate::ledger::RunSummary],
    latest: &BTreeSet<&str>,
    report: &VacuumReport,
    past_retention: impl Fn(DateTime<Utc>) -> bool,
    dry_run: bool,
) -> Result<Vec<String>> {
    // Every version folder got one verdict: a published run whose folder was not kept was
    // deleted now or is gone already.
    let kept: BTreeSet<&str> = report.kept.iter().map(|(id, _)| id.as_str()).collect();
    let mut archived = Vec::new();
    for run in runs.iter().filter(|r| !latest.contains(r.run_id.as_str())) {
        let finished = DateTime::parse_from_rfc3339(&run.finished_at).map(|t| t.with_timezone(&Utc)).ok();
        let data_gone = run.published && !kept.contains(run.run_id.as_str());
        let failed_long_ago = !run.published && finished.is_some_and(&past_retention);
        if !(data_gone || failed_long_ago) {
            continue;
        }
        let from = out.child(&format!("{}/{}.json", crate::load::RUNS, run.run_id));
        let to = out.child(&format!("{}/{}.json", super::ARCHIVE, run.run_id));
        if !dry_run {
            match out.store.rename(&from, &to).await {
                Ok(()) => {}
                Err(object_store::Error::NotFound { .. }) => continue, // archived before
                Err(e) => return Err(Error::store("archive", &from, e)),
            }
        } else if out.store.head(&from).await.is_err() {
            continue;
        }
        archived.push(run.run_id.clone());
    }
    Ok(archived)
}
