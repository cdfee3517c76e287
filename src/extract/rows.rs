//! Rows of a sheet or CSV file → raw batches: find the header (under any title rows), bind it,
//! read a unit row, skip blank and note rows, set total rows aside, and map each source row to
//! the contract's columns — one row, or one row per grade when grades are columns.
//!
//! CSV files and workbook sheets both hand their rows to an [`Assembler`], so a title row, a
//! unit row, a 合计 row or a wide grade layout behave the same whatever the format.

use std::collections::HashMap;
use std::sync::Arc;

use super::header::{Built, SUM_SEPARATOR};
use super::{
    BATCH_ROWS, BatchBuilder, Binding, BoundColumn, FileFailure, FileReport, HeaderIndex, RawBatch, SourceFile,
    TotalRow,
};
use crate::contract::{Column, Kind, Rule, Unit};
use crate::text::fold;

/// The header the ledger records for the grade of rows made from grade columns.
pub const WIDE_GRADE_HEADER: &str = "(grade columns)";

/// How many rows are searched for the header when the pipeline does not say where it is.
pub const HEADER_SEARCH_ROWS: u64 = 30;

/// Where the text of one output column comes from.
#[derive(Debug, Clone)]
enum Source {
    /// One source cell, or several summed (`a + b`).
    Cells(Vec<usize>),
    /// A constant, with `{header}` placeholders filled from the row's cells.
    Template(Vec<TemplatePart>),
    /// The grade of a wide layout's emitted row.
    Grade,
    /// Per grade of a wide layout: the source cells (summed).
    Wide(Vec<Vec<usize>>),
}

#[derive(Debug, Clone)]
enum TemplatePart {
    Text(String),
    /// A cell, or the part of it a pattern takes (`{DISTRICT:^(\d{3})}`).
    Cell(usize, Option<regex::Regex>),
}

/// What is done to an output column's text once it is taken from its cells: the pipeline's
/// `extract` pattern, then its `pad` width.
#[derive(Debug, Clone, Default)]
struct Refine {
    extract: Option<regex::Regex>,
    pad: Option<usize>,
}

impl Refine {
    /// The pipeline's `extract` and `pad` of a column.
    fn of(options: &crate::pipeline::FileOptions, column: &str) -> Refine {
        Refine { extract: options.extract.get(column).cloned(), pad: options.pad.get(column).copied() }
    }

    fn apply(&self, text: String) -> String {
        if self.extract.is_none() && self.pad.is_none() {
            return text;
        }
        let folded = fold(&text);
        let taken = match &self.extract {
            Some(re) => match extracted(re, folded.trim()) {
                Some(v) => v.trim().to_owned(),
                None => return text,
            },
            None => folded.trim().to_owned(),
        };
        match self.pad {
            Some(width) => padded(&taken, width).into_owned(),
            None => taken,
        }
    }
}

/// Maps a source row to the cells of raw rows.
#[derive(Debug, Clone)]
pub struct Mapper {
    binding: Arc<Binding>,
    /// Per output column, `extract` and `pad`.
    refine: Vec<Refine>,
    /// `skip_where`, resolved to cells: (cell index, the column as the pipeline names it, patterns).
    skip: Vec<(usize, String, Vec<regex::Regex>)>,
    sources: Vec<Source>,
    grades: Vec<i64>,
    once: Vec<bool>,
    zero_means_not_taught: bool,
}

