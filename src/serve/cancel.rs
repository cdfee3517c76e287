//! Cancelling a statement from outside it: a flag its runtime's threads know, checked wherever
//! one operator hands a batch to the next.
//!
//! Dropping a statement's tasks stops them only at their next yield, and some operators (a
//! nested-loop join, an aggregate over a fast input) run for minutes without one. So every
//! physical plan a connection executes has a cancel point above each of its operators: a stream
//! that, before passing on the operator's next batch, looks at the flag of the statement whose
//! runtime polls it, and once it is set answers an error instead — which every operator above
//! passes up, so the whole plan stops within one batch of its slowest operator. The flag is set
//! at the statement's timeout and when its runtime is dropped.
//!
//! The points are added after planning (a query planner around DataFusion's), so optimizer
//! rules never see them and `EXPLAIN` shows the plan as DataFusion made it.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties, RecordBatchStream,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use futures::Stream;

thread_local! {
    /// The cancel flag of the statement whose runtime this thread works for (set when a
    /// statement runtime's thread starts; none on the listener's threads).
    static STATEMENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Mark this thread as one of the statement's whose flag is `cancelled` (a runtime's
/// `on_thread_start`).
pub(super) fn belong_to(cancelled: Arc<AtomicBool>) {
    STATEMENT.with(|s| *s.borrow_mut() = Some(cancelled));
}

/// Whether the statement this thread works for was cancelled.
fn cancelled_here() -> bool {
    STATEMENT.with(|s| s.borrow().as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed)))
}

/// `ctx` with its physical plans given cancel points.
pub(super) fn with_cancel_points(ctx: SessionContext) -> SessionContext {
    let state = SessionStateBuilder::new_from_existing(ctx.state()).with_query_planner(Arc::new(CancelPoints)).build();
    SessionContext::new_with_state(state)
}

/// DataFusion's planner, then a cancel point above every operator of its plan.
#[derive(Debug)]
struct CancelPoints;

#[async_trait]
impl QueryPlanner for CancelPoints {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default().create_physical_plan(logical_plan, session_state).await?;
        add_cancel_points(plan)
    }
}

/// A cancel point above each operator of `plan` (children first).
fn add_cancel_points(plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| Ok(Transformed::yes(Arc::new(CancelPoint { input: node }) as Arc<dyn ExecutionPlan>)))
        .map(|t| t.data)
}

/// One operator's output, stopped by its statement's cancel flag.
#[derive(Debug)]
struct CancelPoint {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for CancelPoint {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CancelPoint")
    }
}

impl ExecutionPlan for CancelPoint {
    fn name(&self) -> &str {
        "CancelPoint"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(CancelPoint { input })),
            _ => Err(DataFusionError::Internal("a cancel point has one input".into())),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        Ok(Box::pin(Stopped { input: self.input.execute(partition, context)? }))
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
}

/// An operator's batches until its statement is cancelled, then an error.
struct Stopped {
    input: SendableRecordBatchStream,
}

impl Stream for Stopped {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if cancelled_here() {
            // An error, never an early end: an aggregate above must not answer with part of its rows.
            return Poll::Ready(Some(Err(DataFusionError::Execution(
                "canceling statement due to statement timeout".into(),
            ))));
        }
        self.input.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.input.size_hint()
    }
}

impl RecordBatchStream for Stopped {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A nested-loop join over two series compares 2·10⁵ × 2·10⁵ pairs without yielding to tokio; a
    /// statement's runtime cancelled from another thread stops it within a batch, with an error,
    /// not a partial count.
    #[test]
    fn a_running_join_stops_when_its_statement_is_cancelled() {
        let runtime = super::super::bounds::StatementRuntime::new(1).unwrap();
        let ctx = with_cancel_points(SessionContext::new());
        let sql =
            "select count(*) from generate_series(1, 200000) a join generate_series(1, 200000) b on a.value < b.value";
        let (handle, canceller) = (runtime.handle(), runtime.clone());
        let (answer, took) = handle.block_on(async move {
            let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
            let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string();
            assert!(shown.contains("CancelPoint"), "{shown}");
            let started = std::time::Instant::now();
            let mut rows = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx()).unwrap();
            // Polled on one of the runtime's own threads, as a served statement's rows are.
            let stream = tokio::spawn(async move { rows.next().await });
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                canceller.cancel();
            });
            (stream.await.unwrap(), started.elapsed())
        });
        let error = answer.expect("an answer").expect_err("an error, not a count");
        assert!(error.to_string().contains("statement timeout"), "{error}");
        // 4·10¹⁰ comparisons take minutes (the test ran past 60 s with the check disabled);
        // cancelled after 0.3 s, it ends within a second or two.
        assert!(took < std::time::Duration::from_secs(5), "stopped after {took:?}");
    }
}
