//! The reference of every pipeline-file key: section, key, what it takes and what it does.
//! `junheng pipeline keys` prints it and `docs/pipeline-keys.md` is it; a test holds it to the
//! keys serde accepts, section by section, so the reference cannot drift from the code.

use std::fmt::Write as _;

/// One key of a section.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as written.
    pub key: &'static str,
    /// What value it takes (`text`, `true/false`, `{ column = [headers] }` …).
    pub takes: &'static str,
    /// What it does, in a sentence or two.
    pub does: &'static str,
}

/// One section of the pipeline file and its keys.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The section as written in TOML (`source`, `tables.<table>`), "" for the top level.
    pub name: &'static str,
    /// What the section is for.
    pub about: &'static str,
    /// Its keys, in the order a reader meets them.
    pub keys: &'static [Key],
}

const fn key(key: &'static str, takes: &'static str, does: &'static str) -> Key {
    Key { key, takes, does }
}

/// How a file is read: the keys `[source]` and every table entry share (an entry's value wins;
/// lists and maps add to the source's).
const READING: &[Key] = &[
    key("format", "\"csv\" | \"json\"", "The file format (default: from the file extension; .xlsx is a workbook)."),
    key(
        "encoding",
        "text",
        "`utf-8`, `gbk`, `gb18030`, `windows-1252`, `utf-16le` … (default: detected; a file whose encoding cannot be told with confidence is refused until this is set).",
    ),
    key("delimiter", "text", "`,`, `;`, `\\t` or `|` (default: detected from the first lines)."),
    key("header_row", "number", "1-based row of the header (default: detected; title rows above it are skipped)."),
    key("skip_rows", "number", "Rows at the top of the file or sheet to ignore before looking for the header."),
    key(
        "sheet",
        "text",
        "The workbook sheet to read, by name or 1-based position (default: the sheet named after the table).",
    ),
    key(
        "null_markers",
        "[text]",
        "Extra cell values meaning \"not reported\" (`N/A`, `†` …), on top of `-`, `—`, `/`, `…`, `无` and empty.",
    ),
    key(
        "aliases",
        "{ column = [headers] }",
        "Headers the file uses for a contract column (`school_code = [\"School Code\"]`).",
    ),
    key(
        "units",
        "{ column = unit }",
        "Units of columns whose headers do not state them (`equipment_value = \"万元\"`).",
    ),
    key(
        "constants",
        "{ column = text }",
        "Values for columns the file lacks; `{HEADER}` quotes a cell, `{HEADER:pattern}` a part of it (`school_name = \"{SCHOOL:^\\d{6}\\s+(.+)$}\"`).",
    ),
    key(
        "extract",
        "{ column = pattern }",
        "Take the value out of a cell by regular expression (first group, or the whole match); a cell it does not match is read as written.",
    ),
    key(
        "pad",
        "{ column = width }",
        "Zero-pad digit values to a width, after `extract` (`school_code = 6`: `1015` → `001015`).",
    ),
    key(
        "skip_where",
        "{ column = [patterns] }",
        "Rows that are not data: a row whose cell (by contract name or header) matches a pattern is skipped and listed in the ledger.",
    ),
    key(
        "total_rows",
        "[patterns]",
        "More total-row markers besides 合计/总计/小计/Total: such rows are checked against the rows above them and not published.",
    ),
    key("roc_years", "true/false", "Years are written in the Republic-of-China calendar (`113` = 2024)."),
    key("absent", "[columns]", "Contract columns the source does not have: not required, published as null."),
    key(
        "optional",
        "[columns]",
        "Columns some files have and others lack (two schema generations): a file without one reads it as absent, with no finding.",
    ),
    key(
        "sums",
        "{ column = [headers] }",
        "A contract column that is the sum of several source columns (boys + girls).",
    ),
    key(
        "wide",
        "{ grades, columns, once, zero_means_not_taught }",
        "Grades given as columns, one row per school (see [wide]).",
    ),
    key(
        "values",
        "{ column = { source = contract } }",
        "Source values meaning a contract value (`area_type = { \"偏遠\" = \"rural\" }`; \"\" fills empty cells).",
    ),
    key("school_code_pattern", "pattern", "A regular expression school codes must match instead of 10 digits."),
    key("county_code_pattern", "pattern", "A regular expression county codes must match instead of 6 digits."),
];

