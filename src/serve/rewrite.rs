//! SQL rewrites: what PostgreSQL clients send, rewritten into SQL DataFusion plans with the
//! same answer (their catalog queries, mostly).

use datafusion::sql::sqlparser::ast::Statement;

/// Rewrite what PostgreSQL clients send into SQL DataFusion plans with the same answer; `None`
/// when nothing needs rewriting (most statements: they are passed through untouched).
///
/// - `LIKE … ESCAPE 'c'` with another escape character than backslash (SQLAlchemy lists schemas
///   with `NOT LIKE 'pg/_%' ESCAPE '/'`) becomes `LIKE like_escape(pattern, 'c')`;
/// - correlated scalar subqueries are aggregated, or lifted out of `CASE` (see the functions);
/// - `flag = 'f'` on a catalog flag becomes `flag = false`;
/// - placeholders a later rewrite could drop are kept referenced, so that `$n` still binds the
///   n-th parameter the client sends.
pub fn rewrite_for_datafusion(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("escape") && !lower.contains("(select") && !lower.contains("= 'f'") && !lower.contains("= 't'") {
        return None;
    }
    let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    for statement in &mut statements {
        let placeholders = if lower.contains("(select") { placeholders_of(statement) } else { Vec::new() };
        let _ = visit_expressions_mut(statement, |expr| {
            if guarded_subquery(expr) | aggregate_scalar_subquery(expr) | boolean_flag_literal(expr) | like_escape(expr)
            {
                changed = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if keep_placeholders_bound(statement, placeholders) {
            changed = true;
        }
    }
    changed.then(|| statements.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; "))
}

/// Every `$n` of a statement, with the type it is cast to where it is (`$2::VARCHAR`).
pub(super) fn placeholders_of(
    statement: &Statement,
) -> Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)> {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    let mut found: Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)> = Vec::new();
    let _ = visit_expressions(statement, |expr| {
        let (name, data_type) = match expr {
            Expr::Cast { expr: inner, data_type, .. } => match inner.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Placeholder(p) => (p.clone(), Some(data_type.clone())),
                    _ => return std::ops::ControlFlow::<()>::Continue(()),
                },
                _ => return std::ops::ControlFlow::Continue(()),
            },
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => (p.clone(), None),
                _ => return std::ops::ControlFlow::Continue(()),
            },
            _ => return std::ops::ControlFlow::Continue(()),
        };
        match found.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) if entry.1.is_none() => entry.1 = data_type,
            Some(_) => {}
            None => found.push((name, data_type)),
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// datafusion-pg-catalog replaces correlated subqueries in a projection with NULL; their `$n`
/// go with them, and datafusion-postgres then binds the client's parameters by position to the
/// placeholders left — the wrong ones. A conjunct `($n::T IS NULL OR TRUE)` per placeholder keeps
/// every one in the plan (the optimizer folds it away).
pub(super) fn keep_placeholders_bound(
    statement: &mut Statement,
    placeholders: Vec<(String, Option<datafusion::sql::sqlparser::ast::DataType>)>,
) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, CastKind, Expr, SetExpr, Value};
    if placeholders.is_empty() {
        return false;
    }
    let Statement::Query(query) = statement else { return false };
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let keep = placeholders
        .into_iter()
        .map(|(name, data_type)| {
            let placeholder = Expr::value(Value::Placeholder(name));
            let typed = match data_type {
                Some(data_type) => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(placeholder),
                    data_type,
                    array: false,
                    format: None,
                },
                None => placeholder,
            };
            Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::IsNull(Box::new(typed))),
                op: BinaryOperator::Or,
                right: Box::new(Expr::value(Value::Boolean(true))),
            }))
        })
        .reduce(|a, b| Expr::BinaryOp { left: Box::new(a), op: BinaryOperator::And, right: Box::new(b) });
    let Some(keep) = keep else { return false };
    select.selection = Some(match select.selection.take() {
        Some(w) => {
            Expr::BinaryOp { left: Box::new(Expr::Nested(Box::new(w))), op: BinaryOperator::And, right: Box::new(keep) }
        }
        None => keep,
    });
    true
}

/// `LIKE … ESCAPE 'c'` (c not a backslash) → `LIKE like_escape(pattern, 'c')`.
pub(super) fn like_escape(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident};
    use datafusion::sql::sqlparser::ast::{FunctionArgumentList, ObjectName, Value};
    let (Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. }) = expr else {
        return false;
    };
    let Some(escape) = escape_char.as_ref().and_then(|v| match &v.value {
        Value::SingleQuotedString(c) if c != "\\" => Some(c.clone()),
        _ => None,
    }) else {
        return false;
    };
    let args = vec![
        FunctionArg::Unnamed(FunctionArgExpr::Expr((**pattern).clone())),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::SingleQuotedString(escape)))),
    ];
    **pattern = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("like_escape")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
    *escape_char = None;
    true
}

