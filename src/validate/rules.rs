//! The rules of inputs.md applied to batches: reading each cell, required values, year and
//! county consistency, references to schools, grades and stages, bounds and key uniqueness.

use std::collections::{BTreeMap, HashMap};

use super::cell::{self, Problem};
use super::registry::{KeySet, SchoolInfo, SchoolRegistry};
use super::{CheckedBatch, Finding, Values, finding, place};
use crate::contract::{
    Column, Kind, Required, SchoolSystem, Severity, Table, Unit, allowed_grades, stage_required, stages_offered,
};
use crate::extract::{RawBatch, TotalRow};
use crate::pipeline::Settings;

/// The stable rule id for a cell problem.
fn problem_rule(problem: Problem, kind: Kind) -> &'static str {
    match problem {
        Problem::NotWholeNumber => "not_a_whole_number",
        Problem::NotNumber => "not_a_number",
        Problem::Negative => "negative_value",
        Problem::BadYear => "invalid_year",
        Problem::BadCode { .. } if kind == Kind::CountyCode => "invalid_county_code",
        Problem::BadCode { .. } => "invalid_school_code",
        Problem::UnknownValue => "unknown_enum_value",
        Problem::NotBoolean => "not_a_boolean",
        Problem::BadGrade => "invalid_grade",
    }
}

/// The plain-words explanation of a cell problem (after `place: "value"`).
fn problem_message(problem: Problem, column: &Column) -> String {
    match problem {
        Problem::NotWholeNumber => "is not a whole number".into(),
        Problem::NotNumber => "is not a number".into(),
        Problem::Negative => "is negative; counts, areas and amounts cannot be below zero".into(),
        Problem::BadYear => "is not a year between 1990 and 2100 (e.g. 2018 or 2018-2019)".into(),
        Problem::BadCode { digits: 6 } => "is not a 6-digit county code".into(),
        Problem::BadCode { digits } => {
            format!("is not a {digits}-digit school code (if leading zeros were lost, format the column as text)")
        }
        Problem::UnknownValue => match column.kind {
            Kind::Enum(def) => format!("is not one of: {}", def.describe()),
            _ => "is not an accepted value".into(),
        },
        Problem::NotBoolean => "is not a yes/no value (是/否, Y/N)".into(),
        Problem::BadGrade => "is not a grade 1–9 (一年级…九年级, 初一…初三)".into(),
    }
}

/// Everything a batch is checked against besides its own rows.
pub struct Context<'a> {
    /// Methodology settings (school systems).
    pub settings: &'a Settings,
    /// Accepted schools by year (empty while checking schools themselves).
    pub registry: &'a SchoolRegistry,
    /// Keys seen so far in this batch's uniqueness scope.
    pub keys: &'a mut KeySet,
}

/// Check a batch of any table but schools (schools need two passes: [`check_schools`]).
pub fn check_batch(raw: RawBatch, ctx: &mut Context<'_>) -> CheckedBatch {
    let mut batch = read_and_check_rows(raw, ctx);
    check_keys(&mut batch, ctx.keys);
    batch
}

