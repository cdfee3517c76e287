//! One run at a time per output: a lock object created with put-if-absent.
//!
//! `<out>/_lock.json` names the run, host and process holding it and when it last said it was
//! alive (a heartbeat rewritten every [`HEARTBEAT`]). A lock is stale — and taken over — when its
//! process is gone (same host: the process id and its start time, so a reused id does not hold
//! it) or, held from another host, when its heartbeat looks older than [`STALE_AFTER`] *and* the
//! lock then stands still for [`WATCH`] by this process's monotonic clock: the holder's clock
//! only suggests, so a live holder with a clock behind (or a taker with one ahead) keeps its lock.
//! The takeover replaces that very record (If-Match where the store has it, an atomic rename on a
//! local disk), and the heartbeat rewrites the lock only if unchanged since it read it, so neither
//! overwrites a lock another run took meanwhile. A live process of this host keeps its lock
//! however long it is paused. A second run fails with a message naming the holder, or with
//! `--wait` waits for it.
//!
//! A holder whose lock was taken over (a paused process of another host, a clock far ahead)
//! finds out: its heartbeat reads the lock before rewriting it and stops when the lock names
//! another run, and [`Lock::check_held`] refuses the commit. The commit itself is also exclusive
//! per version number ([`super::commit`]), so two runs never both publish one version.

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::Location;
use crate::storage::conditional::ExclusiveCreate;

/// How often a holder rewrites its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A heartbeat older than this means the holder may be gone.
pub const STALE_AFTER: Duration = Duration::from_secs(90);
/// How long a lock of another host whose heartbeat looks stale is watched before it is taken
/// over. Timestamps come from the holder's clock, so they only suggest; a holder that is alive
/// rewrites its lock within a beat whatever its clock says, and one that does not for this
/// long (by this process's own monotonic clock) is gone or paused.
pub const WATCH: Duration = Duration::from_secs(40);

/// What the lock object says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockRecord {
    /// The run holding the lock.
    pub run_id: String,
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the lock was taken.
    pub since: DateTime<Utc>,
    /// When the holder last said it was alive.
    pub heartbeat: DateTime<Utc>,
    /// When the holder's process started (Linux: clock ticks after boot, `/proc/<pid>/stat`), so
    /// that another process given the same id later does not seem to hold the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
}

/// A held lock; released by [`Lock::release`] (or left to go stale if the process dies).
pub struct Lock {
    out: Location,
    path: Path,
    record: LockRecord,
    heartbeat: tokio::task::JoinHandle<()>,
    /// Set by the heartbeat when it finds the lock no longer ours: what it found.
    lost: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// A process's start time in clock ticks after boot (field 22 of `/proc/<pid>/stat`), where
/// the system says.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a process of this host is alive, and is the one that started at `start` (Linux
/// `/proc`; elsewhere assume it is).
fn process_alive(pid: u32, start: Option<u64>) -> bool {
    if !std::path::Path::new("/proc").exists() {
        return true;
    }
    let running = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "));
    running && (start.is_none() || process_start(pid) == start)
}

impl LockRecord {
    /// Why this lock no longer protects anything, if it does not.
    pub fn stale_because(&self, now: DateTime<Utc>) -> Option<String> {
        if self.host == host() {
            // This host can tell: the holder is alive (however long paused) or it is gone.
            return (!process_alive(self.pid, self.pid_start))
                .then(|| format!("process {} on this host is gone", self.pid));
        }
        let age = (now - self.heartbeat).to_std().unwrap_or_default();
        (age > STALE_AFTER).then(|| format!("its heartbeat is {}s old", age.as_secs()))
    }

    /// Whether this record is the lock a holder took (its run, host and process).
    fn is(&self, holder: &LockRecord) -> bool {
        self.run_id == holder.run_id && self.host == holder.host && self.pid == holder.pid
    }

