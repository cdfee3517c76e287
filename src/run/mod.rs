//! The run: the plan, and the stages called in order — nothing else.
//!
//! ```text
//! plan ─► lock ─► ingest (extract → validate → normalise → load, per file) ─► load (carry the
//! kept inputs' rows forward) ─► transform (sql/ → marts) ─► publish (notes, dictionary, report,
//! ledger = commit, Delta tables, switch `current`) ─► unlock
//! ```
//!
//! A run is incremental: inputs whose fingerprint (size and ETag, else SHA-256) matches the last
//! committed run keep their rows, and only new or changed inputs are read ([`plan`]). When
//! nothing changed, nothing is written. Validation (no output) runs ingest alone.

mod plan;

pub use crate::job::{FINDINGS_SHOWN, Progress, ProgressEvent, Request, TRANSFORM_ROWS, new_run_id};
pub use plan::{Plan, plan};

use crate::error::Result;
use crate::exit::ExitStatus;
use crate::ingest::{self, Ingested, records};
use crate::ledger::{Ledger, RunStatus};
use crate::load::{self, PartitionWriters};
use crate::storage::Location;
use crate::validate::Finding;
use crate::{publish, transform};

/// The result of a run or a validation.
#[derive(Debug)]
pub struct Outcome {
    /// The ledger (committed when the run published; the last run's when nothing changed).
    pub ledger: Ledger,
    /// The first findings, sorted by file and row (all of them are in quarantine).
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub findings_total: u64,
    /// Success or rejected.
    pub status: ExitStatus,
    /// The output location, when the run published.
    pub output: Option<Location>,
    /// True when nothing had changed and nothing was written.
    pub nothing_changed: bool,
}

impl Outcome {
    /// The outcome of a run that found nothing to do: the last committed run stands.
    fn nothing_to_do(parent: Ledger, output: Option<Location>) -> Outcome {
        Outcome {
            ledger: parent,
            findings: Vec::new(),
            findings_total: 0,
            status: ExitStatus::Success,
            output,
            nothing_changed: true,
        }
    }
}

/// Plan, then run the plan (what `junheng run` does, without printing the plan).
pub async fn run(request: Request) -> Result<Outcome> {
    let planned = plan(&request).await?;
    execute(&request, planned).await
}

/// Carry out a plan: read what changed, keep what did not, rebuild the marts and commit.
pub async fn execute(request: &Request, plan: Plan) -> Result<Outcome> {
    if let Some(parent) = plan.parent.clone().filter(|_| plan.nothing_changed()) {
        if let Some(out) = &plan.output
            && publish::lags(out, &parent).await?
        {
            let lock = publish::lock::acquire(out, &request.run_id, request.wait_for_lock).await?;
            let repaired = publish::repair(out, &lock).await;
            if let Err(e) = lock.release().await {
                tracing::warn!("{e}");
            }
            repaired?;
        }
        return Ok(Outcome::nothing_to_do(parent, plan.output));
    }
    let Some(out) = plan.output.clone() else {
        return validate_only(request, plan).await;
    };
    let lock = publish::lock::acquire(&out, &request.run_id, request.wait_for_lock).await?;
    let result = publish_run(request, plan, &out, &lock).await;
    // The run's own error matters more than a lock that could not be released (it goes stale).
    if let Err(e) = lock.release().await {
        tracing::warn!("{e}");
    }
    result
}

/// Under the lock: ingest, load, transform and publish a new version.
async fn publish_run(request: &Request, plan: Plan, out: &Location, lock: &publish::lock::Lock) -> Result<Outcome> {
    // Another run may have committed while we waited: plan again under the lock.
    let plan = match publish::latest(out).await? {
        Some(latest) if plan.parent.as_ref().map(|p| &p.run_id) != Some(&latest.run_id) => self::plan(request).await?,
        _ => plan,
    };
    if let Some(parent) = plan.parent.clone().filter(|_| plan.nothing_changed()) {
        return Ok(Outcome::nothing_to_do(parent, Some(out.clone())));
    }
    publish::repair(out, lock).await?;
    let stage = Stage::start("ingest");
    let mut writers = PartitionWriters::new(out.clone(), &request.run_id);
    let Ingested { mut ledger, findings, findings_total, kept, kept_slices } =
        ingest(request, &plan, Some(&mut writers)).await?;
    if let Some(parent) = &plan.parent {
        let keep = load::Keep { inputs: &kept, slices: &kept_slices };
        load::carry_forward(out, parent, keep, request.pipeline.settings.teacher_counts, &mut writers).await?;
    }
    let status = records::close_books(&mut ledger, request.pipeline.max_rejected_rows);
    // What validation remembered is not needed by the SQL: free it before the engine starts.
    drop((plan, kept));
    ledger.files_written = writers.finish().await?;
    let stage = stage.next("transform");
    let built = transform::build(request, out, &ledger).await?;
    let stage = stage.next("publish");
    let ledger = publish::publish(request, out, ledger, &built, lock).await?;
    stage.end();
    Ok(Outcome { ledger, findings, findings_total, status, output: Some(out.clone()), nothing_changed: false })
}

/// Validation: ingest without writing anything.
async fn validate_only(request: &Request, plan: Plan) -> Result<Outcome> {
    let Ingested { mut ledger, findings, findings_total, .. } = ingest(request, &plan, None).await?;
    let status = records::close_books(&mut ledger, request.pipeline.max_rejected_rows);
    ledger.status = RunStatus::Validated;
    ledger.finished_at = chrono::Utc::now().to_rfc3339();
    Ok(Outcome { ledger, findings, findings_total, status, output: None, nothing_changed: false })
}

/// The ingest stage over the plan's inputs.
async fn ingest(request: &Request, plan: &Plan, writers: Option<&mut PartitionWriters>) -> Result<Ingested> {
    let ledger = records::new_ledger(request, plan.parent.as_ref(), &plan.source, plan.output.as_ref())?;
    let inputs = ingest::Inputs {
        discovery: &plan.discovery,
        to_read: &plan.to_read,
        parent: plan.parent.as_ref(),
        source: &plan.source,
        evidence_sha: &plan.evidence_sha,
        keep_unchanged_slices: plan.parent.is_some() && plan.full_reason.is_none(),
    };
    ingest::ingest(request, inputs, ledger, writers).await
}

/// A stage of the run being timed: its wall time goes to the log (`RUST_LOG=junheng=info`) when
/// it ends, so a long run can be read stage by stage.
struct Stage {
    name: &'static str,
    started: std::time::Instant,
}

impl Stage {
    /// Start timing a stage.
    fn start(name: &'static str) -> Stage {
        tracing::info!("stage {name} started");
        Stage { name, started: std::time::Instant::now() }
    }

    /// End this stage and start the next.
    fn next(self, name: &'static str) -> Stage {
        self.end();
        Stage::start(name)
    }

    /// End this stage.
    fn end(self) {
        tracing::info!(seconds = self.started.elapsed().as_secs_f64(), "stage {} finished", self.name);
    }
}
