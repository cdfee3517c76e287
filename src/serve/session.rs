//! One connection's statements: checked by the guard, pinned to a version, planned and encoded
//! by datafusion-postgres, bounded by the statement timeout.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, Parser as DfParser, QueryHook};
use futures::{Sink, Stream};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;

use super::Logins;
use super::access::Areas;
use super::audit::{Audit, Entry, Span};
use super::auth::Login;
use super::bounds::{self, Entered, StatementRuntime, drive};
use super::guard::{refusal, unparsed_refusal};
use super::rewrite::rewrite_for_datafusion;
use super::versions::{PinnedSchema, Versions};
use crate::query::AsOf;

pub(super) fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".to_owned(), code.to_owned(), message)))
}

pub(super) fn timeout_error(limit: Duration) -> PgWireError {
    user_error(
        "57014",
        format!(
            "canceling statement due to statement timeout ({} s, junheng serve --statement-timeout)",
            limit.as_secs()
        ),
    )
}

/// The server's own paths, taken out of every message a client is sent: an error names tables
/// and versions, and files relative to the output, never where the output is on the server.
#[derive(Debug, Clone, Default)]
pub(super) struct Redact {
    /// The output's folder as messages may spell it (as given, canonical, as a `file://` URL),
    /// longest first.
    roots: Vec<String>,
}

impl Redact {
    /// For an output on the local disk at `root` (nothing to take out of an object store's).
    pub(super) fn of(root: Option<&std::path::Path>) -> Redact {
        let mut roots = Vec::new();
        if let Some(root) = root {
            for path in [Some(root.to_path_buf()), std::fs::canonicalize(root).ok()].into_iter().flatten() {
                let text = path.display().to_string();
                roots.push(format!("file://{text}"));
                roots.push(text);
            }
        }
        roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
        roots.dedup();
        Redact { roots }
    }

    /// `message` with every root replaced by `<output>`.
    pub(super) fn text(&self, message: &str) -> String {
        let mut text = message.to_owned();
        for root in self.roots.iter().filter(|r| !r.is_empty() && r.as_str() != "/") {
            text = text.replace(root.as_str(), "<output>");
        }
        text
    }

    /// The error a client is sent: its SQLSTATE kept, its message without the server's paths.
    pub(super) fn error(&self, error: PgWireError) -> PgWireError {
        match error {
            PgWireError::UserError(mut info) => {
                info.message = self.text(&info.message);
                PgWireError::UserError(info)
            }
            PgWireError::ApiError(e) => user_error("XX000", self.text(&e.to_string())),
            other => other,
        }
    }
}

/// A row stream that ends with a timeout error once the statement's deadline passes, and counts
/// its rows and outcome into the statement's audit [`Span`].
pub(super) struct Deadline<S> {
    pub(super) rows: S,
    /// The statement's runtime, shut down once the last of its row streams is gone.
    pub(super) runtime: Arc<StatementRuntime>,
    pub(super) sleep: Pin<Box<tokio::time::Sleep>>,
    pub(super) limit: Duration,
    pub(super) done: bool,
    pub(super) span: Arc<Span>,
    pub(super) redact: Arc<Redact>,
}