/// Where the store is and how to reach it (`[source.storage]`, `[output.storage]`).
const STORAGE: &[Key] = &[
    key("endpoint", "URL", "Endpoint of an S3-compatible server (`http://127.0.0.1:9000`)."),
    key("region", "text", "The store's region."),
    key("allow_http", "true/false", "Allow plain HTTP (local servers)."),
    key("virtual_hosted_style", "true/false", "`bucket.host` requests instead of `host/bucket`."),
    key("max_retries", "number", "How many times a failed request is retried (default 5)."),
    key("retry_timeout_seconds", "number", "Give up retrying a request after this many seconds (default 60)."),
];

/// Every section of the pipeline file, in the order a file is usually written.
pub const SECTIONS: &[Section] = &[
    Section {
        name: "",
        about: "The top level of the file.",
        keys: &[
            key("name", "text", "The pipeline's name (default: the file name); the ledger and `runs` show it."),
            key("description", "text", "What the pipeline is for (not used by junheng)."),
            key("source", "section", "Where the submission is and how it is read."),
            key("output", "section", "Where the published tables go."),
            key("settings", "section", "Methodology settings."),
            key("standards", "section", "Per-pipeline values of the standards (thresholds) the marts compare with."),
            key("tables", "section", "Per-table entries: where each table's files are and how they differ."),
            key("quality", "section", "How much rejection a run tolerates."),
            key("schedule", "section", "When `junheng schedule` runs the pipeline."),
            key("report", "section", "The HTML report written with each run."),
        ],
    },
    Section {
        name: "source",
        about: "Where the submission is and how every table's files are read (each key of the reading options is a default for the table entries).",
        keys: &[
            key("url", "URL or folder", "The source: a folder (relative to the pipeline file), `s3://bucket/prefix` …"),
            key(
                "layout",
                "\"standard\" | \"templates\"",
                "`standard` (`<county>/<year>/<table>.csv`) or `templates` (every table entry has a path); default: templates when any entry has a path.",
            ),
            key("path", "template", "One path template for every table (`{county_code}/{year}/{table}.csv`)."),
            key("storage", "section", "How to reach the store (see [source.storage])."),
            key("evidence", "template", "The evidence folder of a county-year (`{county_code}/{year}/佐证材料`)."),
        ],
    },
    Section {
        name: "source.storage",
        about: "How to reach the source's store; credentials only ever come from the environment.",
        keys: STORAGE,
    },
    Section {
        name: "tables.<table>",
        about: "One entry per kind of file of a table (`[tables.pupils]`, or `[[tables.pupils]]` several times); besides these, every reading option of [source].",
        keys: &[
            key(
                "path",
                "template",
                "Where the entry's files are: `{county_code}`, `{year}`, `{table}` and `*` (`{county_code}/{year}/学生.csv`).",
            ),
            key(
                "years",
                "\"2005-2012\" | \"2013-\" | 2016 | [2016, 2018]",
                "The years (by the path's `{year}`) this entry claims; two entries of one table must never claim the same file.",
            ),
        ],
    },
    Section {
        name: "reading options",
        about: "Keys of [source] and of every table entry: how a file is read.",
        keys: READING,
    },
    Section {
        name: "wide",
        about: "Grades given as columns (`wide = { … }` in [source] or a table entry): each source row becomes one row per grade.",
        keys: &[
            key("grades", "[numbers]", "The grades (`[1, 2, 3, 4, 5, 6]`)."),
            key(
                "columns",
                "{ column = [patterns] }",
                "Per contract column, header patterns with `{g}` (grade number) or `{g_zh}` (一…九); several patterns are summed.",
            ),
            key(
                "once",
                "[columns]",
                "Columns stated once per source row (school totals): kept on the first grade row only.",
            ),
            key("zero_means_not_taught", "true/false", "A grade whose columns are all 0 is not taught (no row)."),
        ],
    },
    Section {
        name: "output",
        about: "Where the published tables go (`--out` overrides it).",
        keys: &[
            key(
                "url",
                "URL or folder",
                "The output: a folder (relative to the pipeline file) or `s3://bucket/prefix`.",
            ),
            key("storage", "section", "How to reach the store (as [source.storage])."),
        ],
    },
    Section { name: "output.storage", about: "How to reach the output's store.", keys: STORAGE },
    Section {
        name: "settings",
        about: "Methodology settings (methodology.md), each with its default.",
        keys: &[
            key(
                "school_system",
                "\"6-3\" | \"5-4\"",
                "The school system (学制) of every county not listed below (default 6-3).",
            ),
            key("school_system_by_county", "{ county = \"5-4\" }", "Per-county school systems."),
            key(
                "apportion_junior_weight",
                "number",
                "Weight of a junior pupil when a multi-stage school's facilities without a stage are apportioned by enrolment (default 1).",
            ),
            key(
                "teaching_points",
                "\"merge_into_parent\" | \"separate\" | \"exclude\"",
                "How teaching points enter the balance indicators (default merge_into_parent).",
            ),
            key("retention_definition", "\"cohort\" | \"adjusted\"", "The retention formula (default cohort)."),
            key(
                "teachers_without_stage",
                "\"reject\" | \"apportion_by_pupils\"",
                "A multi-stage school's teachers row without a stage: a stage_required error (default), or the school's teachers split between its stages by its pupils, in whole teachers (hundredths with teacher_counts = \"fte\").",
            ),
            key(
                "teacher_counts",
                "\"headcount\" | \"fte\"",
                "How the teachers table counts staff: persons, whole numbers (default), or full-time equivalents (`62.50`), published as float64; an apportioned school's FTE parts are rounded to hundredths.",
            ),
            key(
                "currency",
                "ISO 4217 code",
                "The currency of every amount (default CNY; USD, TWD, HKD, EUR, GBP, JPY, CAD, AUD). Never converted: a cell may carry its marks (`$7,884`), another currency's is a finding; the marts say the currency; standards in 元 apply only to CNY.",
            ),
        ],
    },
    Section {
        name: "standards",
        about: "Per-pipeline standard values: `<indicator> = value` or `<indicator> = { primary = value, junior = value }` (the indicators of sql/reference/thresholds.csv).",
        keys: &[],
    },
    Section {
        name: "quality",
        about: "How much rejection a run tolerates before it exits 1.",
        keys: &[key("max_rejected_rows", "number", "Rejected rows a run may have and still exit 0 (default 0).")],
    },
    Section {
        name: "schedule",
        about: "When `junheng schedule` runs the pipeline.",
        keys: &[key("cron", "cron expression", "`0 2 * * *` (minute hour day month weekday; seconds may come first).")],
    },
    Section {
        name: "report",
        about: "The HTML report each run writes into its version (report/).",
        keys: &[
            key("enabled", "true/false", "Write the report with each run (default true)."),
            key(
                "language",
                "`zh` or `en`",
                "The report's language: Chinese (default, with English glosses under its headings) or English, for a source that is not Chinese.",
            ),
        ],
    },
];

