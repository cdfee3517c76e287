//! Publish: the commit that makes a version the one readers see, and the output's housekeeping.
//!
//! Publishing is one small object: the run ledger `runs/<run_id>.json`, created with
//! put-if-absent, names the version — after its number is claimed, also with put-if-absent
//! (`_commits/<version>.json`), so that two runs can never both publish one version. Readers that go through junheng (and [`latest`]) trust only
//! committed ledgers. For local output folders the documented paths (`<out>/staging`,
//! `<out>/marts`, …) are symlinks through `<out>/current`, which is switched to the new version
//! with one atomic rename after the commit: a reader sees the old version or the new one, never
//! a mix, and a killed run leaves the old one in place. On object stores `current.json` points
//! at the committed version. Every published table is also a Delta table under a stable path
//! ([`delta`]), brought to the committed version right after the ledger and before the pointers. The [`lock`] keeps one writer per output; [`vacuum`] deletes the
//! versions no reader can still be using; [`notes`] are the run's words on what it published.

pub mod delta;
pub mod lock;
pub mod notes;
pub mod vacuum;

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::job::{ProgressEvent, Request};
use crate::ledger::{Ledger, RunSummary};
use crate::load::{self, PUBLISHED_ENTRIES, RUNS, version_path};
use crate::storage::Location;
use crate::transform::{self, Built};

/// Publish what the transform built: the run's notes, the dictionary and the report go into the
/// version, then the ledger commits it and readers are pointed at it. Returns the committed ledger.
pub async fn publish(
    request: &Request,
    out: &Location,
    mut ledger: Ledger,
    built: &Built,
    lock: &lock::Lock,
) -> Result<Ledger> {
    let ctx = &built.ctx;
    // Each step's own seconds go to the log (bench/profile.py reads them).
    let mut started = std::time::Instant::now();
    let mut step = |what: &str| {
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "publish: {what} done");
        started = std::time::Instant::now();
    };
    ledger.marts = built.marts.clone();
    ledger.files_written.extend(built.files.iter().cloned());
    ledger.files_written.sort_by(|a, b| a.path.cmp(&b.path));
    ledger.warnings.extend(notes::school_changes(ctx).await?);
    ledger.thresholds_failed = notes::thresholds_failed(ctx).await?;
    ledger.not_assessable = notes::not_assessable(ctx).await?;
    let dictionary = crate::dictionary::build(&built.models, ctx).await?;
    let bytes = serde_json::to_vec_pretty(&dictionary)
        .map_err(|source| Error::Json { context: "dictionary".into(), source })?;
    load::write_object(out, &request.run_id, "dictionary.json", bytes).await?;
    step("notes and dictionary");
    if request.pipeline.report {
        write_report(request, out, &mut ledger, built, &dictionary).await?;
        step("report");
    }
    ledger.published = true;
    ledger.finished_at = chrono::Utc::now().to_rfc3339();
    // A run whose lock was taken over publishes nothing (the taker may be publishing).
    lock.check_held().await?;
    // Each Delta table's next version is worked out before the commit, so the ledger records it.
    let tables = delta::prepare(out, &ledger).await?;
    ledger.delta_versions = tables.versions();
    commit(out, &mut ledger).await?;
    step("ledger");
    // A version committed above this one (this run lost a race it could not see) keeps the
    // pointers: they never go back.
    if superseded(out, &ledger).await? {
        tracing::warn!(
            "run {} committed version {}, but a later version exists: the pointers stay",
            ledger.run_id,
            ledger.version
        );
    } else {
        // After the commit, before the pointers: when current.json names a run, every Delta
        // table holds it (a run killed in between is completed by the next, see `repair`).
        let versions = tables.sync(out, &ledger).await?;
        step("delta tables");
        write_pointer(out, &ledger, &versions).await?;
        switch_current(out, &request.run_id)?;
    }
    request.tell(ProgressEvent::Finished);
    Ok(ledger)
}

