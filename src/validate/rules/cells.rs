//! Reading every cell but grades (grades depend on the county's school system, [`super::grades`]):
//! the pipeline's value maps and fills, its code patterns, sums of several cells, counts in 万.

use super::Checker;
use crate::contract::{Column, Currency, Kind, Rule, SchoolSystem, Unit};
use crate::extract::{Binding, Built, SUM_SEPARATOR};
use crate::pipeline::FileOptions;
use crate::text::{fold, is_null};
use crate::validate::Values;
use crate::validate::cell::{self, Decimal, Problem};

/// Read every cell of every column but the grade, rejecting rows whose cells cannot be read.
pub(super) fn read_cells(c: &mut Checker, currency: &'static Currency) {
    let options = c.raw.file.options.clone();
    let binding = c.raw.binding.clone();
    // The cells, apart from the checker (cheap: arrays share their buffers), so that a cell's text
    // can be read while its value is stored.
    let cells = c.raw.cells.clone();
    for (ci, column) in c.columns.iter().enumerate() {
        if column.kind == Kind::Grade {
            continue;
        }
        // A count the checker keeps as decimals is in full-time equivalents.
        let fractional = column.kind == Kind::Count && matches!(c.values[ci], Values::Decimal(_));
        let reading = Reading { fractional, ..Reading::of(&options, &binding, column, currency) };
        // The pipeline's value for an empty cell (`values = { area_type = { "" = "urban" } }`).
        let fill = options.values.get(column.name).and_then(|m| m.get(""));
        for row in 0..c.rows() {
            let text = match (cell_text(&cells, c.bound[ci], row), fill) {
                (Some(t), Some(f)) if is_null(&fold(t), &options.null_markers) => f.as_str(),
                (None, Some(f)) => f.as_str(),
                (Some(t), _) => t,
                (None, None) => continue,
            };
            let folded = fold(text);
            if is_null(&folded, &options.null_markers) {
                continue;
            }
            match reading.read(&folded, SchoolSystem::SixThree) {
                Ok(v) => v.set(&mut c.values[ci], row),
                Err(Problem::CodeNotMatching) => {
                    let (key, pattern) = match column.kind {
                        Kind::CountyCode => ("county_code_pattern", options.county_code_pattern.as_deref()),
                        _ => ("school_code_pattern", options.school_code_pattern.as_deref()),
                    };
                    let message = format!(
                        "{}: \"{}\" does not match the pipeline's {key} = {:?}",
                        c.place(row, Some(ci)),
                        shown(text),
                        pattern.unwrap_or_default()
                    );
                    let rule = problem_rule(Problem::CodeNotMatching, column.kind);
                    c.bad_cell(row, ci, text, rule, message);
                }
                Err(Problem::OtherCurrency) => {
                    let mark = Currency::strip_mark(&folded).1.unwrap_or_default();
                    let theirs: Vec<&str> =
                        crate::contract::CURRENCIES.iter().filter(|k| k.accepts(mark)).map(|k| k.code).collect();
                    let message = format!(
                        "{}: \"{}\" is marked {mark} ({}), but the pipeline's currency is {} ({}); amounts are never converted: if the whole source is in {}, declare [settings] currency = \"{}\"",
                        c.place(row, Some(ci)),
                        shown(text),
                        theirs.join(" or "),
                        currency.code,
                        currency.name,
                        theirs.join(" or "),
                        theirs.first().copied().unwrap_or_default(),
                    );
                    c.bad_cell(row, ci, text, Rule::CurrencyMismatch, message);
                }
                Err(problem) => {
                    let mut message =
                        format!("{}: \"{}\" {}", c.place(row, Some(ci)), shown(text), problem_message(problem, column));
                    if problem == Problem::NotWholeNumber && c.table.counts_staff(column) {
                        message.push_str(
                            "; if the source counts staff in full-time equivalents, declare [settings] teacher_counts = \"fte\"",
                        );
                    }
                    c.bad_cell(row, ci, text, problem_rule(problem, column.kind), message);
                }
            }
        }
    }
}

/// A cell's text as a message quotes it: trimmed (sources pad cells with spaces), and cut after
/// 60 characters.
pub(super) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let t = text.trim();
    match t.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &t[..end]).into(),
        None => t.into(),
    }
}

/// The text of a contract column's cell (None when the column is not bound or the cell absent).
pub(super) fn cell_text(cells: &[arrow::array::StringArray], bound: Option<usize>, row: usize) -> Option<&str> {
    use arrow::array::Array;
    let a = &cells[bound?];
    (!a.is_null(row)).then(|| a.value(row))
}

