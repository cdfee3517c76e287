//! The read-only guard: every statement is checked before DataFusion sees it; only queries,
//! `EXPLAIN`, `SHOW`, `SET` of the client settings a PostgreSQL driver sends ([`CLIENT_SETTINGS`],
//! never DataFusion's memory, threads, paths or spilling), transactions and cursors pass.

use datafusion::sql::sqlparser::ast::{ObjectName, Query, Set, SetExpr, Statement};

/// The settings a client may `SET`: what drivers and BI tools send on connecting (psql, JDBC,
/// psycopg, Npgsql, Tableau), each either kept by the connection's PostgreSQL front end or
/// ignored. Every other setting — DataFusion's (`datafusion.*`: the memory limit, batch size,
/// threads, spill paths, file formats) above all — is the server's, fixed for every connection.
pub const CLIENT_SETTINGS: [&str; 18] = [
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "intervalstyle",
    AS_OF_SETTING,
    "lock_timeout",
    "search_path",
    "standard_conforming_strings",
    "statement_timeout",
    "time.zone",
    "timezone",
    "transaction_isolation",
];

/// junheng's own setting: the version a connection reads (`SET junheng.as_of = '3'`).
pub const AS_OF_SETTING: &str = "junheng.as_of";

/// Why a statement is refused, or `None` when a reader may run it.
pub fn refusal(statement: &Statement) -> Option<String> {
    match statement {
        Statement::Query(query) => query_refusal(query),
        Statement::Explain { statement, .. } => refusal(statement),
        Statement::Declare { stmts } => stmts.iter().filter_map(|d| d.for_query.as_deref()).find_map(query_refusal),
        Statement::Set(set) => set_refusal(set),
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

/// Why a `SET` is refused: it names a setting outside [`CLIENT_SETTINGS`] (read from the parsed
/// name, so quoting and case change nothing: `"DataFusion".runtime.memory_limit` is
/// `datafusion.runtime.memory_limit`), or is a kind of `SET` a reader has no use for.
fn set_refusal(set: &Set) -> Option<String> {
    let names: Vec<&ObjectName> = match set {
        Set::SingleAssignment { hivevar: false, variable, .. } => vec![variable],
        Set::ParenthesizedAssignments { variables, .. } => variables.iter().collect(),
        Set::MultipleAssignments { assignments } => assignments.iter().map(|a| &a.name).collect(),
        // The time zone, the client's character set and transaction characteristics: a reader's.
        Set::SetTimeZone { .. } | Set::SetNames { .. } | Set::SetNamesDefault {} | Set::SetTransaction { .. } => {
            Vec::new()
        }
        other => {
            return Some(format!(
                "{} is refused: junheng serve has no roles or session parameters to set",
                first_words(&other.to_string())
            ));
        }
    };
    names.into_iter().map(setting_name).find(|name| !CLIENT_SETTINGS.contains(&name.as_str())).map(|name| {
        let server = if name.starts_with("datafusion.") {
            "DataFusion's settings (memory, threads, paths, spilling) are the server's, fixed for every connection"
        } else {
            "it is not a setting a client may change"
        };
        format!("SET {name} is refused: {server}; a client may set {}", CLIENT_SETTINGS.join(", "))
    })
}

/// A setting's name as DataFusion and PostgreSQL read it: its parts unquoted, lower case.
pub(super) fn setting_name(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| part.as_ident().map_or_else(|| part.to_string(), |ident| ident.value.clone()).to_lowercase())
        .collect();
    parts.join(".")
}

/// The first two words of a statement, upper case (`SET ROLE`).
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ").to_uppercase()
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

    #[test]
    fn set_passes_only_for_the_settings_a_client_may_change_however_they_are_written() {
        // What drivers and BI tools send on connecting.
        for sql in [
            "SET search_path = public",
            "SET SESSION search_path TO junheng, public",
            "SET extra_float_digits = 3",
            "SET application_name = 'PostgreSQL JDBC Driver'",
            "SET DateStyle = 'ISO'",
            "SET client_encoding = 'UTF8'",
            "SET client_min_messages TO warning",
            "SET statement_timeout = 5000",
            "SET TIME ZONE 'UTC'",
            "SET timezone = 'Asia/Shanghai'",
            "SET NAMES 'UTF8'",
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        ] {
            for statement in parse(sql) {
                assert_eq!(refusal(&statement), None, "{sql}");
            }
        }
        // DataFusion's settings, however quoted or cased (the text match let the quoted ones
        // through), and any setting not on the list.
        for (sql, name) in [
            ("SET \"datafusion\".runtime.memory_limit = '100G'", "datafusion.runtime.memory_limit"),
            ("SET \"DataFusion\".\"Runtime\".\"Memory_Limit\" = '100G'", "datafusion.runtime.memory_limit"),
            ("set DATAFUSION.EXECUTION.BATCH_SIZE = 2000000000", "datafusion.execution.batch_size"),
            ("SET datafusion.runtime.temp_directory = '/tmp/anywhere'", "datafusion.runtime.temp_directory"),
            ("SET LOCAL datafusion.execution.target_partitions = 64", "datafusion.execution.target_partitions"),
            ("SET work_mem = '1GB'", "work_mem"),
        ] {
            let why = parse(sql).iter().find_map(refusal).unwrap_or_else(|| panic!("{sql} passed"));
            assert!(why.starts_with(&format!("SET {name} is refused")), "{sql}: {why}");
            assert!(why.contains("a client may set application_name"), "{why}");
        }
        let role = parse("SET ROLE postgres").iter().find_map(refusal).expect("SET ROLE passed");
        assert!(role.starts_with("SET ROLE is refused"), "{role}");
    }
}