impl<S: Stream<Item = PgWireResult<DataRow>> + Unpin> Stream for Deadline<S> {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.runtime.cancel();
            self.span.ended("timeout", Some(timeout_error(self.limit).to_string()));
            return Poll::Ready(Some(Err(timeout_error(self.limit))));
        }
        let next = Pin::new(&mut self.rows).poll_next(cx);
        match next {
            Poll::Ready(Some(Ok(row))) => {
                self.span.row();
                Poll::Ready(Some(Ok(row)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e = self.redact.error(e);
                self.span.ended("error", Some(e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S> Drop for Deadline<S> {
    fn drop(&mut self) {
        if !self.done {
            self.span.ended("incomplete", None);
        }
    }
}

/// A statement being answered: its deadline and time limit, its audit span, its runtime and
/// its login's share of running statements.
pub(super) struct Answering {
    pub(super) deadline: tokio::time::Instant,
    pub(super) limit: Duration,
    pub(super) span: Arc<Span>,
    pub(super) runtime: Arc<StatementRuntime>,
    pub(super) permit: Arc<tokio::sync::OwnedSemaphorePermit>,
    pub(super) redact: Arc<Redact>,
}

/// Bound the rows of a query response by the statement's deadline, produce them on its
/// runtime and count them into its span.
pub(super) fn bounded(response: Response, running: &Answering) -> Response {
    match response {
        Response::Query(mut query) => {
            let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
            let rows = drive(&running.runtime, rows, running.permit.clone());
            query.data_rows = Box::pin(Deadline {
                rows,
                runtime: running.runtime.clone(),
                sleep: Box::pin(tokio::time::sleep_until(running.deadline)),
                limit: running.limit,
                done: false,
                span: running.span.clone(),
                redact: running.redact.clone(),
            });
            Response::Query(query)
        }
        Response::Error(mut e) => {
            e.message = running.redact.text(&e.message);
            running.span.ended("error", Some(e.message.clone()));
            Response::Error(e)
        }
        other => other,
    }
}

/// The plan of a statement a hook answers itself (no rows, no columns): what the extended
/// protocol's parse step needs of it.
fn answered_here() -> datafusion::logical_expr::LogicalPlan {
    datafusion::logical_expr::LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(datafusion::common::DFSchema::empty()),
    })
}

/// `SAVEPOINT`, `RELEASE` and `ROLLBACK TO`: nothing to undo in a read-only session, but drivers
/// (psycopg's nested transactions, SQLAlchemy) send them and expect PostgreSQL's answers.
#[derive(Debug)]
pub(super) struct SavepointHook;

impl SavepointHook {
    pub(super) fn tag(statement: &Statement) -> Option<&'static str> {
        match statement {
            Statement::Savepoint { .. } => Some("SAVEPOINT"),
            Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
            Statement::Rollback { savepoint: Some(_), .. } => Some("ROLLBACK"),
            _ => None,
        }
    }
}

#[async_trait]
impl QueryHook for SavepointHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn datafusion_postgres::hooks::HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(pgwire::api::results::Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<datafusion::logical_expr::LogicalPlan>> {
        Self::tag(statement).map(|_| Ok(answered_here()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &datafusion::logical_expr::LogicalPlan,
        _params: &datafusion::common::ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn datafusion_postgres::hooks::HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::tag(statement).map(|tag| Ok(Response::Execution(pgwire::api::results::Tag::new(tag))))
    }
}

/// `SET junheng.as_of = '…'`: which version this connection's later statements read (time
/// travel per session: a run id, a version number or a moment, as `query --as-of`; `'latest'`
/// follows new versions again). Each statement is pinned to it before it runs.
#[derive(Debug, Default)]
pub(super) struct AsOfHook {
    /// What the connection chose (shared with its [`GuardedParser`], which pins statements).
    pub(super) chosen: Arc<std::sync::Mutex<AsOf>>,
}

impl AsOfHook {
    /// The value `statement` sets `junheng.as_of` to, if it is that `SET`.
    fn value(statement: &Statement) -> Option<String> {
        use datafusion::sql::sqlparser::ast::{Expr, Set, Value};
        let Statement::Set(Set::SingleAssignment { variable, values, .. }) = statement else { return None };
        if super::guard::setting_name(variable) != super::guard::AS_OF_SETTING {
            return None;
        }
        let words: Vec<String> = values
            .iter()
            .map(|value| match value {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    Value::Number(n, _) => n.clone(),
                    other => other.to_string(),
                },
                Expr::Identifier(ident) => ident.value.clone(),
                other => other.to_string(),
            })
            .collect();
        Some(words.join(" "))
    }

    /// Apply `SET junheng.as_of`, if `statement` is one.
    fn apply(&self, statement: &Statement) -> Option<PgWireResult<Response>> {
        let text = Self::value(statement)?;
        Some(match AsOf::parse(&text) {
            Ok(as_of) => {
                *self.chosen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = as_of;
                Ok(Response::Execution(pgwire::api::results::Tag::new("SET")))
            }
            Err(why) => Err(user_error("22023", format!("SET {}: {why}", super::guard::AS_OF_SETTING))),
        })
    }
}

#[async_trait]
impl QueryHook for AsOfHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn datafusion_postgres::hooks::HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.apply(statement)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<datafusion::logical_expr::LogicalPlan>> {
        Self::value(statement).map(|_| Ok(answered_here()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &datafusion::logical_expr::LogicalPlan,
        _params: &datafusion::common::ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn datafusion_postgres::hooks::HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.apply(statement)
    }
}

type DfStatement = (String, Option<(Statement, datafusion::logical_expr::LogicalPlan)>);

/// What a client is told of a prepared statement: its columns (name, type) and parameter types.
type Shape = (Vec<(String, Type)>, Vec<Type>);

/// One connection's query handling: check, pin, then let datafusion-postgres plan and encode.
pub(super) struct Session {
    pub(super) inner: DfSessionService,
    pub(super) parser: Arc<GuardedParser>,
    pub(super) limit: Duration,
    /// Statements running, by login.
    pub(super) running: Arc<bounds::LoginShares>,
    /// Worker threads of each statement's runtime.
    pub(super) statement_threads: usize,
}

impl Session {
    /// Start a statement of `entry`'s login: its share of running statements, its runtime, its span.
    async fn start(&self, entry: Entry) -> PgWireResult<Answering> {
        let user = entry.user.clone();
        let span = Span::new(&self.parser.audit, entry);
        let deadline = tokio::time::Instant::now() + self.limit;
        let permit = self.running.acquire(&user, deadline).await.map_err(|why| {
            span.ended("timeout", Some(why.clone()));
            user_error("57014", why)
        })?;
        let runtime = StatementRuntime::new(self.statement_threads).map_err(|e| {
            span.ended("error", Some(e.to_string()));
            user_error("53000", format!("cannot start a runtime for the statement: {e}"))
        })?;
        Ok(Answering {
            deadline,
            limit: self.limit,
            span,
            runtime,
            permit: Arc::new(permit),
            redact: self.parser.redact.clone(),
        })
    }
}

/// The extended protocol's parser: the same checks and pinning before datafusion-postgres's.
pub(super) struct GuardedParser {
    pub(super) inner: Arc<DfParser>,
    pub(super) pinned: Arc<PinnedSchema>,
    pub(super) versions: Arc<Versions>,
    pub(super) sql_parser: PostgresCompatibilityParser,
    pub(super) logins: Logins,
    pub(super) audit: Audit,
    /// The server's paths, kept out of messages.
    pub(super) redact: Arc<Redact>,
    /// The version this connection chose with `SET junheng.as_of` (the latest by default).
    pub(super) as_of: Arc<std::sync::Mutex<AsOf>>,
}

impl GuardedParser {
    /// The login of this connection and the areas it sees.
    fn login<C: ClientInfo>(&self, client: &C) -> PgWireResult<(String, Areas)> {
        let user = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default();
        match &self.logins {
            Logins::NoAuth => Ok((user, Areas::All)),
            Logins::Users(users) => match users.get(&user) {
                Some(login) => Ok((user, login.areas.clone())),
                None => Err(user_error("28000", format!("no login `{user}` on this server"))),
            },
        }
    }

    /// The audit entry of a statement of this connection's login, and the areas it sees.
    fn entry<C: ClientInfo>(&self, client: &C, sql: &str) -> PgWireResult<(Entry, Areas)> {
        let (user, areas) = self.login(client)?;
        Ok((Entry::start(&user, &client.socket_addr().to_string(), areas.codes(), sql), areas))
    }

    /// Refuse what a reader may not run, then pin the connection to the committed version as
    /// its login sees it. A refusal is logged here; what is let through is logged when answered
    /// (its entry, with the version it reads, is returned for that).
    pub(super) async fn admit<C: ClientInfo>(&self, client: &C, sql: &str) -> PgWireResult<Entry> {
        let (mut entry, areas) = self.entry(client, sql)?;
        let mut chosen = None;
        let refused = bounds::oversized(sql).or_else(|| match self.sql_parser.parse(sql) {
            Ok(statements) => {
                // `SET junheng.as_of = …; SELECT …` in one message: the SELECT reads the version set.
                chosen = statements.iter().rev().find_map(AsOfHook::value);
                statements.iter().find_map(refusal).or_else(|| {
                    let explains = statements.iter().any(|s| matches!(s, Statement::Explain { .. }));
                    (explains && areas != Areas::All).then(|| {
                        "EXPLAIN is refused for a login that sees only some areas: its plans and counts would show \
                         the others' files"
                            .to_owned()
                    })
                })
            }
            Err(_) => unparsed_refusal(sql),
        });
        if let Some(why) = refused {
            return Err(self.ended_here(entry, "refused", why.clone(), user_error("25006", why)));
        }
        if let Some(as_of) = chosen.and_then(|text| AsOf::parse(&text).ok()) {
            *self.as_of.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = as_of;
        }
        self.pin_current(&areas, &mut entry).await?;
        Ok(entry)
    }

    /// A statement that ends before it is answered: logged with its outcome and why (the
    /// server's own words), and `error` returned for the client.
    fn ended_here(&self, mut entry: Entry, outcome: &'static str, why: String, error: PgWireError) -> PgWireError {
        entry.outcome = outcome;
        entry.error = Some(why);
        self.audit.record(entry);
        error
    }

    /// Pin the connection to the committed version as `areas` see it, and note the version in
    /// the statement's audit entry (a version that cannot be opened is logged here).
    async fn pin_current(&self, areas: &Areas, entry: &mut Entry) -> PgWireResult<()> {
        let as_of = self.as_of.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let snapshot = match self.versions.at(&as_of, areas).await {
            Ok(s) => s,
            Err(e) => {
                let message = self.redact.text(&format!("cannot open the served version: {e}"));
                return Err(self.ended_here(entry.clone(), "error", e.to_string(), user_error("58030", message)));
            }
        };
        entry.run_id = snapshot.run_id.clone();
        entry.version = snapshot.version;
        self.pinned.pin(snapshot);
        Ok(())
    }

    /// Whether every table a prepared statement's plan reads is a table of the version pinned
    /// now (a plan holds the tables it was planned with, so after a new version it would go on
    /// reading the old one, and fail once `vacuum` removed it).
    async fn plan_is_current(&self, statement: &DfStatement) -> bool {
        use datafusion::catalog::SchemaProvider;
        use datafusion::common::tree_node::TreeNodeRecursion;
        let Some((_, plan)) = &statement.1 else { return true };
        let mut scans = Vec::new();
        let _ = plan.apply_with_subqueries(|node| {
            if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
                scans.push((scan.table_name.clone(), scan.source.clone()));
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let snapshot = self.pinned.snapshot();
        for (name, source) in scans {
            let schema = match name.schema() {
                None | Some("public") => &snapshot.schema,
                Some("information_schema") => &snapshot.information_schema,
                // pg_catalog and the like are not versioned.
                Some(_) => continue,
            };
            let Ok(planned) = datafusion::datasource::source_as_provider(&source) else { return false };
            match schema.table(name.table()).await {
                Ok(Some(now)) if std::ptr::addr_eq(Arc::as_ptr(&now), Arc::as_ptr(&planned)) => {}
                _ => return false,
            }
        }
        true
    }

    /// A prepared statement planned again on the version pinned now. Its columns and parameters
    /// must be the ones the client was told of when it prepared it; otherwise it is refused, as
    /// PostgreSQL refuses a cached plan whose result type changed.
    async fn replan<C>(&self, client: &C, stored: &StoredStatement<DfStatement>) -> PgWireResult<DfStatement>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = &stored.statement.0;
        let fresh = self.inner.parse_sql(client, sql, &stored.parameter_types).await?;
        let Some(fresh) = fresh else { return Ok(stored.statement.clone()) };
        let shape = |statement: &DfStatement| -> PgWireResult<Shape> {
            let columns = self.inner.get_result_schema(statement, None)?;
            let columns = columns.iter().map(|f| (f.name().to_owned(), f.datatype().clone())).collect();
            Ok((columns, self.inner.get_parameter_types(statement)?))
        };
        if shape(&fresh)? != shape(&stored.statement)? {
            let snapshot = self.pinned.snapshot();
            return Err(user_error(
                "0A000",
                format!(
                    "cached plan must not change result type: version {} (run {}) is served now and this prepared \
                     statement's columns or parameters differ there; prepare it again",
                    snapshot.version, snapshot.run_id
                ),
            ));
        }
        Ok(fresh)
    }
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.admit(client, sql).await?;
        let rewritten = rewrite_for_datafusion(sql);
        self.inner.parse_sql(client, rewritten.as_deref().unwrap_or(sql), types).await
    }

    fn get_parameter_types(&self, stmt: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &DfStatement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(stmt, column_format)
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let entry = self.parser.admit(client, query).await?;
        let running = self.start(entry).await?;
        let rewritten = rewrite_for_datafusion(query);
        let query = rewritten.as_deref().unwrap_or(query);
        let answer = Entered {
            handle: running.runtime.handle(),
            future: Box::pin(SimpleQueryHandler::do_query(&self.inner, client, query)),
        };
        let answered = tokio::time::timeout_at(running.deadline, answer).await;
        let responses = ended(answered, &running)?;
        Ok(responses.into_iter().map(|r| bounded(r, &running)).collect())
    }
}

/// The result of answering a statement, with a timeout or an error noted in its span.
fn ended<T>(answered: Result<PgWireResult<T>, tokio::time::error::Elapsed>, running: &Answering) -> PgWireResult<T> {
    match answered {
        Err(_) => {
            let error = timeout_error(running.limit);
            running.span.ended("timeout", Some(error.to_string()));
            Err(error)
        }
        Ok(Err(e)) => {
            let e = running.redact.error(e);
            running.span.ended("error", Some(e.to_string()));
            Err(e)
        }
        Ok(Ok(answer)) => Ok(answer),
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = DfStatement;
    type QueryParser = GuardedParser;

    fn query_parser(&self) -> Arc<GuardedParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // The statement follows the connection's version: pinned to the committed one now, and
        // planned again if its plan reads the tables of an earlier one.
        let stored = &portal.statement;
        let (mut entry, areas) = self.parser.entry(client, &stored.statement.0)?;
        self.parser.pin_current(&areas, &mut entry).await?;
        let replanned = match self.parser.plan_is_current(&stored.statement).await {
            true => None,
            false => {
                let fresh = match self.parser.replan(client, stored).await {
                    Ok(fresh) => fresh,
                    Err(e) => return Err(self.parser.ended_here(entry, "error", e.to_string(), e)),
                };
                let statement =
                    Arc::new(StoredStatement::new(stored.id.clone(), fresh, stored.parameter_types.clone()));
                // Kept for the next execution, so it is planned again only after the next version.
                client.portal_store().put_statement(statement.clone());
                Some(with_statement(portal, statement))
            }
        };
        let portal = replanned.as_ref().unwrap_or(portal);
        let running = self.start(entry).await?;
        let answer = Entered {
            handle: running.runtime.handle(),
            future: Box::pin(ExtendedQueryHandler::do_query(&self.inner, client, portal, max_rows)),
        };
        let answered = tokio::time::timeout_at(running.deadline, answer).await;
        let response = ended(answered, &running)?;
        Ok(bounded(response, &running))
    }
}

/// `portal` (its parameters, formats and state) bound to another statement.
fn with_statement(portal: &Portal<DfStatement>, statement: Arc<StoredStatement<DfStatement>>) -> Portal<DfStatement> {
    let mut again = Portal::default();
    again.name = portal.name.clone();
    again.statement = statement;
    again.parameter_format = portal.parameter_format.clone();
    again.parameters = portal.parameters.clone();
    again.result_column_format = portal.result_column_format.clone();
    again.state = portal.state.clone();
    again
}

/// Everything one connection uses.
pub(super) struct Connection {
    pub(super) session: Arc<Session>,
    pub(super) login: Arc<Login>,
    pub(super) cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.login.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_files_relative_to_the_output_never_where_it_is() {
        let redact = Redact::of(Some(std::path::Path::new("/srv/junheng/out")));
        let message = "Object at location /srv/junheng/out/versions/r1/staging/pupils/year=2018/part-0.parquet not \
                       found; file:///srv/junheng/out/current.json";
        assert_eq!(
            redact.text(message),
            "Object at location <output>/versions/r1/staging/pupils/year=2018/part-0.parquet not found; <output>/current.json"
        );
        let error = redact.error(user_error("58030", "cannot read /srv/junheng/out/runs".to_owned()));
        assert!(
            matches!(&error, PgWireError::UserError(i) if i.message == "cannot read <output>/runs" && i.code == "58030")
        );
        // An object store's output has no server path to take out.
        assert_eq!(Redact::of(None).text(message), message);
    }
}
