//! `junheng serve`: the published tables of an output, read-only, over the PostgreSQL wire
//! protocol, so BI tools (Superset, Metabase, Grafana, Tableau, Power BI), `psql` and pandas
//! connect as to a PostgreSQL database.
//!
//! How it stays correct while runs publish:
//! - every connection has its own DataFusion session whose `public` schema is *pinned* to one
//!   committed version at the start of each statement; versions are immutable folders, so a
//!   statement never mixes two runs, and a query in flight keeps reading the version it started on;
//! - the committed version is re-read (one small `current.json` object) at most every
//!   `refresh`, so a new commit becomes visible to new statements without a restart.
//!
//! What nobody can do: write. Every statement is checked before DataFusion sees it; only
//! queries, `EXPLAIN`, `SHOW`, `SET` (of client settings, not of DataFusion's limits),
//! transactions and cursors pass. Tables cannot be registered in the pinned schema either.
//! Each statement has a time limit and each connection a memory limit; connections are capped.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, Parser as DfParser, QueryHook};
use futures::{Sink, Stream};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::storage::Location;
use crate::transform::OUTPUT_STORE_URL;

/// The database name clients see (`current_database()`), and the catalog the tables are in.
pub const DATABASE: &str = "junheng";

/// How `junheng serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The output URL or folder to serve.
    pub out: String,
    /// Address to listen on (`127.0.0.1:5433`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The one user name clients log in with.
    pub user: String,
    /// The password (SCRAM-SHA-256); `None` lets anyone on this machine in, loopback only.
    pub password: Option<String>,
    /// TLS certificate and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Longest a statement may run, planning and streaming its rows included.
    pub statement_timeout: Duration,
    /// Memory one connection's queries may hold (DataFusion's memory pool).
    pub memory_limit: usize,
    /// Connections open at once; more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// How often to look for a newly committed version.
    pub refresh: Duration,
}

/// What is served at one moment: one committed version's tables.
#[derive(Debug)]
pub struct Snapshot {
    /// The run whose version this is.
    pub run_id: String,
    /// Its version number.
    pub version: u64,
    /// Every served table, by name.
    schema: Arc<MemorySchemaProvider>,
    /// `information_schema` (tables, columns, schemata, views) for this version, with
    /// PostgreSQL's type names, which BI tools read to decide what a column is.
    information_schema: Arc<MemorySchemaProvider>,
}

impl Snapshot {
    /// Open the latest committed version of `out` and keep the tables readers may see: staging
    /// tables, marts, `quarantine_<table>` and `runs`.
    async fn open(out: &Location) -> Result<Snapshot> {
        let published = crate::query::open_location(out.clone()).await?;
        let schema = Arc::new(MemorySchemaProvider::new());
        let mut names: Vec<String> = Table::ALL.iter().map(|t| t.name().to_owned()).collect();
        names.extend(published.ledger.marts.iter().map(|m| m.name.clone()));
        names.extend(Table::ALL.iter().map(|t| format!("quarantine_{}", t.name())));
        names.push("runs".into());
        for name in names {
            let provider = published.ctx.table_provider(name.as_str()).await.map_err(|e| Error::Sql {
                model: name.clone(),
                file: "serve".into(),
                source: Box::new(e),
            })?;
            schema.register_table(name.clone(), provider).map_err(|e| Error::Sql {
                model: name,
                file: "serve".into(),
                source: Box::new(e),
            })?;
        }
        let information_schema = information_schema(&schema).await?;
        Ok(Snapshot {
            run_id: published.ledger.run_id.clone(),
            version: published.ledger.version,
            schema,
            information_schema,
        })
    }
}

/// PostgreSQL's name for an Arrow type (`data_type`), its `udt_name`, precision and scale.
fn pg_type_name(data_type: &DataType) -> (&'static str, &'static str, Option<i32>, Option<i32>) {
    match data_type {
        DataType::Boolean => ("boolean", "bool", None, None),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("smallint", "int2", Some(16), Some(0)),
        DataType::Int32 | DataType::UInt16 => ("integer", "int4", Some(32), Some(0)),
        DataType::Int64 | DataType::UInt32 => ("bigint", "int8", Some(64), Some(0)),
        DataType::UInt64 => ("numeric", "numeric", Some(20), Some(0)),
        DataType::Float16 | DataType::Float32 => ("real", "float4", Some(24), None),
        DataType::Float64 => ("double precision", "float8", Some(53), None),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            ("numeric", "numeric", Some(*p as i32), Some(*s as i32))
        }
        DataType::Date32 | DataType::Date64 => ("date", "date", None, None),
        DataType::Timestamp(_, None) => ("timestamp without time zone", "timestamp", None, None),
        DataType::Timestamp(_, Some(_)) => ("timestamp with time zone", "timestamptz", None, None),
        DataType::List(_) | DataType::LargeList(_) => ("ARRAY", "_text", None, None),
        DataType::Dictionary(_, value) => pg_type_name(value),
        _ => ("text", "text", None, None),
    }
}

/// One row of `information_schema.columns`: table, column, position, nullable, data_type,
/// udt_name, numeric precision and scale.
type ColumnRow = (String, String, i32, bool, &'static str, &'static str, Option<i32>, Option<i32>);

