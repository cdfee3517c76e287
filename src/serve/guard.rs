//! The read-only guard: every statement is checked before DataFusion sees it; only queries,
//! `EXPLAIN`, `SHOW`, `SET` (of client settings, not of DataFusion's limits), transactions and
//! cursors pass.

use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};

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

pub(super) fn query_refusal(query: &Query) -> Option<String> {
    let ctes = query.with.iter().flat_map(|w| w.cte_tables.iter()).find_map(|cte| query_refusal(&cte.query));
    ctes.or_else(|| set_expr_refusal(&query.body))
}

pub(super) fn set_expr_refusal(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Some(read_only_message("SELECT … INTO")),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => None,
        SetExpr::Query(query) => query_refusal(query),
        SetExpr::SetOperation { left, right, .. } => set_expr_refusal(left).or_else(|| set_expr_refusal(right)),
        other => Some(read_only_message(&first_word(&other.to_string()))),
    }
}

pub(super) fn first_word(sql: &str) -> String {
    sql.split_whitespace().next().unwrap_or("this statement").to_uppercase()
}

pub(super) fn read_only_message(what: &str) -> String {
    format!(
        "{what} is refused: junheng serve is read-only (tables change only when `junheng run` publishes a new version)"
    )
}

/// Statements that never parse in the PostgreSQL dialect but must still read as refusals
/// (`CREATE EXTERNAL TABLE … LOCATION '/etc/passwd'` is DataFusion's, not PostgreSQL's).
pub(super) fn unparsed_refusal(sql: &str) -> Option<String> {
    const WRITES: [&str; 14] = [
        "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "COPY", "TRUNCATE", "GRANT", "REVOKE",
        "VACUUM", "ANALYZE", "CALL",
    ];
    let word = first_word(sql.trim_start_matches(['(', ' ', '\n', '\t']));
    WRITES.contains(&word.as_str()).then(|| read_only_message(&word))
}

#[cfg(test)]
mod tests {
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    use super::*;

    pub(super) fn parse(sql: &str) -> Vec<Statement> {
        PostgresCompatibilityParser::new().parse(sql).unwrap()
    }

    #[test]
    pub(super) fn reads_pass_and_writes_are_refused_by_name() {
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
}
