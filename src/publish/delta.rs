//! Delta Lake tables: every published table under a stable path whose Delta log follows the
//! committed runs, so Spark, delta-rs, Polars or a warehouse can define it once and read it by
//! path ever after.
//!
//! `tables/<area>/<table>/` (area `staging`, `quarantine` or `marts`) is a Delta table of
//! protocol reader 1 / writer 2, which every Delta reader reads; staging and quarantine tables
//! are partitioned by `year`, as their published folders are. junheng writes the log itself:
//! one JSON commit per run and table, created with put-if-absent through the same exclusive
//! create the ledger uses (OSS's header included), not through a Delta library's own log store
//! (delta-rs's on S3 needs a locking provider or an unsafe rename, and would be a second way of
//! committing beside the ledger's).
//!
//! The run ledger stays the commit point across tables. A run writes its files under
//! `versions/<run_id>/`, works out each table's next Delta version ([`prepare`]) and records
//! them in its ledger, commits the ledger, and only then brings each table to that version
//! ([`Prepared::sync`]): the new files are hard-linked (local disks) or server-side copied
//! (object stores) into the table, and its log entry lists them (`add`) and the files they
//! replace (`remove`) — a re-submitted county-year replaces its year's files, every other file
//! stays where it is, not copied. A run killed before its ledger commit wrote no Delta version at
//! all; one killed during the sync left some tables one version behind, which the next run (even
//! one that finds nothing changed) brings forward from the committed ledger before anything
//! else. Each commit carries a `txn` action (app id `junheng`, version = the run's version), so
//! a table is brought to a run once, and a commit that is not junheng's is refused, never
//! overwritten.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::{DataType, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde_json::{Value, json};

use crate::contract::Table;
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::load::version_path;
use crate::normalise::{self, quarantine};
use crate::storage::Location;

/// The folder of the Delta tables under the output root.
pub const TABLES: &str = "tables";

/// The application id of junheng's `txn` actions.
pub const APP_ID: &str = "junheng";

/// A Delta table's log folder, in the table's root.
const LOG: &str = "_delta_log";

/// How many objects are read, copied or inspected at once (object stores answer in parallel).
const AT_ONCE: usize = 16;

/// One published table as a Delta table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeltaTable {
    /// `staging`, `quarantine` or `marts`.
    pub area: &'static str,
    /// The table's name in its area (`pupils`, `balance_cv`).
    pub name: String,
}

impl DeltaTable {
    /// How the ledger and `current.json` name it: `staging/pupils`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.area, self.name)
    }

    /// Its root relative to the output root: `tables/staging/pupils`.
    pub fn root(&self) -> String {
        format!("{TABLES}/{}/{}", self.area, self.name)
    }

    /// Staging and quarantine tables are partitioned by year; marts are not.
    fn partitioned(&self) -> bool {
        self.area != "marts"
    }

    fn log_entry(&self, version: u64) -> String {
        format!("{}/{LOG}/{version:020}.json", self.root())
    }
}

/// The tables a committed ledger publishes: every staging and quarantine table, and its marts.
pub fn published_tables(ledger: &Ledger) -> Vec<DeltaTable> {
    let mut tables = Vec::new();
    for area in ["staging", "quarantine"] {
        tables.extend(Table::ALL.iter().map(|t| DeltaTable { area, name: t.name().to_owned() }));
    }
    tables.extend(ledger.marts.iter().map(|m| DeltaTable { area: "marts", name: m.name.clone() }));
    tables
}

/// A data file of a table's version: where its bytes are in the run's version folder, and where
/// they go in the table (named by the run that wrote them, so an unchanged partition carried
/// from run to run is one and the same Delta file).
#[derive(Debug, Clone, PartialEq)]
struct DataFile {
    source: String,
    path: String,
    rows: u64,
    year: Option<String>,
}

