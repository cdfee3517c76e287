//! The audit log of `junheng serve`: one JSON line per statement — who, from where, when, what,
//! on which version, how it ended, rows returned and how long it took — beside the output
//! (`_audit/serve-<date>.jsonl` on a local disk; on an object store one object per flush under
//! `_audit/serve/<date>/`), or in the file `--audit-log` names.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::warn;

use crate::storage::Location;

/// The longest statement text kept in the log; longer ones are cut and say how long they were.
const STATEMENT_CHARS: usize = 10_000;

/// How often lines are written to an object store (a local file gets each line at once).
const OBJECT_FLUSH: Duration = Duration::from_secs(10);

/// One statement in the log.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Entry {
    /// When it started (UTC, RFC 3339).
    pub(super) at: String,
    /// The login.
    pub(super) user: String,
    /// The client's address.
    pub(super) peer: String,
    /// The areas the login sees (`*` for all).
    pub(super) areas: Vec<String>,
    /// The run and version the statement read (empty when it was refused before).
    pub(super) run_id: String,
    pub(super) version: u64,
    /// The statement as sent (cut at 10 000 characters).
    pub(super) statement: String,
    /// `ok`, `refused`, `error`, `timeout` or `incomplete` (the client stopped reading).
    pub(super) outcome: &'static str,
    /// Data rows sent.
    pub(super) rows: u64,
    /// From start to the last row sent.
    pub(super) duration_ms: u64,
    /// The error's message, for `refused`, `error` and `timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
}

impl Entry {
    /// A new entry for a statement starting now.
    pub(super) fn start(user: &str, peer: &str, areas: Vec<String>, statement: &str) -> Entry {
        let chars = statement.chars().count();
        let statement = if chars > STATEMENT_CHARS {
            let cut: String = statement.chars().take(STATEMENT_CHARS).collect();
            format!("{cut}… ({chars} characters)")
        } else {
            statement.to_owned()
        };
        Entry {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            user: user.to_owned(),
            peer: peer.to_owned(),
            areas,
            run_id: String::new(),
            version: 0,
            statement,
            outcome: "ok",
            rows: 0,
            duration_ms: 0,
            error: None,
        }
    }
}

/// Where the lines go.
#[derive(Debug, Clone)]
pub(super) enum Destination {
    /// A local file, appended to (the day's file beside a local output, or `--audit-log`).
    File(Option<PathBuf>),
    /// Objects under the output's `_audit/serve/`.
    Objects(Location),
}

/// What the writer is sent.
#[derive(Debug)]
enum Message {
    /// A statement to log.
    Entry(Box<Entry>),
    /// The server is stopping: write what is pending and end (later entries are not logged).
    Close,
}

/// The sending side of the log, shared by every connection.
#[derive(Debug, Clone)]
pub(super) struct Audit {
    sender: mpsc::UnboundedSender<Message>,
}

impl Audit {
    /// Start the writer; the handle ends once [`Audit::close`] is called (or every [`Audit`] is
    /// dropped) and the lines are written.
    pub(super) fn start(out: &Location, file: Option<PathBuf>) -> (Audit, tokio::task::JoinHandle<()>) {
        let destination = match (file, &out.local_root) {
            (Some(file), _) => Destination::File(Some(file)),
            (None, Some(_)) => Destination::File(None),
            (None, None) => Destination::Objects(out.clone()),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_lines(destination, out.clone(), receiver));
        (Audit { sender }, writer)
    }

    /// Log a finished statement.
    pub(super) fn record(&self, entry: Entry) {
        if self.sender.send(Message::Entry(Box::new(entry))).is_err() {
            warn!("the audit log has stopped; a statement was not logged");
        }
    }

    /// Write what is pending and stop the writer, though connections may still hold an [`Audit`].
    pub(super) fn close(&self) {
        let _ = self.sender.send(Message::Close);
    }
}

