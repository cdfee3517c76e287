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

mod auth;
mod catalog;
mod guard;
mod listener;
mod rewrite;
mod session;
mod versions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use guard::refusal;
pub use listener::{check, serve};
pub use rewrite::rewrite_for_datafusion;
pub use versions::Snapshot;

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
