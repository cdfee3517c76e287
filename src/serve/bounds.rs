//! What keeps one statement from taking the server down, beside the memory pool (which only
//! some operators report to): a cap on the values a function may build, and a runtime of its
//! own for each statement.
//!
//! - **Capped functions.** The functions that make a value larger than their inputs
//!   (`repeat`, `lpad`, `array_repeat`, `range` and `generate_series` — over dates and
//!   timestamps too —, `concat`, `replace` …) are wrapped: before they
//!   run, the bytes they would build for the batch are worked out from their arguments, and a
//!   call over the cap is an error that names the function and the cap. Every other value is
//!   built from values that were themselves capped.
//! - **A runtime per statement.** A statement's planning spawns, and its rows are produced, on
//!   a runtime of its own, so an operator that never yields (a large nested-loop join) holds
//!   its own threads, never the listener's or another statement's. At its timeout the client is
//!   answered at once, the statement is cancelled (every operator stops at its next batch,
//!   [`super::cancel`]) and the runtime is shut down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// The largest value a capped function may build in one row, and the longest token (a string
/// literal above all) a statement may hold: one value is repeated for each row of a batch
/// (8192), so 8 KiB makes at most 64 MiB of one column.
pub const VALUE_CAP: usize = 8 * 1024;

/// The longest statement accepted.
pub const STATEMENT_CAP: usize = 1024 * 1024;

/// Why a statement's text is refused: longer than [`STATEMENT_CAP`], or a token (a literal)
/// longer than [`VALUE_CAP`].
pub(super) fn oversized(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    if sql.len() > STATEMENT_CAP {
        return Some(format!("the statement has {} bytes; this server takes up to {STATEMENT_CAP}", sql.len()));
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let longest = tokens.iter().map(|t| t.to_string().len()).max().unwrap_or(0);
    (longest > VALUE_CAP).then(|| {
        format!("the statement holds a literal of {longest} bytes; this server takes values of up to {VALUE_CAP}")
    })
}

/// How a function's output is bounded by its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: the text's bytes × n.
    Repeat,
    /// `lpad(text, n [, fill])`, `rpad`: n characters of up to 4 bytes.
    Pad,
    /// `array_repeat(value, n)`, `array_resize(list, n [, value])`: n elements.
    Elements,
    /// `range(start, stop [, step])`, `generate_series`: (stop − start) ÷ step integers.
    Series,
    /// `replace(text, from, to)`, `regexp_replace(text, pattern, to …)`: up to the text's
    /// bytes × (to's bytes + 1).
    Replace,
    /// `concat`, `concat_ws`, `array_concat`, `make_array`, `overlay`, `to_hex`, `encode` …:
    /// at most twice the arguments' bytes.
    Sum,
}

/// The functions wrapped, with how each grows.
const CAPPED: [(&str, Growth); 17] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("array_repeat", Growth::Elements),
    ("array_resize", Growth::Elements),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::Replace),
    ("concat", Growth::Sum),
    ("concat_ws", Growth::Sum),
    ("array_concat", Growth::Sum),
    ("make_array", Growth::Sum),
    ("array_append", Growth::Sum),
    ("array_prepend", Growth::Sum),
    ("overlay", Growth::Sum),
    ("encode", Growth::Sum),
];

/// Replace each growing function of `ctx` by a capped one: no call may build more than `cap`
/// bytes for one batch.
pub(super) fn cap_functions(ctx: &SessionContext, cap: usize) {
    for (name, growth) in CAPPED {
        let Ok(inner) = ctx.udf(name) else { continue };
        ctx.register_udf(ScalarUDF::new_from_impl(Capped { inner, growth, cap }));
    }
}

/// A function whose output is checked against the cap before it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Capped {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    cap: usize,
}

/// An argument as an array: a scalar as one value (spread over the rows by the caller).
fn as_array(value: &ColumnarValue) -> DfResult<ArrayRef> {
    Ok(match value {
        ColumnarValue::Array(a) => a.clone(),
        ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
    })
}

/// Per row: the byte length of a text, binary or list argument (the whole batch's bytes spread
/// evenly for other types).
fn byte_lengths(value: &ColumnarValue, rows: usize) -> DfResult<Vec<u64>> {
    let array = as_array(value)?;
    let lengths: Vec<u64> = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::Binary => array.as_binary::<i32>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        _ => {
            let each = (array.get_array_memory_size() / array.len().max(1)) as u64 + 8;
            vec![each; array.len()]
        }
    };
    Ok(spread(lengths, rows))
}

