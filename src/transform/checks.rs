//! The checks of a model's header (`Checks:`), run on what the model wrote.
//!
//! `unique (a, b)` and `not_null (a, b)` are what dbt calls them; any other entry is a condition
//! every row must meet, written in SQL (`retention_rate >= 0`, `standards_met between 0 and 7`):
//! a row where it is false fails, a row where it is unknown (null) passes. A failing check is a
//! bug in the model, never in the data: the run stops and publishes nothing.

use datafusion::prelude::SessionContext;

use super::project::Model;
use crate::error::{Error, Result};

/// One entry of a model's `Checks:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No two rows share these columns.
    Unique(String),
    /// None of these columns is null.
    NotNull(Vec<String>),
    /// A condition every row meets.
    Holds(String),
}

impl Check {
    /// Read one entry of a `Checks:` line.
    pub fn parse(text: &str) -> Check {
        let text = text.trim();
        if let Some(columns) = text.strip_prefix("unique").and_then(parenthesised) {
            return Check::Unique(columns.to_owned());
        }
        if let Some(columns) = text.strip_prefix("not_null").and_then(parenthesised) {
            return Check::NotNull(columns.split(',').map(|c| c.trim().to_owned()).collect());
        }
        Check::Holds(text.to_owned())
    }

    /// A query counting the rows of `table` that fail the check.
    pub fn failing_rows(&self, table: &str) -> String {
        match self {
            Check::Unique(columns) => format!(
                "select count(*) as n from (select {columns} from {table} group by {columns} having count(*) > 1)"
            ),
            Check::NotNull(columns) => {
                let any_null: Vec<String> = columns.iter().map(|c| format!("{c} is null")).collect();
                format!("select count(*) as n from {table} where {}", any_null.join(" or "))
            }
            Check::Holds(condition) => format!("select count(*) as n from {table} where not ({condition})"),
        }
    }
}

/// What stands between parentheses (` (a, b)` → `a, b`).
fn parenthesised(rest: &str) -> Option<&str> {
    rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).map(str::trim)
}

/// Run every check of a model's header on the table the session holds under its name.
pub async fn run_checks(ctx: &SessionContext, model: &Model) -> Result<()> {
    for text in &model.header.checks {
        let check = Check::parse(text);
        let sql = check.failing_rows(&model.name);
        let err = |e| Error::sql(&model.name, format!("sql/{}: check `{text}`", model.path), e);
        let batches = ctx.sql(&sql).await.map_err(err)?.collect().await.map_err(err)?;
        let failing = batches
            .first()
            .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.value(0)))
            .unwrap_or(0);
        if failing > 0 {
            return Err(Error::SqlProject(format!("sql/{}: check `{text}` fails for {failing} rows", model.path)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_read_as_dbt_tests_or_conditions() {
        assert_eq!(Check::parse("unique (county_code, year)"), Check::Unique("county_code, year".into()));
        assert_eq!(Check::parse(" not_null (a, b)"), Check::NotNull(vec!["a".into(), "b".into()]));
        assert_eq!(Check::parse("retention_rate >= 0"), Check::Holds("retention_rate >= 0".into()));
        // A column whose name begins like a check is a condition, not a check.
        assert_eq!(Check::parse("unique_schools > 0"), Check::Holds("unique_schools > 0".into()));
        assert_eq!(Check::Holds("x >= 0".into()).failing_rows("t"), "select count(*) as n from t where not (x >= 0)");
    }

    #[tokio::test]
    async fn a_condition_fails_on_false_rows_and_passes_unknown_ones() {
        let ctx = SessionContext::new();
        ctx.sql("create view t as select * from (values (1, 2), (3, null), (null, 1)) as v(a, b)").await.unwrap();
        let count = |check: &str| {
            let sql = Check::parse(check).failing_rows("t");
            let ctx = ctx.clone();
            async move {
                let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                b[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0)
            }
        };
        assert_eq!(count("a < b").await, 0, "3 < null and null < 1 are unknown");
        assert_eq!(count("a >= 1").await, 0);
        assert_eq!(count("b = 2").await, 1);
        assert_eq!(count("not_null (a)").await, 1);
        assert_eq!(count("unique (a)").await, 0);
    }
}