/// Check all schools batches of a run: row rules, keys, then teaching points' parents, which
/// may appear anywhere in the year's schools. Returns the batches and the accepted schools.
pub fn check_schools(
    raws: Vec<RawBatch>,
    settings: &Settings,
    keys: &mut KeySet,
) -> (Vec<CheckedBatch>, SchoolRegistry) {
    let empty = SchoolRegistry::default();
    let mut batches: Vec<CheckedBatch> = raws
        .into_iter()
        .map(|raw| {
            let mut ctx = Context { settings, registry: &empty, keys };
            let mut b = read_and_check_rows(raw, &mut ctx);
            check_keys(&mut b, ctx.keys);
            b
        })
        .collect();
    let mut accepted: HashMap<(i32, String), SchoolInfo> = HashMap::new();
    for b in &batches {
        for row in (0..b.raw.len()).filter(|&r| !b.rejected[r]) {
            if let (Some(year), Some(code)) = (b.year(row), b.column("school_code").text(row)) {
                accepted.insert((year, code.to_owned()), school_info(b, row));
            }
        }
    }
    let parent_col = Table::Schools.column("parent_school_code");
    for b in &mut batches {
        for row in 0..b.raw.len() {
            let (Some(year), Some(parent)) = (b.year(row), b.column("parent_school_code").text(row)) else {
                continue;
            };
            if b.rejected[row] || b.column("school_type").text(row) != Some("teaching_point") {
                continue;
            }
            let problem = match accepted.get(&(year, parent.to_owned())) {
                None => Some((
                    "unknown_parent_school",
                    format!("school {parent} is not in the {year} schools table (学校), or its row there was rejected"),
                )),
                Some(p) if p.school_type == "teaching_point" => Some((
                    "parent_is_teaching_point",
                    format!("school {parent} is itself a teaching point; a teaching point belongs to a school"),
                )),
                // A unit (methodology §1) belongs to one county: every indicator is per county.
                Some(p) if b.county[row].as_deref().is_some_and(|c| c != p.county_code) => Some((
                    "parent_in_other_county",
                    format!(
                        "school {parent} belongs to county {}, not to this teaching point's county {}; a teaching point is merged into a school of its own county",
                        p.county_code,
                        b.county[row].as_deref().unwrap_or_default()
                    ),
                )),
                Some(_) => None,
            };
            if let Some((rule, why)) = problem {
                let message = format!("{}: {why}", place(&b.raw, row, parent_col));
                let f = finding(&b.raw, Some(row), parent_col, Some(parent), rule, Severity::Error, message);
                reject(b, row, f);
            }
        }
    }
    let mut registry = SchoolRegistry::default();
    for b in &batches {
        for row in (0..b.raw.len()).filter(|&r| !b.rejected[r]) {
            if let (Some(year), Some(code)) = (b.year(row), b.column("school_code").text(row)) {
                registry.insert(year, code, school_info(b, row));
            }
        }
    }
    (batches, registry)
}

fn school_info(b: &CheckedBatch, row: usize) -> SchoolInfo {
    SchoolInfo {
        county_code: b.county[row].clone().unwrap_or_default(),
        school_type: crate::contract::SCHOOL_TYPE
            .lookup(b.column("school_type").text(row).unwrap_or(""))
            .unwrap_or("primary"),
        is_public: match b.column("is_public") {
            Values::Bool(v) => v[row].unwrap_or(true),
            _ => true,
        },
    }
}

fn reject(b: &mut CheckedBatch, row: usize, f: Finding) {
    if f.severity == Severity::Error {
        b.rejected[row] = true;
    }
    let mut f = f;
    f.county_code = f.county_code.or_else(|| b.county[row].clone());
    f.year = b.year(row).or(f.year);
    b.findings.push(f);
}