/// Whether a series over this type steps by an interval (a date or a timestamp).
fn is_moment(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))
}

/// Per row: a date or timestamp argument in nanoseconds since 1970 (0 where NULL; a moment too
/// far off for nanoseconds counts as the farthest one).
fn nanos(value: &ColumnarValue, rows: usize) -> DfResult<Vec<i128>> {
    use datafusion::arrow::datatypes::{TimeUnit, TimestampSecondType};
    let array = as_array(value)?;
    // Seconds hold every date DataFusion can write; nanoseconds would overflow past 2262.
    let seconds = datafusion::arrow::compute::cast(&array, &DataType::Timestamp(TimeUnit::Second, None))?;
    let values: Vec<i128> =
        seconds.as_primitive::<TimestampSecondType>().iter().map(|v| v.unwrap_or(0) as i128 * 1_000_000_000).collect();
    Ok(spread(values, rows))
}

/// Per row: an interval step's shortest length in nanoseconds (a month as 28 days), at least 1.
fn step_nanos(value: &ColumnarValue, rows: usize) -> DfResult<Vec<u128>> {
    use datafusion::arrow::datatypes::{IntervalMonthDayNanoType, IntervalUnit};
    let array = as_array(value)?;
    let day = 86_400_000_000_000i128;
    let steps = datafusion::arrow::compute::cast(&array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
    let values: Vec<u128> = steps
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|v| {
            v.map_or(1, |v| {
                let total = v.months as i128 * 28 * day + v.days as i128 * day + v.nanoseconds as i128;
                total.unsigned_abs().max(1)
            })
        })
        .collect();
    Ok(spread(values, rows))
}

/// Per row: an integer argument (0 where NULL or not an integer).
fn integers(value: &ColumnarValue, rows: usize) -> DfResult<Vec<i64>> {
    let array = as_array(value)?;
    if !array.data_type().is_integer() {
        return Ok(vec![0; rows]);
    }
    let cast = datafusion::arrow::compute::cast(&array, &DataType::Int64)?;
    let values: Vec<i64> =
        cast.as_primitive::<datafusion::arrow::datatypes::Int64Type>().iter().map(|v| v.unwrap_or(0)).collect();
    Ok(spread(values, rows))
}

/// A scalar's one value repeated for every row of the batch.
fn spread<T: Copy>(values: Vec<T>, rows: usize) -> Vec<T> {
    if values.len() == 1 && rows > 1 { vec![values[0]; rows] } else { values }
}

