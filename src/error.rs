//! The one error type of the library: infrastructure and configuration failures.
//!
//! A bad *cell* or *row* is not an error — it is a [`crate::validate::Finding`] and the run
//! goes on. `Error` is for what stops a run or a file: an unreadable pipeline file, a store that
//! cannot be reached, a file that cannot be decoded, SQL that fails. Every variant says *where*.

use std::path::PathBuf;

/// Everything that can stop junheng, each variant naming the place it happened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file could not be read or parsed (unknown key, wrong type, bad value).
    #[error("pipeline file {path}: {message}")]
    Pipeline {
        /// The pipeline file.
        path: PathBuf,
        /// What is wrong, in words (TOML errors carry line and column).
        message: String,
    },

    /// What was asked for on the command line (or in the environment) cannot be done as asked:
    /// a value that does not parse, an option that needs another, nothing to read.
    #[error("{0}")]
    Usage(String),

    /// A path template or code pattern of a pipeline cannot be compiled.
    #[error("path template {template:?}: {message}")]
    Template {
        /// The template or pattern as written.
        template: String,
        /// What is wrong with it.
        message: String,
    },

    /// The SQL engine could not be set up: its runtime, or a cluster that does not answer.
    #[error("SQL engine: {0}")]
    Engine(String),

    /// Nothing matches what was asked for: no committed run yet, no such published figure
    /// (exit 3, so a script can tell "not there" from "broken").
    #[error("{0}")]
    NotFound(String),

    /// A source in which no file is a table: nothing to read is never a success.
    #[error("{0}")]
    NothingToRead(String),

    /// Another run holds the output's lock.
    #[error(
        "{output} is being published by run {run_id} (host {host}, pid {pid}, since {}); wait for it to finish, or run with --wait",
        since.format("%Y-%m-%d %H:%M:%S UTC")
    )]
    Locked {
        /// The output.
        output: String,
        /// The run holding the lock.
        run_id: String,
        /// Its host.
        host: String,
        /// Its process id.
        pid: u32,
        /// When it took the lock.
        since: chrono::DateTime<chrono::Utc>,
    },

    /// Something that is not junheng's stands where junheng publishes.
    #[error("{} exists and is not junheng's symlink; move it away (junheng publishes {entry} as a link into current/)", path.display())]
    InTheWay {
        /// What stands there.
        path: PathBuf,
        /// The published entry that would go there.
        entry: String,
    },

    /// A worker (a reader thread, a scheduled run's process) failed outside any one input.
    #[error("{0}")]
    Worker(String),

    /// A TLS certificate or key cannot be used (the server never falls back to plain text).
    #[error("TLS: {}: {message}", path.display())]
    Tls {
        /// The certificate or key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A URL names a scheme or form junheng cannot open.
    #[error("cannot open {url}: {message}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it cannot be used and what to do instead.
        message: String,
    },

    /// Reading or writing an object failed.
    #[error("{operation} {location}: {source}")]
    Store {
        /// What junheng was doing (`read`, `write`, `list`, …).
        operation: &'static str,
        /// The object or prefix.
        location: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },

    /// A source file exists but cannot be read as the table it should hold.
    #[error("{uri}: {message}")]
    Unreadable {
        /// The source file.
        uri: String,
        /// What is wrong and, where known, the byte offset, row or cell.
        message: String,
    },

    /// Writing Parquet failed.
    #[error("writing {location}: {source}")]
    Parquet {
        /// The Parquet object being written.
        location: String,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Building an Arrow batch failed (a bug, or a column beyond Arrow's limits).
    #[error("{context}: {source}")]
    Arrow {
        /// What was being built.
        context: String,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A SQL model failed to plan or run.
    #[error("SQL model {model} ({file}): {source}")]
    Sql {
        /// The model name (file stem).
        model: String,
        /// The model's file under `sql/`.
        file: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    /// The SQL project itself is inconsistent (a cycle, a reference to nothing).
    #[error("sql/: {0}")]
    SqlProject(String),

    /// The run may not commit: it was already committed, another run published its version, or
    /// its lock was taken over while it ran.
    #[error("{0}")]
    Conflict(String),

    /// An object store cannot create an object only if none exists, so no run may lock or
    /// commit there.
    #[error(
        "{output} cannot create an object only if none exists, and junheng's lock and commit rely on that (two runs \
         must never both publish): {found}. Nothing was published. Use a store that honours `If-None-Match: *` (AWS S3, \
         MinIO, Ceph RGW) or `x-oss-forbid-overwrite: true` (Alibaba Cloud OSS), or a local folder"
    )]
    NoExclusiveCreate {
        /// The output URL.
        output: String,
        /// What the probe found the store does instead.
        found: String,
    },

    /// A local file system operation outside object_store failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What junheng was doing.
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// JSON (de)serialisation of a ledger or manifest failed.
    #[error("{context}: {source}")]
    Json {
        /// Which document.
        context: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// How a command that failed with this error ends: a miss is its own status, every other
    /// error a failure.
    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        match self {
            Error::NotFound(_) => crate::exit::ExitStatus::NotFound,
            _ => crate::exit::ExitStatus::Failed,
        }
    }

    /// Wrap a store error with the operation and location it happened at.
    pub fn store(operation: &'static str, location: impl ToString, source: object_store::Error) -> Self {
        Error::Store { operation, location: location.to_string(), source }
    }

    /// Wrap a DataFusion error with the model (or table) and file it happened in.
    pub fn sql(model: impl Into<String>, file: impl Into<String>, source: datafusion::error::DataFusionError) -> Self {
        Error::Sql { model: model.into(), file: file.into(), source: Box::new(source) }
    }

    /// Wrap an Arrow error with what was being built.
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow { context: context.into(), source }
    }
}