/// Read every cell and apply every rule that needs only this row and the registry.
// Rows index several parallel columns at once; a range loop says that most plainly.
#[allow(clippy::needless_range_loop)]
fn read_and_check_rows(raw: RawBatch, ctx: &mut Context<'_>) -> CheckedBatch {
    let table = raw.file.table;
    let rows = raw.len();
    let columns = table.columns();
    let options = &raw.file.options;
    let roc = options.roc_years.unwrap_or(false);
    let mut findings: Vec<Finding> = Vec::new();
    let mut rejected = vec![false; rows];
    let mut values: Vec<Values> = columns.iter().map(|c| Values::for_kind(c.kind, rows)).collect();
    // Columns whose cell had a problem in a row: later rules do not pile on.
    let mut bad_cell: Vec<Vec<bool>> = vec![vec![false; rows]; columns.len()];

    // Where each contract column's text comes from: a bound source column or a constant.
    let bound: Vec<Option<usize>> =
        columns.iter().map(|c| raw.binding.columns.iter().position(|b| b.column.name == c.name)).collect();
    let path_county = raw.file.county_code.as_deref();

    // How each column is read: its unit, value map and (for foreign sources) code pattern.
    let readings: Vec<Reading> = columns
        .iter()
        .map(|c| Reading {
            kind: c.kind,
            unit: raw
                .binding
                .get(c.name)
                .and_then(|b| b.unit)
                .or_else(|| options.units.get(c.name).and_then(|u| Unit::parse(u))),
            values: options.values.get(c.name),
            pattern: match c.kind {
                Kind::SchoolCode => options.school_code_pattern.as_deref().and_then(|p| regex::Regex::new(p).ok()),
                Kind::CountyCode => options.county_code_pattern.as_deref().and_then(|p| regex::Regex::new(p).ok()),
                _ => None,
            },
            roc,
        })
        .collect();

    // 1. Read every cell but grades (grades depend on the county's school system).
    for (ci, column) in columns.iter().enumerate() {
        if column.kind == Kind::Grade {
            continue;
        }
        // The pipeline's value for an empty cell (`values = { area_type = { "" = "urban" } }`).
        let fill = options.values.get(column.name).and_then(|m| m.get(""));
        for row in 0..rows {
            let text = match (cell_text(&raw, bound[ci], row), fill) {
                (Some(t), Some(f)) if cell::is_null(&cell::fold(t), &options.null_markers) => f.as_str(),
                (None, Some(f)) => f.as_str(),
                (Some(t), _) => t,
                (None, None) => continue,
            };
            let folded = cell::fold(text);
            if cell::is_null(&folded, &options.null_markers) {
                continue;
            }
            match readings[ci].read(&folded, SchoolSystem::SixThree) {
                Ok(v) => set(&mut values[ci], row, v, text),
                Err(problem) => {
                    bad_cell[ci][row] = true;
                    rejected[row] = true;
                    let message =
                        format!("{}: \"{text}\" {}", place(&raw, row, Some(column)), problem_message(problem, column));
                    findings.push(finding(
                        &raw,
                        Some(row),
                        Some(column),
                        Some(text),
                        problem_rule(problem, column.kind),
                        Severity::Error,
                        message,
                    ));
                }
            }
        }
    }

    // 2. Year and county: from the cell, the path, or (per-school tables) the school.
    let county_ci = columns.iter().position(|c| c.name == "county_code");
    let mut county: Vec<Option<String>> = vec![path_county.map(str::to_owned); rows];
    let mut school_type: Vec<Option<&'static str>> = vec![None; rows];
    for row in 0..rows {
        if let Some(path_year) = raw.file.year {
            match values[0].int(row) {
                None if !bad_cell[0][row] => set_int(&mut values[0], row, path_year as i64),
                Some(y) if y != path_year as i64 => {
                    rejected[row] = true;
                    let message = format!(
                        "{}: year {y} does not match the submission's year {path_year} (from the folder {})",
                        place(&raw, row, Some(&columns[0])),
                        raw.file.relative
                    );
                    findings.push(finding(
                        &raw,
                        Some(row),
                        Some(&columns[0]),
                        Some(&y.to_string()),
                        "year_mismatch",
                        Severity::Error,
                        message,
                    ));
                }
                _ => {}
            }
        }
        if let Some(ci) = county_ci {
            match (values[ci].text(row).map(str::to_owned), path_county) {
                (None, Some(p)) if !bad_cell[ci][row] => set(&mut values[ci], row, Value::Text(p.to_owned()), p),
                (Some(c), Some(p)) if c != p => {
                    rejected[row] = true;
                    let message = format!(
                        "{}: county {c} does not match the submission's county {p} (from the folder {})",
                        place(&raw, row, Some(&columns[ci])),
                        raw.file.relative
                    );
                    findings.push(finding(
                        &raw,
                        Some(row),
                        Some(&columns[ci]),
                        Some(&c),
                        "county_mismatch",
                        Severity::Error,
                        message,
                    ));
                }
                (Some(c), None) => county[row] = Some(c),
                _ => {}
            }
        }
        if table.refers_to_school() || table == Table::Investments {
            let year = values[0].int(row).map(|y| y as i32);
            let code_ci = columns.iter().position(|c| c.name == "school_code").unwrap_or(1);
            if let (Some(year), Some(code)) = (year, values[code_ci].text(row)) {
                match ctx.registry.get(year, code) {
                    None => {
                        rejected[row] = true;
                        let message = format!(
                            "{}: school {code} is not in the {year} schools table (学校), or its row there was rejected",
                            place(&raw, row, Some(&columns[code_ci]))
                        );
                        findings.push(finding(
                            &raw,
                            Some(row),
                            Some(&columns[code_ci]),
                            Some(code),
                            "unknown_school_code",
                            Severity::Error,
                            message,
                        ));
                    }
                    Some(info) => {
                        if let Some(p) = path_county.filter(|p| *p != info.county_code) {
                            rejected[row] = true;
                            let message = format!(
                                "{}: school {code} belongs to county {}, not to this submission's county {p}",
                                place(&raw, row, Some(&columns[code_ci])),
                                info.county_code
                            );
                            findings.push(finding(
                                &raw,
                                Some(row),
                                Some(&columns[code_ci]),
                                Some(code),
                                "county_mismatch",
                                Severity::Error,
                                message,
                            ));
                        }
                        if table.refers_to_school() {
                            county[row] = Some(info.county_code.to_owned());
                        }
                        school_type[row] = Some(info.school_type);
                    }
                }
            }
        }
    }

    // 3. Grades, read under the county's school system, and whether the school teaches them.
    if let Some(gi) = columns.iter().position(|c| c.kind == Kind::Grade) {
        let column = &columns[gi];
        for row in 0..rows {
            let Some(text) = cell_text(&raw, bound[gi], row) else {
                continue;
            };
            let folded = cell::fold(text);
            if cell::is_null(&folded, &options.null_markers) {
                continue;
            }
            let system = ctx.settings.school_system(county[row].as_deref());
            let folded = match options.values.get(column.name).and_then(|m| m.get(folded.as_ref())) {
                Some(v) => std::borrow::Cow::Owned(v.clone()),
                None => folded,
            };
            match cell::read_grade(&folded, system) {
                Ok(grade) => {
                    set_int(&mut values[gi], row, grade);
                    if let Some(kind) = school_type[row]
                        && !allowed_grades(kind, system).contains(&grade)
                    {
                        rejected[row] = true;
                        let label =
                            crate::contract::SCHOOL_TYPE.values.iter().find(|v| v.0 == kind).map_or(kind, |v| v.1);
                        let message = format!(
                            "{}: grade {grade} is not taught at a {kind} school ({label}) under the {} school system",
                            place(&raw, row, Some(column)),
                            system.as_str()
                        );
                        findings.push(finding(
                            &raw,
                            Some(row),
                            Some(column),
                            Some(text),
                            "grade_not_allowed",
                            Severity::Error,
                            message,
                        ));
                    }
                }
                Err(problem) => {
                    bad_cell[gi][row] = true;
                    rejected[row] = true;
                    let message =
                        format!("{}: \"{text}\" {}", place(&raw, row, Some(column)), problem_message(problem, column));
                    findings.push(finding(
                        &raw,
                        Some(row),
                        Some(column),
                        Some(text),
                        problem_rule(problem, column.kind),
                        Severity::Error,
                        message,
                    ));
                }
            }
        }
    }

    // 4. Required values.
    for (ci, column) in columns.iter().enumerate() {
        for row in 0..rows {
            if values[ci].is_present(row) || bad_cell[ci][row] {
                continue;
            }
            let declared_absent = options.absent.iter().any(|a| a == column.name);
            let needed = match column.required {
                Required::Yes => !declared_absent,
                Required::No => false,
                Required::ForTeachingPoints => {
                    values_text(&values, columns, "school_type", row) == Some("teaching_point")
                }
                Required::ForMultiStageSchools => {
                    table == Table::Teachers && school_type[row].is_some_and(stage_required)
                }
            };
            if !needed {
                continue;
            }
            let (rule, why) = match column.required {
                Required::ForTeachingPoints => (
                    "missing_parent_school",
                    "is empty; a teaching point must name the school it belongs to".to_owned(),
                ),
                Required::ForMultiStageSchools => (
                    "stage_required",
                    format!(
                        "is empty; a {} school has two stages, so each row must say 小学 or 初中",
                        school_type[row].unwrap_or("")
                    ),
                ),
                _ => ("required_value_missing", "is empty but required".to_owned()),
            };
            rejected[row] = true;
            findings.push(finding(
                &raw,
                Some(row),
                Some(column),
                None,
                rule,
                Severity::Error,
                format!("{} {why}", place(&raw, row, Some(column))),
            ));
        }
    }

    // 5. Table-specific row rules.
    let col = |name: &str| columns.iter().position(|c| c.name == name);
    if let Some(si) = col("stage").filter(|_| matches!(table, Table::Teachers | Table::Facilities)) {
        for row in 0..rows {
            let (Some(stage), Some(kind)) = (values[si].text(row), school_type[row]) else {
                continue;
            };
            if !stages_offered(kind).contains(&stage) {
                rejected[row] = true;
                let message = format!("{}: a {kind} school has no {stage} stage", place(&raw, row, Some(&columns[si])));
                findings.push(finding(
                    &raw,
                    Some(row),
                    Some(&columns[si]),
                    Some(stage),
                    "stage_not_offered",
                    Severity::Error,
                    message,
                ));
            }
        }
    }
    if table == Table::Pupils {
        let (Some(ci), Some(si)) = (col("classes"), col("students")) else {
            unreachable!("pupils has classes and students")
        };
        for row in 0..rows {
            if let (Some(0), Some(students)) = (values[ci].int(row), values[si].int(row))
                && students > 0
            {
                rejected[row] = true;
                let message = format!(
                    "{}: is 0 but {} is {students}; classes can be 0 only when there are no pupils",
                    place(&raw, row, Some(&columns[ci])),
                    columns[si].label
                );
                findings.push(finding(
                    &raw,
                    Some(row),
                    Some(&columns[ci]),
                    Some("0"),
                    "classes_zero_with_students",
                    Severity::Error,
                    message,
                ));
            }
        }
    }
    if table == Table::Investments {
        let ai = col("amount").unwrap_or(0);
        for row in 0..rows {
            if values[ai].number(row).is_some_and(|a| a <= 0.0) {
                rejected[row] = true;
                let text = cell_text(&raw, bound[ai], row).unwrap_or("0");
                let message = format!("{}: \"{text}\" must be above 0", place(&raw, row, Some(&columns[ai])));
                findings.push(finding(
                    &raw,
                    Some(row),
                    Some(&columns[ai]),
                    Some(text),
                    "amount_not_positive",
                    Severity::Error,
                    message,
                ));
            }
        }
    }
    // A school total kept on one row of a wide layout (`once`) is not bounded by that row.
    let once = |name: &str| options.wide.as_ref().is_some_and(|w| w.once.iter().any(|o| o == name));
    for bound_rule in table.bounds() {
        if once(bound_rule.lesser) || once(bound_rule.greater) {
            continue;
        }
        let (Some(li), Some(gi)) = (col(bound_rule.lesser), col(bound_rule.greater)) else {
            continue;
        };
        for row in 0..rows {
            let (Some(lesser), Some(greater)) = (values[li].number(row), values[gi].number(row)) else {
                continue;
            };
            if lesser > greater {
                if bound_rule.severity == Severity::Error {
                    rejected[row] = true;
                }
                let message = format!(
                    "{}: {} ({}) exceeds {} ({}); it must not be larger",
                    place(&raw, row, None),
                    columns[li].label,
                    fmt_number(lesser),
                    columns[gi].label,
                    fmt_number(greater)
                );
                findings.push(finding(
                    &raw,
                    Some(row),
                    Some(&columns[li]),
                    Some(&fmt_number(lesser)),
                    "bound_violated",
                    bound_rule.severity,
                    message,
                ));
            }
        }
    }

    let mut batch = CheckedBatch { raw, values, county, school_type, rejected, findings: Vec::new() };
    for mut f in findings {
        if let Some(row) = f.batch_row {
            f.county_code = batch.county[row].clone().or(f.county_code);
            f.year = batch.year(row).or(f.year);
        }
        batch.findings.push(f);
    }
    batch
}

