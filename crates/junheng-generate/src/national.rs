//! A synthetic country for scale tests and the benchmark: N counties × Y years of submissions in
//! the standard layout, shaped like the example county.
//!
//! Each county is the example county (`generate seed`, 2009–2018) re-drawn: its schools are
//! copied once or twice (so counties have 56–112 schools in 2018, about 70 on average: ≈ 200 000
//! schools for 2 850 counties), every school gets a size factor (log-normal, σ 0.15) and every
//! county one (σ 0.35) applied to its pupils, classes, staff, areas and equipment, and the
//! county's money totals scale with the county (per-pupil spending and salaries with a separate
//! cost factor, σ 0.2). Rounding is monotone and keeps positive counts positive, so every "a ≤ b" the contract checks within a row
//! still holds. The files keep the example's mix of English and Chinese headers and units (万元).
//! Deterministic: the same arguments give the same bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Rng;
use crate::{Error, Result};

/// Counties of the full national default.
pub const NATIONAL_COUNTIES: usize = 2850;

/// What to generate.
#[derive(Debug, Clone)]
pub struct NationalOptions {
    /// How many counties.
    pub counties: usize,
    /// How many years (the last ones of 2009–2018; at most 10).
    pub years: usize,
    /// Also (or only) write one workbook per county-year (`{county}/{year}.xlsx`).
    pub xlsx: bool,
    /// Varies every county's draw; the default reproduces the benchmark's data.
    pub seed: u64,
    /// Write the quality-balance assessment's inputs too (the three tables, the new columns and
    /// the evidence files) for the years the example has them; false gives the basic tables only.
    pub assessment: bool,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct NationalReport {
    /// Files written.
    pub files: usize,
    /// Data rows written (all tables).
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Schools in the last year.
    pub schools_last_year: u64,
}

/// One table of one year of the example county, parsed.
#[derive(Debug, Clone)]
struct Template {
    /// File name (`pupils.csv`).
    file: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// How a column is treated when a county is drawn from the example.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Keep,
    CountyCode,
    CountyName,
    SchoolCode,
    SchoolName,
    /// Scaled by the school's and the county's size.
    Size,
    /// Scaled by the county's size (county money totals).
    CountySize,
    /// Scaled by the county's cost level (per-pupil spending, salaries).
    Cost,
}

fn role(table: &str, column: &str) -> Role {
    match column {
        "year" | "年份" | "grade" | "年级" | "stage" | "学段" | "school_type" | "area_type" | "is_public"
        | "is_standardised" | "is_boarding" | "投入类别" | "项目名称" => Role::Keep,
        // A largest class is a class, not a school's size: scaling it would put it below the average.
        "largest_class" => Role::Keep,
        "county_code" | "县区代码" => Role::CountyCode,
        "county_name" => Role::CountyName,
        "school_code" | "学校标识码" | "parent_school_code" => Role::SchoolCode,
        "school_name" => Role::SchoolName,
        _ => match table {
            "survey.csv" | "质量监测.csv" => Role::Keep,
            "县级指标.csv" if column.contains("工资") || column.contains("基准定额") => Role::Cost,
            "县级指标.csv" => Role::CountySize,
            "finance.csv" if column.contains("per_pupil") || column.contains("salary") => Role::Cost,
            "finance.csv" | "investments.csv" => Role::CountySize,
            _ => Role::Size,
        },
    }
}

/// The example county's files by year, parsed (evidence files apart: they are copied as they are).
fn templates() -> Result<Vec<(i32, Vec<Template>)>> {
    let mut by_year: std::collections::BTreeMap<i32, Vec<Template>> = Default::default();
    for (relative, text) in super::seed::files() {
        // `231182/2018/pupils.csv`
        let parts: Vec<&str> = relative.split('/').collect();
        if parts.len() != 3 {
            continue;
        }
        let (Some(year), Some(file)) = (parts.get(1).and_then(|y| y.parse::<i32>().ok()), parts.get(2)) else {
            continue;
        };
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let bad = |e: csv::Error| Error::Encode { path: PathBuf::from(&relative), message: e.to_string() };
        let header = reader.headers().map_err(bad)?.iter().map(str::to_owned).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
            .collect::<std::result::Result<Vec<Vec<String>>, _>>()
            .map_err(bad)?;
        by_year.entry(year).or_default().push(Template { file: (*file).to_owned(), header, rows });
    }
    Ok(by_year.into_iter().collect())
}

/// A county's code: province (11–65 as in GB/T 2260), city and county digits, all distinct.
pub fn county_code(index: usize) -> String {
    const PROVINCES: [u32; 31] = [
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62,
        63, 64, 65,
    ];
    let province = PROVINCES[index % PROVINCES.len()];
    let within = index / PROVINCES.len();
    let (city, county) = (within / 30 + 1, within % 30 + 1);
    format!("{province:02}{city:02}{county:02}")
}

/// Scale a number as it was written (`12`, `25428.74`): monotone, same decimals.
fn scale(text: &str, factor: f64) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return text.to_owned();
    }
    match trimmed.split_once('.') {
        // A count that was positive stays at least 1 (a class of 17 pupils does not vanish).
        None => match trimmed.parse::<i64>() {
            Ok(n) if n > 0 => ((n as f64 * factor).round() as i64).max(1).to_string(),
            Ok(n) => ((n as f64 * factor).round() as i64).to_string(),
            Err(_) => text.to_owned(),
        },
        Some((_, decimals)) => match trimmed.parse::<f64>() {
            Ok(v) => format!("{:.*}", decimals.len(), v * factor),
            Err(_) => text.to_owned(),
        },
    }
}

