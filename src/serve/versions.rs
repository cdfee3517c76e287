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
use crate::query::RunHistory;
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

    /// Open the latest committed version of `out` and keep the tables readers may see: staging
    /// tables, marts, `quarantine_<table>` and `runs`.
    pub(super) async fn open(out: &Location) -> Result<Snapshot> {
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
    pub(super) state: tokio::sync::Mutex<(Arc<Snapshot>, Instant)>,
    /// The current version as each restricted set of areas sees it (emptied on a new version).
    pub(super) scoped: tokio::sync::Mutex<HashMap<Areas, Arc<Snapshot>>>,
}

impl Versions {
    /// The committed version to pin the next statement to (re-checked at most every `refresh`).
    pub(super) async fn current(&self) -> Arc<Snapshot> {
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
        None => Ok(crate::publish::ledgers(out).await?.into_iter().rev().find(|l| l.published).map(|l| l.run_id)),
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