/// `information_schema` over the served tables: what Grafana, Metabase and hand-written SQL read.
async fn information_schema(public: &MemorySchemaProvider) -> Result<Arc<MemorySchemaProvider>> {
    use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    let err = |e: DataFusionError| Error::Sql {
        model: "information_schema".into(),
        file: "serve".into(),
        source: Box::new(e),
    };
    let arrow = |e: datafusion::arrow::error::ArrowError| Error::arrow("information_schema", e);
    let mut names = public.table_names();
    names.sort();
    let mut tables: Vec<(String, String)> = Vec::new();
    let mut columns: Vec<ColumnRow> = Vec::new();
    for name in &names {
        let Some(table) = public.table(name).await.map_err(err)? else { continue };
        tables.push((name.clone(), "BASE TABLE".into()));
        for (i, field) in table.schema().fields().iter().enumerate() {
            let (data_type, udt, precision, scale) = pg_type_name(field.data_type());
            columns.push((
                name.clone(),
                field.name().clone(),
                i as i32 + 1,
                field.is_nullable(),
                data_type,
                udt,
                precision,
                scale,
            ));
        }
    }
    let text = |values: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let repeat = |value: &str, n: usize| -> ArrayRef { Arc::new(StringArray::from(vec![value; n])) };
    let schema = Arc::new(MemorySchemaProvider::new());
    let register = |name: &str, batch: RecordBatch| -> Result<()> {
        let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(err)?;
        schema.register_table(name.to_owned(), Arc::new(table)).map_err(err)?;
        Ok(())
    };
    let n = tables.len();
    register(
        "tables",
        RecordBatch::try_from_iter(vec![
            ("table_catalog", repeat(DATABASE, n)),
            ("table_schema", repeat("public", n)),
            ("table_name", text(tables.iter().map(|t| t.0.clone()).collect())),
            ("table_type", text(tables.iter().map(|t| t.1.clone()).collect())),
            ("is_insertable_into", repeat("NO", n)),
        ])
        .map_err(arrow)?,
    )?;
    let n = columns.len();
    register(
        "columns",
        RecordBatch::try_from_iter(vec![
            ("table_catalog", repeat(DATABASE, n)),
            ("table_schema", repeat("public", n)),
            ("table_name", text(columns.iter().map(|c| c.0.clone()).collect())),
            ("column_name", text(columns.iter().map(|c| c.1.clone()).collect())),
            (
                "ordinal_position",
                Arc::new(Int32Array::from(columns.iter().map(|c| c.2).collect::<Vec<_>>())) as ArrayRef,
            ),
            ("column_default", Arc::new(StringArray::from(vec![None::<&str>; n])) as ArrayRef),
            ("is_nullable", text(columns.iter().map(|c| if c.3 { "YES" } else { "NO" }.to_owned()).collect())),
            ("data_type", text(columns.iter().map(|c| c.4.to_owned()).collect())),
            ("character_maximum_length", Arc::new(Int32Array::from(vec![None; n])) as ArrayRef),
            (
                "numeric_precision",
                Arc::new(Int32Array::from(columns.iter().map(|c| c.6).collect::<Vec<_>>())) as ArrayRef,
            ),
            ("numeric_scale", Arc::new(Int32Array::from(columns.iter().map(|c| c.7).collect::<Vec<_>>())) as ArrayRef),
            ("udt_name", text(columns.iter().map(|c| c.5.to_owned()).collect())),
            ("is_updatable", repeat("NO", n)),
        ])
        .map_err(arrow)?,
    )?;
    register(
        "schemata",
        RecordBatch::try_from_iter(vec![
            ("catalog_name", repeat(DATABASE, 3)),
            ("schema_name", text(vec!["public".into(), "information_schema".into(), "pg_catalog".into()])),
            ("schema_owner", repeat("junheng", 3)),
        ])
        .map_err(arrow)?,
    )?;
    register(
        "views",
        RecordBatch::try_from_iter(vec![
            ("table_catalog", repeat(DATABASE, 0)),
            ("table_schema", repeat("public", 0)),
            ("table_name", text(vec![])),
            ("view_definition", text(vec![])),
        ])
        .map_err(arrow)?,
    )?;
    Ok(schema)
}

/// The output being served and the version currently committed, shared by every connection.
struct Versions {
    out: Location,
    refresh: Duration,
    state: tokio::sync::Mutex<(Arc<Snapshot>, Instant)>,
}

impl Versions {
    /// The committed version to pin the next statement to (re-checked at most every `refresh`).
    async fn current(&self) -> Arc<Snapshot> {
        let mut state = self.state.lock().await;
        if state.1.elapsed() >= self.refresh {
            state.1 = Instant::now();
            match committed_run_id(&self.out).await {
                Ok(Some(run_id)) if run_id != state.0.run_id => match Snapshot::open(&self.out).await {
                    Ok(snapshot) => {
                        info!(run_id = %snapshot.run_id, version = snapshot.version, "serving a newly committed version");
                        state.0 = Arc::new(snapshot);
                    }
                    Err(e) => warn!("a new version is committed but cannot be opened yet, still serving the last: {e}"),
                },
                Ok(_) => {}
                Err(e) => warn!("cannot read the committed version, still serving the last: {e}"),
            }
        }
        state.0.clone()
    }
}

/// The run id `current.json` points at (written after each commit), or the latest published
/// ledger's for outputs that have no pointer.
async fn committed_run_id(out: &Location) -> Result<Option<String>> {
    use object_store::ObjectStoreExt;
    let path = out.child("current.json");
    match out.store.get(&path).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| Error::store("read", &path, e))?;
            let pointer: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|source| Error::Json { context: path.to_string(), source })?;
            Ok(pointer["run_id"].as_str().map(str::to_owned))
        }
        Err(object_store::Error::NotFound { .. }) => {
            Ok(crate::load::ledgers(out).await?.into_iter().rev().find(|l| l.published).map(|l| l.run_id))
        }
        Err(e) => Err(Error::store("read", &path, e)),
    }
}

