//! Reading one cell's text as the value its column holds — pure functions, no context.
//!
//! These decide *what a submitted cell says*: `１,２３４` is 1234, `—` is "not reported", `98.4%` is
//! 0.984, `初一` is the first junior grade. They never convert units (that is normalise's job)
//! and never look at other cells (that is the row rules' job). A cell that cannot be read gives a
//! [`Problem`], which validate turns into a finding.

use std::borrow::Cow;

use crate::contract::{EnumDef, SchoolSystem};
pub use crate::text::{NULL_MARKERS, fold, is_null};

/// Why a cell could not be read. Each maps to a stable rule id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not a whole number (`12o`, `3.5`).
    NotWholeNumber,
    /// Not a number at all.
    NotNumber,
    /// A number below zero where only ≥ 0 is allowed.
    Negative,
    /// Not a 4-digit year in range, or a school-year form we know.
    BadYear,
    /// A code with the wrong number of digits or non-digits.
    BadCode {
        /// The digits expected.
        digits: usize,
    },
    /// A code that does not match the pipeline's `county_code_pattern` / `school_code_pattern`.
    CodeNotMatching,
    /// Not one of the enum's values.
    UnknownValue,
    /// Not a yes/no value.
    NotBoolean,
    /// Not a grade 1–9 or a grade name.
    BadGrade,
    /// Not a level 1–4 as monitoring reports write it.
    BadLevel,
    /// An amount marked with another currency than the pipeline's (`$7,884` under CNY).
    OtherCurrency,
}

/// A decimal number read exactly: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits as an integer.
    pub mantissa: i128,
    /// How many of them are after the decimal point.
    pub scale: u32,
}

impl Decimal {
    /// The nearest f64.
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    /// The value rescaled to `scale` digits, rounding half away from zero; None on overflow.
    pub fn rescale(self, scale: u32) -> Option<i128> {
        if scale >= self.scale {
            self.mantissa.checked_mul(10i128.checked_pow(scale - self.scale)?)
        } else {
            let div = 10i128.checked_pow(self.scale - scale)?;
            let (q, r) = (self.mantissa / div, self.mantissa % div);
            Some(if r.abs() * 2 >= div { q + self.mantissa.signum() } else { q })
        }
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }
}

/// Read a plain decimal: optional sign, digits with optional `,` thousands groups, optional
/// fraction, optional exponent (`1.5E+05`, as Excel writes large numbers), optional trailing `%`.
pub fn read_decimal(folded: &str) -> Result<Decimal, Problem> {
    let (body, percent) = match folded.strip_suffix('%') {
        Some(b) => (b.trim_end(), true),
        None => (folded, false),
    };
    let (negative, body) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let (number, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = body[i + 1..].parse().map_err(|_| Problem::NotNumber)?;
            (&body[..i], exp)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(Problem::NotNumber);
    }
    let int_digits = strip_thousands(int_part).ok_or(Problem::NotNumber)?;
    if !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotNumber);
    }
    let mut mantissa: i128 = 0;
    for b in int_digits.bytes().chain(frac_part.bytes()) {
        mantissa =
            mantissa.checked_mul(10).and_then(|m| m.checked_add((b - b'0') as i128)).ok_or(Problem::NotNumber)?;
    }
    let mut scale = frac_part.len() as i32 - exponent + if percent { 2 } else { 0 };
    while scale < 0 {
        mantissa = mantissa.checked_mul(10).ok_or(Problem::NotNumber)?;
        scale += 1;
    }
    if scale > 30 {
        return Err(Problem::NotNumber);
    }
    Ok(Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale: scale as u32 })
}

/// Digits of an integer part written with or without `,` thousands separators (`1,234,567`).
fn strip_thousands(int_part: &str) -> Option<Cow<'_, str>> {
    if int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Cow::Borrowed(int_part));
    }
    let groups: Vec<&str> = int_part.split(',').collect();
    let well_formed = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then(|| Cow::Owned(groups.concat()))
}

/// Read a whole number (`1,234`, `１２`, `12.0`); fractions are a problem, not rounded.
pub fn read_whole(folded: &str) -> Result<i64, Problem> {
    if folded.ends_with('%') {
        return Err(Problem::NotWholeNumber);
    }
    let d = read_decimal(folded).map_err(|_| Problem::NotWholeNumber)?;
    let div = 10i128.pow(d.scale);
    if d.mantissa % div != 0 {
        return Err(Problem::NotWholeNumber);
    }
    i64::try_from(d.mantissa / div).map_err(|_| Problem::NotWholeNumber)
}

/// Read a count: a whole number ≥ 0.
pub fn read_count(folded: &str) -> Result<i64, Problem> {
    let n = read_whole(folded)?;
    if n < 0 { Err(Problem::Negative) } else { Ok(n) }
}

