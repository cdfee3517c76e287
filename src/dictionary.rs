//! The data dictionary: every published table and column with its type, unit, Chinese label,
//! meaning and the methodology behind it. Staging columns are documented by the contract,
//! mart columns by the `Columns:` block of their model's header, so the documentation lives
//! next to what it documents.

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::contract::{Kind, Table};
use crate::error::{Error, Result};
use crate::normalise::{self, quarantine};
use crate::pipeline::TeacherCounts;
use crate::transform::reference::{Threshold, with_thresholds};
use crate::transform::{Layer, Model, ModelVars};

/// The whole dictionary.
#[derive(Debug, Clone, Serialize)]
pub struct Dictionary {
    /// junheng version that wrote it.
    pub junheng_version: String,
    /// Every published table.
    pub tables: Vec<TableDoc>,
}

/// One published table.
#[derive(Debug, Clone, Serialize)]
pub struct TableDoc {
    /// Table name.
    pub name: String,
    /// `staging`, `quarantine` or `marts`.
    pub area: String,
    /// Where its files are under the output root.
    pub path: String,
    /// What one row is.
    pub grain: String,
    /// What the table is.
    pub description: String,
    /// Methodology sections behind it.
    pub methodology: String,
    /// Its columns in order.
    pub columns: Vec<ColumnEntry>,
}

/// One column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnEntry {
    /// Column name.
    pub name: String,
    /// Arrow / Parquet type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Unit (empty when none).
    pub unit: String,
    /// Chinese label.
    pub label: String,
    /// What a value means.
    pub meaning: String,
}

fn entry(name: &str, data_type: &str, unit: &str, label: &str, meaning: &str) -> ColumnEntry {
    ColumnEntry {
        name: name.into(),
        data_type: data_type.into(),
        unit: unit.into(),
        label: label.into(),
        meaning: meaning.into(),
    }
}

fn provenance_entry(name: &str, data_type: &str) -> Option<ColumnEntry> {
    let (label, meaning) = match name {
        "year" => ("年份", "statistical year (hive partition `year=YYYY`)"),
        "source_uri" => ("来源文件", "URL of the source file the row came from"),
        "source_sheet" => ("来源工作表", "sheet of the source workbook (null for CSV and JSON)"),
        "source_row" => ("来源行号", "1-based row (line) number in the source, as a person counts it"),
        "run_id" => ("运行编号", "the run that loaded the row"),
        "table" => ("表", "the table the row was submitted for"),
        "column" => ("列", "the column the finding is about (null for a row-level rule)"),
        "rule" => ("规则", "stable rule id of the finding"),
        "severity" => ("严重程度", "error (row rejected) or warning (row published)"),
        "message" => ("说明", "the finding in plain words, naming file, row and Chinese column label"),
        "value" => ("数值", "the offending value as submitted"),
        _ => return None,
    };
    Some(entry(name, data_type, "", label, meaning))
}

/// Build the dictionary from the contract, the SQL project and the registered marts. Model
/// headers name thresholds by id (`{quality_cv_max}`); the dictionary gives the values in effect
/// for this run, so a pipeline that overrides a standard gets a dictionary that says so.
pub async fn build(models: &[Model], ctx: &SessionContext) -> Result<Dictionary> {
    let thresholds: Vec<Threshold> = crate::marts::read(ctx, "select * from ref_thresholds").await?;
    // Staff counts are typed as the session's run counted them (persons or full-time equivalents).
    let counts = ModelVars::of(ctx).teacher_counts;
    let mut tables = Vec::new();
    for table in Table::ALL {
        tables.push(staging_doc(table, counts));
        tables.push(quarantine_doc(table));
    }
    for model in models.iter().filter(|m| m.layer == Layer::Marts) {
        tables.push(mart_doc(model, ctx, &thresholds).await?);
    }
    // Amounts are in the pipeline's currency, never converted: a source in USD documents its
    // money columns in USD, not 元.
    let money = crate::report::format::Money::of(ctx).await?;
    if !money.is_yuan() {
        for column in tables.iter_mut().flat_map(|t| t.columns.iter_mut()) {
            if let Some(rest) = column.unit.strip_prefix('元') {
                column.unit = format!("{}{rest}", money.currency.code);
            }
        }
    }
    Ok(Dictionary { junheng_version: env!("CARGO_PKG_VERSION").into(), tables })
}