/// The reference as Markdown (what `docs/pipeline-keys.md` holds).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Pipeline file keys\n\nEvery key a pipeline file (`pipelines/*.toml`) accepts, by section. Generated by \
         `junheng pipeline keys --markdown` from the code (a test holds it to the keys the parser accepts); do not \
         edit by hand.\n",
    );
    for section in SECTIONS {
        let title = if section.name.is_empty() { "top level".to_owned() } else { format!("[{}]", section.name) };
        let _ = write!(out, "\n## {title}\n\n{}\n", section.about);
        if section.keys.is_empty() {
            continue;
        }
        out.push_str("\n| key | takes | what it does |\n|---|---|---|\n");
        for k in section.keys {
            let cell = |s: &str| s.replace('|', "\\|");
            let _ = writeln!(out, "| `{}` | {} | {} |", k.key, cell(k.takes), cell(k.does));
        }
    }
    out
}

/// The reference as text for a terminal.
pub fn text() -> String {
    let mut out = String::new();
    for section in SECTIONS {
        let title = if section.name.is_empty() { "top level".to_owned() } else { format!("[{}]", section.name) };
        let _ = writeln!(out, "{title}\n  {}", section.about);
        for k in section.keys {
            let _ = writeln!(out, "  {:<24} {}\n  {:<24} {}", k.key, k.takes, "", k.does);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn listed(name: &str) -> BTreeSet<&'static str> {
        SECTIONS.iter().find(|s| s.name == name).unwrap().keys.iter().map(|k| k.key).collect()
    }

    #[test]
    fn the_reference_lists_exactly_the_keys_the_parser_accepts() {
        let reading: BTreeSet<_> = READING.iter().map(|k| k.key).collect();
        let source: BTreeSet<_> = listed("source").union(&reading).copied().collect();
        let table: BTreeSet<_> = listed("tables.<table>").union(&reading).copied().collect();
        for (section, accepted) in super::super::file::accepted_keys() {
            let documented = match section {
                "source" => source.clone(),
                "tables.<table>" => table.clone(),
                other => listed(other),
            };
            let accepted: BTreeSet<_> = accepted.into_iter().collect();
            assert_eq!(documented, accepted, "section [{section}]: documented (left) vs accepted (right)");
        }
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../docs/pipeline-keys.md");
        assert!(
            committed == markdown(),
            "docs/pipeline-keys.md is stale: run `junheng pipeline keys --markdown > docs/pipeline-keys.md`"
        );
    }
}