/// The data files of `table` in `ledger`'s version.
fn data_files(ledger: &Ledger, table: &DeltaTable) -> Vec<DataFile> {
    let prefix = format!("{}/", table.key());
    let files = ledger.files_written.iter().filter_map(|file| {
        let rest = file.path.strip_prefix(&prefix)?;
        let (folder, name) = match rest.rsplit_once('/') {
            Some((folder, name)) => (Some(folder), name),
            None => (None, rest),
        };
        let named = format!("{}-{name}", file.written_by(&ledger.run_id));
        Some(DataFile {
            source: format!("{}/{}", version_path(&ledger.run_id), file.path),
            path: folder.map_or(named.clone(), |folder| format!("{folder}/{named}")),
            rows: file.rows,
            year: folder.and_then(|f| f.strip_prefix("year=")).map(str::to_owned),
        })
    });
    files.collect()
}

/// What a table's log says: its latest version, the files of that version, and junheng's marks.
#[derive(Debug, Default)]
struct Snapshot {
    /// The latest version, `None` for a table not created yet.
    version: Option<u64>,
    /// The latest version's files: path → its `add` action.
    active: BTreeMap<String, Value>,
    /// Files removed and not added again: path → when (ms since the epoch).
    removed: BTreeMap<String, i64>,
    /// The latest `metaData` action.
    metadata: Option<Value>,
    /// The run version of the latest junheng `txn`.
    synced: Option<u64>,
    /// Whether the latest commit is junheng's (carries its `txn`).
    last_is_ours: bool,
}

impl Snapshot {
    /// Apply one commit's actions.
    fn apply(&mut self, version: u64, commit: &[u8], entry: &str) -> Result<()> {
        let mut ours = false;
        for line in commit.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            let action: Value = serde_json::from_slice(line)
                .map_err(|source| Error::Json { context: format!("the Delta log entry {entry}"), source })?;
            let path = |a: &Value| a["path"].as_str().map(str::to_owned).unwrap_or_default();
            if let Some(add) = action.get("add") {
                self.removed.remove(&path(add));
                self.active.insert(path(add), add.clone());
            } else if let Some(remove) = action.get("remove") {
                self.active.remove(&path(remove));
                self.removed.insert(path(remove), remove["deletionTimestamp"].as_i64().unwrap_or(0));
            } else if let Some(metadata) = action.get("metaData") {
                self.metadata = Some(metadata.clone());
            } else if let Some(txn) = action.get("txn").filter(|t| t["appId"] == APP_ID) {
                self.synced = txn["version"].as_u64();
                ours = true;
            }
        }
        self.version = Some(version);
        self.last_is_ours = ours;
        Ok(())
    }
}