impl Capped {
    /// The bytes this call would build for each row of the batch.
    fn bytes(&self, args: &[ColumnarValue], rows: usize) -> DfResult<Vec<u64>> {
        let rows = rows.max(1);
        let count = |i: usize| -> DfResult<Vec<u64>> {
            Ok(match args.get(i) {
                Some(a) => integers(a, rows)?.into_iter().map(|n| n.max(0) as u64).collect(),
                None => vec![0; rows],
            })
        };
        Ok(match self.growth {
            Growth::Repeat => {
                let (text, times) = (byte_lengths(&args[0], rows)?, count(1)?);
                text.iter().zip(&times).map(|(t, n)| t.saturating_mul(*n)).collect()
            }
            Growth::Pad => count(1)?.into_iter().map(|n| n.saturating_mul(4)).collect(),
            Growth::Elements => {
                let element =
                    if self.inner.name() == "array_repeat" { byte_lengths(&args[0], rows)? } else { vec![16; rows] };
                element.iter().zip(&count(1)?).map(|(e, n)| (e + 8).saturating_mul(*n)).collect()
            }
            Growth::Series if args.len() == 3 && is_moment(&args[0].data_type()) => {
                // Dates or timestamps with an interval step: the span in nanoseconds over the
                // step's shortest length (a month counted as 28 days).
                let (start, stop, step) = (nanos(&args[0], rows)?, nanos(&args[1], rows)?, step_nanos(&args[2], rows)?);
                (0..rows)
                    .map(|i| {
                        let count = (stop[i] - start[i]).unsigned_abs() / step[i].max(1);
                        (count.min(u64::MAX as u128) as u64).saturating_add(1).saturating_mul(8)
                    })
                    .collect()
            }
            Growth::Series => {
                if args.iter().any(|a| !a.data_type().is_integer()) {
                    // Anything else DataFusion's range accepts is refused by its own signature.
                    return Ok(vec![0; rows]);
                }
                let first = integers(&args[0], rows)?;
                let (start, stop) =
                    if args.len() == 1 { (vec![0; rows], first) } else { (first, integers(&args[1], rows)?) };
                let step = if args.len() >= 3 { integers(&args[2], rows)? } else { vec![1; rows] };
                (0..rows)
                    .map(|i| {
                        let span = (stop[i] as i128 - start[i] as i128).unsigned_abs();
                        let step = (step[i] as i128).unsigned_abs().max(1);
                        ((span / step).min(u64::MAX as u128) as u64).saturating_add(1).saturating_mul(8)
                    })
                    .collect()
            }
            Growth::Replace => {
                let text = byte_lengths(&args[0], rows)?;
                let to = byte_lengths(&args[args.len().min(3) - 1], rows)?;
                text.iter().zip(&to).map(|(t, r)| t.saturating_mul(r + 1)).collect()
            }
            Growth::Sum => {
                let mut total = vec![0u64; rows];
                for a in args {
                    for (t, b) in total.iter_mut().zip(byte_lengths(a, rows)?) {
                        *t = t.saturating_add(b.saturating_mul(2));
                    }
                }
                total
            }
        })
    }
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let each = self.bytes(&args.args, args.number_rows)?;
        let largest = each.iter().copied().max().unwrap_or(0);
        if largest > VALUE_CAP as u64 {
            return exec_err!(
                "{}() would build a value of {} in one row, over this server's cap of {} for one value",
                self.name(),
                bytesize::ByteSize::b(largest),
                bytesize::ByteSize::b(VALUE_CAP as u64)
            );
        }
        let bytes = each.into_iter().fold(0u64, u64::saturating_add);
        if bytes > self.cap as u64 {
            return exec_err!(
                "{}() would build {} for {} rows, over this server's cap of {} for one function's values \
                 (a quarter of --memory-limit)",
                self.name(),
                bytesize::ByteSize::b(bytes),
                args.number_rows,
                bytesize::ByteSize::b(self.cap as u64)
            );
        }
        self.inner.invoke_with_args(args)
    }
}

/// A statement's own runtime, shut down (without waiting for a task that does not yield) when
/// the last of its users lets go.
#[derive(Debug)]
pub(super) struct StatementRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    /// Set at the statement's timeout or when it is dropped: its plan's cancel points then stop it.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl StatementRuntime {
    /// A runtime of `threads` workers for one statement.
    pub(super) fn new(threads: usize) -> std::io::Result<Arc<StatementRuntime>> {
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cancelled.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("junheng-statement")
            .on_thread_start(move || super::cancel::belong_to(flag.clone()))
            .enable_all()
            .build()?;
        Ok(Arc::new(StatementRuntime { runtime: Some(runtime), cancelled }))
    }

    /// Stop the statement: its operators end at their next batch with an error.
    pub(super) fn cancel(&self) {
        self.cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Its handle, for spawning.
    pub(super) fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(r) => r.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for StatementRuntime {
    fn drop(&mut self) {
        self.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A future polled with a runtime entered, so that whatever it spawns (DataFusion starts an
/// operator's tasks when a plan is executed) runs on that runtime.
pub(super) struct Entered<F> {
    pub(super) handle: tokio::runtime::Handle,
    pub(super) future: Pin<Box<F>>,
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.clone();
        let _guard = _entered.enter();
        self.future.as_mut().poll(cx)
    }
}

/// Move a row stream onto the statement's runtime: its rows come back through a channel, so
/// the connection's task only waits on the channel. The permit (the login's share of running
/// statements) is held until the stream's task is really gone.
pub(super) fn drive<T: Send + 'static>(
    runtime: &StatementRuntime,
    mut rows: Pin<Box<dyn futures::Stream<Item = T> + Send>>,
    permit: Arc<tokio::sync::OwnedSemaphorePermit>,
) -> Pin<Box<dyn futures::Stream<Item = T> + Send>> {
    use futures::StreamExt;
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    runtime.handle().spawn(async move {
        let _permit = permit;
        while let Some(row) = rows.next().await {
            if sender.send(row).await.is_err() {
                break;
            }
        }
    });
    Box::pin(futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|row| (row, r)) }))
}

