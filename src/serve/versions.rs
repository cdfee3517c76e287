//! Version pinning: which committed version each statement reads. The committed version is
//! re-read (one small `current.json` object) at most every `refresh`; each statement pins its
//! connection's `public` schema to the version committed when it started.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use tracing::{info, warn};

use super::access::{Areas, restricted};
use super::catalog::information_schema;
use crate::contract::Table;
use crate::error::{Error, Result};
use crate::query::{AsOf, RunHistory};
use crate::storage::Location;

/// What is served at one moment: one committed version's tables.
#[derive(Debug)]
pub struct Snapshot {
    /// The run whose version this is.
    pub run_id: String,
    /// Its version number.
    pub version: u64,
    /// Every served table, by name.
    pub(super) schema: Arc<MemorySchemaProvider>,
    /// `information_schema` (tables, columns, schemata, views) for this version, with
    /// PostgreSQL's type names, which BI tools read to decide what a column is.
    pub(super) information_schema: Arc<MemorySchemaProvider>,
    /// The run history, from which a restricted login's `runs` is made.
    pub(super) history: Arc<RunHistory>,
}

impl Snapshot {
    /// A version with no tables: what a connection sees before its first statement is admitted.
    pub(super) fn empty() -> Snapshot {
        Snapshot {
            run_id: String::new(),
            version: 0,
            schema: Arc::new(MemorySchemaProvider::new()),
            information_schema: Arc::new(MemorySchemaProvider::new()),
            history: Arc::new(RunHistory::default()),
        }
    }

    /// Open the committed version of `out` that `as_of` names (the latest, or one pinned by
    /// `serve --as-of`) and keep the tables readers may see: staging tables, marts,
    /// `quarantine_<table>` and `runs`.
    pub(super) async fn open(out: &Location, as_of: &AsOf) -> Result<Snapshot> {
        let published = crate::query::open_location_as_of(out.clone(), as_of).await?;
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
            history: Arc::new(published.history),
        })
    }

    /// This version as a login restricted to `areas` sees it: every table with a `county_code`
    /// through its area filter, `runs` counting those areas only, and no table that cannot be
    /// filtered (nor its columns in `information_schema`).
    pub(super) async fn scoped(&self, areas: &Areas) -> Result<Snapshot> {
        let err = |name: &str, e: DataFusionError| Error::Sql {
            model: name.to_owned(),
            file: "serve".into(),
            source: Box::new(e),
        };
        let schema = Arc::new(MemorySchemaProvider::new());
        let mut names = self.schema.table_names();
        names.sort();
        for name in names {
            let provider = if name == "runs" {
                let shown = |county: &str| areas.allows(county);
                Some(self.history.table(Some(&shown))? as Arc<dyn TableProvider>)
            } else {
                let Some(table) = self.schema.table(&name).await.map_err(|e| err(&name, e))? else { continue };
                restricted(&name, table, areas).map_err(|e| err(&name, e))?
            };
            if let Some(provider) = provider {
                schema.register_table(name.clone(), provider).map_err(|e| err(&name, e))?;
            }
        }
        let information_schema = information_schema(&schema).await?;
        Ok(Snapshot {
            run_id: self.run_id.clone(),
            version: self.version,
            schema,
            information_schema,
            history: self.history.clone(),
        })
    }
}

/// The output being served and the version currently committed, shared by every connection.
pub(super) struct Versions {
    pub(super) out: Location,
    pub(super) refresh: Duration,
    /// A version the whole server is pinned to (`serve --as-of`): never refreshed.
    pub(super) as_of: AsOf,
    pub(super) state: std::sync::Mutex<Current>,
    /// The current version as each restricted set of areas sees it (emptied on a new version).
    pub(super) scoped: tokio::sync::Mutex<HashMap<Areas, Arc<Snapshot>>>,
    /// Earlier versions sessions chose with `SET junheng.as_of`, by what they asked for and
    /// as each set of areas sees them.
    pub(super) earlier: tokio::sync::Mutex<HashMap<(AsOf, Areas), Arc<Snapshot>>>,
}

/// How many views of earlier versions the server keeps open for `SET junheng.as_of` (all are
/// dropped when more are asked for: each holds only its tables' file lists).
const EARLIER_KEPT: usize = 16;

/// The version served now and when the pointer was last read.
pub(super) struct Current {
    snapshot: Arc<Snapshot>,
    checked_at: Instant,
    /// The run `current.json` named when the snapshot was opened: a new version is opened when
    /// the pointer changes, so a pointer that lags the ledgers (a run stopped between its commit
    /// and the pointer) does not make every check open the output again.
    pointer: Option<String>,
    /// A statement is reading the pointer or opening a new version; the others go on with this one.
    refreshing: bool,
}

impl Current {
    /// The committed version of `out` now (or the one `as_of` pins), and the run its pointer names.
    pub(super) async fn open(out: &Location, as_of: &AsOf) -> Result<Current> {
        if *as_of != AsOf::Latest {
            let snapshot = Arc::new(Snapshot::open(out, as_of).await?);
            info!(run_id = %snapshot.run_id, version = snapshot.version, "serving an earlier version (--as-of)");
            return Ok(Current { snapshot, checked_at: Instant::now(), pointer: None, refreshing: false });
        }
        let pointer = committed_run_id(out).await?;
        let snapshot = Arc::new(open_named(out, pointer.as_deref()).await?);
        Ok(Current { snapshot, checked_at: Instant::now(), pointer, refreshing: false })
    }

    /// The version served now.
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.clone()
    }
}