/// PostgreSQL lets a scalar subquery return zero or one row unaggregated (`(SELECT format_type(…)
/// FROM pg_type WHERE oid = a.atttypid)`); DataFusion wants a correlated one aggregated. Wrapping
/// its single output in `max()` gives the same answer for zero or one row.
pub(super) fn aggregate_scalar_subquery(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{
        Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
        ObjectName, SelectItem, SetExpr,
    };
    let Expr::Subquery(query) = expr else { return false };
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.projection.len() != 1 || select.from.is_empty() || query.limit_clause.is_some() {
        return false;
    }
    let item = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    const AGGREGATES: [&str; 10] =
        ["max", "min", "count", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every"];
    if let Expr::Function(f) = item
        && AGGREGATES.contains(&f.name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
    {
        return false;
    }
    let inner = item.clone();
    *item = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("max")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
    true
}

/// `CASE WHEN c THEN (SELECT x FROM t WHERE w) ELSE NULL END` is `(SELECT x FROM t WHERE c AND w)`
/// when the subquery gives at most one row; DataFusion cannot run a correlated subquery inside
/// CASE, but can once the condition is in its WHERE (SQLAlchemy 2 reflects columns this way).
pub(super) fn guarded_subquery(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SetExpr, Value};
    let Expr::Case { operand: None, conditions, else_result, .. } = expr else { return false };
    let else_is_null = match else_result.as_deref() {
        None => true,
        Some(Expr::Value(v)) => matches!(v.value, Value::Null),
        _ => false,
    };
    if conditions.len() != 1 || !else_is_null || !matches!(conditions[0].result, Expr::Subquery(_)) {
        return false;
    }
    let when = conditions.remove(0);
    let (condition, Expr::Subquery(mut query)) = (when.condition, when.result) else { return false };
    if let SetExpr::Select(select) = query.body.as_mut() {
        let nested = Expr::Nested(Box::new(condition));
        select.selection = Some(match select.selection.take() {
            Some(w) => Expr::BinaryOp {
                left: Box::new(nested),
                op: BinaryOperator::And,
                right: Box::new(Expr::Nested(Box::new(w))),
            },
            None => nested,
        });
    }
    *expr = Expr::Subquery(query);
    true
}

/// PostgreSQL reads `'f'` compared with a boolean as false; DataFusion will not compare a boolean
/// with text. Catalog flags are named for what they say (`indisprimary`, `atthasdef`,
/// `attnotnull`), so `flag = 't'|'f'` on such a column becomes `flag = true|false`.
pub(super) fn boolean_flag_literal(expr: &mut datafusion::sql::sqlparser::ast::Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};
    let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = expr else { return false };
    let column = match left.as_ref() {
        Expr::Identifier(i) => i.value.to_ascii_lowercase(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default(),
        _ => return false,
    };
    let is_flag = ["ind", "rel", "att", "con", "typ", "nsp"].iter().any(|p| column.starts_with(p))
        && (column.contains("is") || column.contains("has") || column.ends_with("notnull"));
    let Expr::Value(value) = right.as_mut() else { return false };
    let flag = match &value.value {
        Value::SingleQuotedString(t) if is_flag && matches!(t.as_str(), "t" | "true") => true,
        Value::SingleQuotedString(f) if is_flag && matches!(f.as_str(), "f" | "false") => false,
        _ => return false,
    };
    value.value = Value::Boolean(flag);
    true
}

/// A LIKE pattern written with escape character `escape`, rewritten with backslash escapes.
pub(super) fn backslash_escaped(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(x @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(x);
                }
                Some(x) => out.push(x),
                None => {}
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn like_with_another_escape_character_becomes_backslash_escapes() {
        assert_eq!(backslash_escaped("pg/_%", '/'), "pg\\_%");
        // A backslash is literal under ESCAPE '/', so it is doubled; "//" is one literal slash.
        assert_eq!(backslash_escaped("a\\b//c", '/'), "a\\\\b/c");
        let sql =
            rewrite_for_datafusion("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg/_' || '%' ESCAPE '/'")
                .unwrap();
        assert!(sql.contains("like_escape(") && !sql.contains("ESCAPE"), "{sql}");
        assert_eq!(rewrite_for_datafusion("select 1"), None);
    }
}