impl Mapper {
    /// Bind a header row to the contract for a file, with the pipeline's options.
    pub fn new(index: &HeaderIndex, headers: &[String], file: &SourceFile) -> Result<Mapper, FileFailure> {
        let options = &file.options;
        let table = file.table;
        let fail = |rule: Rule, msg: String| FileFailure::in_file(file, rule, msg);
        let position: HashMap<String, usize> =
            headers.iter().enumerate().rev().map(|(i, h)| (super::header::key(h), i)).collect();
        let find = |header: &str| position.get(&super::header::key(header)).copied();
        let mut binding = Binding::default();
        let mut sources = Vec::new();
        let mut once = Vec::new();
        let mut used = vec![false; headers.len()];
        let wide = options.wide.as_ref();
        let wide_column = |name: &str| wide.is_some_and(|w| w.columns.contains_key(name));
        // 1. Headers that name a contract column (aliases, units in brackets).
        for (i, header) in headers.iter().enumerate() {
            if fold(header).is_empty() {
                continue;
            }
            let Some((column, unit)) = index.lookup(header) else { continue };
            if wide_column(column.name)
                || options.sums.contains_key(column.name)
                || (wide.is_some() && column.name == "grade")
            {
                continue;
            }
            used[i] = true;
            if let Some(first) = binding.get(column.name) {
                binding.duplicates.push((column.name, first.header.clone(), header.clone()));
                continue;
            }
            let unit = unit.or_else(|| options.unit(column.name));
            binding.columns.push(BoundColumn {
                column,
                built: Built::Cell,
                header: header.clone(),
                index: Some(i),
                unit,
            });
            sources.push(Source::Cells(vec![i]));
            once.push(wide.is_some_and(|w| w.once.iter().any(|o| o == column.name)));
        }
        // 2. Sums of several source columns.
        for (name, parts) in &options.sums {
            let column = table
                .column(name)
                .ok_or_else(|| fail(Rule::MissingRequiredColumn, format!("`{name}` is not a column of {table}")))?;
            let mut indices = Vec::new();
            for part in parts {
                let i = find(part).ok_or_else(|| {
                    fail(
                        Rule::MissingRequiredColumn,
                        format!("column \"{part}\" (part of {}) is missing", column.label),
                    )
                })?;
                used[i] = true;
                indices.push(i);
            }
            let unit = parts.iter().find_map(|p| index.lookup(p).and_then(|(_, u)| u)).or_else(|| options.unit(name));
            binding.columns.push(BoundColumn {
                column,
                built: Built::Sum,
                header: parts.join(SUM_SEPARATOR),
                index: indices.first().copied(),
                unit,
            });
            sources.push(Source::Cells(indices));
            once.push(false);
        }
        // 3. Grades as columns.
        let mut grades = Vec::new();
        if let Some(wide) = wide {
            grades = wide.grades.clone();
            let grade = table
                .column("grade")
                .ok_or_else(|| fail(Rule::MissingRequiredColumn, format!("{table} has no grade to widen")))?;
            binding.columns.push(BoundColumn {
                column: grade,
                built: Built::WideGrade,
                header: WIDE_GRADE_HEADER.into(),
                index: None,
                unit: None,
            });
            sources.push(Source::Grade);
            once.push(false);
            for (name, patterns) in &wide.columns {
                let column = table
                    .column(name)
                    .ok_or_else(|| fail(Rule::MissingRequiredColumn, format!("`{name}` is not a column of {table}")))?;
                let (per_grade, lacking) = grade_cells(column, patterns, &wide.grades, &find, &mut used);
                binding.lacking.extend(lacking.into_iter().filter(|_| !options.may_lack(name)));
                if per_grade.iter().all(Vec::is_empty) {
                    return Err(fail(
                        Rule::MissingRequiredColumn,
                        format!(
                            "no column matches {} for {} (e.g. \"{}\")",
                            patterns.join(", "),
                            column.label,
                            grade_header(&patterns[0], wide.grades[0])
                        ),
                    ));
                }
                let unit = options.unit(name);
                let first = per_grade.iter().flatten().next().copied();
                let header = patterns.join(SUM_SEPARATOR);
                binding.columns.push(BoundColumn { column, built: Built::Sum, header, index: first, unit });
                sources.push(Source::Wide(per_grade));
                once.push(false);
            }
        }
        // 4. Constants (a county code, a school type) where the file has no such column.
        for (name, template) in &options.constants {
            if binding.get(name).is_some() {
                continue;
            }
            let Some(column) = table.column(name) else { continue };
            let parts = parse_template(template, &find).map_err(|e| match e {
                TemplateError::NoColumn(h) => fail(
                    Rule::MissingRequiredColumn,
                    format!("the constant for {} refers to column \"{h}\", which the file does not have", column.label),
                ),
                TemplateError::Pattern(message) => {
                    fail(Rule::MissingRequiredColumn, format!("the constant for {}: {message}", column.label))
                }
            })?;
            // A cell a constant quotes is read (it is no unknown column).
            for part in &parts {
                if let TemplatePart::Cell(i, _) = part {
                    used[*i] = true;
                }
            }
            let header = format!("= {template}");
            binding.columns.push(BoundColumn { column, built: Built::Constant, header, index: None, unit: None });
            sources.push(Source::Template(parts));
            once.push(false);
        }
        // 5. Columns the pipeline gives aliases for, which this file has under none of its names.
        binding.lacking.extend(lacking_declared(file, &binding));
        let refine = binding.columns.iter().map(|b| Refine::of(options, b.column.name)).collect();
        // 6. Columns whose cells mark rows to skip (a contract column, or a header of the file).
        let skip = skip_cells(options, &mut binding, &find, &mut used);
        binding.unknown = headers
            .iter()
            .enumerate()
            .filter(|(i, h)| !used[*i] && !fold(h).is_empty())
            .map(|(i, h)| (i, h.clone()))
            .collect();
        check_binding(file, &binding)?;
        let zero_means_not_taught = wide.is_some_and(|w| w.zero_means_not_taught);
        Ok(Mapper { binding: Arc::new(binding), refine, skip, sources, grades, once, zero_means_not_taught })
    }