/// The report, a county group at a time: its pages read the group's part of each mart, and are
/// written before the next group's are built.
async fn write_report(
    request: &Request,
    out: &Location,
    ledger: &mut Ledger,
    built: &Built,
    dictionary: &crate::dictionary::Dictionary,
) -> Result<()> {
    let (ctx, run_id) = (&built.ctx, &request.run_id);
    let several = built.groups.len() > 1;
    let mut report = crate::report::Report::new(request.pipeline.report_language);
    for index in 0..built.groups.len() {
        if several {
            transform::register_written(ctx, out, run_id, &built.models, Some(index)).await?;
        }
        for (page, html) in report.county_pages(ctx, ledger).await? {
            load::write_object(out, run_id, &format!("report/{page}"), html.into_bytes()).await?;
            ledger.report_pages.push(format!("report/{page}"));
        }
    }
    if several {
        // Whatever reads the session after the report sees every group again.
        transform::register_written(ctx, out, run_id, &built.models, None).await?;
    }
    for (page, html) in report.finish(ledger, dictionary)? {
        load::write_object(out, run_id, &format!("report/{page}"), html.into_bytes()).await?;
        ledger.report_pages.push(format!("report/{page}"));
    }
    Ok(())
}

/// Where version numbers are claimed: `_commits/<version, 10 digits>.json`.
pub const COMMITS: &str = "_commits";

/// Who claimed a version number.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claim {
    run_id: String,
    claimed_at: String,
}

fn claim_path(out: &Location, version: u64) -> object_store::path::Path {
    out.child(&format!("{COMMITS}/{version:010}.json"))
}

/// A version claim, and whether the run it names committed its ledger.
async fn read_claim(out: &Location, path: &object_store::path::Path) -> Result<(Claim, bool)> {
    let bytes = out.store.get(path).await.map_err(|e| Error::store("read", path, e))?;
    let bytes = bytes.bytes().await.map_err(|e| Error::store("read", path, e))?;
    let claim: Claim = serde_json::from_slice(&bytes)
        .map_err(|source| Error::Json { context: format!("the version claim {path}"), source })?;
    let theirs = out.child(&format!("{RUNS}/{}.json", claim.run_id));
    let committed = match out.store.head(&theirs).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => return Err(Error::store("read", &theirs, e)),
    };
    Ok((claim, committed))
}

/// Claim the ledger's version number with put-if-absent. A number claimed by a run that
/// committed it means another run published this version while this one ran: a conflict,
/// nothing published. A number claimed by a run that never committed (killed between its claim
/// and its ledger) is skipped, and the next one claimed: a paused claimant that wakes up later
/// commits a version below this one, which the pointers never go back to.
async fn claim_version(out: &Location, ledger: &mut Ledger) -> Result<()> {
    let body = |ledger: &Ledger| {
        let claim = Claim { run_id: ledger.run_id.clone(), claimed_at: chrono::Utc::now().to_rfc3339() };
        serde_json::to_vec(&claim).map_err(|source| Error::Json { context: "version claim".into(), source })
    };
    for _ in 0..1000 {
        let path = claim_path(out, ledger.version);
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match out.store.put_opts(&path, PutPayload::from(body(ledger)?), create).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(Error::store("claim", &path, e)),
        }
        let (claim, committed) = read_claim(out, &path).await?;
        if claim.run_id == ledger.run_id {
            return Ok(()); // our own claim, from a commit being retried
        }
        if committed {
            return Err(Error::Conflict(format!(
                "version {} of {} was published by run {} while run {} ran (its lock must have been taken \
                 over): nothing of this run is published; run it again",
                ledger.version, out.url, claim.run_id, ledger.run_id
            )));
        }
        tracing::warn!(
            "version {} was claimed by run {}, which never committed it: claiming the next",
            ledger.version,
            claim.run_id
        );
        ledger.version += 1;
    }
    Err(Error::Conflict(format!("no free version number for run {} in {}", ledger.run_id, out.url)))
}