/// Uniqueness of the table's key among rows not already rejected.
fn check_keys(batch: &mut CheckedBatch, keys: &mut KeySet) {
    let table = batch.table();
    let Some(key) = table.key() else { return };
    let columns = table.columns();
    for row in 0..batch.raw.len() {
        if batch.rejected[row] {
            continue;
        }
        let mut parts = Vec::with_capacity(key.len());
        for name in key {
            let v = batch.column(name);
            let part = match v {
                Values::Int(x) => x[row].map(|n| n.to_string()),
                Values::Text(x) => x[row].clone(),
                _ => None,
            };
            // A per-stage row of a single-stage school has the school's only stage.
            let part = part.or_else(|| {
                (*name == "stage").then(|| {
                    batch.school_type[row].map(stages_offered).filter(|s| s.len() == 1).map_or("", |s| s[0]).to_owned()
                })
            });
            parts.push(part.unwrap_or_default());
        }
        let file = batch.raw.file.relative.clone();
        let line = batch.raw.source_rows[row];
        if let Some((first_file, first_row)) = keys.first_holder(parts.join("\u{1f}"), &file, line) {
            let labels: Vec<&str> =
                key.iter().filter_map(|k| columns.iter().find(|c| c.name == *k)).map(|c| c.label).collect();
            let shown: Vec<String> =
                parts.iter().map(|p| if p.is_empty() { "(whole school)".into() } else { p.clone() }).collect();
            let where_ =
                if first_file == file { format!("row {first_row}") } else { format!("{first_file} row {first_row}") };
            let message = format!(
                "{}: the same {} ({}) is already in {where_}; each must appear once",
                place(&batch.raw, row, None),
                labels.join(" + "),
                shown.join(", ")
            );
            let f = finding(&batch.raw, Some(row), None, None, "duplicate_key", Severity::Error, message);
            reject(batch, row, f);
        }
    }
}