/// The rule a cell problem breaks.
pub(super) fn problem_rule(problem: Problem, kind: Kind) -> Rule {
    match problem {
        Problem::NotWholeNumber => Rule::NotAWholeNumber,
        Problem::NotNumber => Rule::NotANumber,
        Problem::Negative => Rule::NegativeValue,
        Problem::BadYear => Rule::InvalidYear,
        Problem::BadCode { .. } | Problem::CodeNotMatching if kind == Kind::CountyCode => Rule::InvalidCountyCode,
        Problem::BadCode { .. } | Problem::CodeNotMatching => Rule::InvalidSchoolCode,
        Problem::UnknownValue => Rule::UnknownEnumValue,
        Problem::NotBoolean => Rule::NotABoolean,
        Problem::BadGrade => Rule::InvalidGrade,
        Problem::BadLevel => Rule::InvalidLevel,
        Problem::OtherCurrency => Rule::CurrencyMismatch,
    }
}

/// The plain-words explanation of a cell problem (after `place: "value"`).
pub(super) fn problem_message(problem: Problem, column: &Column) -> String {
    match problem {
        Problem::NotWholeNumber => "is not a whole number".into(),
        Problem::NotNumber => "is not a number".into(),
        Problem::Negative => "is negative; counts, areas and amounts cannot be below zero".into(),
        Problem::BadYear => "is not a year between 1990 and 2100 (e.g. 2018 or 2018-2019)".into(),
        Problem::BadCode { digits: 6 } => "is not a 6-digit county code".into(),
        Problem::BadCode { digits } => {
            format!("is not a {digits}-digit school code (if leading zeros were lost, format the column as text)")
        }
        Problem::CodeNotMatching => "does not match the pipeline's code pattern".into(),
        Problem::UnknownValue => match column.kind {
            Kind::Enum(def) => format!("is not one of: {}", def.describe()),
            _ => "is not an accepted value".into(),
        },
        Problem::NotBoolean => "is not a yes/no value (是/否, Y/N)".into(),
        Problem::BadGrade => "is not a grade 1–9 (一年级…九年级, 初一…初三)".into(),
        Problem::BadLevel => "is not a level Ⅰ–Ⅳ (1–4, I–IV, 一级…四级, 水平Ⅲ)".into(),
        Problem::OtherCurrency => "is an amount in another currency than the pipeline's".into(),
    }
}

/// How the cells of one column of a batch are read: its kind and unit, whether it is a sum of
/// several cells, and the pipeline's value map and code pattern (compiled once per table source).
struct Reading<'a> {
    kind: Kind,
    unit: Option<Unit>,
    sum: bool,
    values: Option<&'a std::collections::BTreeMap<String, String>>,
    pattern: Option<&'a regex::Regex>,
    roc: bool,
    /// A staff count in full-time equivalents: a number ≥ 0, not only a whole one.
    fractional: bool,
    /// The pipeline's currency: an amount may carry its marks (`$`, `¥`), never another's.
    currency: &'static Currency,
}

impl<'a> Reading<'a> {
    fn of(options: &'a FileOptions, binding: &Binding, column: &Column, currency: &'static Currency) -> Reading<'a> {
        let bound = binding.get(column.name);
        Reading {
            kind: column.kind,
            unit: bound.and_then(|b| b.unit).or_else(|| options.unit(column.name)),
            sum: bound.is_some_and(|b| b.built == Built::Sum),
            values: options.values.get(column.name),
            pattern: match column.kind {
                Kind::SchoolCode => options.school_code.as_ref(),
                Kind::CountyCode => options.county_code.as_ref(),
                _ => None,
            },
            roc: options.roc_years.unwrap_or(false),
            fractional: false,
            currency,
        }
    }

    fn read(&self, folded: &str, system: SchoolSystem) -> Result<Value, Problem> {
        let mapped = self.values.and_then(|m| m.get(folded)).map(String::as_str).unwrap_or(folded);
        // An amount may carry its currency's mark (`$7,884`, `¥1,000`, `1000元`), never another's.
        let mapped = match self.kind {
            Kind::Money if !self.sum => match Currency::strip_mark(mapped) {
                (_, Some(mark)) if !self.currency.accepts(mark) => return Err(Problem::OtherCurrency),
                (amount, _) => amount,
            },
            _ => mapped,
        };
        match self.kind {
            Kind::CountyCode | Kind::SchoolCode if self.pattern.is_some() => {
                let t = mapped.strip_suffix(".0").unwrap_or(mapped);
                let re = self.pattern.expect("checked");
                if re.find(t).is_some_and(|m| m.start() == 0 && m.end() == t.len()) {
                    Ok(Value::Text(t.to_owned()))
                } else {
                    Err(Problem::CodeNotMatching)
                }
            }
            // Several source cells summed (boys + girls): read each part, add them up.
            Kind::Count | Kind::Money | Kind::Area if self.sum => self.read_sum(mapped, system),
            // A count stated in 万 (万人) is read as persons.
            Kind::Count if self.unit == Some(Unit::TenThousand) => read_ten_thousands(mapped),
            // Full-time equivalents (`62.50`) are read as written, as areas are.
            Kind::Count if self.fractional => read_value(mapped, Kind::Area, self.roc, system),
            _ => read_value(mapped, self.kind, self.roc, system),
        }
    }

    /// The sum of the parts of a summed cell (`33 + 37`); empty parts are not reported.
    fn read_sum(&self, mapped: &str, system: SchoolSystem) -> Result<Value, Problem> {
        let part_reading = Reading { sum: false, ..*self };
        let mut total: Option<Value> = None;
        for part in mapped.split(SUM_SEPARATOR) {
            let part = fold(part);
            if is_null(&part, &[]) {
                continue;
            }
            let v = part_reading.read(&part, system)?;
            total = Some(match (total, v) {
                (None, v) => v,
                (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a + b),
                (Some(Value::Decimal(a)), Value::Decimal(b)) => Value::Decimal(add(a, b).ok_or(Problem::NotNumber)?),
                _ => return Err(Problem::NotNumber),
            });
        }
        total.ok_or(Problem::NotNumber)
    }
}