/// The `public` schema of one connection: the tables of the version its current statement is
/// pinned to. Registering tables is refused (the default of `SchemaProvider`), so `CREATE TABLE`,
/// `CREATE VIEW` and `SELECT … INTO` cannot add anything even if they got this far.
#[derive(Debug)]
struct PinnedSchema {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    /// `public` or `information_schema`.
    information_schema: bool,
}

impl PinnedSchema {
    fn pin(&self, snapshot: Arc<Snapshot>) {
        if let Ok(mut pinned) = self.snapshot.write() {
            *pinned = snapshot;
        }
    }

    fn pinned(&self) -> Arc<MemorySchemaProvider> {
        let snapshot = match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if self.information_schema { snapshot.information_schema.clone() } else { snapshot.schema.clone() }
    }
}

#[async_trait]
impl SchemaProvider for PinnedSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.pinned().table_names();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> std::result::Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        self.pinned().table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.pinned().table_exist(name)
    }
}

/// Why a statement is refused, or `None` when a reader may run it.
pub fn refusal(statement: &Statement) -> Option<String> {
    match statement {
        Statement::Query(query) => query_refusal(query),
        Statement::Explain { statement, .. } => refusal(statement),
        Statement::Declare { stmts } => stmts.iter().filter_map(|d| d.for_query.as_deref()).find_map(query_refusal),
        Statement::Set(set) => {
            let text = set.to_string().to_lowercase();
            // DataFusion's own settings include the memory limit and the file formats it may
            // read; they are the server's, not a client's.
            text.contains("datafusion.").then(|| {
                "SET of datafusion.* settings is refused: junheng serve fixes them for every connection".to_owned()
            })
        }
        Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowCreate { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Discard { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Deallocate { .. } => None,
        other => Some(read_only_message(&first_word(&other.to_string()))),
    }
}

fn query_refusal(query: &Query) -> Option<String> {
    let ctes = query.with.iter().flat_map(|w| w.cte_tables.iter()).find_map(|cte| query_refusal(&cte.query));
    ctes.or_else(|| set_expr_refusal(&query.body))
}

fn set_expr_refusal(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Some(read_only_message("SELECT … INTO")),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => None,
        SetExpr::Query(query) => query_refusal(query),
        SetExpr::SetOperation { left, right, .. } => set_expr_refusal(left).or_else(|| set_expr_refusal(right)),
        other => Some(read_only_message(&first_word(&other.to_string()))),
    }
}

fn first_word(sql: &str) -> String {
    sql.split_whitespace().next().unwrap_or("this statement").to_uppercase()
}

fn read_only_message(what: &str) -> String {
    format!(
        "{what} is refused: junheng serve is read-only (tables change only when `junheng run` publishes a new version)"
    )
}

/// Statements that never parse in the PostgreSQL dialect but must still read as refusals
/// (`CREATE EXTERNAL TABLE … LOCATION '/etc/passwd'` is DataFusion's, not PostgreSQL's).
fn unparsed_refusal(sql: &str) -> Option<String> {
    const WRITES: [&str; 14] = [
        "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "COPY", "TRUNCATE", "GRANT", "REVOKE",
        "VACUUM", "ANALYZE", "CALL",
    ];
    let word = first_word(sql.trim_start_matches(['(', ' ', '\n', '\t']));
    WRITES.contains(&word.as_str()).then(|| read_only_message(&word))
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".to_owned(), code.to_owned(), message)))
}

fn timeout_error(limit: Duration) -> PgWireError {
    user_error(
        "57014",
        format!(
            "canceling statement due to statement timeout ({} s, junheng serve --statement-timeout)",
            limit.as_secs()
        ),
    )
}

/// A row stream that ends with a timeout error once the statement's deadline passes.
struct Deadline<S> {
    rows: S,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    done: bool,
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
fn bounded(response: Response, deadline: tokio::time::Instant, limit: Duration) -> Response {
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
struct SavepointHook;

impl SavepointHook {
    fn tag(statement: &Statement) -> Option<&'static str> {
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
struct Session {
    inner: DfSessionService,
    parser: Arc<GuardedParser>,
    limit: Duration,
}

/// The extended protocol's parser: the same checks and pinning before datafusion-postgres's.
struct GuardedParser {
    inner: Arc<DfParser>,
    pinned: Arc<PinnedSchema>,
    versions: Arc<Versions>,
    sql_parser: PostgresCompatibilityParser,
}

impl GuardedParser {
    /// Refuse what a reader may not run, then pin the connection to the committed version.
    async fn admit(&self, sql: &str) -> PgWireResult<()> {
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

/// The password check: one user, its password salted and hashed for SCRAM-SHA-256.
#[derive(Debug)]
struct OneUser {
    user: String,
    password: String,
}

#[async_trait]
impl AuthSource for OneUser {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(self.user.as_str()) {
            // The same error as a wrong password: which user names exist is nobody's business.
            return Err(PgWireError::InvalidPassword(login.user().unwrap_or_default().to_owned()));
        }
        let salt: [u8; 16] = rand_salt();
        Ok(Password::new(Some(salt.to_vec()), gen_salted_password(&self.password, &salt, SCRAM_ITERATIONS)))
    }
}

const SCRAM_ITERATIONS: usize = 4096;

/// Sixteen bytes that differ per login (SCRAM's salt need not be secret, only fresh).
fn rand_salt() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 16];
    for chunk in salt.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    salt
}

/// Loopback without a password.
struct OpenDoor {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for OpenDoor {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// How a connection logs in.
enum Login {
    Open(OpenDoor),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: pgwire::messages::PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Login::Open(door) => door.on_startup(client, message).await,
            Login::Scram(scram) => scram.on_startup(client, message).await,
        }
    }
}

/// Everything one connection uses.
struct Connection {
    session: Arc<Session>,
    login: Arc<Login>,
    cancel: Arc<DefaultCancelHandler>,
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

/// `version()` as PostgreSQL words it: clients (SQLAlchemy among them) read the server's
/// version from it.
fn version_udf() -> ScalarUDF {
    let text =
        format!("PostgreSQL 16.6 (junheng {} serving Parquet through Apache DataFusion)", env!("CARGO_PKG_VERSION"));
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}

/// Rewrite what PostgreSQL clients send into SQL DataFusion plans with the same answer; `None`
/// when nothing needs rewriting (most statements: they are passed through untouched).
///
/// - `LIKE … ESCAPE 'c'` with another escape character than backslash (SQLAlchemy lists schemas
///   with `NOT LIKE 'pg/_%' ESCAPE '/'`) becomes `LIKE like_escape(pattern, 'c')`;
/// - correlated scalar subqueries are aggregated, or lifted out of `CASE` (see the functions);
/// - `flag = 'f'` on a catalog flag becomes `flag = false`;
/// - placeholders a later rewrite could drop are kept referenced, so that `$n` still binds the
///   n-th parameter the client sends.
pub fn rewrite_for_datafusion(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("escape") && !lower.contains("(select") && !lower.contains("= 'f'") && !lower.contains("= 't'") {
        return None;
    }
    let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    for statement in &mut statements {
        let placeholders = if lower.contains("(select") { placeholders_of(statement) } else { Vec::new() };
        let _ = visit_expressions_mut(statement, |expr| {
            if guarded_subquery(expr) | aggregate_scalar_subquery(expr) | boolean_flag_literal(expr) | like_escape(expr)
            {
                changed = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if keep_placeholders_bound(statement, placeholders) {
            changed = true;
        }
    }
    changed.then(|| statements.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; "))
}

/// Every `$n` of a statement, with the type it is cast to where it is (`$2::VARCHAR`).
fn placeholders_of(statement: &Statement) -> Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)> {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    let mut found: Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)> = Vec::new();
    let _ = visit_expressions(statement, |expr| {
        let (name, data_type) = match expr {
            Expr::Cast { expr: inner, data_type, .. } => match inner.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Placeholder(p) => (p.clone(), Some(data_type.clone())),
                    _ => return std::ops::ControlFlow::<()>::Continue(()),
                },
                _ => return std::ops::ControlFlow::Continue(()),
            },
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => (p.clone(), None),
                _ => return std::ops::ControlFlow::Continue(()),
            },
            _ => return std::ops::ControlFlow::Continue(()),
        };
        match found.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) if entry.1.is_none() => entry.1 = data_type,
            Some(_) => {}
            None => found.push((name, data_type)),
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// datafusion-pg-catalog replaces correlated subqueries in a projection with NULL; their `$n`
/// go with them, and datafusion-postgres then binds the client's parameters by position to the
/// placeholders left — the wrong ones. A conjunct `($n::T IS NULL OR TRUE)` per placeholder keeps
/// every one in the plan (the optimizer folds it away).
fn keep_placeholders_bound(
    statement: &mut Statement,
    placeholders: Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)>,
) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, CastKind, Expr, SetExpr, Value};
    if placeholders.is_empty() {
        return false;
    }
    let Statement::Query(query) = statement else { return false };
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let keep = placeholders
        .into_iter()
        .map(|(name, data_type)| {
            let placeholder = Expr::value(Value::Placeholder(name));
            let typed = match data_type {
                Some(data_type) => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(placeholder),
                    data_type,
                    array: false,
                    format: None,
                },
                None => placeholder,
            };
            Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::IsNull(Box::new(typed))),
                op: BinaryOperator::Or,
                right: Box::new(Expr::value(Value::Boolean(true))),
            }))
        })
        .reduce(|a, b| Expr::BinaryOp { left: Box::new(a), op: BinaryOperator::And, right: Box::new(b) });
    let Some(keep) = keep else { return false };
    select.selection = Some(match select.selection.take() {
        Some(w) => {
            Expr::BinaryOp { left: Box::new(Expr::Nested(Box::new(w))), op: BinaryOperator::And, right: Box::new(keep) }
        }
        None => keep,
    });
    true
}