/// One county's files for the chosen years: (relative path, CSV text) and data rows.
fn county_files(
    index: usize,
    options: &NationalOptions,
    years: &[(i32, Vec<Template>)],
) -> Vec<(String, Vec<Vec<String>>, Vec<String>)> {
    let code = county_code(index);
    let name = format!("模拟县{:04}", index + 1);
    let mut rng = Rng(options.seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let county_size = rng.log_normal(0.35);
    let cost = rng.log_normal(0.2);
    let copies = if rng.unit() < 0.25 { 2 } else { 1 };
    // Every school of the example keeps one size factor for all years (cohorts stay cohorts).
    let mut school_size: HashMap<(String, usize), f64> = HashMap::new();
    let mut out = Vec::new();
    let new_columns = super::seed::assessment::new_columns();
    for (year, tables) in years {
        for t in tables {
            if !options.assessment && super::seed::assessment::TABLE_FILES.contains(&t.file.as_str()) {
                continue;
            }
            let t = &if options.assessment { t.clone() } else { without_columns(t, &new_columns) };
            let roles: Vec<Role> = t.header.iter().map(|c| role(&t.file, c)).collect();
            let school_column = t.header.iter().position(|c| c == "school_code" || c == "学校标识码");
            let column = |name: &str| t.header.iter().position(|c| c == name);
            let largest_class = match (column("largest_class"), column("students"), column("classes")) {
                (Some(l), Some(s), Some(c)) => Some((l, s, c)),
                _ => None,
            };
            let mut rows = Vec::new();
            for copy in 0..(if school_column.is_some() { copies } else { 1 }) {
                for row in &t.rows {
                    let size = match school_column {
                        Some(i) => {
                            let key = (row[i].clone(), copy);
                            *school_size.entry(key).or_insert_with(|| rng.log_normal(0.15)) * county_size
                        }
                        None => county_size,
                    };
                    let drawn: Vec<String> = row
                        .iter()
                        .zip(&roles)
                        .map(|(cell, role)| match role {
                            Role::Keep => cell.clone(),
                            Role::CountyCode => code.clone(),
                            Role::CountyName => name.clone(),
                            // 2123118001 → copy digit, county code, serial: 2 110101 001.
                            Role::SchoolCode if cell.len() == 10 => format!("{}{code}{}", 2 + copy, &cell[7..]),
                            Role::SchoolCode => cell.clone(),
                            Role::SchoolName if copy > 0 => format!("{cell}（{}部）", ["一", "二", "三"][copy.min(2)]),
                            Role::SchoolName => cell.clone(),
                            Role::Size => scale(cell, size),
                            Role::CountySize => scale(cell, county_size),
                            Role::Cost => scale(cell, cost),
                        })
                        .collect();
                    rows.push(drawn);
                    if let Some(class) = largest_class {
                        keep_largest_class_above_average(rows.last_mut().expect("pushed"), class);
                    }
                }
            }
            out.push((format!("{code}/{year}/{}", t.file), rows, t.header.clone()));
        }
    }
    out
}

/// Scaling pupils and classes (each rounded) moves a grade's average class; its largest class is
/// kept at least that average (the contract's `largest_class_below_average`).
fn keep_largest_class_above_average(row: &mut [String], (largest, students, classes): (usize, usize, usize)) {
    let (Ok(l), Ok(s), Ok(c)) =
        (row[largest].parse::<i64>(), row[students].parse::<i64>(), row[classes].parse::<i64>())
    else {
        return;
    };
    if c > 0 && l * c < s {
        row[largest] = ((s + c - 1) / c).to_string();
    }
}

/// A template without the given columns.
fn without_columns(t: &Template, drop: &[&str]) -> Template {
    let keep: Vec<usize> = (0..t.header.len()).filter(|i| !drop.contains(&t.header[*i].as_str())).collect();
    Template {
        file: t.file.clone(),
        header: keep.iter().map(|i| t.header[*i].clone()).collect(),
        rows: t.rows.iter().map(|r| keep.iter().map(|i| r[*i].clone()).collect()).collect(),
    }
}

/// The example's evidence files of the chosen years: (path under the county, contents).
fn evidence_files(years: &[(i32, Vec<Template>)]) -> Vec<(String, String)> {
    super::seed::files()
        .into_iter()
        .filter_map(|(relative, text)| {
            let (_, rest) = relative.split_once('/')?;
            let year: i32 = rest.split('/').next()?.parse().ok()?;
            (rest.contains("/evidence/") && years.iter().any(|(y, _)| *y == year)).then(|| (rest.to_owned(), text))
        })
        .collect()
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<u64> {
    let io = |source| Error::Io { operation: "write", path: path.to_path_buf(), source };
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::with_capacity(64 * 1024));
    let csv_error = |e: csv::Error| Error::Encode { path: path.to_path_buf(), message: e.to_string() };
    writer.write_record(header).map_err(csv_error)?;
    for r in rows {
        writer.write_record(r).map_err(csv_error)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Encode { path: path.to_path_buf(), message: e.to_string() })?;
    std::fs::write(path, &bytes).map_err(io)?;
    Ok(bytes.len() as u64)
}

/// One sheet of a workbook to write: its name, header and rows.
type Sheet = (String, Vec<String>, Vec<Vec<String>>);

fn write_workbook(path: &Path, sheets: &[Sheet]) -> Result<u64> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let err = |e: rust_xlsxwriter::XlsxError| Error::Encode { path: path.to_path_buf(), message: e.to_string() };
    for (name, header, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).map_err(err)?;
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, h).map_err(err)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                // Numbers as numbers, as a statistician's template holds them; codes stay text.
                match cell.parse::<f64>() {
                    Ok(v) if cell.len() < 6 || cell.contains('.') => {
                        sheet.write_number(r as u32 + 1, c as u16, v).map_err(err)?
                    }
                    _ => sheet.write_string(r as u32 + 1, c as u16, cell).map_err(err)?,
                };
            }
        }
    }
    book.save(path).map_err(err)?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

