//! What a run is asked to do, and what it tells a progress display: the types every stage of a
//! run shares. They sit below the stages, so that no stage needs the run module that calls it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::pipeline::Pipeline;
use crate::transform::Engine;

/// How many findings a run keeps in memory to show; all of them are in quarantine.
pub const FINDINGS_SHOWN: usize = 1000;

/// Staging rows per county group of the SQL stage, unless told otherwise: about 40 counties of
/// the generated national data. 356 counties took 0.62 GB at this size and 1.13 GB at 1 000 000
/// rows per group (peak RSS), 36 s and 34 s.
pub const TRANSFORM_ROWS: u64 = 250_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The pipeline (a file's, or the zero-config standard layout).
    pub pipeline: Pipeline,
    /// Output URL; None to validate only (nothing is written).
    pub output: Option<String>,
    /// The run's id (injected: tests fix it, the binary makes one from the clock).
    pub run_id: String,
    /// The run's start time.
    pub started_at: DateTime<Utc>,
    /// Drop the rows of inputs that disappeared from the source (otherwise they are kept).
    pub allow_removals: bool,
    /// Read every input again, changed or not.
    pub force: bool,
    /// Wait this long for another run on the same output to finish (default: fail at once).
    pub wait_for_lock: Option<Duration>,
    /// How many findings to keep in the outcome (all of them are in quarantine).
    pub findings_limit: usize,
    /// Told about progress (files read, marts built), for progress bars.
    pub progress: Option<Progress>,
    /// Where the SQL models run (this process, or a Ballista cluster).
    pub engine: Engine,
    /// Bytes the local SQL engine may hold before spilling (None: no limit).
    pub memory_limit: Option<usize>,
    /// The SQL runs over groups of whole counties of at most this many staging rows at a time
    /// (its memory follows the group, not the country).
    pub transform_rows: u64,
    /// On a cluster, how long one model's job may take before the run fails (None: no limit).
    pub job_timeout: Option<Duration>,
}

impl Request {
    /// A request with the defaults: incremental, keep removed inputs, do not wait for a lock.
    pub fn new(pipeline: Pipeline, output: Option<String>, run_id: String, started_at: DateTime<Utc>) -> Self {
        Request {
            pipeline,
            output,
            run_id,
            started_at,
            allow_removals: false,
            force: false,
            wait_for_lock: None,
            findings_limit: FINDINGS_SHOWN,
            progress: None,
            engine: Engine::Local,
            memory_limit: None,
            transform_rows: TRANSFORM_ROWS,
            job_timeout: None,
        }
    }

    /// Tell the progress display, if there is one.
    pub fn tell(&self, event: ProgressEvent) {
        if let Some(p) = &self.progress {
            (p.0)(event);
        }
    }
}

/// What a run tells a progress display.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// Reading starts: how many files will be read.
    Reading(u64),
    /// A file was read (its path relative to the source).
    FileRead(String),
    /// The SQL models are being built.
    BuildingMarts(u64),
    /// A model was built.
    ModelBuilt(String),
    /// The run is committed (or failed).
    Finished,
}

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(ProgressEvent) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Make a run id from a time and a little randomness: `20261130T005229Z-3fa1`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), h.finish() & 0xffff)
}