/// `LIKE … ESCAPE 'c'` (c not a backslash) → `LIKE like_escape(pattern, 'c')`.
fn like_escape(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident};
    use datafusion::sql::sqlparser::ast::{FunctionArgumentList, ObjectName, Value};
    let (Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. }) = expr else {
        return false;
    };
    let Some(escape) = escape_char.as_ref().and_then(|v| match &v.value {
        Value::SingleQuotedString(c) if c != "\\" => Some(c.clone()),
        _ => None,
    }) else {
        return false;
    };
    let args = vec![
        FunctionArg::Unnamed(FunctionArgExpr::Expr((**pattern).clone())),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::SingleQuotedString(escape)))),
    ];
    **pattern = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("like_escape")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
    *escape_char = None;
    true
}

/// PostgreSQL lets a scalar subquery return zero or one row unaggregated (`(SELECT format_type(…)
/// FROM pg_type WHERE oid = a.atttypid)`); DataFusion wants a correlated one aggregated. Wrapping
/// its single output in `max()` gives the same answer for zero or one row.
fn aggregate_scalar_subquery(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{
        Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
        ObjectName, SelectItem, SetExpr,
    };
    let Expr::Subquery(query) = expr else { return false };
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.projection.len() != 1 || select.from.is_empty() || query.limit_clause.is_some() {
        return false;
    }
    let item = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    const AGGREGATES: [&str; 10] =
        ["max", "min", "count", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every"];
    if let Expr::Function(f) = item
        && AGGREGATES.contains(&f.name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
    {
        return false;
    }
    let inner = item.clone();
    *item = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("max")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
    true
}

/// `CASE WHEN c THEN (SELECT x FROM t WHERE w) ELSE NULL END` is `(SELECT x FROM t WHERE c AND w)`
/// when the subquery gives at most one row; DataFusion cannot run a correlated subquery inside
/// CASE, but can once the condition is in its WHERE (SQLAlchemy 2 reflects columns this way).
fn guarded_subquery(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SetExpr, Value};
    let Expr::Case { operand: None, conditions, else_result, .. } = expr else { return false };
    let else_is_null = match else_result.as_deref() {
        None => true,
        Some(Expr::Value(v)) => matches!(v.value, Value::Null),
        _ => false,
    };
    if conditions.len() != 1 || !else_is_null || !matches!(conditions[0].result, Expr::Subquery(_)) {
        return false;
    }
    let when = conditions.remove(0);
    let (condition, Expr::Subquery(mut query)) = (when.condition, when.result) else { return false };
    if let SetExpr::Select(select) = query.body.as_mut() {
        let nested = Expr::Nested(Box::new(condition));
        select.selection = Some(match select.selection.take() {
            Some(w) => Expr::BinaryOp {
                left: Box::new(nested),
                op: BinaryOperator::And,
                right: Box::new(Expr::Nested(Box::new(w))),
            },
            None => nested,
        });
    }
    *expr = Expr::Subquery(query);
    true
}

/// PostgreSQL reads `'f'` compared with a boolean as false; DataFusion will not compare a boolean
/// with text. Catalog flags are named for what they say (`indisprimary`, `atthasdef`,
/// `attnotnull`), so `flag = 't'|'f'` on such a column becomes `flag = true|false`.
fn boolean_flag_literal(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};
    let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = expr else { return false };
    let column = match left.as_ref() {
        Expr::Identifier(i) => i.value.to_ascii_lowercase(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default(),
        _ => return false,
    };
    let is_flag = ["ind", "rel", "att", "con", "typ", "nsp"].iter().any(|p| column.starts_with(p))
        && (column.contains("is") || column.contains("has") || column.ends_with("notnull"));
    let Expr::Value(value) = right.as_mut() else { return false };
    let flag = match &value.value {
        Value::SingleQuotedString(t) if is_flag && matches!(t.as_str(), "t" | "true") => true,
        Value::SingleQuotedString(f) if is_flag && matches!(f.as_str(), "f" | "false") => false,
        _ => return false,
    };
    value.value = Value::Boolean(flag);
    true
}

/// A LIKE pattern written with escape character `escape`, rewritten with backslash escapes.
fn backslash_escaped(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(x @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(x);
                }
                Some(x) => out.push(x),
                None => {}
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// `like_escape(pattern, escape)`: see [`rewrite_for_datafusion`].
fn like_escape_udf() -> ScalarUDF {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    create_udf(
        "like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let patterns = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let escapes = datafusion::arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
            let (patterns, escapes) = (patterns.as_string::<i32>(), escapes.as_string::<i32>());
            let out: StringArray = (0..patterns.len())
                .map(|i| {
                    if patterns.is_null(i) || escapes.is_null(i) {
                        return None;
                    }
                    let escape = escapes.value(i).chars().next().unwrap_or('\\');
                    Some(backslash_escaped(patterns.value(i), escape))
                })
                .collect();
            let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            if scalar {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            } else {
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
        }),
    )
}

/// Catalog functions SQLAlchemy's column reflection calls that have one answer here: no column
/// has a sequence (`pg_get_serial_sequence` is NULL), there is no index or constraint to define
/// (`pg_get_indexdef`, `pg_get_constraintdef` are NULL); every type and collation is visible.
fn constant_catalog_udfs() -> Vec<ScalarUDF> {
    vec![
        create_udf(
            "pg_get_serial_sequence",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ),
        // Only ever applied to the empty pg_index above (SQLAlchemy's primary-key query).
        create_udf(
            "generate_subscripts",
            vec![DataType::new_list(DataType::Int16, true), DataType::Int64],
            DataType::Int32,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))),
        ),
        create_udf(
            "pg_get_constraintdef",
            vec![DataType::Int32, DataType::Boolean],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ),
        create_udf(
            "pg_get_indexdef",
            vec![DataType::Int32, DataType::Int32, DataType::Boolean],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ),
        create_udf(
            "pg_type_is_visible",
            vec![DataType::Int32],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ),
        create_udf(
            "pg_collation_is_visible",
            vec![DataType::Int32],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ),
    ]
}