/// A staging table: its columns as the contract documents them, and provenance.
fn staging_doc(table: Table, counts: TeacherCounts) -> TableDoc {
    let mut columns = vec![provenance_entry("year", "int32").expect("documented")];
    for field in normalise::schema(table, counts).fields() {
        let name = field.name().as_str();
        let data_type = type_name(field.data_type());
        let doc = match (table.column(name), name) {
            (Some(c), _) if counts.fractional(table, c) => {
                entry(name, &data_type, "FTE", c.label, &format!("{}, in full-time equivalents", c.meaning))
            }
            (Some(c), _) => entry(name, &data_type, c.unit().map_or("", |u| u.label()), c.label, c.meaning),
            (None, "county_code") => {
                entry(name, &data_type, "", "县区代码", "6-digit county code (from the row, the path or the school)")
            }
            (None, "stage") => {
                entry(name, &data_type, "", "学段", "primary or junior, by grade and the county's school system")
            }
            _ => provenance_entry(name, &data_type).unwrap_or_else(|| entry(name, &data_type, "", "", "")),
        };
        columns.push(ColumnEntry { unit: money_unit(table, name).unwrap_or(doc.unit), ..doc });
    }
    TableDoc {
        name: table.name().into(),
        area: "staging".into(),
        path: format!("staging/{}/year=<YYYY>/*.parquet", table.name()),
        grain: table.grain().into(),
        description: format!("{} ({}) as submitted, validated and normalised", table.name(), table.chinese_name()),
        methodology: "inputs.md".into(),
        columns,
    }
}

/// A quarantine table: the submitted text of every column, and the finding.
fn quarantine_doc(table: Table) -> TableDoc {
    let mut columns = vec![provenance_entry("year", "int32").expect("documented")];
    for field in quarantine::schema(table).fields() {
        let name = field.name().as_str();
        let doc = provenance_entry(name, "utf8").or_else(|| {
            table
                .column(name)
                .map(|c| entry(name, "utf8", "", c.label, &format!("the submitted text of {}", c.meaning)))
        });
        columns.push(doc.unwrap_or_else(|| entry(name, "utf8", "", "县区代码", "county of the row, when known")));
    }
    TableDoc {
        name: table.name().into(),
        area: "quarantine".into(),
        path: format!("quarantine/{}/year=<YYYY>/*.parquet", table.name()),
        grain: "one row per finding (rejected row and rule, or warning)".into(),
        description: format!("rejected and warned rows of {} with the rule and message", table.name()),
        methodology: "outputs.md Quarantine".into(),
        columns,
    }
}

/// A mart: its header's prose with the thresholds in effect, and its columns as written.
async fn mart_doc(model: &Model, ctx: &SessionContext, thresholds: &[Threshold]) -> Result<TableDoc> {
    let provider =
        ctx.table_provider(model.name.as_str()).await.map_err(|e| Error::sql(&model.name, "dictionary", e))?;
    let render = |text: &str| {
        with_thresholds(text, thresholds).map_err(|e| Error::SqlProject(format!("sql/{}: {e}", model.path)))
    };
    let mut columns = Vec::new();
    for f in provider.schema().fields() {
        let doc = model.header.columns.iter().find(|c| &c.name == f.name());
        columns.push(entry(
            f.name(),
            &type_name(f.data_type()),
            doc.map_or("", |d| d.unit.as_str()),
            doc.map_or("", |d| d.label.as_str()),
            &render(doc.map_or("", |d| d.meaning.as_str()))?,
        ));
    }
    let what = model.header.what.split_once(':').map_or(model.header.what.as_str(), |(_, w)| w.trim());
    Ok(TableDoc {
        name: model.name.clone(),
        area: "marts".into(),
        path: format!("marts/{}/*.parquet", model.name),
        grain: render(&model.header.grain)?,
        description: render(what)?,
        methodology: render(&model.header.methodology)?,
        columns,
    })
}

fn money_unit(table: Table, name: &str) -> Option<String> {
    table.column(name).filter(|c| c.kind == Kind::Money).map(|_| "元".to_owned())
}

fn type_name(t: &arrow::datatypes::DataType) -> String {
    t.to_string().to_lowercase()
}