/// Read a table's log from its first entry (junheng writes no checkpoints, so every entry is
/// there).
async fn snapshot(out: &Location, table: &DeltaTable) -> Result<Snapshot> {
    let prefix = out.child(&format!("{}/{LOG}", table.root()));
    let listed: Vec<object_store::ObjectMeta> = match out.store.list(Some(&prefix)).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(Error::store("list", &prefix, e)),
    };
    let mut entries: Vec<(u64, object_store::path::Path)> = listed
        .into_iter()
        .filter_map(|meta| {
            let name = meta.location.filename()?.strip_suffix(".json")?;
            (name.len() == 20).then(|| name.parse().ok()).flatten().map(|v| (v, meta.location.clone()))
        })
        .collect();
    entries.sort();
    let url = out.url_of(&out.child(&table.root()));
    if entries.iter().enumerate().any(|(i, (v, _))| *v != i as u64) {
        return Err(Error::Conflict(format!(
            "the Delta log of {url} does not run from version 0 without gaps (another tool checkpointed or \
             cleaned it): junheng keeps its tables' logs itself; delete {url} and the next run starts it again \
             from the published files"
        )));
    }
    let bodies: Vec<(u64, bytes::Bytes, String)> = futures::stream::iter(entries)
        .map(|(version, path)| async move {
            let found = out.store.get(&path).await.map_err(|e| Error::store("read", &path, e))?;
            let bytes = found.bytes().await.map_err(|e| Error::store("read", &path, e))?;
            Ok::<_, Error>((version, bytes, path.to_string()))
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let mut snapshot = Snapshot::default();
    for (version, bytes, path) in bodies {
        snapshot.apply(version, &bytes, &path)?;
    }
    Ok(snapshot)
}

/// A table's next commit, worked out before the ledger commits.
#[derive(Debug)]
struct Pending {
    table: DeltaTable,
    snapshot: Snapshot,
    /// The version the commit will create (or the table's version, when it is brought to the run already).
    version: u64,
    /// Whether the table holds the run already.
    done: bool,
}

/// Every published table's next commit for one run (see [`prepare`]).
#[derive(Debug)]
pub struct Prepared {
    pending: Vec<Pending>,
}

/// Read every table's log and work out the version `ledger`'s run will make of it. A table
/// whose latest commit is not junheng's is refused: its log is not junheng's to continue.
pub async fn prepare(out: &Location, ledger: &Ledger) -> Result<Prepared> {
    let pending = futures::stream::iter(published_tables(ledger))
        .map(|table| async move {
            let snapshot = snapshot(out, &table).await?;
            if let Some(version) = snapshot.version.filter(|_| !snapshot.last_is_ours) {
                let url = out.url_of(&out.child(&table.root()));
                return Err(Error::Conflict(format!(
                    "version {version} of the Delta table {url} was not written by junheng (another tool wrote \
                     to it): junheng keeps its tables' logs itself and will not continue another writer's; write \
                     elsewhere with that tool, or delete {url} and the next run starts it again from the \
                     published files"
                )));
            }
            let done = snapshot.synced.is_some_and(|v| v >= ledger.version);
            let version = match snapshot.version {
                Some(latest) if done => latest,
                Some(latest) => latest + 1,
                None => 0,
            };
            Ok(Pending { table, snapshot, version, done })
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    Ok(Prepared { pending })
}

impl Prepared {
    /// Each table's version once the run is synced (`staging/pupils` → 3): what the ledger records.
    pub fn versions(&self) -> BTreeMap<String, u64> {
        self.pending.iter().map(|p| (p.table.key(), p.version)).collect()
    }

    /// Whether every table holds the run already.
    pub fn done(&self) -> bool {
        self.pending.iter().all(|p| p.done)
    }

    /// Bring every table to the committed `ledger`'s version. Returns each table's version.
    pub async fn sync(self, out: &Location, ledger: &Ledger) -> Result<BTreeMap<String, u64>> {
        let teacher_counts = crate::pipeline::Pipeline::from_record(&ledger.pipeline)?.settings.teacher_counts;
        let schemas = Schemas { teacher_counts };
        let schemas = &schemas;
        futures::stream::iter(self.pending)
            .map(|pending| async move {
                let key = pending.table.key();
                let version = commit_table(out, ledger, pending, schemas).await?;
                Ok::<_, Error>((key, version))
            })
            .buffer_unordered(4)
            .try_collect()
            .await
    }
}

/// Bring every table to the committed `ledger`'s version (a run killed during its sync is
/// completed by the next run this way). Returns each table's version.
pub async fn sync(out: &Location, ledger: &Ledger) -> Result<BTreeMap<String, u64>> {
    prepare(out, ledger).await?.sync(out, ledger).await
}

/// Where the tables' schemas come from: the contract's for staging and quarantine (what
/// `junheng query` declares for them), the files' for marts.
struct Schemas {
    teacher_counts: crate::pipeline::TeacherCounts,
}

impl Schemas {
    /// The arrow schema of a table's files (without the `year` partition column).
    async fn of(&self, out: &Location, table: &DeltaTable, files: &[DataFile]) -> Result<SchemaRef> {
        let contract = Table::from_name(&table.name);
        match (table.area, contract) {
            ("staging", Some(t)) => Ok(normalise::schema(t, self.teacher_counts)),
            ("quarantine", Some(t)) => Ok(quarantine::schema(t)),
            _ => {
                let Some(file) = files.first() else {
                    return Err(Error::Engine(format!("the mart {} has no file to take its schema from", table.name)));
                };
                file_schema(out, &file.source).await
            }
        }
    }
}

/// The arrow schema in a Parquet file's footer (two range reads: the tail, then the metadata).
async fn file_schema(out: &Location, relative: &str) -> Result<SchemaRef> {
    let path = out.child(relative);
    let unreadable = |message: String| Error::Unreadable { uri: out.url_of(&path), message };
    let size = out.store.head(&path).await.map_err(|e| Error::store("read", &path, e))?.size;
    if size < 12 {
        return Err(unreadable("too short to be a Parquet file".into()));
    }
    let tail = out.store.get_range(&path, size - 8..size).await.map_err(|e| Error::store("read", &path, e))?;
    if &tail[4..8] != b"PAR1" {
        return Err(unreadable("no Parquet footer".into()));
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if length + 8 > size {
        return Err(unreadable("its footer is longer than the file".into()));
    }
    let footer =
        out.store.get_range(&path, size - 8 - length..size - 8).await.map_err(|e| Error::store("read", &path, e))?;
    let parquet_error = |source| Error::Parquet { location: path.to_string(), source };
    let metadata = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer).map_err(parquet_error)?;
    let file = metadata.file_metadata();
    let schema = parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(parquet_error)?;
    Ok(std::sync::Arc::new(schema))
}

/// A Delta schema's JSON (`schemaString`) for an arrow schema, with `year` (integer) last when
/// the table is partitioned by it.
fn schema_string(schema: &SchemaRef, table: &DeltaTable) -> Result<String> {
    let mut fields = Vec::new();
    for field in schema.fields() {
        let Some(data_type) = delta_type(field.data_type()) else {
            return Err(Error::Engine(format!(
                "column {} of {} is of type {}, which a Delta table of reader version 1 cannot hold",
                field.name(),
                table.key(),
                field.data_type()
            )));
        };
        fields.push(json!({"name": field.name(), "type": data_type, "nullable": field.is_nullable(), "metadata": {}}));
    }
    if table.partitioned() {
        fields.push(json!({"name": "year", "type": "integer", "nullable": false, "metadata": {}}));
    }
    Ok(json!({"type": "struct", "fields": fields}).to_string())
}

/// The Delta type of an arrow type, if reader version 1 has one.
fn delta_type(data_type: &DataType) -> Option<Value> {
    let primitive = match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Int64 | DataType::UInt32 => "long",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int16 | DataType::UInt8 => "short",
        DataType::Int8 => "byte",
        DataType::Float64 => "double",
        DataType::Float32 => "float",
        DataType::Boolean => "boolean",
        DataType::Date32 => "date",
        DataType::Timestamp(_, Some(_)) => "timestamp",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary",
        DataType::Decimal128(precision, scale) if *precision <= 38 => {
            return Some(Value::String(format!("decimal({precision},{scale})")));
        }
        DataType::Dictionary(_, values) => return delta_type(values),
        DataType::List(item) | DataType::LargeList(item) => {
            return Some(
                json!({"type": "array", "elementType": delta_type(item.data_type())?, "containsNull": item.is_nullable()}),
            );
        }
        _ => return None,
    };
    Some(Value::String(primitive.to_owned()))
}

/// Milliseconds since the epoch, as Delta's actions count time.
fn millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

/// A table's `metaData` action's body: the same table id from version to version.
fn metadata(table: &DeltaTable, schema: String, previous: Option<&Value>, ledger: &Ledger) -> Value {
    let id = previous.and_then(|m| m["id"].as_str().map(str::to_owned)).unwrap_or_else(|| table_id(table, ledger));
    let created = previous.and_then(|m| m["createdTime"].as_i64()).unwrap_or_else(|| millis(chrono::Utc::now()));
    let partitions: Vec<&str> = if table.partitioned() { vec!["year"] } else { vec![] };
    json!({
        "id": id,
        "name": table.name,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": schema,
        "partitionColumns": partitions,
        "configuration": {},
        "createdTime": created,
    })
}

/// A table id in the form of a UUID, from the table and the run that created it.
fn table_id(table: &DeltaTable, ledger: &Ledger) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(format!("{}|{}", table.key(), ledger.run_id)));
    format!("{}-{}-4{}-8{}-{}", &digest[0..8], &digest[8..12], &digest[13..16], &digest[17..20], &digest[20..32])
}