    /// The holder in words: `run 2018… (host h, process 42)`.
    fn describe(&self) -> String {
        format!("run {} (host {}, process {})", self.run_id, self.host, self.pid)
    }
}

/// A lock record as read, with its bytes and its object version (for a conditional replace).
struct Seen {
    record: LockRecord,
    bytes: bytes::Bytes,
    version: object_store::UpdateVersion,
}

/// Take the output's lock for `run_id`, waiting up to `wait` for another run to finish.
pub async fn acquire(out: &Location, run_id: &str, wait: Option<Duration>) -> Result<Lock> {
    acquire_watching(out, run_id, wait, WATCH).await
}

/// [`acquire`], watching a lock that looks stale for `watch` before taking it over.
async fn acquire_watching(out: &Location, run_id: &str, wait: Option<Duration>, watch: Duration) -> Result<Lock> {
    // The lock and the commit are exclusive creates: make sure the store has one (an S3 store is
    // probed here, at the start of every run) before anything is written.
    let way = out.exclusive_create().await?;
    let usual = matches!(way, ExclusiveCreate::Native | ExclusiveCreate::IfNoneMatch { replace_if_unchanged: true });
    if usual {
        tracing::debug!("{}: creating objects only if absent with {way}", out.url);
    } else {
        tracing::info!("{}: creating objects only if absent with {way}", out.url);
    }
    let path = out.child("_lock.json");
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let mut pause = Duration::from_millis(200);
    loop {
        let now = Utc::now();
        let pid = std::process::id();
        let record = LockRecord {
            run_id: run_id.into(),
            host: host(),
            pid,
            since: now,
            heartbeat: now,
            pid_start: process_start(pid),
        };
        let body =
            serde_json::to_vec_pretty(&record).map_err(|source| Error::Json { context: "lock".into(), source })?;
        let held = |record: LockRecord| {
            let lost = std::sync::Arc::new(std::sync::Mutex::new(None));
            Lock {
                out: out.clone(),
                path: path.clone(),
                record: record.clone(),
                heartbeat: tokio::spawn(beat(out.clone(), path.clone(), record, lost.clone())),
                lost,
            }
        };
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match out.store.put_opts(&path, PutPayload::from(body.clone()), create).await {
            Ok(_) => return Ok(held(record)),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(Error::store("lock", &path, e)),
        }
        let seen = read_seen(out, &path).await?;
        let mut holder = seen.as_ref().map(|s| s.record.clone());
        if let Some(seen) = &seen
            && let Some(why) = seen.record.stale_because(Utc::now())
        {
            // This host knows its processes; another host's lock must also stand still.
            if seen.record.host == host() || unchanged_for(out, &path, &seen.bytes, watch).await? {
                tracing::warn!("taking over the lock of run {} ({why})", seen.record.run_id);
                if take_over(out, &path, seen, &body).await? {
                    return Ok(held(record));
                }
                continue;
            }
            tracing::info!(
                "the lock of run {} looked stale ({why}) but was rewritten while watched: its holder is alive \
                 (its clock is out of step with this one's)",
                seen.record.run_id
            );
            // Named as it is now, after the watch.
            holder = read(out, &path).await?;
        }
        match (deadline, holder) {
            (Some(d), _) if std::time::Instant::now() < d => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            (_, Some(h)) => {
                return Err(Error::Locked {
                    output: out.url.clone(),
                    run_id: h.run_id,
                    host: h.host,
                    pid: h.pid,
                    since: h.since,
                });
            }
            (_, None) => continue, // released between our attempt and our read
        }
    }
}

/// The current lock record, if there is a lock.
pub async fn read(out: &Location, path: &Path) -> Result<Option<LockRecord>> {
    Ok(read_seen(out, path).await?.map(|seen| seen.record))
}

/// The current lock record with its bytes and version, if there is a lock.
async fn read_seen(out: &Location, path: &Path) -> Result<Option<Seen>> {
    match out.store.get(path).await {
        Ok(r) => {
            let version = object_store::UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
            let bytes = r.bytes().await.map_err(|e| Error::store("read", path, e))?;
            // A lock junheng cannot read is not a free output: someone must look at it.
            let record = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                context: format!("the lock {path} (not a junheng lock record; remove it if no run holds the output)"),
                source,
            })?;
            Ok(Some(Seen { record, bytes, version }))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::store("read", path, e)),
    }
}

/// Whether the lock still holds exactly `bytes` after `watch` (read every second): false as soon
/// as it changes or goes.
async fn unchanged_for(out: &Location, path: &Path, bytes: &[u8], watch: Duration) -> Result<bool> {
    let until = tokio::time::Instant::now() + watch;
    tracing::info!("the lock's heartbeat looks stale; watching it for {} s before taking it over", watch.as_secs());
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1).min(watch)).await;
        match read_seen(out, path).await? {
            Some(now) if now.bytes == bytes => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Take over the stale lock `seen` — that one and no other: a lock another run took meanwhile is
/// left alone. Where the store can replace an object only if unchanged (S3's If-Match, memory),
/// the stale record is replaced by ours and `true` is returned: the lock is ours. On a local disk
/// the file is renamed aside (atomic) and put back if it was not the stale one, and `false`
/// returned: the caller creates the lock again, as anyone may.
async fn take_over(out: &Location, path: &Path, seen: &Seen, ours: &[u8]) -> Result<bool> {
    if let Some(root) = &out.local_root {
        let lock = root.join(path.as_ref());
        let aside = root.join(format!("{}.stale-{}", path.as_ref(), std::process::id()));
        match std::fs::rename(&lock, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false), // gone already
            Err(source) => return Err(Error::Io { operation: "take over", path: lock, source }),
        }
        let moved = std::fs::read(&aside).unwrap_or_default();
        if moved != seen.bytes.as_ref() {
            // Another run's fresh lock: put it back unless yet another was created meanwhile
            // (its holder then finds its lock taken and stops before committing).
            let _ = std::fs::hard_link(&aside, &lock);
        }
        let _ = std::fs::remove_file(&aside);
        return Ok(false);
    }
    let replace = PutOptions { mode: PutMode::Update(seen.version.clone()), ..PutOptions::default() };
    match out.store.put_opts(path, PutPayload::from(ours.to_vec()), replace).await {
        Ok(_) => Ok(true),
        // Changed since read: not stale any more, or someone else took it over.
        Err(object_store::Error::Precondition { .. }) | Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(object_store::Error::NotImplemented { .. }) => {
            // A store without conditional replace: the stale lock is deleted as it was read.
            let _ = out.store.delete(path).await;
            Ok(false)
        }
        Err(e) => Err(Error::store("take over", path, e)),
    }
}