    /// The binding of the output columns.
    pub fn binding(&self) -> &Arc<Binding> {
        &self.binding
    }

    /// Why a row is not data by the pipeline's `skip_where`: the column and the pattern it matches.
    pub fn skipped_by<S: AsRef<str>>(&self, cells: &[S]) -> Option<String> {
        self.skip.iter().find_map(|(i, name, patterns)| {
            let cell = cells.get(*i)?.as_ref().trim();
            let p = patterns.iter().find(|p| p.is_match(cell))?;
            Some(format!("skip_where: {name} matches {}", p.as_str()))
        })
    }

    /// The numeric cells of a total row, as the rows it would have made (a wide layout's grade
    /// columns are as many rows): (column, cell text), a column once per row it has a value in.
    pub fn total_cells<S: AsRef<str>>(&self, cells: &[S]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for row in self.map(cells) {
            for (bound, cell) in self.binding.columns.iter().zip(row) {
                if let (true, Some(text)) = (matches!(bound.column.kind, Kind::Count | Kind::Money | Kind::Area), cell)
                {
                    out.push((bound.column.name, text));
                }
            }
        }
        out
    }

    /// Set units found in a unit row under the header (for columns whose header states none).
    pub fn apply_unit_row(&mut self, cells: &[String]) {
        let binding = Arc::make_mut(&mut self.binding);
        for bound in &mut binding.columns {
            if bound.unit.is_none() {
                bound.unit = bound.index.and_then(|i| cells.get(i)).and_then(|c| Unit::parse(c));
            }
        }
    }

    /// The raw rows a source row becomes (several for a wide layout; grades with no value are
    /// not taught and give no row).
    pub fn map<S: AsRef<str>>(&self, cells: &[S]) -> Vec<Vec<Option<String>>> {
        let text = |i: &usize| cells.get(*i).map(|c| c.as_ref());
        let joined = |indices: &[usize]| -> Option<String> {
            let parts: Vec<&str> = indices.iter().filter_map(text).filter(|c| !fold(c).is_empty()).collect();
            match parts.len() {
                0 => indices
                    .iter()
                    .filter_map(text)
                    .next()
                    .map(str::to_owned)
                    .or_else(|| (!indices.is_empty()).then(String::new)),
                1 => Some(parts[0].to_owned()),
                _ => Some(parts.join(SUM_SEPARATOR)),
            }
        };
        let refined = |ci: usize, text: Option<String>| text.map(|t| self.refine[ci].apply(t));
        if self.grades.is_empty() {
            return vec![
                self.sources
                    .iter()
                    .enumerate()
                    .map(|(ci, s)| refined(ci, self.fill(s, cells, &joined, None)))
                    .collect(),
            ];
        }
        let mut out = Vec::new();
        for (gi, &grade) in self.grades.iter().enumerate() {
            let taught = self.sources.iter().any(|s| match s {
                Source::Wide(per_grade) => per_grade[gi]
                    .iter()
                    .filter_map(text)
                    .map(|c| fold(c))
                    .any(|c| !c.is_empty() && (!self.zero_means_not_taught || !is_zero(&c))),
                _ => false,
            });
            if !taught {
                continue;
            }
            let first = out.is_empty();
            out.push(
                self.sources
                    .iter()
                    .zip(&self.once)
                    .enumerate()
                    .map(|(ci, (s, once))| {
                        if *once && !first {
                            None
                        } else {
                            refined(ci, self.fill(s, cells, &joined, Some((gi, grade))))
                        }
                    })
                    .collect(),
            );
        }
        out
    }

    fn fill<S: AsRef<str>>(
        &self,
        source: &Source,
        cells: &[S],
        joined: &dyn Fn(&[usize]) -> Option<String>,
        grade: Option<(usize, i64)>,
    ) -> Option<String> {
        match source {
            Source::Cells(indices) => joined(indices),
            Source::Template(parts) => Some(
                parts
                    .iter()
                    .map(|p| match p {
                        TemplatePart::Text(t) => t.clone(),
                        TemplatePart::Cell(i, pattern) => {
                            let text = cells.get(*i).map(|c| fold(c.as_ref()).trim().to_owned()).unwrap_or_default();
                            match pattern.as_ref().and_then(|re| extracted(re, &text)) {
                                Some(v) => v.trim().to_owned(),
                                None => text,
                            }
                        }
                    })
                    .collect(),
            ),
            Source::Grade => grade.map(|(_, g)| g.to_string()),
            Source::Wide(per_grade) => grade.and_then(|(gi, _)| joined(&per_grade[gi])),
        }
    }
}