/// A count stated in 万 (`94.1614` 万人) as persons.
fn read_ten_thousands(text: &str) -> Result<Value, Problem> {
    let d = cell::read_decimal(text).map_err(|_| Problem::NotNumber)?;
    if d.is_negative() {
        return Err(Problem::Negative);
    }
    d.rescale(0).map(|_| ()).ok_or(Problem::NotNumber)?;
    let persons = Decimal { mantissa: d.mantissa * 10_000, scale: d.scale }.rescale(0).ok_or(Problem::NotNumber)?;
    i64::try_from(persons).map(Value::Int).map_err(|_| Problem::NotNumber)
}

fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    let scale = a.scale.max(b.scale);
    Some(Decimal { mantissa: a.rescale(scale)?.checked_add(b.rescale(scale)?)?, scale })
}

/// A value read from a cell.
enum Value {
    Int(i64),
    Decimal(Decimal),
    Text(String),
    Bool(bool),
}

impl Value {
    /// Store the value at a row of its column (the value's kind follows the column's).
    fn set(self, values: &mut Values, row: usize) {
        match (values, self) {
            (Values::Int(v), Value::Int(x)) => v[row] = Some(x),
            (Values::Decimal(v), Value::Decimal(x)) => v[row] = Some(x),
            // A whole number in a column of decimals: a count in 万 (read as whole persons) in a
            // column of full-time equivalents.
            (Values::Decimal(v), Value::Int(x)) => v[row] = Some(Decimal { mantissa: x.into(), scale: 0 }),
            (Values::Text(v), Value::Text(x)) => v[row] = Some(x),
            (Values::Bool(v), Value::Bool(x)) => v[row] = Some(x),
            // Unreachable: `Values::for_kind` and `read_value` follow the same column kind.
            _ => {}
        }
    }
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
        Kind::Level => Value::Int(cell::read_level(folded)?),
        Kind::Area | Kind::Money | Kind::Rate => {
            let d = cell::read_decimal(folded)?;
            if d.is_negative() {
                return Err(Problem::Negative);
            }
            Value::Decimal(d)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, rules};
    use super::super::{Checker, cells};
    use crate::contract::Table;
    use crate::pipeline::ReadOptions;

    fn read(options: ReadOptions, headers: &[&str], rows: &[&[&str]]) -> crate::validate::CheckedBatch {
        let mut c = Checker::new(batch(Table::Pupils, options, headers, rows));
        cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
        c.finish()
    }

    #[test]
    fn staff_in_full_time_equivalents_are_numbers_and_persons_are_whole() {
        use crate::pipeline::TeacherCounts;
        let teachers = |counts: TeacherCounts, cells: &[&str]| {
            let rows: Vec<Vec<&str>> = cells.iter().map(|v| vec!["2318000001", "primary", *v, "12 + 0.5"]).collect();
            let rows: Vec<&[&str]> = rows.iter().map(|r| &r[..]).collect();
            let headers = ["school_code", "stage", "full_time_teachers", "backbone_teachers=sum"];
            let mut c = Checker::with_staff(batch(Table::Teachers, ReadOptions::default(), &headers, &rows), counts);
            cells::read_cells(&mut c, &crate::contract::CURRENCIES[0]);
            c.finish()
        };
        // Rows from 2: "abc" is row 4, "-1" row 5.
        let fte = teachers(TeacherCounts::Fte, &["62.50", "8", "abc", "-1"]);
        let read: Vec<Option<f64>> = (0..2).map(|r| fte.column("full_time_teachers").number(r)).collect();
        assert_eq!(read, [Some(62.5), Some(8.0)]);
        // A sum of parts adds full-time equivalents too (12 + 0.5).
        assert_eq!(fte.column("backbone_teachers").number(0), Some(12.5));
        assert_eq!(rules(&fte), [(4, "not_a_number"), (5, "negative_value")]);
        // Counted in persons, 62.50 is not a whole number, and the message says how to declare FTE;
        // row 2's backbone sum 12 + 0.5 is the second finding of that row.
        let persons = teachers(TeacherCounts::Headcount, &["62.50", "8"]);
        assert_eq!(persons.column("full_time_teachers").number(1), Some(8.0));
        let whole: Vec<_> = rules(&persons).into_iter().filter(|(row, _)| *row == 2).collect();
        assert_eq!(whole, [(2, "not_a_whole_number"), (2, "not_a_whole_number")]);
        assert!(persons.findings[0].message.contains("teacher_counts = \"fte\""), "{}", persons.findings[0].message);
    }