/// Say every [`HEARTBEAT`] that the holder is alive — after reading that the lock is still its
/// own: a lock another run took over (or removed) is never written back, and the holder is told.
async fn beat(
    out: Location,
    path: Path,
    mut record: LockRecord,
    lost: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let found = match read_seen(&out, &path).await {
            Ok(found) => found,
            Err(_) => continue, // the store did not answer: try again at the next beat
        };
        if let Some(taken) = lost_to(found.as_ref().map(|f| &f.record), &record) {
            if let Ok(mut lost) = lost.lock() {
                *lost = Some(taken);
            }
            return;
        }
        record.heartbeat = Utc::now();
        let (Some(found), Ok(body)) = (found, serde_json::to_vec_pretty(&record)) else { continue };
        // Rewritten only if unchanged since read, where the store can say so: a lock taken over
        // in between is not overwritten (the next beat finds it lost).
        let replace = PutOptions { mode: PutMode::Update(found.version), ..PutOptions::default() };
        if let Err(object_store::Error::NotImplemented { .. }) =
            out.store.put_opts(&path, PutPayload::from(body.clone()), replace).await
        {
            let _ = out.store.put(&path, PutPayload::from(body)).await;
        }
    }
}

/// What became of a lock that is no longer `ours`, or None while it is.
fn lost_to(found: Option<&LockRecord>, ours: &LockRecord) -> Option<String> {
    match found {
        Some(r) if r.is(ours) => None,
        Some(r) => Some(format!("it was taken over by {}", r.describe())),
        None => Some("it was removed".to_owned()),
    }
}

impl Lock {
    /// Fail unless the lock is still this run's: a run whose lock was taken over must not
    /// commit (another run may be publishing the same version). Called just before the commit.
    pub async fn check_held(&self) -> Result<()> {
        let noticed = self.lost.lock().ok().and_then(|l| l.clone());
        let taken = match noticed {
            Some(taken) => Some(taken),
            None => lost_to(read(&self.out, &self.path).await?.as_ref(), &self.record),
        };
        match taken {
            None => Ok(()),
            Some(taken) => Err(Error::Conflict(format!(
                "the lock of {} was lost while {} ran ({taken}; its heartbeat must have looked stale — a paused \
                 process, or a clock ahead): nothing of this run is published; run it again",
                self.out.url,
                self.record.describe()
            ))),
        }
    }

