//! The catalog clients read and the functions they call: `information_schema` with
//! PostgreSQL's type names, `pg_catalog` with the tables' reflections, `version()`,
//! `current_setting()`, `to_regtype()` and the constants SQLAlchemy asks for; and the session a
//! connection runs in.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

use super::DATABASE;
use super::rewrite::backslash_escaped;
use super::versions::PinnedSchema;
use crate::error::{Error, Result};
use crate::storage::Location;
use crate::transform::{Memory, SessionSpec, new_session};

/// PostgreSQL's name for an Arrow type (`data_type`), its `udt_name`, precision and scale.
pub(super) fn pg_type_name(data_type: &DataType) -> (&'static str, &'static str, Option<i32>, Option<i32>) {
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
pub(super) async fn information_schema(public: &MemorySchemaProvider) -> Result<Arc<MemorySchemaProvider>> {
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

/// `version()` as PostgreSQL words it: clients (SQLAlchemy among them) read the server's
/// version from it.
pub(super) fn version_udf() -> ScalarUDF {
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

/// `like_escape(pattern, escape)`: see [`rewrite_for_datafusion`].
pub(super) fn like_escape_udf() -> ScalarUDF {
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
pub(super) fn constant_catalog_udfs() -> Vec<ScalarUDF> {
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
pub(super) struct JsonBuildObject {
    pub(super) signature: datafusion::logical_expr::Signature,
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
pub(super) struct CatalogOverlay {
    pub(super) base: Arc<dyn SchemaProvider>,
    pub(super) replaced: std::collections::HashMap<String, Arc<dyn TableProvider>>,
}

impl CatalogOverlay {
    pub(super) async fn new(
        ctx: &SessionContext,
        base: Arc<dyn SchemaProvider>,
    ) -> datafusion::common::Result<CatalogOverlay> {
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
pub(super) fn current_setting_udf() -> ScalarUDF {
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
pub(super) fn to_regtype_udf() -> ScalarUDF {
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
pub(super) async fn connection_context(
    out: &Location,
    pinned: Arc<PinnedSchema>,
    pinned_information: Arc<PinnedSchema>,
    memory_limit: usize,
) -> Result<SessionContext> {
    let sql = |e: DataFusionError| Error::sql("serve", "session", e);
    let spec = SessionSpec {
        memory: Memory::Limit(memory_limit),
        // DataFusion's own information_schema names Arrow types (Utf8View); ours names PostgreSQL's.
        information_schema: false,
        string_views: true,
        default_schema: Some((DATABASE.to_owned(), "public".to_owned())),
        ..SessionSpec::default()
    };
    let ctx = super::cancel::with_cancel_points(new_session(Some(out), &spec).await?);
    let catalog = ctx.catalog(DATABASE).ok_or_else(|| Error::Engine("the default catalog is missing".into()))?;
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
    // Last, so that the capped functions replace DataFusion's (and any registered above).
    super::bounds::cap_functions(&ctx, memory_limit / 4);
    if let Some(base) = catalog.schema("pg_catalog") {
        let overlay = CatalogOverlay::new(&ctx, base).await.map_err(sql)?;
        catalog.register_schema("pg_catalog", Arc::new(overlay)).map_err(sql)?;
    }
    Ok(ctx)
}