    #[test]
    fn amounts_carry_their_currency_mark_never_another() {
        let finance = |currency: &str, cells: &[&str]| {
            let mut c = Checker::new(batch(
                Table::Finance,
                ReadOptions::default(),
                &["county_code", "recurrent_revenue"],
                &cells
                    .iter()
                    .map(|v| vec!["231182", *v])
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|r| &r[..])
                    .collect::<Vec<_>>(),
            ));
            cells::read_cells(&mut c, crate::contract::Currency::of(currency).unwrap());
            c.finish()
        };
        // The test batch numbers its rows from 2 (the header is row 1): "¥100", the fourth amount,
        // is row 5; "$7,884" below, the third, is row 4.
        let usd = finance("USD", &["$7,884", "US$ 1,000.50", "12 USD", "¥100"]);
        let amounts: Vec<Option<f64>> = (0..3).map(|r| usd.column("recurrent_revenue").number(r)).collect();
        assert_eq!(amounts, [Some(7884.0), Some(1000.5), Some(12.0)]);
        assert_eq!(rules(&usd), [(5, "currency_mismatch")]);
        assert!(
            usd.findings[0].message.contains("\"¥100\" is marked ¥ (CNY or JPY), but the pipeline's currency is USD"),
            "{}",
            usd.findings[0].message
        );
        // The default, CNY: ¥ and 元 are its own; a dollar amount is never read as yuan.
        let cny = finance("CNY", &["¥1,000", "1000元", "$7,884"]);
        assert_eq!(rules(&cny), [(4, "currency_mismatch")]);
        assert!(
            cny.findings[0].message.contains("declare [settings] currency = \"USD\""),
            "{}",
            cny.findings[0].message
        );
    }

    #[test]
    fn cells_are_read_or_rejected_with_their_rule() {
        let b = read(
            ReadOptions::default(),
            &["school_code", "students", "classes"],
            &[&["2311820001", "４５", "1"], &["2311820001", "12o", "-1"], &["231182001", "—", ""]],
        );
        assert_eq!(b.column("students").int(0), Some(45), "full-width digits");
        assert_eq!(b.column("students").int(2), None, "— is not reported, never zero");
        // Column by column, as the cells are read.
        assert_eq!(rules(&b), [(4, "invalid_school_code"), (3, "not_a_whole_number"), (3, "negative_value")]);
        assert_eq!(b.rejected, [false, true, true]);
        assert!(
            b.findings[1].message.contains("231182/2018/x.csv row 3, column 在校生数: \"12o\" is not a whole number")
        );
    }

    #[test]
    fn sums_value_maps_fills_and_patterns_come_from_the_pipeline() {
        let mut options = ReadOptions::default();
        options.values.insert("students".into(), [("many".to_owned(), "99".to_owned())].into());
        options.values.insert("classes".into(), [("".to_owned(), "1".to_owned())].into());
        options.school_code_pattern = Some("[0-9]{2}[A-Z][0-9]{3}".into());
        let b = read(
            options,
            &["school_code", "students=sum", "classes"],
            &[&["01M015", "33 + 37", ""], &["01M016", "many", "2"], &["1", "4", "-"]],
        );
        assert_eq!(b.column("students").int(0), Some(70), "a sum of two cells");
        assert_eq!(b.column("classes").int(0), Some(1), "an empty cell filled by the pipeline");
        assert_eq!(b.column("students").int(1), Some(99), "a mapped value");
        assert_eq!(b.column("students").int(2), Some(4), "a sum of one cell");
        assert_eq!(b.column("classes").int(2), Some(1), "a null marker filled too");
        assert_eq!(rules(&b), [(4, "invalid_school_code")]);
    }

    #[test]
    fn a_plus_inside_a_plain_cell_is_not_a_sum() {
        let b = read(ReadOptions::default(), &["school_code", "students"], &[&["2311820001", "3 + 4"]]);
        assert_eq!(rules(&b), [(2, "not_a_whole_number")]);
    }
}