/// Check 合计/总计 rows of a file against the sums of its data rows (warnings when they differ).
pub fn check_totals(
    totals: &[TotalRow],
    sums: &HashMap<&'static str, f64>,
    file: &crate::extract::SourceFile,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for total in totals {
        for (name, text) in &total.cells {
            let Some(column) = file.table.column(name) else {
                continue;
            };
            if !matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
                continue;
            }
            let folded = cell::fold(text);
            if cell::is_null(&folded, &file.options.null_markers) {
                continue;
            }
            let Ok(stated) = cell::read_decimal(&folded) else {
                continue;
            };
            let sum = sums.get(name).copied().unwrap_or(0.0);
            let tolerance = 0.5 * 10f64.powi(-(stated.scale as i32)) + 1e-9 * sum.abs();
            if (stated.to_f64() - sum).abs() > tolerance {
                let message = format!(
                    "{} row {}, column {}: the total row says {text} but the rows above sum to {}; the total row is not published, check the rows",
                    file.relative,
                    total.row,
                    column.label,
                    fmt_number(sum)
                );
                out.push(Finding {
                    table: file.table,
                    source_uri: file.uri.clone(),
                    source_file: file.relative.clone(),
                    source_sheet: None,
                    source_row: Some(total.row),
                    column: Some(column.name),
                    source_column: None,
                    value: Some(text.clone()),
                    rule: "total_row_mismatch",
                    severity: Severity::Warning,
                    message,
                    county_code: file.county_code.clone(),
                    year: file.year,
                    path_year: file.year,
                    batch_row: None,
                });
            }
        }
    }
    out
}