/// Read a year: `2018`, `2018年`, a school year `2016-2017`, `2016-17`, `2016/17`, `20162017`
/// or `2016-2017学年` (→ 2016, the autumn census year). `roc` reads Republic-of-China years
/// (`113` → 2024) as Taiwanese sources write them.
pub fn read_year(folded: &str, roc: bool) -> Result<i32, Problem> {
    let t = folded
        .trim_end_matches("学年度")
        .trim_end_matches("學年度")
        .trim_end_matches("学年")
        .trim_end_matches('年')
        .trim();
    // A date (a workbook's date cell, `2018-09-01`): its year.
    let b = t.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
        let year: i32 = t[..4].parse().map_err(|_| Problem::BadYear)?;
        return if (1990..=2100).contains(&year) { Ok(year) } else { Err(Problem::BadYear) };
    }
    let year: i32 = if roc {
        let n = read_whole(t).map_err(|_| Problem::BadYear)?;
        i32::try_from(n).map_err(|_| Problem::BadYear)? + 1911
    } else if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        // 20132014: a school year written as two years; the second must follow the first.
        let (a, b): (i32, i32) = (t[..4].parse().unwrap_or(0), t[4..].parse().unwrap_or(0));
        if b != a + 1 {
            return Err(Problem::BadYear);
        }
        a
    } else if let Some((a, b)) = t.split_once(['-', '/', '–']) {
        let a: i32 = a.trim().parse().map_err(|_| Problem::BadYear)?;
        let b = b.trim();
        let next_ok = match b.len() {
            4 => b.parse::<i32>().ok() == Some(a + 1),
            2 => b.parse::<i32>().ok() == Some((a + 1) % 100),
            _ => false,
        };
        if !next_ok {
            return Err(Problem::BadYear);
        }
        a
    } else {
        let n = read_whole(t).map_err(|_| Problem::BadYear)?;
        i32::try_from(n).map_err(|_| Problem::BadYear)?
    };
    if (1990..=2100).contains(&year) { Ok(year) } else { Err(Problem::BadYear) }
}

/// Read a code of exactly `digits` digits, keeping leading zeros. Excel's `2311820001.0` is
/// accepted; a code that lost its leading zeros is not (it would be a different code).
pub fn read_code(folded: &str, digits: usize) -> Result<String, Problem> {
    let t = folded.strip_suffix(".0").unwrap_or(folded);
    if t.len() == digits && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_owned())
    } else {
        Err(Problem::BadCode { digits })
    }
}

/// Read a yes/no value: 是/否, Y/N, yes/no, true/false, 1/0, 公办/民办.
pub fn read_bool(folded: &str) -> Result<bool, Problem> {
    match folded.to_ascii_lowercase().as_str() {
        "是" | "y" | "yes" | "true" | "t" | "1" | "公办" | "√" | "✓" => Ok(true),
        "否" | "n" | "no" | "false" | "f" | "0" | "民办" | "×" => Ok(false),
        _ => Err(Problem::NotBoolean),
    }
}

/// Read an enum value given in English or Chinese.
pub fn read_enum(folded: &str, def: &EnumDef) -> Result<&'static str, Problem> {
    def.lookup(folded).ok_or(Problem::UnknownValue)
}