/// The cells of a wide layout's column, per grade (several patterns are summed), and a phrase per
/// grade column the file lacks: a misspelt or missing grade column would drop the grade's pupils.
fn grade_cells(
    column: &Column,
    patterns: &[String],
    grades: &[i64],
    find: &dyn Fn(&str) -> Option<usize>,
    used: &mut [bool],
) -> (Vec<Vec<usize>>, Vec<String>) {
    let mut per_grade = Vec::new();
    let mut lacking = Vec::new();
    for &g in grades {
        let mut indices = Vec::new();
        for pattern in patterns {
            let header = grade_header(pattern, g);
            match find(&header) {
                Some(i) => {
                    used[i] = true;
                    indices.push(i);
                }
                None => lacking.push(format!(
                    "{} of grade {g} (column \"{header}\" of wide.columns.{})",
                    column.label, column.name
                )),
            }
        }
        per_grade.push(indices);
    }
    (per_grade, lacking)
}

/// The columns a pipeline declares (an alias, a unit, an extraction, a padding) that a file has
/// under none of their names, and that neither its path, a constant nor `absent`/`optional`
/// accounts for; required ones fail the file in [`check_binding`] instead.
fn lacking_declared(file: &SourceFile, binding: &Binding) -> Vec<String> {
    let options = &file.options;
    let mut lacking = Vec::new();
    // A column is declared by an alias, a unit, an extraction or a padding: each says the files
    // have it. (A value map does not: its "" entry fills a column the file lacks.)
    let declared: std::collections::BTreeSet<&String> = options
        .aliases
        .keys()
        .chain(options.units.keys())
        .chain(options.extract.keys())
        .chain(options.pad.keys())
        .collect();
    for name in declared {
        let Some(column) = file.table.column(name) else { continue };
        let from_path =
            (name == "year" && file.year.is_some()) || (name == "county_code" && file.county_code.is_some());
        if binding.get(name).is_some() || from_path || options.may_lack(name) || column.header_required() {
            continue;
        }
        let mut names: Vec<&str> = options.aliases.get(name).into_iter().flatten().map(String::as_str).collect();
        names.insert(0, column.name);
        lacking.push(format!("{} (headers looked for: {})", column.label, names.join(", ")));
    }
    lacking
}

/// `skip_where` resolved to the file's cells (a bound contract column, else a header); a column
/// the file lacks is recorded in `binding.lacking`.
fn skip_cells(
    options: &crate::pipeline::FileOptions,
    binding: &mut Binding,
    find: &dyn Fn(&str) -> Option<usize>,
    used: &mut [bool],
) -> Vec<(usize, String, Vec<regex::Regex>)> {
    let mut skip = Vec::new();
    for (name, patterns) in &options.skip_where {
        let cell = binding.get(name).and_then(|b| (b.built == Built::Cell).then_some(b.index).flatten());
        match cell.or_else(|| find(name)) {
            Some(i) => {
                used[i] = true;
                skip.push((i, name.clone(), patterns.clone()));
            }
            None => binding.lacking.push(format!("the column \"{name}\" of skip_where")),
        }
    }
    skip
}

/// Whether a cell says zero (`0`, `0.0`, `00`).
fn is_zero(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c == '0' || c == '.') && text.contains('0')
}

/// `students = "grade{g}"` → `grade3`; `{g_zh}` → `三`.
pub(super) fn grade_header(pattern: &str, grade: i64) -> String {
    const ZH: [&str; 9] = ["一", "二", "三", "四", "五", "六", "七", "八", "九"];
    pattern.replace("{g_zh}", ZH.get((grade - 1) as usize).copied().unwrap_or("")).replace("{g}", &grade.to_string())
}

/// Split `{省份编码}0000` into text and references to source columns; `{header:pattern}` takes
/// the part of the cell the pattern captures (braces inside the pattern are balanced:
/// `{DISTRICT:^(\d{3})}`).
fn parse_template(template: &str, find: &dyn Fn(&str) -> Option<usize>) -> Result<Vec<TemplatePart>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let mut depth = 0usize;
        let close = rest[open..].char_indices().find_map(|(i, c)| {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
            None
        });
        let Some(close) = close else { break };
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_owned()));
        }
        let inner = &rest[open + 1..open + close];
        let (header, pattern) = match inner.split_once(':') {
            Some((h, p)) => {
                let re = regex::Regex::new(p).map_err(|e| {
                    TemplateError::Pattern(format!("{{{h}:…}}: the pattern {p:?} does not compile: {e}"))
                })?;
                (h, Some(re))
            }
            None => (inner, None),
        };
        parts
            .push(TemplatePart::Cell(find(header).ok_or_else(|| TemplateError::NoColumn(header.to_owned()))?, pattern));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// Why a constant's template cannot be used with a file.
enum TemplateError {
    /// It names a column the file does not have.
    NoColumn(String),
    /// Its pattern does not compile.
    Pattern(String),
}