/// Bring one table to the committed `ledger`'s version: copy in its new files, then create the
/// log entry that adds them and removes the ones they replace. Returns the version.
async fn commit_table(out: &Location, ledger: &Ledger, pending: Pending, schemas: &Schemas) -> Result<u64> {
    let Pending { table, snapshot, version, done } = pending;
    if done {
        return Ok(version);
    }
    let files = data_files(ledger, &table);
    let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let new: Vec<&DataFile> = files.iter().filter(|f| !snapshot.active.contains_key(&f.path)).collect();
    let root = table.root();
    let adds: Vec<Value> = futures::stream::iter(new)
        .map(|file| {
            let root = &root;
            async move {
                let from = out.child(&file.source);
                let to = out.child(&format!("{root}/{}", file.path));
                out.store.copy(&from, &to).await.map_err(|e| Error::store("copy", &from, e))?;
                let meta = out.store.head(&to).await.map_err(|e| Error::store("read", &to, e))?;
                let partition = file.year.as_ref().map(|y| json!({"year": y})).unwrap_or_else(|| json!({}));
                Ok::<_, Error>(json!({"add": {
                    "path": file.path,
                    "partitionValues": partition,
                    "size": meta.size,
                    "modificationTime": millis(meta.last_modified),
                    "dataChange": true,
                    "stats": json!({"numRecords": file.rows}).to_string(),
                }}))
            }
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let now = millis(chrono::Utc::now());
    let removed: Vec<(&String, &Value)> =
        snapshot.active.iter().filter(|(p, _)| !wanted.contains(p.as_str())).collect();
    let removes = removed.iter().map(|(path, add)| {
        json!({"remove": {
            "path": path,
            "deletionTimestamp": now,
            "dataChange": true,
            "extendedFileMetadata": true,
            "partitionValues": add["partitionValues"],
            "size": add["size"],
        }})
    });
    let schema = schema_string(&schemas.of(out, &table, &files).await?, &table)?;
    let changed_schema = snapshot.metadata.as_ref().is_none_or(|m| m["schemaString"].as_str() != Some(&schema));
    let mut actions = vec![commit_info(&table, ledger, &removed, &adds, now)];
    if version == 0 {
        actions.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
    }
    if changed_schema {
        actions.push(json!({"metaData": metadata(&table, schema, snapshot.metadata.as_ref(), ledger)}));
    }
    actions.push(json!({"txn": {"appId": APP_ID, "version": ledger.version, "lastUpdated": now}}));
    actions.extend(removes);
    actions.extend(adds);
    let mut body = String::new();
    for action in &actions {
        body.push_str(&action.to_string());
        body.push('\n');
    }
    create_entry(out, &table, version, ledger, body).await?;
    Ok(version)
}

/// The `commitInfo` of a run's commit: a predicate overwrite of the years it replaced (staging,
/// quarantine), or of the whole table (marts, rebuilt every run); the run in `userMetadata`.
fn commit_info(table: &DeltaTable, ledger: &Ledger, removed: &[(&String, &Value)], adds: &[Value], now: i64) -> Value {
    let mut parameters = json!({"mode": "Overwrite"});
    if table.partitioned() {
        let years: BTreeSet<&str> = removed
            .iter()
            .map(|(_, add)| &add["partitionValues"])
            .chain(adds.iter().map(|a| &a["add"]["partitionValues"]))
            .filter_map(|p| p["year"].as_str())
            .collect();
        let years: Vec<&str> = years.into_iter().collect();
        parameters["predicate"] = Value::String(format!("year IN ({})", years.join(", ")));
        if years.is_empty() {
            parameters["predicate"] = Value::String("false".into()); // nothing replaced
        }
    }
    json!({"commitInfo": {
        "timestamp": now,
        "operation": "WRITE",
        "operationParameters": parameters,
        "isBlindAppend": false,
        "engineInfo": format!("junheng/{}", env!("CARGO_PKG_VERSION")),
        "userMetadata": json!({"run_id": ledger.run_id, "version": ledger.version}).to_string(),
    }})
}

/// Create a table's log entry with put-if-absent. One there already is this run's when it
/// carries this run's `txn` (an earlier attempt whose answer was lost); anything else is another
/// writer's, and nothing is overwritten.
async fn create_entry(out: &Location, table: &DeltaTable, version: u64, ledger: &Ledger, body: String) -> Result<()> {
    let path = out.child(&table.log_entry(version));
    let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
    match out.store.put_opts(&path, PutPayload::from(body.into_bytes()), create).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let mut theirs = Snapshot::default();
            let found = out.store.get(&path).await.map_err(|e| Error::store("read", &path, e))?;
            let bytes = found.bytes().await.map_err(|e| Error::store("read", &path, e))?;
            theirs.apply(version, &bytes, path.as_ref())?;
            if theirs.synced == Some(ledger.version) {
                return Ok(());
            }
            Err(Error::Conflict(format!(
                "version {version} of the Delta table {} was written by another writer while run {} published: \
                 the run is committed (junheng's readers see it) but this table does not hold it; find the other \
                 writer, then run again",
                out.url_of(&out.child(&table.root())),
                ledger.run_id
            )))
        }
        Err(e) => Err(Error::store("commit", &path, e)),
    }
}