/// Whether a version above the ledger's was claimed and committed.
async fn superseded(out: &Location, ledger: &Ledger) -> Result<bool> {
    let prefix = out.child(COMMITS);
    let claims: Vec<object_store::ObjectMeta> =
        out.store.list(Some(&prefix)).try_collect().await.map_err(|e| Error::store("list", &prefix, e))?;
    let above = claims.iter().filter_map(|meta| {
        let name = meta.location.filename()?;
        name.strip_suffix(".json")?.parse::<u64>().ok().filter(|v| *v > ledger.version).map(|_| meta.location.clone())
    });
    for path in above {
        // A claim that cannot be read names no committed version.
        if let Ok((_, true)) = read_claim(out, &path).await {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Commit a run: claim its version number, then create its ledger with put-if-absent. After
/// this the version is published. The ledger's version is the one claimed.
pub async fn commit(out: &Location, ledger: &mut Ledger) -> Result<()> {
    claim_version(out, ledger).await?;
    let path = out.child(&format!("{RUNS}/{}.json", ledger.run_id));
    // Written into blocks, not one growing buffer: a national ledger is a few hundred MB of JSON,
    // and a doubling Vec would hold up to twice that at once.
    let mut payload = Blocks(object_store::PutPayloadMut::new().with_block_size(1 << 20));
    serde_json::to_writer_pretty(&mut payload, &*ledger)
        .map_err(|source| Error::Json { context: "run ledger".into(), source })?;
    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    let bytes = payload.0.freeze();
    match out.store.put_opts(&path, bytes.clone(), options).await {
        Ok(_) => {}
        // The ledger is named by this run's id: one there already is this run's, written by a
        // first attempt whose answer was lost and that the client retried (S3 then answers 412
        // to the retry). The same bytes mean the commit succeeded; anything else is a conflict.
        Err(object_store::Error::AlreadyExists { .. }) if same_object(out, &path, &bytes).await => {
            tracing::info!("run {}'s ledger was written by an earlier attempt of this commit", ledger.run_id);
        }
        Err(object_store::Error::AlreadyExists { .. }) => {
            return Err(Error::Conflict(format!("run {} was already committed to {}", ledger.run_id, out.url)));
        }
        Err(e) => return Err(Error::store("commit", &path, e)),
    }
    // After the commit point: a summary that is missing (a run killed just here) is made from the
    // ledger by whoever reads the history.
    if let Err(e) = write_summary(out, &RunSummary::of(ledger)).await {
        tracing::warn!("run {} is committed but its summary was not written: {e}", ledger.run_id);
    }
    Ok(())
}

/// Whether the object at `path` holds exactly `expected`.
async fn same_object(out: &Location, path: &object_store::path::Path, expected: &PutPayload) -> bool {
    let Ok(found) = out.store.get(path).await else { return false };
    if found.meta.size != expected.content_length() as u64 {
        return false;
    }
    let Ok(found) = found.bytes().await else { return false };
    let mut at = 0;
    expected.iter().all(|block| {
        let same = found.get(at..at + block.len()) == Some(block.as_ref());
        at += block.len();
        same
    })
}

/// An upload built in fixed-size blocks, written to as a file.
struct Blocks(object_store::PutPayloadMut);

impl std::io::Write for Blocks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every committed ledger under the output root, oldest first.
pub async fn ledgers(out: &Location) -> Result<Vec<Ledger>> {
    let mut ledgers = Vec::new();
    for run_id in names(out, RUNS).await? {
        ledgers.push(read_ledger(out, &run_id).await?);
    }
    ledgers.sort_by(|a, b| (a.version, &a.run_id).cmp(&(b.version, &b.run_id)));
    Ok(ledgers)
}

/// Where each run's summary is kept: `_history/<run_id>.json`.
pub const HISTORY: &str = "_history";

/// Where `vacuum` moves the ledgers of runs past the retention period: `_archive/runs/`.
pub const ARCHIVE: &str = "_archive/runs";

async fn write_summary(out: &Location, summary: &RunSummary) -> Result<()> {
    let path = out.child(&format!("{HISTORY}/{}.json", summary.run_id));
    let bytes = serde_json::to_vec(summary).map_err(|source| Error::Json { context: "run summary".into(), source })?;
    out.store.put(&path, PutPayload::from(bytes)).await.map_err(|e| Error::store("write", &path, e))?;
    Ok(())
}

/// The run ids of the ledgers directly under `runs/`, and of the summaries under `_history/`.
async fn names(out: &Location, folder: &str) -> Result<BTreeSet<String>> {
    let prefix = out.child(folder);
    let listed = out.store.list_with_delimiter(Some(&prefix)).await;
    let listed = match listed {
        Ok(l) => l.objects,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(Error::store("list", &prefix, e)),
    };
    Ok(listed.iter().filter_map(|m| m.location.filename()?.strip_suffix(".json").map(str::to_owned)).collect())
}

/// One run's ledger.
pub async fn read_ledger(out: &Location, run_id: &str) -> Result<Ledger> {
    let path = out.child(&format!("{RUNS}/{run_id}.json"));
    let bytes = out.store.get(&path).await.map_err(|e| Error::store("read", &path, e))?;
    let bytes = bytes.bytes().await.map_err(|e| Error::store("read", &path, e))?;
    let mut ledger: Ledger =
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { context: path.to_string(), source })?;
    ledger.tidy_layouts();
    Ok(ledger)
}

/// Whether `vacuum` archived a run's ledger (its version's tables are then gone).
pub async fn archived(out: &Location, run_id: &str) -> bool {
    out.store.head(&out.child(&format!("{ARCHIVE}/{run_id}.json"))).await.is_ok()
}

/// Every committed run, oldest first, from the runs' summaries: a ledger is read only for a
/// run without one (committed by an earlier release, or killed just after its commit). A run
/// whose ledger `vacuum` archived is here by its summary.
pub async fn history(out: &Location) -> Result<Vec<RunSummary>> {
    let (ledgers, summaries) = (names(out, RUNS).await?, names(out, HISTORY).await?);
    let mut runs = Vec::with_capacity(ledgers.len().max(summaries.len()));
    for run_id in ledgers.union(&summaries) {
        let summary = if summaries.contains(run_id) { read_summary(out, run_id).await } else { None };
        match summary {
            Some(summary) => runs.push(summary),
            None if ledgers.contains(run_id) => runs.push(RunSummary::of(&read_ledger(out, run_id).await?)),
            // A summary that cannot be read, of a run without a ledger here: nothing to show.
            None => tracing::warn!("the summary of run {run_id} cannot be read and its ledger is not in runs/"),
        }
    }
    runs.sort_by(|a, b| (a.version, &a.run_id).cmp(&(b.version, &b.run_id)));
    Ok(runs)
}

/// A run's summary, if it can be read (one that cannot is made again from the ledger).
async fn read_summary(out: &Location, run_id: &str) -> Option<RunSummary> {
    let path = out.child(&format!("{HISTORY}/{run_id}.json"));
    let bytes = out.store.get(&path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The ledger of the latest run in `runs` that published a version, if any.
pub async fn latest_of(out: &Location, runs: &[RunSummary]) -> Result<Option<Ledger>> {
    match runs.iter().rev().find(|r| r.published) {
        Some(run) => Ok(Some(read_ledger(out, &run.run_id).await?)),
        None => Ok(None),
    }
}

/// The latest committed run that published a version, if any (from the summaries and one ledger).
pub async fn latest(out: &Location) -> Result<Option<Ledger>> {
    latest_of(out, &history(out).await?).await
}

/// Write `current.json`, the pointer to the committed version for readers without symlinks
/// (object stores): `{"run_id": …, "version": …, "prefix": "versions/<run_id>", "tables":
/// {"staging/pupils": 3, …}}` — `tables` names each Delta table's version of this run, so a
/// reader of several tables can read them all at one run's versions.
pub async fn write_pointer(out: &Location, ledger: &Ledger, tables: &BTreeMap<String, u64>) -> Result<()> {
    let pointer = serde_json::json!({
        "run_id": ledger.run_id,
        "version": ledger.version,
        "prefix": version_path(&ledger.run_id),
        "tables": tables,
    });
    let path = out.child("current.json");
    out.store
        .put(&path, PutPayload::from(pointer.to_string().into_bytes()))
        .await
        .map_err(|e| Error::store("write", &path, e))?;
    Ok(())
}

/// Point the documented local paths at a committed version: `<out>/current` is replaced by a
/// new symlink with one rename (atomic on POSIX), and `<out>/staging` etc. are created once as
/// symlinks through `current`. A no-op for object stores (readers go through the ledger there).
pub fn switch_current(out: &Location, run_id: &str) -> Result<()> {
    let Some(root) = &out.local_root else {
        return Ok(());
    };
    let io = |operation: &'static str, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { operation, path, source }
    };
    let tmp = root.join(format!(".current-{run_id}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version_path(run_id), &tmp).map_err(io("create symlink", &tmp))?;
    let current = root.join("current");
    std::fs::rename(&tmp, &current).map_err(io("switch", &current))?;
    for entry in PUBLISHED_ENTRIES {
        let link = root.join(entry);
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(_) => return Err(Error::InTheWay { path: link, entry: entry.to_owned() }),
            Err(_) => {
                std::os::unix::fs::symlink(format!("current/{entry}"), &link).map_err(io("create symlink", &link))?
            }
        }
    }
    Ok(())
}

/// The latest committed run, when what readers follow lags it: `current.json` names another
/// run or no Delta versions (an output of a release before the Delta tables), or the local
/// `current` link names another run (a run was killed between its commit and the switch).
/// `None` when everything names the latest run.
pub async fn stale(out: &Location) -> Result<Option<Ledger>> {
    let Some(latest) = latest(out).await? else { return Ok(None) };
    Ok(lags(out, &latest).await?.then_some(latest))
}

/// Whether what readers follow lags `latest`, the latest committed run (see [`stale`]).
pub async fn lags(out: &Location, latest: &Ledger) -> Result<bool> {
    let pointer = read_pointer(out).await?;
    let pointer_right =
        pointer.as_ref().is_some_and(|p| p["run_id"] == latest.run_id.as_str() && p["tables"].is_object());
    let link_right = out.local_root.as_ref().is_none_or(|root| {
        std::fs::read_link(root.join("current")).ok().as_deref()
            == Some(std::path::Path::new(&version_path(&latest.run_id)))
    });
    Ok(!pointer_right || !link_right)
}

/// Bring what readers follow to the latest committed run: its Delta table versions (made now
/// if a killed run did not, or for the first time in an output of an earlier release), then
/// `current.json` and the local `current` link. Only the holder of the output's lock may, and
/// it checks it still holds it just before: a run paused between reading the latest version and
/// switching, whose lock was taken over meanwhile, would otherwise point back at a version older
/// than the new owner's commit.
pub async fn repair(out: &Location, held: &lock::Lock) -> Result<()> {
    if let Some(latest) = stale(out).await? {
        held.check_held().await?;
        let tables = delta::prepare(out, &latest).await?;
        if !tables.done() {
            tracing::info!("bringing the Delta tables to run {} (version {})", latest.run_id, latest.version);
        }
        let versions = tables.sync(out, &latest).await?;
        held.check_held().await?;
        write_pointer(out, &latest, &versions).await?;
        switch_current(out, &latest.run_id)?;
    }
    Ok(())
}

/// `current.json`, if there is one.
async fn read_pointer(out: &Location) -> Result<Option<serde_json::Value>> {
    let path = out.child("current.json");
    match out.store.get(&path).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| Error::store("read", &path, e))?;
            let pointer =
                serde_json::from_slice(&bytes).map_err(|source| Error::Json { context: path.to_string(), source })?;
            Ok(Some(pointer))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::store("read", &path, e)),
    }
}

/// The run `current.json` names, if there is one.
pub async fn pointer_run_id(out: &Location) -> Result<Option<String>> {
    Ok(read_pointer(out).await?.and_then(|p| p["run_id"].as_str().map(str::to_owned)))
}

/// The runs the pointers name: `current.json` and the local `current` link (which `vacuum`
/// must never delete, whatever the ledgers say).
pub async fn pointed_runs(out: &Location) -> Result<Vec<String>> {
    let mut runs: Vec<String> = pointer_run_id(out).await?.into_iter().collect();
    if let Some(root) = &out.local_root
        && let Ok(target) = std::fs::read_link(root.join("current"))
        && let Some(name) = target.file_name()
    {
        runs.push(name.to_string_lossy().into_owned());
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(run_id: &str, version: u64) -> Ledger {
        Ledger { run_id: run_id.into(), version, published: true, ..Ledger::default() }
    }

    #[tokio::test]
    async fn a_version_is_published_once_and_a_dead_claim_is_skipped() {
        let out = crate::storage::open("memory://commit-test/out", true).unwrap();
        commit(&out, &mut ledger("run-a", 1)).await.unwrap();
        // Run b started from the same parent (its lock was taken over, it went on): refused.
        let err = commit(&out, &mut ledger("run-b", 1)).await.unwrap_err().to_string();
        assert!(err.contains("version 1") && err.contains("published by run run-a"), "{err}");
        assert!(out.store.head(&out.child("runs/run-b.json")).await.is_err(), "run b committed nothing");
        // A run killed between its claim and its ledger: its number is skipped.
        let ghost = serde_json::to_vec(&Claim { run_id: "ghost".into(), claimed_at: String::new() }).unwrap();
        out.store.put(&claim_path(&out, 2), PutPayload::from(ghost)).await.unwrap();
        let mut next = ledger("run-c", 2);
        commit(&out, &mut next).await.unwrap();
        assert_eq!(next.version, 3);
        let written: Ledger =
            serde_json::from_slice(&out.store.get(&out.child("runs/run-c.json")).await.unwrap().bytes().await.unwrap())
                .unwrap();
        assert_eq!(written.version, 3);
        // Should the ghost wake and commit version 2 after all, the pointers stay on version 3.
        assert!(!superseded(&out, &next).await.unwrap());
        assert!(superseded(&out, &ledger("ghost", 2)).await.is_ok_and(|s| s));
    }

    /// Found: on S3 a commit whose first PUT landed but whose answer was lost was retried by
    /// the client, got 412 and was reported as failed although it was committed.
    #[tokio::test]
    async fn a_retried_commit_whose_first_attempt_landed_succeeds() {
        let out = crate::storage::open("memory://commit-retry/out", true).unwrap();
        let mut first = ledger("run-a", 1);
        commit(&out, &mut first).await.unwrap();
        // The retry: the claim is its own and the ledger already there holds the same bytes.
        let mut again = first.clone();
        commit(&out, &mut again).await.unwrap();
        assert_eq!(again.version, 1);
        assert_eq!(history(&out).await.unwrap().len(), 1);
        // Other bytes under the same run id are not this commit: refused.
        let mut other = Ledger { exit_code: 1, ..first.clone() };
        let err = commit(&out, &mut other).await.unwrap_err().to_string();
        assert!(err.contains("already committed"), "{err}");
    }
}
