//! A published table that is read whole or not at all: every scan checks that the table's
//! folder holds exactly the part files its ledger lists. A listing table reads whatever files
//! its folder holds, so a part deleted (or added) outside junheng would otherwise give fewer (or
//! more) rows without a word.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Statistics};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use object_store::path::Path;

use crate::storage::Location;

/// A table whose scans fail unless its folder holds exactly the files of its version.
#[derive(Debug)]
pub struct CompleteTable {
    inner: Arc<dyn TableProvider>,
    /// The table's name and version, as messages name them.
    name: String,
    version: u64,
    out: Location,
    /// The table's folder in the output, and its files relative to it.
    folder: Path,
    expected: BTreeSet<String>,
}

impl CompleteTable {
    /// `inner` read from `folder` (a path below the output), which must hold exactly `expected`
    /// (paths relative to the folder).
    pub fn new(
        inner: Arc<dyn TableProvider>,
        name: &str,
        version: u64,
        out: &Location,
        folder: Path,
        expected: BTreeSet<String>,
    ) -> CompleteTable {
        CompleteTable { inner, name: name.to_owned(), version, out: out.clone(), folder, expected }
    }

    /// List the folder and refuse the scan if a part is missing or one is there that the
    /// version does not have. Called after the inner table has listed the folder for its plan,
    /// so a file gone before that listing is seen here, and one gone after it fails the read.
    async fn check(&self) -> datafusion::common::Result<()> {
        let listed: BTreeSet<String> = self
            .out
            .store
            .list(Some(&self.folder))
            .map_ok(|meta| relative(&self.folder, &meta.location))
            .try_filter(|name| futures::future::ready(name.ends_with(".parquet")))
            .try_collect()
            .await
            .map_err(|e| {
                DataFusionError::Execution(format!(
                    "cannot list the part files of table `{}` (version {}): {}",
                    self.name,
                    self.version,
                    kind_of(&e)
                ))
            })?;
        match difference(&self.expected, &listed) {
            None => Ok(()),
            Some(problem) => Err(DataFusionError::Execution(format!(
                "table `{}` of version {} {problem}: the output was changed outside junheng; restore the \
                 file, or publish a new version with `junheng run`",
                self.name, self.version
            ))),
        }
    }
}

/// What is wrong with a folder that should hold `expected` and holds `listed`, if anything.
fn difference(expected: &BTreeSet<String>, listed: &BTreeSet<String>) -> Option<String> {
    let missing: Vec<&String> = expected.difference(listed).collect();
    let extra: Vec<&String> = listed.difference(expected).collect();
    let few = |names: &[&String]| {
        let shown: Vec<&str> = names.iter().take(3).map(|s| s.as_str()).collect();
        let more = if names.len() > 3 { format!(" and {} more", names.len() - 3) } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    if !missing.is_empty() {
        Some(format!("is missing {} of its {} part files ({})", missing.len(), expected.len(), few(&missing)))
    } else if !extra.is_empty() {
        Some(format!("holds {} part files its ledger does not list ({})", extra.len(), few(&extra)))
    } else {
        None
    }
}

/// `location` relative to `folder` (`year=2018/part-0.parquet`).
fn relative(folder: &Path, location: &Path) -> String {
    match location.prefix_match(folder) {
        Some(parts) => parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>().join("/"),
        None => location.to_string(),
    }
}

/// A store error without the server's paths in it.
fn kind_of(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::NotFound { .. } => "not found",
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            "permission denied"
        }
        _ => "the store did not answer",
    }
}

#[async_trait]
impl TableProvider for CompleteTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        self.check().await?;
        Ok(plan)
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: datafusion::catalog::ScanArgs<'a>,
    ) -> datafusion::common::Result<datafusion::catalog::ScanResult> {
        let plan = self.inner.scan_with_args(state, args).await?;
        self.check().await?;
        Ok(plan)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_folder_with_exactly_its_parts_is_complete() {
        let parts = set(&["year=2018/part-0.parquet", "year=2019/part-0.parquet"]);
        assert_eq!(difference(&parts, &parts), None);
    }

    #[test]
    fn a_missing_or_an_extra_part_is_named() {
        let expected = set(&["year=2018/part-0.parquet", "year=2019/part-0.parquet"]);
        let missing = difference(&expected, &set(&["year=2019/part-0.parquet"])).unwrap();
        assert_eq!(missing, "is missing 1 of its 2 part files (year=2018/part-0.parquet)");
        let extra = difference(&expected, &set(&["year=2018/part-0.parquet", "year=2019/part-0.parquet", "x.parquet"]));
        assert_eq!(extra.unwrap(), "holds 1 part files its ledger does not list (x.parquet)");
        let many = difference(&set(&["a", "b", "c", "d", "e"]), &set(&[])).unwrap();
        assert_eq!(many, "is missing 5 of its 5 part files (a, b, c and 2 more)");
    }

    #[test]
    fn paths_are_shown_relative_to_the_table_folder() {
        let folder = Path::from("versions/r1/staging/pupils");
        assert_eq!(
            relative(&folder, &Path::from("versions/r1/staging/pupils/year=2018/part-0.parquet")),
            "year=2018/part-0.parquet"
        );
    }
}