/// `json_build_object(k1, v1, k2, v2, …)`: SQLAlchemy asks for a column's identity options and
/// collation this way. Values are written as JSON strings (or null): enough for what is asked.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray, StringArray};
        let rows = args.number_rows;
        let texts = ColumnarValue::values_to_arrays(&args.args)?
            .iter()
            .map(|a| datafusion::arrow::compute::cast(a, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let out: StringArray = (0..rows)
            .map(|row| {
                let mut object = serde_json::Map::new();
                for pair in texts.chunks(2) {
                    let key = pair[0].as_string::<i32>();
                    if key.is_null(row) {
                        continue;
                    }
                    let value = pair.get(1).map(|v| v.as_string::<i32>()).filter(|v| !v.is_null(row));
                    object.insert(
                        key.value(row).to_owned(),
                        value.map_or(serde_json::Value::Null, |v| serde_json::Value::String(v.value(row).to_owned())),
                    );
                }
                Some(serde_json::Value::Object(object).to_string())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_catalog` as datafusion-pg-catalog builds it, with `pg_class.reloptions` added, and except
/// the catalogs of indexes and constraints: junheng's tables have neither, so `pg_index` and `pg_constraint` are empty here,
/// with their vector columns (`indkey`, `conkey` …) typed as arrays the way PostgreSQL types
/// them, so that the reflection queries of SQLAlchemy (primary keys, foreign keys, indexes) plan
/// and answer "none".
#[derive(Debug)]
struct CatalogOverlay {
    base: Arc<dyn SchemaProvider>,
    replaced: std::collections::HashMap<String, Arc<dyn TableProvider>>,
}

impl CatalogOverlay {
    async fn new(ctx: &SessionContext, base: Arc<dyn SchemaProvider>) -> datafusion::common::Result<CatalogOverlay> {
        use datafusion::arrow::datatypes::{Field, Schema};
        const VECTORS: [&str; 12] = [
            "indkey",
            "indcollation",
            "indclass",
            "indoption",
            "conkey",
            "confkey",
            "conpfeqop",
            "conppeqop",
            "conffeqop",
            "confdelsetcols",
            "conexclop",
            "inhseqno",
        ];
        let mut replaced = std::collections::HashMap::new();
        for name in ["pg_index", "pg_constraint"] {
            let Some(table) = base.table(name).await? else { continue };
            let fields: Vec<Field> = table
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    if VECTORS.contains(&f.name().as_str()) {
                        let element = if f.name() == "indkey" || f.name().ends_with("key") || f.name() == "indoption" {
                            DataType::Int16
                        } else {
                            DataType::Int32
                        };
                        Field::new(f.name(), DataType::new_list(element, true), true)
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect();
            let provider: Arc<dyn TableProvider> =
                Arc::new(datafusion::datasource::empty::EmptyTable::new(Arc::new(Schema::new(fields))));
            replaced.insert(name.to_owned(), provider);
        }
        // pg_class lacks `reloptions` (storage options, none here), which index reflection reads.
        if let Some(pg_class) = base.table("pg_class").await?
            && pg_class.schema().column_with_name("reloptions").is_none()
        {
            let null_options = datafusion::prelude::cast(
                datafusion::prelude::lit(ScalarValue::Null),
                DataType::new_list(DataType::Utf8, true),
            );
            let view = ctx.read_table(pg_class)?.with_column("reloptions", null_options)?.into_view();
            replaced.insert("pg_class".to_owned(), view);
        }
        Ok(CatalogOverlay { base, replaced })
    }
}

#[async_trait]
impl SchemaProvider for CatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        self.base.table_names()
    }

    async fn table(&self, name: &str) -> std::result::Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        match self.replaced.get(name) {
            Some(t) => Ok(Some(t.clone())),
            None => self.base.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.base.table_exist(name)
    }
}

/// `current_setting(name)`: the settings clients read this way (Grafana reads `search_path`).
fn current_setting_udf() -> ScalarUDF {
    fn setting(name: &str) -> Option<&'static str> {
        Some(match name.to_ascii_lowercase().as_str() {
            "search_path" => "public",
            "server_version" => "16.6",
            "server_version_num" => "160006",
            "server_encoding" | "client_encoding" => "UTF8",
            "standard_conforming_strings" => "on",
            "datestyle" => "ISO, YMD",
            "timezone" => "UTC",
            "max_identifier_length" => "63",
            "transaction_read_only" | "default_transaction_read_only" => "on",
            "is_superuser" => "off",
            _ => return None,
        })
    }
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            use datafusion::arrow::array::{Array, AsArray, StringArray};
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let names = names.as_string::<i32>();
            let out: StringArray =
                (0..names.len()).map(|i| if names.is_null(i) { None } else { setting(names.value(i)) }).collect();
            match &args[0] {
                ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)),
                ColumnarValue::Array(_) => Ok(ColumnarValue::Array(Arc::new(out))),
            }
        }),
    )
}

/// `to_regtype(name)`: the oid of a type junheng serves, or NULL (psycopg asks for `hstore` on
/// connect, and treats NULL as "no such type").
fn to_regtype_udf() -> ScalarUDF {
    use datafusion::arrow::array::{Array, AsArray, Int32Array};
    fn oid(name: &str) -> Option<i32> {
        let name = name.trim().trim_start_matches("pg_catalog.").to_ascii_lowercase();
        Some(match name.as_str() {
            "bool" | "boolean" => 16,
            "bytea" => 17,
            "int8" | "bigint" => 20,
            "int2" | "smallint" => 21,
            "int4" | "integer" | "int" => 23,
            "text" => 25,
            "oid" => 26,
            "float4" | "real" => 700,
            "float8" | "double precision" => 701,
            "varchar" | "character varying" => 1043,
            "date" => 1082,
            "timestamp" | "timestamp without time zone" => 1114,
            "timestamptz" | "timestamp with time zone" => 1184,
            "numeric" | "decimal" => 1700,
            _ => return None,
        })
    }
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| match &args[0] {
            ColumnarValue::Scalar(value) => {
                let name = match value {
                    ScalarValue::Utf8(n) | ScalarValue::LargeUtf8(n) | ScalarValue::Utf8View(n) => n.clone(),
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Int32(name.as_deref().and_then(oid))))
            }
            ColumnarValue::Array(array) => {
                let text = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
                let names = text.as_string::<i32>();
                let oids: Int32Array =
                    (0..names.len()).map(|i| if names.is_null(i) { None } else { oid(names.value(i)) }).collect();
                Ok(ColumnarValue::Array(Arc::new(oids)))
            }
        }),
    )
}

/// A DataFusion session for one connection, its `public` schema pinned to a version.
async fn connection_context(
    out: &Location,
    pinned: Arc<PinnedSchema>,
    pinned_information: Arc<PinnedSchema>,
    memory_limit: usize,
) -> Result<SessionContext> {
    let sql = |e: DataFusionError| Error::Sql { model: "serve".into(), file: "session".into(), source: Box::new(e) };
    let runtime = RuntimeEnvBuilder::new().with_memory_limit(memory_limit, 1.0).build_arc().map_err(sql)?;
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(DATABASE, "public")
        .with_create_default_catalog_and_schema(true)
        // DataFusion's own information_schema names Arrow types (Utf8View); ours names PostgreSQL's.
        .with_information_schema(false)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let url = ObjectStoreUrl::parse(OUTPUT_STORE_URL).map_err(sql)?;
    ctx.runtime_env().register_object_store(url.as_ref(), out.store.clone());
    let catalog = ctx.catalog(DATABASE).ok_or_else(|| Error::Config("the default catalog is missing".into()))?;
    catalog.register_schema("public", pinned).map_err(sql)?;
    catalog.register_schema("information_schema", pinned_information).map_err(sql)?;
    setup_pg_catalog(&ctx, DATABASE, datafusion_postgres::auth::AuthManager::default()).map_err(|e| sql(*e))?;
    ctx.register_udf(version_udf());
    ctx.register_udf(to_regtype_udf());
    ctx.register_udf(current_setting_udf());
    ctx.register_udf(like_escape_udf());
    ctx.register_udf(ScalarUDF::from(JsonBuildObject {
        signature: datafusion::logical_expr::Signature::variadic_any(Volatility::Immutable),
    }));
    for udf in constant_catalog_udfs() {
        ctx.register_udf(udf);
    }
    if let Some(base) = catalog.schema("pg_catalog") {
        let overlay = CatalogOverlay::new(&ctx, base).await.map_err(sql)?;
        catalog.register_schema("pg_catalog", Arc::new(overlay)).map_err(sql)?;
    }
    Ok(ctx)
}

/// The TLS acceptor for a configured certificate; a certificate that cannot be used is an error
/// (never a silent fall-back to plain text).
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<pgwire::tokio::TlsAcceptor> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad = |what: &std::path::Path, e: String| Error::Config(format!("TLS: {}: {e}", what.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(cert, e.to_string()))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}

const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;

/// Read one untyped startup-phase packet (length, then a code) and return its code.
async fn read_packet(socket: &mut tokio::net::TcpStream) -> std::io::Result<Option<u32>> {
    use tokio::io::AsyncReadExt;
    let length = socket.read_u32().await? as usize;
    if !(8..=10_000).contains(&length) {
        return Ok(None);
    }
    let code = socket.read_u32().await?;
    let mut rest = vec![0u8; length - 8];
    socket.read_exact(&mut rest).await?;
    Ok(Some(code))
}

/// The ErrorResponse sent to a connection beyond the limit, before it logs in.
fn too_many_connections(limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL".to_owned()),
        (b'V', "FATAL".to_owned()),
        (b'C', "53300".to_owned()),
        (b'M', format!("too many connections: junheng serve allows {limit} at once (--max-connections)")),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(&body);
    message
}

/// Parse a memory size: `512MiB`, `2GiB`, `1G`, `800M`, or bytes.
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = number.parse().map_err(|_| format!("{text:?} is not a size like 512MiB or 2GiB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{text:?}: unit must be KiB, MiB or GiB")),
    };
    Ok((n * scale) as usize)
}

/// Check the options before anything listens.
pub fn check(options: &ServeOptions) -> Result<()> {
    if options.password.is_none() && !options.listen.ip().is_loopback() {
        return Err(Error::Config(format!(
            "refusing to listen on {} without a password: set JUNHENG_SERVE_PASSWORD (and give a TLS certificate \
             with --tls-cert/--tls-key), or listen on 127.0.0.1",
            options.listen
        )));
    }
    if options.max_connections == 0 {
        return Err(Error::Config("--max-connections must be at least 1".into()));
    }
    Ok(())
}

/// Serve until the process is stopped (SIGINT or SIGTERM end it cleanly). `on_listening` is told
/// the bound address (useful with port 0) and the version being served.
pub async fn serve(options: ServeOptions, on_listening: impl FnOnce(SocketAddr, &Snapshot)) -> Result<()> {
    check(&options)?;
    let tls = options.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let out = crate::storage::open(&options.out, false)?;
    let snapshot = Arc::new(Snapshot::open(&out).await?);
    let versions = Arc::new(Versions {
        out: out.clone(),
        refresh: options.refresh,
        state: tokio::sync::Mutex::new((snapshot.clone(), Instant::now())),
    });
    let listener = TcpListener::bind(options.listen).await.map_err(|source| Error::Io {
        operation: "listen on",
        path: options.listen.to_string().into(),
        source,
    })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        operation: "listen on",
        path: options.listen.to_string().into(),
        source,
    })?;
    on_listening(bound, &snapshot);
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let connections = Arc::new(ConnectionManager::new());
    let options = Arc::new(options);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| Error::Io { operation: "handle signals of", path: "the process".into(), source })?;
    loop {
        let (mut socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            warn!(%peer, "connection refused: {} connections already open", options.max_connections);
            let refusal = too_many_connections(options.max_connections);
            tokio::spawn(async move {
                let refuse = async {
                    // Answer an SSL or GSS request with "no", so that the client reads the error as a
                    // login error (libpq prints its message then), and wait for the startup packet.
                    for _ in 0..3 {
                        let Ok(Some(code)) = read_packet(&mut socket).await else { break };
                        if code == SSL_REQUEST || code == GSS_REQUEST {
                            socket.write_all(b"N").await?;
                        } else {
                            break;
                        }
                    }
                    socket.write_all(&refusal).await?;
                    socket.shutdown().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), refuse).await;
            });
            continue;
        };
        let (tls, out, versions, options, connections) =
            (tls.clone(), out.clone(), versions.clone(), options.clone(), connections.clone());
        tokio::spawn(async move {
            let connection = match new_connection(&out, &versions, &options, &connections).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(%peer, "cannot set up a session: {e}");
                    return;
                }
            };
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, Arc::new(connection)).await {
                info!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
}

async fn new_connection(
    out: &Location,
    versions: &Arc<Versions>,
    options: &ServeOptions,
    connections: &Arc<ConnectionManager>,
) -> Result<Connection> {
    let snapshot = Arc::new(RwLock::new(versions.current().await));
    let pinned = Arc::new(PinnedSchema { snapshot: snapshot.clone(), information_schema: false });
    let pinned_information = Arc::new(PinnedSchema { snapshot, information_schema: true });
    let ctx = Arc::new(connection_context(out, pinned.clone(), pinned_information, options.memory_limit).await?);
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(SavepointHook),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let inner = DfSessionService::new_with_hooks(ctx, hooks);
    let parser = Arc::new(GuardedParser {
        inner: ExtendedQueryHandler::query_parser(&inner),
        pinned,
        versions: versions.clone(),
        sql_parser: PostgresCompatibilityParser::new(),
    });
    let session = Arc::new(Session { inner, parser, limit: options.statement_timeout });
    let login = match &options.password {
        None => Login::Open(OpenDoor { connections: connections.clone() }),
        Some(password) => {
            let mut scram =
                ScramAuth::new(Arc::new(OneUser { user: options.user.clone(), password: password.clone() }));
            scram.set_iterations(SCRAM_ITERATIONS);
            let mut parameters = DefaultServerParameterProvider::default();
            parameters.is_superuser = false;
            parameters.default_transaction_read_only = true;
            Login::Scram(
                SASLAuthStartupHandler::new(Arc::new(parameters))
                    .with_connection_manager(connections.clone())
                    .with_scram(scram),
            )
        }
    };
    Ok(Connection { session, login: Arc::new(login), cancel: Arc::new(DefaultCancelHandler::new(connections.clone())) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Vec<Statement> {
        PostgresCompatibilityParser::new().parse(sql).unwrap()
    }

    #[test]
    fn reads_pass_and_writes_are_refused_by_name() {
        for sql in [
            "select * from balance_cv",
            "with t as (select 1) select * from t",
            "explain select 1",
            "show search_path",
            "set search_path = public",
            "begin",
            "commit",
            "declare c cursor for select 1",
        ] {
            for statement in parse(sql) {
                assert_eq!(refusal(&statement), None, "{sql}");
            }
        }
        for (sql, word) in [
            ("insert into balance_cv values (1)", "INSERT"),
            ("update schools set school_name = 'x'", "UPDATE"),
            ("delete from schools", "DELETE"),
            ("drop table schools", "DROP"),
            ("create table t (a int)", "CREATE"),
            ("copy schools to '/tmp/x.csv'", "COPY"),
            ("select 1 into t", "SELECT … INTO"),
            ("explain insert into schools values (1)", "INSERT"),
            ("set datafusion.runtime.memory_limit = '100G'", "datafusion"),
        ] {
            let why = parse(sql).iter().find_map(refusal).unwrap_or_else(|| panic!("{sql} passed"));
            assert!(why.contains(word), "{sql}: {why}");
        }
        assert!(unparsed_refusal("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'").is_some());
        assert!(unparsed_refusal("selec 1").is_none());
    }

    #[test]
    fn like_with_another_escape_character_becomes_backslash_escapes() {
        assert_eq!(backslash_escaped("pg/_%", '/'), "pg\\_%");
        // A backslash is literal under ESCAPE '/', so it is doubled; "//" is one literal slash.
        assert_eq!(backslash_escaped("a\\b//c", '/'), "a\\\\b/c");
        let sql =
            rewrite_for_datafusion("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg/_' || '%' ESCAPE '/'")
                .unwrap();
        assert!(sql.contains("like_escape(") && !sql.contains("ESCAPE"), "{sql}");
        assert_eq!(rewrite_for_datafusion("select 1"), None);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn non_loopback_needs_a_password() {
        let options = ServeOptions {
            out: "out".into(),
            listen: "0.0.0.0:5433".parse().unwrap(),
            user: "junheng".into(),
            password: None,
            tls: None,
            statement_timeout: Duration::from_secs(60),
            memory_limit: 1 << 30,
            max_connections: 8,
            refresh: Duration::from_secs(1),
        };
        assert!(check(&options).unwrap_err().to_string().contains("JUNHENG_SERVE_PASSWORD"));
        assert!(check(&ServeOptions { password: Some("x".into()), ..options.clone() }).is_ok());
        assert!(check(&ServeOptions { listen: "127.0.0.1:0".parse().unwrap(), ..options }).is_ok());
    }

    #[test]
    fn the_connection_refusal_is_a_well_formed_error_response() {
        let message = too_many_connections(4);
        assert_eq!(message[0], b'E');
        let length = i32::from_be_bytes([message[1], message[2], message[3], message[4]]) as usize;
        assert_eq!(length + 1, message.len());
        assert!(String::from_utf8_lossy(&message).contains("53300"));
    }
}