const CHINESE_NUMERALS: [&str; 9] = ["一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// Read a grade: `1`–`9`, `一年级`…`九年级`, `1年级`, or the junior grades `初一`/`初二`/`初三`
/// (and `七年级`…), which depend on the school system (初一 is grade 7 under 6-3, 6 under 5-4).
pub fn read_grade(folded: &str, system: SchoolSystem) -> Result<i64, Problem> {
    let t = folded.trim_end_matches("年级").trim_end_matches("年級").trim();
    let grade = if let Some(rest) = t.strip_prefix('初') {
        let n = numeral(rest).ok_or(Problem::BadGrade)?;
        if !(1..=9 - system.last_primary_grade()).contains(&n) {
            return Err(Problem::BadGrade);
        }
        system.last_primary_grade() + n
    } else if let Some(n) = numeral(t) {
        n
    } else {
        read_whole(t).map_err(|_| Problem::BadGrade)?
    };
    if (1..=9).contains(&grade) { Ok(grade) } else { Err(Problem::BadGrade) }
}

/// Read a monitoring level 1–4 as reports write it: `3`, `Ⅲ`, `III`, `三级`, `Ⅲ级`, `水平Ⅲ`,
/// `水平三`, `等级3`.
pub fn read_level(folded: &str) -> Result<i64, Problem> {
    let t = folded.trim();
    let t =
        t.strip_prefix("学业水平").or_else(|| t.strip_prefix("水平")).or_else(|| t.strip_prefix("等级")).unwrap_or(t);
    let t = t.trim().trim_end_matches('级').trim();
    let level = match t.to_ascii_uppercase().as_str() {
        "Ⅰ" | "I" => 1,
        "Ⅱ" | "II" => 2,
        "Ⅲ" | "III" => 3,
        "Ⅳ" | "IV" => 4,
        other => numeral(other).or_else(|| read_whole(other).ok()).ok_or(Problem::BadLevel)?,
    };
    if (1..=4).contains(&level) { Ok(level) } else { Err(Problem::BadLevel) }
}

fn numeral(text: &str) -> Option<i64> {
    CHINESE_NUMERALS.iter().position(|n| *n == text).map(|i| i as i64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> f64 {
        read_decimal(&fold(s)).unwrap().to_f64()
    }

    #[test]
    fn fold_turns_full_width_into_ascii_and_trims() {
        assert_eq!(fold("１２３４"), "1234");
        assert_eq!(fold("\u{3000}１，２３４\u{3000}"), "1,234");
        assert_eq!(fold("（万元）"), "(万元)");
        assert_eq!(fold(" plain "), "plain");
    }

    #[test]
    fn null_markers_are_not_zero() {
        for m in ["", "-", "—", "/", "…", "无"] {
            assert!(is_null(&fold(m), &[]), "{m:?}");
        }
        assert!(is_null(&fold("－"), &[]), "full-width hyphen folds to '-'");
        assert!(!is_null("0", &[]));
        assert!(is_null("N/A", &["N/A".to_owned()]));
    }

    #[test]
    fn whole_numbers_accept_separators_and_reject_fractions() {
        assert_eq!(read_count("1,234"), Ok(1234));
        assert_eq!(read_count(&fold("１２")), Ok(12));
        assert_eq!(read_count("12.0"), Ok(12));
        assert_eq!(read_count("1,234,567"), Ok(1_234_567));
        assert_eq!(read_count("12o"), Err(Problem::NotWholeNumber));
        assert_eq!(read_count("3.5"), Err(Problem::NotWholeNumber));
        assert_eq!(read_count("12,34"), Err(Problem::NotWholeNumber));
        assert_eq!(read_count("-3"), Err(Problem::Negative));
        assert_eq!(read_count("50%"), Err(Problem::NotWholeNumber));
    }

    #[test]
    fn decimals_are_exact_and_percent_becomes_a_fraction() {
        assert_eq!(read_decimal("7108.5"), Ok(Decimal { mantissa: 71085, scale: 1 }));
        assert_eq!(dec("98.4%"), 0.984);
        assert_eq!(dec("1.5E+05"), 150000.0);
        assert_eq!(dec("2.5e-1"), 0.25);
        assert_eq!(dec("-0.5"), -0.5);
        assert_eq!(dec("887,483.4"), 887483.4);
        assert_eq!(read_decimal("1.2.3"), Err(Problem::NotNumber));
        assert_eq!(read_decimal("abc"), Err(Problem::NotNumber));
        assert_eq!(read_decimal("."), Err(Problem::NotNumber));
    }

    #[test]
    fn rescale_rounds_half_away_from_zero() {
        let d = Decimal { mantissa: 12345, scale: 3 }; // 12.345
        assert_eq!(d.rescale(2), Some(1235));
        assert_eq!(Decimal { mantissa: -12345, scale: 3 }.rescale(2), Some(-1235));
        assert_eq!(d.rescale(4), Some(123450));
    }

    #[test]
    fn years_in_every_form_counties_write_them() {
        assert_eq!(read_year("2018", false), Ok(2018));
        assert_eq!(read_year("2018年", false), Ok(2018));
        assert_eq!(read_year("2016-2017学年", false), Ok(2016));
        assert_eq!(read_year("2013-14", false), Ok(2013));
        assert_eq!(read_year("20132014", false), Ok(2013));
        assert_eq!(read_year("113", true), Ok(2024));
        assert_eq!(read_year("2018-09-01", false), Ok(2018));
        assert_eq!(read_year("2018-09-01 00:00:00", false), Ok(2018));
        assert_eq!(read_year("2013-15", false), Err(Problem::BadYear));
        assert_eq!(read_year("1989", false), Err(Problem::BadYear));
        assert_eq!(read_year("20x8", false), Err(Problem::BadYear));
    }

    #[test]
    fn codes_keep_leading_zeros_and_reject_lost_ones() {
        assert_eq!(read_code("0123456789", 10), Ok("0123456789".to_owned()));
        assert_eq!(read_code("2311820001.0", 10), Ok("2311820001".to_owned()));
        assert_eq!(read_code("123456789", 10), Err(Problem::BadCode { digits: 10 }));
        assert_eq!(read_code("23118A", 6), Err(Problem::BadCode { digits: 6 }));
    }

    #[test]
    fn grades_by_number_and_by_name() {
        let s63 = SchoolSystem::SixThree;
        let s54 = SchoolSystem::FiveFour;
        assert_eq!(read_grade("3", s63), Ok(3));
        assert_eq!(read_grade("一年级", s63), Ok(1));
        assert_eq!(read_grade("九年级", s54), Ok(9));
        assert_eq!(read_grade("初一", s63), Ok(7));
        assert_eq!(read_grade("初一", s54), Ok(6));
        assert_eq!(read_grade("初四", s54), Ok(9));
        assert_eq!(read_grade("初四", s63), Err(Problem::BadGrade));
        assert_eq!(read_grade("10", s63), Err(Problem::BadGrade));
        assert_eq!(read_grade("高一", s63), Err(Problem::BadGrade));
    }

    #[test]
    fn booleans() {
        assert_eq!(read_bool("是"), Ok(true));
        assert_eq!(read_bool("N"), Ok(false));
        assert_eq!(read_bool("民办"), Ok(false));
        assert_eq!(read_bool("maybe"), Err(Problem::NotBoolean));
    }
}