async fn write_lines(destination: Destination, out: Location, mut receiver: mpsc::UnboundedReceiver<Message>) {
    let line = |entry: &Entry| {
        serde_json::to_string(entry).map(|mut l| {
            l.push('\n');
            l
        })
    };
    match destination {
        Destination::File(fixed) => {
            let mut open: Option<(PathBuf, tokio::fs::File)> = None;
            while let Some(Message::Entry(entry)) = receiver.recv().await {
                let path = fixed.clone().unwrap_or_else(|| day_file(&out, &entry.at));
                if open.as_ref().map(|(p, _)| p != &path).unwrap_or(true) {
                    if let Some(parent) = path.parent() {
                        let _ = tokio::fs::create_dir_all(parent).await;
                    }
                    match tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await {
                        Ok(file) => open = Some((path.clone(), file)),
                        Err(e) => {
                            warn!("cannot open the audit log {}: {e}", path.display());
                            continue;
                        }
                    }
                }
                let (Some((path, file)), Ok(text)) = (open.as_mut(), line(&entry)) else { continue };
                if let Err(e) = async {
                    file.write_all(text.as_bytes()).await?;
                    file.flush().await
                }
                .await
                {
                    warn!("cannot write the audit log {}: {e}", path.display());
                }
            }
        }
        Destination::Objects(out) => {
            let started = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string();
            let mut sequence = 0u64;
            let (mut pending, mut pending_day) = (String::new(), String::new());
            let mut last_flush = Instant::now();
            loop {
                let next = tokio::time::timeout(OBJECT_FLUSH, receiver.recv()).await;
                let ended = matches!(next, Ok(None) | Ok(Some(Message::Close)));
                if let Ok(Some(Message::Entry(entry))) = &next
                    && let Ok(text) = line(entry)
                {
                    if pending.is_empty() {
                        pending_day = entry.at.get(..10).unwrap_or("unknown").to_owned();
                    }
                    pending.push_str(&text);
                }
                if !pending.is_empty() && (ended || last_flush.elapsed() >= OBJECT_FLUSH) {
                    let n = sequence;
                    sequence += 1;
                    let name = format!("_audit/serve/{pending_day}/{started}-{}-{n:06}.jsonl", std::process::id());
                    if let Err(e) = put(&out, &name, std::mem::take(&mut pending)).await {
                        warn!("cannot write the audit log {name}: {e}");
                    }
                    last_flush = Instant::now();
                }
                if ended {
                    break;
                }
            }
        }
    }
}

async fn put(out: &Location, name: &str, text: String) -> crate::error::Result<()> {
    use object_store::ObjectStoreExt;
    let path = out.child(name);
    out.store.put(&path, text.into()).await.map_err(|e| crate::error::Error::store("write", &path, e))?;
    Ok(())
}

/// `<out>/_audit/serve-<YYYY-MM-DD>.jsonl` for the day an entry started.
fn day_file(out: &Location, at: &str) -> PathBuf {
    let day = at.get(..10).unwrap_or("unknown");
    out.local_root.clone().unwrap_or_default().join("_audit").join(format!("serve-{day}.jsonl"))
}

/// A statement being answered: its entry is logged once the last stream of its rows is done or
/// dropped (whichever comes last), with the rows counted and how it ended.
#[derive(Debug)]
pub(super) struct Span {
    audit: Audit,
    entry: std::sync::Mutex<Entry>,
    started: Instant,
    rows: AtomicU64,
}

impl Span {
    /// Begin answering `entry`.
    pub(super) fn new(audit: &Audit, entry: Entry) -> Arc<Span> {
        Arc::new(Span {
            audit: audit.clone(),
            entry: std::sync::Mutex::new(entry),
            started: Instant::now(),
            rows: AtomicU64::new(0),
        })
    }

    /// Count one row sent.
    pub(super) fn row(&self) {
        self.rows.fetch_add(1, Ordering::Relaxed);
    }

    /// Note how the statement ended (the first outcome other than `ok` is kept).
    pub(super) fn ended(&self, outcome: &'static str, error: Option<String>) {
        if let Ok(mut e) = self.entry.lock()
            && e.outcome == "ok"
        {
            e.outcome = outcome;
            e.error = error;
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let mut entry = match self.entry.lock() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        entry.rows = self.rows.load(Ordering::Relaxed);
        entry.duration_ms = self.started.elapsed().as_millis() as u64;
        self.audit.record(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_cut_and_say_how_long_they_were() {
        let entry = Entry::start("u", "127.0.0.1:1", vec!["23".into()], &"x".repeat(20_000));
        assert!(entry.statement.ends_with("… (20000 characters)"));
        assert_eq!(entry.statement.chars().count(), STATEMENT_CHARS + "… (20000 characters)".chars().count());
    }

    #[tokio::test]
    async fn a_span_logs_its_rows_outcome_and_version_once_dropped() {
        let dir = std::env::temp_dir().join(format!("junheng-audit-{}", std::process::id()));
        let out = crate::storage::open(dir.to_str().unwrap(), true).unwrap();
        let (audit, writer) = Audit::start(&out, None);
        let mut entry = Entry::start("wudalianchi", "127.0.0.1:5", vec!["231182".into()], "select 1");
        (entry.run_id, entry.version) = ("run-1".into(), 3);
        let span = Span::new(&audit, entry);
        span.row();
        span.row();
        let second = span.clone();
        drop(span);
        second.ended("timeout", Some("too slow".into()));
        drop(second);
        // A connection still holding the log does not keep the writer from ending at close.
        let held = audit.clone();
        audit.close();
        writer.await.unwrap();
        drop(held);
        let file = std::fs::read_dir(dir.join("_audit")).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(
            (line["user"].as_str(), line["rows"].as_u64(), line["version"].as_u64()),
            (Some("wudalianchi"), Some(2), Some(3))
        );
        assert_eq!((line["outcome"].as_str(), line["error"].as_str()), (Some("timeout"), Some("too slow")));
        assert!(file.file_name().unwrap().to_str().unwrap().starts_with("serve-20"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
