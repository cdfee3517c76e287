//! One run at a time per output: a lock object created with put-if-absent.
//!
//! `<out>/_lock.json` names the run, host and process holding it and when it last said it was
//! alive (a heartbeat rewritten every [`HEARTBEAT`]). A lock is stale — and taken over — when its
//! process is gone (same host) or its heartbeat is older than [`STALE_AFTER`] (another host, or a
//! process killed with `kill -9`). A second run fails with a message naming the holder, or with
//! `--wait` waits for it.

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
}

/// A held lock; released by [`Lock::release`] (or left to go stale if the process dies).
pub struct Lock {
    out: Location,
    path: Path,
    heartbeat: tokio::task::JoinHandle<()>,
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a process of this host is alive (Linux `/proc`; elsewhere assume it is).
fn process_alive(pid: u32) -> bool {
    if !std::path::Path::new("/proc").exists() {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

impl LockRecord {
    /// Why this lock no longer protects anything, if it does not.
    pub fn stale_because(&self, now: DateTime<Utc>) -> Option<String> {
        if self.host == host() && !process_alive(self.pid) {
            return Some(format!("process {} on this host is gone", self.pid));
        }
        let age = (now - self.heartbeat).to_std().unwrap_or_default();
        (age > STALE_AFTER).then(|| format!("its heartbeat is {}s old", age.as_secs()))
    }
}

/// Take the output's lock for `run_id`, waiting up to `wait` for another run to finish.
pub async fn acquire(out: &Location, run_id: &str, wait: Option<Duration>) -> Result<Lock> {
    let path = out.child("_lock.json");
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let mut pause = Duration::from_millis(200);
    loop {
        let now = Utc::now();
        let record =
            LockRecord { run_id: run_id.into(), host: host(), pid: std::process::id(), since: now, heartbeat: now };
        let body =
            serde_json::to_vec_pretty(&record).map_err(|source| Error::Json { context: "lock".into(), source })?;
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match out.store.put_opts(&path, PutPayload::from(body), create).await {
            Ok(_) => {
                return Ok(Lock {
                    out: out.clone(),
                    path: path.clone(),
                    heartbeat: tokio::spawn(beat(out.clone(), path, record)),
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

async fn beat(out: Location, path: Path, mut record: LockRecord) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        record.heartbeat = Utc::now();
        if let Ok(body) = serde_json::to_vec_pretty(&record) {
            let _ = out.store.put(&path, PutPayload::from(body)).await;
        }
    }
}

impl Lock {
    /// Give the lock up.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
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
        };
        out.store.put(&out.child("_lock.json"), PutPayload::from(serde_json::to_vec(&dead).unwrap())).await.unwrap();
        assert!(dead.stale_because(Utc::now()).is_some());
        acquire(&out, "alive", None).await.unwrap().release().await.unwrap();
        let elsewhere =
            LockRecord { host: "another-host".into(), heartbeat: Utc::now() - chrono::Duration::seconds(600), ..dead };
        assert!(elsewhere.stale_because(Utc::now()).unwrap().contains("heartbeat"));
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