    /// Give the lock up (unless another run holds it now: its lock is not ours to remove).
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        if let Ok(Some(found)) = read(&self.out, &self.path).await
            && !found.is(&self.record)
        {
            return Ok(());
        }
        match self.out.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store("unlock", &self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_run_is_refused_until_the_first_releases() {
        let out = crate::storage::open("memory://lock-test/out", true).unwrap();
        let first = acquire(&out, "run-1", None).await.unwrap();
        let err = acquire(&out, "run-2", None).await.err().unwrap().to_string();
        assert!(err.contains("run-1") && err.contains("--wait"), "{err}");
        first.release().await.unwrap();
        acquire(&out, "run-2", None).await.unwrap().release().await.unwrap();
    }

    #[tokio::test]
    async fn a_dead_holders_lock_is_taken_over() {
        let out = crate::storage::open("memory://lock-test-stale/out", true).unwrap();
        let dead = LockRecord {
            run_id: "dead".into(),
            host: host(),
            pid: u32::MAX - 1,
            since: Utc::now(),
            heartbeat: Utc::now(),
            pid_start: None,
        };
        out.store.put(&out.child("_lock.json"), PutPayload::from(serde_json::to_vec(&dead).unwrap())).await.unwrap();
        assert!(dead.stale_because(Utc::now()).is_some());
        acquire(&out, "alive", None).await.unwrap().release().await.unwrap();
        let elsewhere =
            LockRecord { host: "another-host".into(), heartbeat: Utc::now() - chrono::Duration::seconds(600), ..dead };
        assert!(elsewhere.stale_because(Utc::now()).unwrap().contains("heartbeat"));
    }

    /// A lock of another host whose heartbeat says ten minutes ago.
    fn remote(run_id: &str) -> LockRecord {
        let old = Utc::now() - chrono::Duration::seconds(600);
        LockRecord {
            run_id: run_id.into(),
            host: "another-host".into(),
            pid: 7,
            since: old,
            heartbeat: old,
            pid_start: None,
        }
    }

    async fn put_lock(out: &Location, record: &LockRecord) {
        out.store.put(&out.child("_lock.json"), PutPayload::from(serde_json::to_vec(record).unwrap())).await.unwrap();
    }

    #[tokio::test]
    async fn another_hosts_lock_that_stands_still_is_taken_over_where_it_was_read() {
        let memory = crate::storage::open("memory://lock-test-remote/out", true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let local = crate::storage::open(dir.path().to_str().unwrap(), true).unwrap();
        // Memory replaces the record only if unchanged (as S3's If-Match); the local disk renames it aside.
        for out in [memory, local] {
            put_lock(&out, &remote("paused")).await;
            let lock = acquire_watching(&out, "taker", None, Duration::from_secs(2)).await.unwrap();
            assert_eq!(read(&out, &out.child("_lock.json")).await.unwrap().unwrap().run_id, "taker");
            lock.check_held().await.unwrap();
            lock.release().await.unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left beside the lock");
    }

    /// A holder on another host whose clock is ten minutes behind: its heartbeats look stale,
    /// but it rewrites its lock, so it keeps it.
    #[tokio::test]
    async fn a_live_holder_with_a_clock_behind_keeps_its_lock() {
        let out = crate::storage::open("memory://lock-test-skew/out", true).unwrap();
        put_lock(&out, &remote("behind")).await;
        let beating = {
            let out = out.clone();
            tokio::spawn(async move {
                for beat in 0.. {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let mut record = remote("behind");
                    record.heartbeat += chrono::Duration::milliseconds(beat);
                    put_lock(&out, &record).await;
                }
            })
        };
        // It beats every 300 ms, so a 2 s watch sees it change several times.
        let err = acquire_watching(&out, "taker", None, Duration::from_secs(2)).await.err().unwrap().to_string();
        assert!(err.contains("behind"), "{err}");
        beating.abort();
        assert_eq!(read(&out, &out.child("_lock.json")).await.unwrap().unwrap().run_id, "behind");
    }

    #[test]
    fn a_live_process_of_this_host_keeps_its_lock_however_old_its_heartbeat() {
        let pid = std::process::id();
        let start = process_start(pid);
        assert!(start.is_some(), "this test runs on Linux");
        let paused = LockRecord {
            run_id: "paused".into(),
            host: host(),
            pid,
            since: Utc::now(),
            heartbeat: Utc::now() - chrono::Duration::seconds(3600),
            pid_start: start,
        };
        assert_eq!(paused.stale_because(Utc::now()), None);
        // The same id, another process (it started at another time): the holder is gone.
        let reused = LockRecord { pid_start: start.map(|s| s + 1), ..paused };
        assert!(reused.stale_because(Utc::now()).unwrap().contains("gone"));
    }

    #[tokio::test]
    async fn a_holder_whose_lock_was_taken_over_may_not_commit_nor_remove_the_new_lock() {
        let out = crate::storage::open("memory://lock-test-lost/out", true).unwrap();
        let first = acquire(&out, "run-1", None).await.unwrap();
        first.check_held().await.unwrap();
        // Another host took the lock over (run-1's heartbeat looked stale to it).
        let path = out.child("_lock.json");
        let taker = LockRecord { run_id: "run-2".into(), host: "another-host".into(), ..first.record.clone() };
        out.store.put(&path, PutPayload::from(serde_json::to_vec(&taker).unwrap())).await.unwrap();
        let err = first.check_held().await.unwrap_err().to_string();
        assert!(
            err.contains("taken over by run run-2 (host another-host") && err.contains("nothing of this run"),
            "{err}"
        );
        // Releasing leaves run-2's lock alone.
        first.release().await.unwrap();
        assert_eq!(read(&out, &path).await.unwrap().map(|r| r.run_id), Some("run-2".to_owned()));
        assert_eq!(lost_to(None, &taker).as_deref(), Some("it was removed"));
    }

    #[tokio::test]
    async fn waiting_gets_the_lock_when_it_is_released() {
        let out = crate::storage::open("memory://lock-test-wait/out", true).unwrap();
        let first = acquire(&out, "run-1", None).await.unwrap();
        let waiter = {
            let out = out.clone();
            tokio::spawn(async move { acquire(&out, "run-2", Some(Duration::from_secs(10))).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        first.release().await.unwrap();
        waiter.await.unwrap().unwrap();
    }
}
