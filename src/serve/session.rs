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
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;

use super::auth::Login;
use super::guard::{refusal, unparsed_refusal};
use super::rewrite::rewrite_for_datafusion;
use super::versions::{PinnedSchema, Versions};

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

/// A row stream that ends with a timeout error once the statement's deadline passes.
pub(super) struct Deadline<S> {
    pub(super) rows: S,
    pub(super) sleep: Pin<Box<tokio::time::Sleep>>,
    pub(super) limit: Duration,
    pub(super) done: bool,
}

impl<S: Stream<Item = PgWireResult<DataRow>> + Unpin> Stream for Deadline<S> {
    type Item = PgWireResult<DataRow>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(timeout_error(self.limit))));
        }
        Pin::new(&mut self.rows).poll_next(cx)
    }
}

/// Bound the rows of a query response by the statement's deadline.
pub(super) fn bounded(response: Response, deadline: tokio::time::Instant, limit: Duration) -> Response {
    match response {
        Response::Query(mut query) => {
            let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
            query.data_rows =
                Box::pin(Deadline { rows, sleep: Box::pin(tokio::time::sleep_until(deadline)), limit, done: false });
            Response::Query(query)
        }
        other => other,
    }
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
        Self::tag(statement).map(|_| {
            Ok(datafusion::logical_expr::LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            }))
        })
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

type DfStatement = (String, Option<(Statement, datafusion::logical_expr::LogicalPlan)>);

/// One connection's query handling: check, pin, then let datafusion-postgres plan and encode.
pub(super) struct Session {
    pub(super) inner: DfSessionService,
    pub(super) parser: Arc<GuardedParser>,
    pub(super) limit: Duration,
}

/// The extended protocol's parser: the same checks and pinning before datafusion-postgres's.
pub(super) struct GuardedParser {
    pub(super) inner: Arc<DfParser>,
    pub(super) pinned: Arc<PinnedSchema>,
    pub(super) versions: Arc<Versions>,
    pub(super) sql_parser: PostgresCompatibilityParser,
}

impl GuardedParser {
    /// Refuse what a reader may not run, then pin the connection to the committed version.
    pub(super) async fn admit(&self, sql: &str) -> PgWireResult<()> {
        match self.sql_parser.parse(sql) {
            Ok(statements) => {
                if let Some(why) = statements.iter().find_map(refusal) {
                    return Err(user_error("25006", why));
                }
            }
            Err(_) => {
                if let Some(why) = unparsed_refusal(sql) {
                    return Err(user_error("25006", why));
                }
            }
        }
        self.pinned.pin(self.versions.current().await);
        Ok(())
    }
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.admit(sql).await?;
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
        self.parser.admit(query).await?;
        let deadline = tokio::time::Instant::now() + self.limit;
        let rewritten = rewrite_for_datafusion(query);
        let query = rewritten.as_deref().unwrap_or(query);
        let responses = tokio::time::timeout_at(deadline, SimpleQueryHandler::do_query(&self.inner, client, query))
            .await
            .map_err(|_| timeout_error(self.limit))??;
        Ok(responses.into_iter().map(|r| bounded(r, deadline, self.limit)).collect())
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
        // The plan was made (and pinned to a version) when the statement was parsed.
        let deadline = tokio::time::Instant::now() + self.limit;
        let response =
            tokio::time::timeout_at(deadline, ExtendedQueryHandler::do_query(&self.inner, client, portal, max_rows))
                .await
                .map_err(|_| timeout_error(self.limit))??;
        Ok(bounded(response, deadline, self.limit))
    }
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