/// The statements each login may have running at once.
#[derive(Debug)]
pub(super) struct LoginShares {
    pub(super) per_login: usize,
    pub(super) by_login: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl LoginShares {
    /// A share for one more statement of `login`, waiting until `deadline` for one of its
    /// running statements to finish; past it, the error that says so.
    pub(super) async fn acquire(
        &self,
        login: &str,
        deadline: tokio::time::Instant,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, String> {
        let semaphore = {
            let mut by_login = self.by_login.lock().unwrap_or_else(|p| p.into_inner());
            by_login
                .entry(login.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_login)))
                .clone()
        };
        match tokio::time::timeout_at(deadline, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(format!(
                "canceling statement due to statement timeout: it waited its whole time for one of login `{login}`'s \
                 {} running statements to finish (junheng serve --max-statements-per-login)",
                self.per_login
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn growing_functions_stop_at_the_cap_and_small_calls_pass() {
        let ctx = SessionContext::new();
        cap_functions(&ctx, 1 << 20);
        let answer = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { ctx.sql(sql).await?.collect().await }
        };
        for sql in [
            "select length(repeat('x', 20000))",
            "select length(repeat('x', 2000000))",
            "select length(lpad('x', 1000000))",
            "select cardinality(array_repeat(1, 1000000))",
            "select cardinality(range(1, 1000000))",
            "select cardinality(range(date '1970-01-01', date '2100-01-01', interval '1 day'))",
            // The scalar form builds one list; the table function in FROM streams its rows in
            // batches, bounded by the statement timeout instead.
            "select cardinality(generate_series(timestamp '2000-01-01', timestamp '2001-01-01', interval '1 second'))",
            "select length(replace(repeat('ab', 1000), 'a', repeat('z', 1000)))",
            "select length(concat(repeat('x', 400000), repeat('y', 400000)))",
        ] {
            let error = answer(sql).await.unwrap_err().to_string();
            assert!(error.contains("over this server's cap"), "{sql}: {error}");
        }
        // A column of small values still has the batch's cap: unnest(range(1, 1000)) is 999 rows,
        // each value 1 000 copies of a 1–3 digit number (at most 3 000 bytes, under the 8 KiB a
        // value may have), about 2.9 MB in all, over this test's 1 MiB cap.
        let many = "select length(repeat(cast(v as varchar), 1000)) from unnest(range(1, 1000)) as t(v)";
        let error = answer(many).await.unwrap_err().to_string();
        assert!(error.contains("for 999 rows, over"), "{error}");
        for sql in [
            "select repeat('ab', 3) = 'ababab'",
            "select lpad('7', 3, '0') = '007'",
            "select cardinality(range(1, 11)) = 10",
            "select cardinality(range(date '2018-01-01', date '2019-01-01', interval '1 month')) = 12",
            "select concat('a', 'b', 1) = 'ab1'",
            "select replace('a-b', '-', '+') = 'a+b'",
        ] {
            let batches = answer(sql).await.unwrap();
            let value = batches[0].column(0).as_boolean().value(0);
            assert!(value, "{sql}");
        }
    }

    #[tokio::test]
    async fn a_login_runs_its_share_of_statements_and_the_next_waits_for_a_turn() {
        let running = LoginShares { per_login: 2, by_login: Default::default() };
        let soon = || tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        let first = running.acquire("county", soon()).await.unwrap();
        let _second = running.acquire("county", soon()).await.unwrap();
        let waited = running.acquire("county", soon()).await.unwrap_err();
        assert!(waited.contains("one of login `county`'s 2 running statements"), "{waited}");
        // Another login is not held up; and a turn comes as soon as one statement ends.
        assert!(running.acquire("city", soon()).await.is_ok());
        let later = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let (third, ()) = tokio::join!(running.acquire("county", later), async { drop(first) });
        assert!(third.is_ok());
    }

    #[test]
    fn long_literals_and_statements_are_refused() {
        assert!(oversized("select 'short'").is_none());
        let literal = format!("select '{}'", "x".repeat(VALUE_CAP + 1));
        assert!(oversized(&literal).unwrap().contains("a literal of"));
        let many = format!("select 1 {}", " + 1".repeat(STATEMENT_CAP / 4));
        assert!(oversized(&many).unwrap().contains("up to 1048576"));
    }
}