/// Add a checked batch's readable numeric values to per-column sums (for total rows).
pub fn add_to_sums(batch: &CheckedBatch, sums: &mut HashMap<&'static str, f64>) {
    for (column, values) in batch.table().columns().iter().zip(&batch.values) {
        if matches!(column.kind, Kind::Count | Kind::Money | Kind::Area) {
            let s: f64 = (0..batch.raw.len()).filter_map(|r| values.number(r)).sum();
            *sums.entry(column.name).or_default() += s;
        }
    }
}

fn fmt_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

fn values_text<'a>(values: &'a [Values], columns: &[Column], name: &str, row: usize) -> Option<&'a str> {
    columns.iter().position(|c| c.name == name).and_then(|i| values[i].text(row))
}

/// The text of a contract column in a row (None when the source has no such column).
fn cell_text(raw: &RawBatch, bound: Option<usize>, row: usize) -> Option<&str> {
    use arrow::array::Array;
    let a = &raw.cells[bound?];
    (!a.is_null(row)).then(|| a.value(row))
}

/// How the cells of a column are read: the column, its unit, and the pipeline's value map and
/// code pattern.
struct Reading<'a> {
    kind: Kind,
    unit: Option<Unit>,
    values: Option<&'a BTreeMap<String, String>>,
    pattern: Option<regex::Regex>,
    roc: bool,
}