/// What vacuum deletes of the Delta tables' data files: a file the latest version does not hold
/// once it was removed longer than `keep` ago (Delta's own rule: a reader of an older version
/// has had the retention period), and a file no version ever held (a sync killed after its
/// copies) once it is older than `keep`. The logs stay whole. Returns the files deleted (or that
/// would be, in a dry run).
pub async fn vacuum(
    out: &Location,
    keep: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
    dry_run: bool,
) -> Result<Vec<String>> {
    let prefix = out.child(TABLES);
    let listed: Vec<object_store::ObjectMeta> = match out.store.list(Some(&prefix)).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(Error::store("list", &prefix, e)),
    };
    // Data files by table root (`tables/<area>/<table>`), with the path in the table.
    let mut by_table: BTreeMap<(String, String), Vec<(String, object_store::ObjectMeta)>> = BTreeMap::new();
    for meta in listed {
        let Some(relative) = out.relative(&meta.location) else { continue };
        let mut parts = relative.splitn(4, '/');
        let (Some(_), Some(area), Some(name), Some(path)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if path.starts_with(LOG) || !path.ends_with(".parquet") {
            continue;
        }
        by_table.entry((area.to_owned(), name.to_owned())).or_default().push((path.to_owned(), meta));
    }
    let mut deleted = Vec::new();
    for ((area, name), files) in by_table {
        let Some(area) = ["staging", "quarantine", "marts"].into_iter().find(|a| *a == area) else { continue };
        let table = DeltaTable { area, name };
        let snapshot = snapshot(out, &table).await?;
        let past = |at_ms: i64| chrono::DateTime::from_timestamp_millis(at_ms).is_some_and(|at| now - at > keep);
        for (path, meta) in files {
            let goes = match snapshot.removed.get(&path) {
                _ if snapshot.active.contains_key(&path) => false,
                Some(removed_at) => past(*removed_at),
                None => now - meta.last_modified > keep,
            };
            if !goes {
                continue;
            }
            if !dry_run {
                match out.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(Error::store("delete", &meta.location, e)),
                }
            }
            deleted.push(format!("{}/{path}", table.root()));
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::WrittenFile;

    fn ledger(run_id: &str, version: u64, files: &[(&str, u64, Option<&str>)]) -> Ledger {
        let files_written = files
            .iter()
            .map(|(path, rows, origin)| WrittenFile {
                path: (*path).into(),
                rows: *rows,
                origin: origin.map(str::to_owned),
            })
            .collect();
        Ledger { run_id: run_id.into(), version, published: true, files_written, ..Ledger::default() }
    }

    #[test]
    fn a_carried_partition_keeps_its_delta_path_and_a_new_one_gets_the_runs() {
        let pupils = DeltaTable { area: "staging", name: "pupils".into() };
        let first = ledger("r1", 1, &[("staging/pupils/year=2017/part-0.parquet", 5, None)]);
        let second = ledger(
            "r2",
            2,
            &[
                ("staging/pupils/year=2017/part-0.parquet", 5, Some("r1")),
                ("staging/pupils/year=2018/part-0.parquet", 7, None),
                ("staging/schools/year=2018/part-0.parquet", 3, None),
            ],
        );
        assert_eq!(data_files(&first, &pupils)[0].path, "year=2017/r1-part-0.parquet");
        let files = data_files(&second, &pupils);
        assert_eq!(files.len(), 2, "only the table's own files");
        assert_eq!(files[0].path, "year=2017/r1-part-0.parquet", "the same Delta file as in r1's version");
        assert_eq!(files[0].source, "versions/r2/staging/pupils/year=2017/part-0.parquet");
        assert_eq!((files[1].path.as_str(), files[1].year.as_deref()), ("year=2018/r2-part-0.parquet", Some("2018")));
        let mart = DeltaTable { area: "marts", name: "balance_cv".into() };
        let marts = ledger("r3", 3, &[("marts/balance_cv/part-0.parquet", 2, None)]);
        assert_eq!(
            (data_files(&marts, &mart)[0].path.as_str(), data_files(&marts, &mart)[0].year.clone()),
            ("r3-part-0.parquet", None)
        );
    }

    #[test]
    fn arrow_types_map_to_delta_types_and_the_year_partition_is_declared() {
        use arrow::datatypes::{Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("county_code", DataType::Utf8View, false),
            Field::new("amount", DataType::Decimal128(18, 2), true),
            Field::new("pupils", DataType::Int64, true),
        ]));
        let table = DeltaTable { area: "staging", name: "investments".into() };
        let parsed: Value = serde_json::from_str(&schema_string(&schema, &table).unwrap()).unwrap();
        let types: Vec<&str> =
            parsed["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["string", "decimal(18,2)", "long", "integer"]);
        assert_eq!(parsed["fields"][3]["name"], "year");
        let naive = std::sync::Arc::new(Schema::new(vec![Field::new(
            "at",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            true,
        )]));
        let err = schema_string(&naive, &table).unwrap_err().to_string();
        assert!(err.contains("column at") && err.contains("reader version 1"), "{err}");
    }

    #[tokio::test]
    async fn a_log_another_tool_continued_is_refused_and_ours_is_replayed() {
        let out = crate::storage::open("memory://delta-test/out", true).unwrap();
        let table = DeltaTable { area: "marts", name: "m".into() };
        let put = |v: u64, body: &str| {
            let (out, path) = (out.clone(), out.child(&table.log_entry(v)));
            let body = body.to_owned();
            async move { out.store.put(&path, PutPayload::from(body.into_bytes())).await.unwrap() }
        };
        put(0, "{\"txn\":{\"appId\":\"junheng\",\"version\":1}}\n{\"add\":{\"path\":\"a.parquet\",\"size\":1}}\n")
            .await;
        put(1, "{\"txn\":{\"appId\":\"junheng\",\"version\":2}}\n{\"remove\":{\"path\":\"a.parquet\",\"deletionTimestamp\":5}}\n{\"add\":{\"path\":\"b.parquet\"}}\n").await;
        let snap = snapshot(&out, &table).await.unwrap();
        assert_eq!((snap.version, snap.synced, snap.last_is_ours), (Some(1), Some(2), true));
        assert_eq!(snap.active.keys().collect::<Vec<_>>(), ["b.parquet"]);
        assert_eq!(snap.removed.get("a.parquet"), Some(&5));
        put(2, "{\"commitInfo\":{\"operation\":\"OPTIMIZE\"}}\n").await;
        let snap = snapshot(&out, &table).await.unwrap();
        assert!(!snap.last_is_ours);
    }
}