/// Open the latest committed version of `out`, saying so when the pointer names another run
/// (`current.json` lags the ledgers when a run stopped between its commit and the pointer).
async fn open_named(out: &Location, pointer: Option<&str>) -> Result<Snapshot> {
    let snapshot = Snapshot::open(out, &AsOf::Latest).await?;
    if let Some(named) = pointer.filter(|p| *p != snapshot.run_id) {
        warn!(
            pointer = %named,
            serving = %snapshot.run_id,
            "current.json names another run than the latest committed one; serving the latest (the next run \
             repairs the pointer)"
        );
    }
    Ok(snapshot)
}

/// Clears [`Current::refreshing`] however the refresh ends (a statement cancelled mid-way too).
struct Refreshing<'a>(&'a std::sync::Mutex<Current>);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).refreshing = false;
    }
}

impl Versions {
    /// The committed version to pin the next statement to. The pointer is re-read at most every
    /// `refresh`, by one statement at a time and outside the lock, so no statement waits for
    /// another's opening of a new version.
    pub(super) async fn current(&self) -> Arc<Snapshot> {
        let seen = {
            let mut current = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let pinned = self.as_of != AsOf::Latest;
            if pinned || current.refreshing || current.checked_at.elapsed() < self.refresh {
                return current.snapshot.clone();
            }
            current.refreshing = true;
            current.checked_at = Instant::now();
            current.pointer.clone()
        };
        let _refreshing = Refreshing(&self.state);
        let opened = match committed_run_id(&self.out).await {
            Ok(pointer) if pointer != seen => match open_named(&self.out, pointer.as_deref()).await {
                Ok(snapshot) => Some((pointer, snapshot)),
                Err(e) => {
                    warn!("a new version is committed but cannot be opened yet, still serving the last: {e}");
                    None
                }
            },
            Ok(_) => None,
            Err(e) => {
                warn!("cannot read the committed version, still serving the last: {e}");
                None
            }
        };
        let mut current = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((pointer, snapshot)) = opened {
            current.pointer = pointer;
            if snapshot.run_id != current.snapshot.run_id {
                info!(run_id = %snapshot.run_id, version = snapshot.version, "serving a newly committed version");
                current.snapshot = Arc::new(snapshot);
            }
        }
        current.snapshot.clone()
    }

    /// The version `as_of` names (`SET junheng.as_of`) as a login that sees `areas` sees it:
    /// the current one for `latest`, else an earlier one, opened once and kept (a run's version
    /// never changes; a moment still to come is resolved anew each time).
    pub(super) async fn at(&self, as_of: &AsOf, areas: &Areas) -> Result<Arc<Snapshot>> {
        if *as_of == AsOf::Latest {
            return self.current_for(areas).await;
        }
        let settled = !matches!(as_of, AsOf::Time(moment) if *moment >= chrono::Utc::now());
        let mut earlier = self.earlier.lock().await;
        let (key, whole_key) = ((as_of.clone(), areas.clone()), (as_of.clone(), Areas::All));
        if let Some(found) = earlier.get(&key).filter(|_| settled) {
            return Ok(found.clone());
        }
        let whole = match earlier.get(&whole_key).filter(|_| settled) {
            Some(found) => found.clone(),
            None => Arc::new(Snapshot::open(&self.out, as_of).await?),
        };
        // As `current_for` keeps the current version per set of areas, each login's view of an
        // earlier version is made once, not at every statement.
        let made = if *areas == Areas::All { whole.clone() } else { Arc::new(whole.scoped(areas).await?) };
        if settled {
            if earlier.len() + 2 > EARLIER_KEPT {
                earlier.clear();
            }
            earlier.insert(whole_key, whole);
            earlier.insert(key, made.clone());
        }
        Ok(made)
    }

    /// The committed version as a login that sees `areas` sees it.
    pub(super) async fn current_for(&self, areas: &Areas) -> Result<Arc<Snapshot>> {
        let whole = self.current().await;
        if *areas == Areas::All {
            return Ok(whole);
        }
        let mut scoped = self.scoped.lock().await;
        if let Some(found) = scoped.get(areas).filter(|s| s.run_id == whole.run_id) {
            return Ok(found.clone());
        }
        scoped.retain(|_, s| s.run_id == whole.run_id);
        let made = Arc::new(whole.scoped(areas).await?);
        scoped.insert(areas.clone(), made.clone());
        Ok(made)
    }
}

/// The run id `current.json` points at (written after each commit), or the latest published
/// ledger's for outputs that have no pointer.
pub(super) async fn committed_run_id(out: &Location) -> Result<Option<String>> {
    match crate::publish::pointer_run_id(out).await? {
        Some(run_id) => Ok(Some(run_id)),
        None => Ok(crate::publish::history(out).await?.into_iter().rev().find(|r| r.published).map(|r| r.run_id)),
    }
}

/// The `public` schema of one connection: the tables of the version its current statement is
/// pinned to. Registering tables is refused (the default of `SchemaProvider`), so `CREATE TABLE`,
/// `CREATE VIEW` and `SELECT … INTO` cannot add anything even if they got this far.
#[derive(Debug)]
pub(super) struct PinnedSchema {
    pub(super) snapshot: Arc<RwLock<Arc<Snapshot>>>,
    /// `public` or `information_schema`.
    pub(super) information_schema: bool,
}

impl PinnedSchema {
    pub(super) fn pin(&self, snapshot: Arc<Snapshot>) {
        if let Ok(mut pinned) = self.snapshot.write() {
            *pinned = snapshot;
        }
    }

    /// The version pinned now.
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(super) fn pinned(&self) -> Arc<MemorySchemaProvider> {
        let snapshot = self.snapshot();
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