impl Reading<'_> {
    fn read(&self, folded: &str, system: SchoolSystem) -> Result<Value, Problem> {
        let mapped = self.values.and_then(|m| m.get(folded)).map(String::as_str).unwrap_or(folded);
        match self.kind {
            Kind::CountyCode | Kind::SchoolCode if self.pattern.is_some() => {
                let t = mapped.strip_suffix(".0").unwrap_or(mapped);
                let re = self.pattern.as_ref().expect("checked");
                if re.find(t).is_some_and(|m| m.start() == 0 && m.end() == t.len()) {
                    Ok(Value::Text(t.to_owned()))
                } else {
                    Err(Problem::BadCode { digits: if self.kind == Kind::CountyCode { 6 } else { 10 } })
                }
            }
            // Several source columns summed (boys + girls): read each part, add them up.
            Kind::Count | Kind::Money | Kind::Area if mapped.contains(" + ") => {
                let mut total: Option<Value> = None;
                for part in mapped.split(" + ") {
                    let part = cell::fold(part);
                    if cell::is_null(&part, &[]) {
                        continue;
                    }
                    let v = self.read(&part, system)?;
                    total = Some(match (total, v) {
                        (None, v) => v,
                        (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a + b),
                        (Some(Value::Decimal(a)), Value::Decimal(b)) => {
                            Value::Decimal(add(a, b).ok_or(Problem::NotNumber)?)
                        }
                        _ => return Err(Problem::NotNumber),
                    });
                }
                total.ok_or(Problem::NotNumber)
            }
            // A count stated in 万 (万人) is read as persons.
            Kind::Count if self.unit == Some(Unit::TenThousand) => {
                let d = cell::read_decimal(mapped).map_err(|_| Problem::NotNumber)?;
                if d.is_negative() {
                    return Err(Problem::Negative);
                }
                d.rescale(0).map(|_| ()).ok_or(Problem::NotNumber)?;
                let persons = cell::Decimal { mantissa: d.mantissa * 10_000, scale: d.scale }
                    .rescale(0)
                    .ok_or(Problem::NotNumber)?;
                i64::try_from(persons).map(Value::Int).map_err(|_| Problem::NotNumber)
            }
            _ => read_value(mapped, self.kind, self.roc, system),
        }
    }
}

fn add(a: cell::Decimal, b: cell::Decimal) -> Option<cell::Decimal> {
    let scale = a.scale.max(b.scale);
    Some(cell::Decimal { mantissa: a.rescale(scale)?.checked_add(b.rescale(scale)?)?, scale })
}

/// A value read from a cell.
enum Value {
    Int(i64),
    Decimal(cell::Decimal),
    Text(String),
    Bool(bool),
}

fn read_value(folded: &str, kind: Kind, roc: bool, system: SchoolSystem) -> Result<Value, Problem> {
    Ok(match kind {
        Kind::Year => Value::Int(cell::read_year(folded, roc)? as i64),
        Kind::CountyCode => Value::Text(cell::read_code(folded, 6)?),
        Kind::SchoolCode => Value::Text(cell::read_code(folded, 10)?),
        Kind::Text => Value::Text(folded.to_owned()),
        Kind::Enum(def) => Value::Text(cell::read_enum(folded, def)?.to_owned()),
        Kind::Bool => Value::Bool(cell::read_bool(folded)?),
        Kind::Count => Value::Int(cell::read_count(folded)?),
        Kind::Grade => Value::Int(cell::read_grade(folded, system)?),
        Kind::Area | Kind::Money => {
            let d = cell::read_decimal(folded)?;
            if d.is_negative() {
                return Err(Problem::Negative);
            }
            Value::Decimal(d)
        }
    })
}

fn set(values: &mut Values, row: usize, value: Value, _text: &str) {
    match (values, value) {
        (Values::Int(v), Value::Int(x)) => v[row] = Some(x),
        (Values::Decimal(v), Value::Decimal(x)) => v[row] = Some(x),
        (Values::Text(v), Value::Text(x)) => v[row] = Some(x),
        (Values::Bool(v), Value::Bool(x)) => v[row] = Some(x),
        _ => unreachable!("value kind follows column kind"),
    }
}

fn set_int(values: &mut Values, row: usize, x: i64) {
    if let Values::Int(v) = values {
        v[row] = Some(x);
    }
}
