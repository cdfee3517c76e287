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
//!
//! Who sees what: each login of a users file sees the counties of its areas only — every table
//! through a `county_code` filter inside the plan ([`access`]) — and every statement is written
//! to an audit log ([`audit`]).

mod access;
mod audit;
mod auth;
mod bounds;
mod cancel;
mod catalog;
mod guard;
mod listener;
mod rewrite;
mod session;
mod versions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use access::{Areas, HASH_ITERATIONS, MIN_PASSWORD_CHARS, User, Users, hash_password};
pub use guard::refusal;
pub use listener::{check, serve};
pub use rewrite::rewrite_for_datafusion;
pub use versions::Snapshot;

/// The database name clients see (`current_database()`), and the catalog the tables are in.
pub const DATABASE: &str = "junheng";

impl ServeOptions {
    /// Whether clients must ask for TLS: with `--require-tls`, and always beyond loopback.
    pub fn requires_tls(&self) -> bool {
        self.require_tls || !self.listen.ip().is_loopback()
    }
}

/// Who may log in.
#[derive(Debug, Clone)]
pub enum Logins {
    /// `--no-auth`: anyone on this machine, under any name, sees every area (loopback only).
    NoAuth,
    /// The logins of a users file, or the one login of `JUNHENG_SERVE_USER`/`_PASSWORD`.
    Users(Arc<Users>),
}

/// How `junheng serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The output URL or folder to serve.
    pub out: String,
    /// Serve this version for as long as the server runs instead of following new versions.
    pub as_of: crate::query::AsOf,
    /// Address to listen on (`127.0.0.1:5433`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Who may log in and what each login sees.
    pub logins: Logins,
    /// TLS certificate and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Refuse clients that do not ask for TLS (always so beyond loopback).
    pub require_tls: bool,
    /// Longest a client may take from connecting to being logged in.
    pub startup_timeout: Duration,
    /// Connections from one address that may be waiting to log in at once.
    pub max_startups_per_address: usize,
    /// Where the audit log goes instead of `_audit/` beside the output.
    pub audit_log: Option<PathBuf>,
    /// Longest a statement may run, planning and streaming its rows included.
    pub statement_timeout: Duration,
    /// Memory one connection's queries may hold (DataFusion's memory pool).
    pub memory_limit: usize,
    /// Connections open at once; more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// Statements one login may have running at once; more wait for a turn within their timeout.
    pub max_statements_per_login: usize,
    /// How often to look for a newly committed version.
    pub refresh: Duration,
}
