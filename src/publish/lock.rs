//! One run at a time per output: a lock object created with put-if-absent.
//!
//! `<out>/_lock.json` names the run, host and process holding it and when it last said it was
//! alive (a heartbeat rewritten every [`HEARTBEAT`]). A lock is stale — and taken over — when its
//! process is gone (same host: the process id and its start time, so a reused id does not hold
//! it) or, held from another host, when its heartbeat is older than [`STALE_AFTER`]. A live
//! process of this host keeps its lock however long it is paused. A second run fails with a
//! message naming the holder, or with `--wait` waits for it.
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

/// How often a holder rewrites its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A heartbeat older than this means the holder is gone.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

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

/// Take the output's lock for `run_id`, waiting up to `wait` for another run to finish.
pub async fn acquire(out: &Location, run_id: &str, wait: Option<Duration>) -> Result<Lock> {
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
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match out.store.put_opts(&path, PutPayload::from(body), create).await {
            Ok(_) => {
                let lost = std::sync::Arc::new(std::sync::Mutex::new(None));
                return Ok(Lock {
                    out: out.clone(),
                    path: path.clone(),
                    record: record.clone(),
                    heartbeat: tokio::spawn(beat(out.clone(), path, record, lost.clone())),
                    lost,
                });
            }
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(Error::store("lock", &path, e)),
        }
        let holder = read(out, &path).await?;
        if let Some(holder) = &holder
            && let Some(why) = holder.stale_because(Utc::now())
        {
            tracing::warn!("taking over the lock of run {} ({why})", holder.run_id);
            let _ = out.store.delete(&path).await;
            continue;
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
    match out.store.get(path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| Error::store("read", path, e))?;
            // A lock junheng cannot read is not a free output: someone must look at it.
            let record = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                context: format!("the lock {path} (not a junheng lock record; remove it if no run holds the output)"),
                source,
            })?;
            Ok(Some(record))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(Error::store("read", path, e)),
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
        let found = match read(&out, &path).await {
            Ok(found) => found,
            Err(_) => continue, // the store did not answer: try again at the next beat
        };
        if let Some(taken) = lost_to(found.as_ref(), &record) {
            if let Ok(mut lost) = lost.lock() {
                *lost = Some(taken);
            }
            return;
        }
        record.heartbeat = Utc::now();
        if let Ok(body) = serde_json::to_vec_pretty(&record) {
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