/// The value a pattern takes out of a cell: its first group, or the whole match; None when the
/// pattern does not match (the cell is then read as written, so validation names it).
fn extracted<'t>(pattern: &regex::Regex, text: &'t str) -> Option<&'t str> {
    let caps = pattern.captures(text)?;
    caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str())
}

/// A digit value left-padded with zeros to a width (`1015`, 6 → `001015`); other text unchanged.
fn padded(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    let digits = text.strip_suffix(".0").unwrap_or(text);
    if !digits.is_empty() && digits.len() < width && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("{digits:0>width$}").into()
    } else {
        text.into()
    }
}

/// Check a binding against the contract: duplicates and missing required columns fail the file.
/// Year and county code may come from the path; `absent` columns are declared missing.
pub fn check_binding(file: &SourceFile, binding: &Binding) -> Result<(), FileFailure> {
    if let Some((name, first, second)) = binding.duplicates.first() {
        return Err(FileFailure::new(
            Rule::DuplicateColumn,
            format!("{}: columns \"{first}\" and \"{second}\" both mean {name}; keep one", file.relative),
        ));
    }
    let missing: Vec<String> = file
        .table
        .columns()
        .iter()
        .filter(|c| c.header_required() && binding.get(c.name).is_none())
        .filter(|c| !(c.name == "year" && file.year.is_some()))
        .filter(|c| !(c.name == "county_code" && file.county_code.is_some()))
        .filter(|c| !file.options.may_lack(c.name))
        .map(|c| format!("{} ({})", c.label, c.name))
        .collect();
    if !missing.is_empty() {
        return Err(FileFailure::new(
            Rule::MissingRequiredColumn,
            format!(
                "{}: required column {} is missing; add it (or map your header to it with an alias in the pipeline file)",
                file.relative,
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A header row binds at least two cells of the table (or one, if it is the only cell).
pub fn looks_like_header(index: &HeaderIndex, cells: &[String]) -> bool {
    let filled = cells.iter().filter(|c| !c.trim().is_empty()).count();
    let score = index.score(cells);
    score >= 2 || (score == 1 && filled == 1)
}

/// A unit row: every non-empty cell is a unit, at least one is, and `单位` may lead it.
pub fn is_unit_row<S: AsRef<str>>(cells: &[S]) -> bool {
    let filled: Vec<&str> = cells.iter().map(|c| c.as_ref().trim()).filter(|c| !c.is_empty()).collect();
    let units = filled.iter().filter(|c| Unit::parse(c).is_some()).count();
    let labels = filled.iter().filter(|c| matches!(**c, "单位" | "计量单位" | "单位：" | "单位:")).count();
    units >= 1 && units + labels == filled.len()
}

/// Note rows under or above a table: a single text cell starting with one of these.
pub fn is_note(text: &str) -> bool {
    const NOTES: &[&str] =
        &["注", "说明", "填表", "审核", "单位负责人", "统计负责人", "数据来源", "资料来源", "备注", "制表"];
    let t = text.trim();
    NOTES.iter().any(|n| t.starts_with(n))
}

/// Whether a cell reads as a number or a code (a one-cell row of these is data, not a footer).
fn looks_numeric(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | ' '))
}

/// Whether a cell labels a total row.
pub fn is_total_label(text: &str) -> bool {
    let t: String = fold(text).chars().filter(|c| !c.is_whitespace()).collect();
    matches!(
        t.as_str(),
        "合计" | "总计" | "小计" | "全县合计" | "全市合计" | "全区合计" | "总数" | "Total" | "TOTAL" | "total"
    )
}

enum State {
    Skipping(usize),
    SearchingHeader,
    UnitRowNext,
    Data,
}

/// Turns the rows of one CSV file or sheet into raw batches.
pub struct Assembler<'a> {
    file: &'a Arc<SourceFile>,
    index: &'a HeaderIndex,
    sheet: Option<Arc<str>>,
    state: State,
    mapper: Option<Mapper>,
    builder: Option<BatchBuilder>,
    width: usize,
    extra_reported: bool,
    /// Rows of one text cell met after data: a footer (`Source: …`) if nothing but blank rows
    /// follows them, else data like any other row.
    pending: Vec<(u64, Vec<String>)>,
    /// What was established about the file.
    pub report: FileReport,
}

impl<'a> Assembler<'a> {
    /// An assembler for a file (and sheet, for workbooks).
    pub fn new(file: &'a Arc<SourceFile>, index: &'a HeaderIndex, sheet: Option<Arc<str>>) -> Self {
        let state = match file.options.skip_rows {
            Some(n) if n > 0 => State::Skipping(n),
            _ => State::SearchingHeader,
        };
        Assembler {
            file,
            index,
            sheet,
            state,
            mapper: None,
            builder: None,
            width: 0,
            extra_reported: false,
            pending: Vec::new(),
            report: FileReport::default(),
        }
    }

    fn fail(&self, rule: Rule, message: String) -> FileFailure {
        let sheet = self.sheet.as_deref().map(|s| format!(" sheet {s}")).unwrap_or_default();
        FileFailure::new(rule, format!("{}{sheet}: {message}", self.file.relative))
    }

    /// Take the next row (its 1-based number in the source, and its cells).
    pub fn push(
        &mut self,
        row: u64,
        cells: Vec<String>,
        on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
    ) -> Result<(), FileFailure> {
        let non_empty: Vec<usize> = (0..cells.len()).filter(|&i| !cells[i].trim().is_empty()).collect();
        match self.state {
            State::Skipping(n) => {
                self.report.skipped_rows.push((row, "skipped (skip_rows)".into()));
                self.state = if n > 1 { State::Skipping(n - 1) } else { State::SearchingHeader };
                Ok(())
            }
            State::SearchingHeader => {
                let is_header = match self.file.options.header_row {
                    Some(h) => row >= h as u64,
                    None => looks_like_header(self.index, &cells),
                };
                if is_header {
                    self.report.header_row = Some(row);
                    let mapper = Mapper::new(self.index, &cells, self.file)
                        .map_err(|f| FileFailure::new(f.rule, self.with_sheet(f.message)))?;
                    self.report.unknown_columns =
                        super::capped_unknown(mapper.binding().unknown.iter().map(|(_, h)| h.clone()).collect());
                    self.report.lacking_columns = mapper.binding().lacking.clone();
                    self.width = cells.len();
                    self.mapper = Some(mapper);
                    self.state = State::UnitRowNext;
                    return Ok(());
                }
                if self.file.options.header_row.is_none() && row >= HEADER_SEARCH_ROWS {
                    return Err(self.fail(Rule::HeaderNotFound, header_hint(self.index)));
                }
                if !non_empty.is_empty() {
                    self.report.skipped_rows.push((row, "title row above the header".into()));
                }
                Ok(())
            }
            State::UnitRowNext => {
                self.state = State::Data;
                if !non_empty.is_empty() && is_unit_row(&cells) {
                    if let Some(m) = self.mapper.as_mut() {
                        m.apply_unit_row(&cells);
                    }
                    self.report.skipped_rows.push((row, "unit row under the header".into()));
                    return Ok(());
                }
                self.data_row(row, cells, &non_empty, on_batch)
            }
            State::Data => self.data_row(row, cells, &non_empty, on_batch),
        }
    }

    fn with_sheet(&self, message: String) -> String {
        match &self.sheet {
            Some(s) => message.replacen(':', &format!(" sheet {s}:"), 1),
            None => message,
        }
    }

    fn data_row(
        &mut self,
        row: u64,
        cells: Vec<String>,
        non_empty: &[usize],
        on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
    ) -> Result<(), FileFailure> {
        if non_empty.is_empty() {
            self.report.blank_rows += 1;
            return Ok(());
        }
        if non_empty.len() == 1 && is_note(&cells[non_empty[0]]) {
            self.report.skipped_rows.push((row, "note row".into()));
            return Ok(());
        }
        let mapper = self.mapper.as_ref().expect("header bound before data");
        if let Some(why) = mapper.skipped_by(&cells) {
            self.report.skipped_rows.push((row, why));
            return Ok(());
        }
        // A line of text under a table of several columns (one or two cells, as a comma in an
        // unquoted note splits it): a footer, unless data follows it.
        let text_only = non_empty.iter().all(|&i| !looks_numeric(&cells[i]));
        if non_empty.len() <= 2 && text_only && mapper.binding().columns.len() >= 3 {
            self.pending.push((row, cells));
            return Ok(());
        }
        for (r, c) in std::mem::take(&mut self.pending) {
            self.record_row(r, c, on_batch)?;
        }
        self.record_row(row, cells, on_batch)
    }

    /// A row that is data or a total row: totals are set aside (with the rows above flushed, so
    /// the rows a total sums are exactly the batches before it), data goes into the batch.
    fn record_row(
        &mut self,
        row: u64,
        cells: Vec<String>,
        on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
    ) -> Result<(), FileFailure> {
        let mapper = self.mapper.as_ref().expect("header bound before data");
        let markers = &self.file.options.total_rows;
        let first_cells = cells.iter().filter(|c| !c.trim().is_empty()).take(3);
        let mut total = false;
        for cell in first_cells {
            let t = cell.trim();
            total |= is_total_label(t) || markers.iter().any(|m| m.is_match(t));
        }
        if total {
            let cells = mapper.total_cells(&cells);
            self.report.total_rows.push(TotalRow { row, cells });
            if let Some(builder) = self.builder.as_mut().filter(|b| !b.is_empty()) {
                let batch = builder.finish();
                on_batch(batch).map_err(|e| self.fail(Rule::UnreadableFile, e))?;
            }
            return Ok(());
        }
        let non_empty_beyond = cells.iter().enumerate().any(|(i, c)| i >= self.width && !c.trim().is_empty());
        if !self.extra_reported && non_empty_beyond {
            self.extra_reported = true;
            self.report.unknown_columns.push(format!("(cells beyond the last header, first at row {row})"));
        }
        let rows = mapper.map(&cells);
        let builder = self
            .builder
            .get_or_insert_with(|| BatchBuilder::new(self.file.clone(), self.sheet.clone(), mapper.binding().clone()));
        for cells in rows {
            builder.push(row, cells);
            self.report.rows += 1;
        }
        if builder.len() >= BATCH_ROWS {
            let batch = builder.finish();
            on_batch(batch).map_err(|e| self.fail(Rule::UnreadableFile, e))?;
        }
        Ok(())
    }

    /// Flush what is left; fails if the header was never found.
    pub fn finish(
        mut self,
        on_batch: &mut dyn FnMut(RawBatch) -> Result<(), String>,
    ) -> Result<FileReport, FileFailure> {
        if self.mapper.is_none() {
            return Err(match self.file.options.header_row {
                Some(h) => self.fail(Rule::HeaderNotFound, format!("the file ends before header row {h}")),
                None => self.fail(Rule::HeaderNotFound, header_hint(self.index)),
            });
        }
        // One-cell rows that no data row followed: the table's footer (`Source: …`, `* estimated`).
        for (row, _) in std::mem::take(&mut self.pending) {
            self.report.skipped_rows.push((row, "footer below the last data row".into()));
        }
        if let Some(mut builder) = self.builder.take()
            && !builder.is_empty()
        {
            let batch = builder.finish();
            on_batch(batch).map_err(|e| self.fail(Rule::UnreadableFile, e))?;
        }
        if let Some(m) = &self.mapper {
            self.report.columns = m
                .binding()
                .columns
                .iter()
                .map(|b| (b.header.clone(), b.column.name.to_owned(), b.unit.map(|u| u.label().to_owned())))
                .collect();
        }
        self.report.sheet = self.sheet.as_deref().map(str::to_owned);
        Ok(self.report)
    }
}

fn header_hint(index: &HeaderIndex) -> String {
    let table = index.table();
    let examples: Vec<&str> = table.columns().iter().filter(|c| c.header_required()).map(|c| c.label).take(4).collect();
    format!(
        "no header row found in the first {HEADER_SEARCH_ROWS} rows; expected {} headers such as {} (or their English names), or set header_row in the pipeline file",
        table.chinese_name(),
        examples.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Table;
    use crate::pipeline::{Format, ReadOptions, WideGrades};

    fn file(table: Table, options: ReadOptions) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            uri: "memory://t/x.csv".into(),
            location: "x.csv".into(),
            relative: "x.csv".into(),
            table,
            format: Format::Csv,
            sheet: None,
            county_code: Some("231182".into()),
            year: Some(2018),
            size: 0,
            e_tag: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            options: Arc::new(crate::pipeline::FileOptions::compile(options).unwrap()),
        })
    }

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn grades_as_columns_become_rows_and_untaught_grades_none() {
        let mut options = ReadOptions::default();
        options.aliases.insert("school_code".into(), vec!["學校代碼".into()]);
        options.wide = Some(WideGrades {
            grades: vec![1, 2, 3],
            columns: [
                ("students".to_owned(), vec!["{g}年級男學生數".to_owned(), "{g}年級女學生數".to_owned()]),
                ("classes".to_owned(), vec!["{g}年級班級數".to_owned()]),
            ]
            .into(),
            once: vec![],
            zero_means_not_taught: false,
        });
        let f = file(Table::Pupils, options);
        let index = HeaderIndex::new(Table::Pupils, &f.options);
        let headers = strings(&[
            "學校代碼",
            "1年級班級數",
            "2年級班級數",
            "3年級班級數",
            "1年級男學生數",
            "1年級女學生數",
            "2年級男學生數",
            "2年級女學生數",
            "3年級男學生數",
            "3年級女學生數",
        ]);
        let mapper = Mapper::new(&index, &headers, &f).unwrap();
        let rows = mapper.map(&strings(&["011301", "2", "3", "", "33", "37", "46", "50", "", ""]));
        let names: Vec<&str> = mapper.binding().columns.iter().map(|b| b.column.name).collect();
        assert_eq!(names, ["school_code", "grade", "classes", "students"]);
        assert_eq!(
            rows,
            vec![
                vec![Some("011301".into()), Some("1".into()), Some("2".into()), Some("33 + 37".into())],
                vec![Some("011301".into()), Some("2".into()), Some("3".into()), Some("46 + 50".into())],
            ]
        );
    }

    #[test]
    fn constants_fill_templates_from_cells_and_absent_columns_are_not_required() {
        let mut options = ReadOptions::default();
        options.constants.insert("school_code".into(), "{省份编码}0000".into());
        options.constants.insert("grade".into(), "1".into());
        options.absent.push("classes".into());
        options.aliases.insert("students".into(), vec!["普通小学在校学生数".into()]);
        let f = file(Table::Pupils, options);
        let index = HeaderIndex::new(Table::Pupils, &f.options);
        let mapper = Mapper::new(&index, &strings(&["省份编码", "普通小学在校学生数(万人)"]), &f).unwrap();
        assert_eq!(mapper.binding().get("students").unwrap().unit, Some(Unit::TenThousand));
        let rows = mapper.map(&strings(&["110000", "94.1614"]));
        // Constants follow the bound columns, by name: grade, then school_code.
        assert_eq!(rows[0], vec![Some("94.1614".into()), Some("1".into()), Some("1100000000".into())]);
        let mut bad = f.options.read.clone();
        bad.constants.insert("school_code".into(), "{没有}".into());
        let err =
            Mapper::new(&index, &strings(&["省份编码", "普通小学在校学生数"]), &file(Table::Pupils, bad)).unwrap_err();
        assert!(err.message.contains("没有"), "{}", err.message);
    }

    #[test]
    fn values_are_taken_out_of_cells_and_codes_padded() {
        let mut options = ReadOptions::default();
        options.aliases.insert("school_code".into(), vec!["SCHOOL".into()]);
        options.aliases.insert("county_code".into(), vec!["DISTRICT".into()]);
        options.extract.insert("school_code".into(), r"^(\d+)\s".into());
        options.pad.insert("school_code".into(), 6);
        options.pad.insert("county_code".into(), 3);
        options.constants.insert("school_name".into(), r"{SCHOOL:^\d{1,6}\s+(.+)$}".into());
        options.constants.insert("school_type".into(), "primary".into());
        options.constants.insert("area_type".into(), "urban".into());
        options.skip_where.insert("DISTRICT".into(), vec!["^District ".into()]);
        let f = file(Table::Schools, options.clone());
        let index = HeaderIndex::new(Table::Schools, &f.options);
        let mapper = Mapper::new(&index, &strings(&["DISTRICT", "SCHOOL"]), &f).unwrap();
        let row = &mapper.map(&strings(&["7", "1015   Adams Elementary  "]))[0];
        let value = |name: &str| {
            let i = mapper.binding().columns.iter().position(|b| b.column.name == name).unwrap();
            row[i].clone()
        };
        assert_eq!(value("school_code").as_deref(), Some("001015"));
        assert_eq!(value("county_code").as_deref(), Some("007"));
        assert_eq!(value("school_name").as_deref(), Some("Adams Elementary"));
        // A cell the pattern does not match is read as written: validation names it.
        let row = &mapper.map(&strings(&["7", "Adams"]))[0];
        let i = mapper.binding().columns.iter().position(|b| b.column.name == "school_code").unwrap();
        assert_eq!(row[i].as_deref(), Some("Adams"));
        assert_eq!(
            mapper.skipped_by(&strings(&["District 7 - North", ""])).unwrap(),
            "skip_where: DISTRICT matches ^District "
        );
        assert!(mapper.skipped_by(&strings(&["7", "x"])).is_none());
        // A skip_where column the file lacks is a finding, like any declared column.
        let mapper = Mapper::new(&index, &strings(&["SCHOOL", "county_code"]), &f).unwrap();
        assert_eq!(mapper.binding().lacking, vec!["the column \"DISTRICT\" of skip_where".to_owned()]);
        assert_eq!(padded("1.0", 4), "0001");
        assert_eq!(padded("A12", 6), "A12");
    }

    #[test]
    fn a_column_declared_by_its_unit_that_a_file_lacks_is_a_finding() {
        // `units = { avg_teacher_salary = "万元" }` says the files have the column: one without it
        // (and without an optional or absent saying so) is a finding, not a silent null.
        let mut options = ReadOptions::default();
        options.units.insert("avg_teacher_salary".into(), "万元".into());
        let f = file(Table::Finance, options);
        let index = HeaderIndex::new(Table::Finance, &f.options);
        let headers = [
            "财政经常性收入",
            "教育财政拨款",
            "小学生均教育事业费",
            "初中生均教育事业费",
            "小学生均公用经费",
            "初中生均公用经费",
        ];
        let mapper = Mapper::new(&index, &strings(&headers), &f).unwrap();
        assert_eq!(mapper.binding().lacking.len(), 1, "{:?}", mapper.binding().lacking);
        assert!(mapper.binding().lacking[0].contains("教职工年人均工资"), "{:?}", mapper.binding().lacking);
    }
}