/// Write the synthetic country under `out`, counties in parallel; `progress` is told each county.
pub fn write(out: &Path, options: &NationalOptions, progress: &(dyn Fn(usize) + Sync)) -> Result<NationalReport> {
    let all = templates()?;
    let years: Vec<(i32, Vec<Template>)> =
        all.iter().rev().take(options.years.clamp(1, all.len())).rev().cloned().collect();
    let evidence = evidence_files(&years);
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results: Vec<Result<NationalReport>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut report = NationalReport::default();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= options.counties {
                            return Ok(report);
                        }
                        let files = county_files(index, options, &years);
                        let mut books: std::collections::BTreeMap<PathBuf, Vec<Sheet>> = Default::default();
                        for (relative, rows, header) in files {
                            let path = out.join(&relative);
                            super::create_parent(&path)?;
                            report.rows += rows.len() as u64;
                            if relative.ends_with("/schools.csv")
                                && relative.contains(&format!("/{}/", years.last().map_or(0, |y| y.0)))
                            {
                                report.schools_last_year += rows.len() as u64;
                            }
                            if options.xlsx {
                                let book = path.parent().map(|p| p.with_extension("xlsx")).unwrap_or_default();
                                let sheet =
                                    relative.rsplit('/').next().unwrap_or("").trim_end_matches(".csv").to_owned();
                                books.entry(book).or_default().push((sheet, header, rows));
                            } else {
                                report.bytes += write_csv(&path, &header, &rows)?;
                                report.files += 1;
                            }
                        }
                        for (book, sheets) in books {
                            report.bytes += write_workbook(&book, &sheets)?;
                            report.files += 1;
                        }
                        for (relative, text) in evidence.iter().filter(|_| options.assessment) {
                            let path = out.join(county_code(index)).join(relative);
                            super::create_parent(&path)?;
                            std::fs::write(&path, text).map_err(|source| Error::Io {
                                operation: "write",
                                path: path.clone(),
                                source,
                            })?;
                            report.bytes += text.len() as u64;
                            report.files += 1;
                        }
                        progress(index);
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(Err(Error::Thread))).collect()
    });
    let mut total = NationalReport::default();
    for r in results {
        let r = r?;
        total.files += r.files;
        total.rows += r.rows;
        total.bytes += r.bytes;
        total.schools_last_year += r.schools_last_year;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn county_codes_are_distinct_and_six_digits() {
        let codes: std::collections::HashSet<String> = (0..NATIONAL_COUNTIES).map(county_code).collect();
        assert_eq!(codes.len(), NATIONAL_COUNTIES);
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
    }

    #[test]
    fn scaling_keeps_the_written_form_and_order() {
        assert_eq!(scale("25428.74", 2.0), "50857.48");
        assert_eq!(scale("12", 1.26), "15");
        assert_eq!(scale("", 3.0), "");
        assert_eq!(scale("1", 0.3), "1");
        assert_eq!(scale("0", 0.3), "0");
        // Monotone: a ≤ b stays a ≤ b.
        for (a, b) in [(3, 4), (10, 10), (0, 1)] {
            let f = 1.37;
            assert!(
                scale(&a.to_string(), f).parse::<i64>().unwrap() <= scale(&b.to_string(), f).parse::<i64>().unwrap()
            );
        }
    }

    #[test]
    fn a_county_is_drawn_deterministically_from_the_example() {
        let options = NationalOptions { counties: 3, years: 2, xlsx: false, seed: 7, assessment: true };
        let all = templates().unwrap();
        let years: Vec<_> = all.iter().rev().take(2).rev().cloned().collect();
        let a = county_files(1, &options, &years);
        assert_eq!(
            a.iter().map(|f| &f.1).collect::<Vec<_>>(),
            county_files(1, &options, &years).iter().map(|f| &f.1).collect::<Vec<_>>()
        );
        let schools = a.iter().find(|f| f.0.ends_with("2018/schools.csv")).unwrap();
        let code = county_code(1);
        assert!(schools.1.iter().all(|r| r[1] == code && r[3].len() == 10 && r[3][1..7] == code));
    }

    #[test]
    fn the_assessment_inputs_are_drawn_or_left_out() {
        let all = templates().unwrap();
        let years: Vec<_> = all.iter().rev().take(2).rev().cloned().collect();
        let with = NationalOptions { counties: 1, years: 2, xlsx: false, seed: 7, assessment: true };
        let files = county_files(0, &with, &years);
        assert!(files.iter().any(|f| f.0.ends_with("2018/学校经费.csv")));
        // Largest classes are kept as the example has them (never below the scaled average).
        let pupils = files.iter().find(|f| f.0.ends_with("2018/pupils.csv")).unwrap();
        let largest = pupils.2.iter().position(|c| c == "largest_class").unwrap();
        let template = &years[1].1.iter().find(|t| t.file == "pupils.csv").unwrap().rows;
        assert_eq!(pupils.1[0][largest], template[0][largest]);
        assert_eq!(evidence_files(&years).len(), 8, "the example's evidence of 2017 and 2018");
        let without = NationalOptions { assessment: false, ..with };
        let files = county_files(0, &without, &years);
        assert!(!files.iter().any(|f| f.0.contains("学校经费") || f.0.contains("质量监测")));
        assert!(files.iter().all(|f| !f.2.iter().any(|c| c == "largest_class" || c == "is_boarding")));
    }
}
