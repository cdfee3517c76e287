//! What validation remembers across rows and files: the schools of each year (for references)
//! and the keys already seen (for uniqueness).

use std::collections::HashMap;

use crate::contract::SchoolType;

/// What the rest of the submission needs to know about a school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolInfo {
    /// The county the school belongs to.
    pub county_code: String,
    /// Its type; None when the source does not give one (`absent = ["school_type"]`: the type is
    /// then derived in SQL from the grades the school teaches, and rules by type do not apply).
    pub school_type: Option<SchoolType>,
}

/// A registered school, as [`SchoolRegistry::get`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct School<'a> {
    /// The county the school belongs to.
    pub county_code: &'a str,
    /// Its type, when the source gives one.
    pub school_type: Option<SchoolType>,
}

/// A registered school as stored: its county by number in the registry's list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    county: u32,
    school_type: Option<SchoolType>,
}

/// A school code of up to 17 digits as a number, its length in the top bits (so `0012` and
/// `12` stay apart); None for any other text.
fn numeric_code(code: &str) -> Option<u64> {
    if code.is_empty() || code.len() > 17 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = code.parse().ok()?;
    Some(((code.len() as u64) << 57) | value)
}

/// The accepted schools of every year, keyed by year then school code. A country has two
/// million school-years: codes are kept as numbers (codes are digits; any other text is kept
/// as text) and counties by number, about 40 bytes a school instead of 150.
#[derive(Debug, Clone, Default)]
pub struct SchoolRegistry {
    years: HashMap<i32, HashMap<u64, Entry>>,
    other_codes: HashMap<(i32, Box<str>), Entry>,
    counties: Vec<Box<str>>,
    county_numbers: HashMap<Box<str>, u32>,
}

impl SchoolRegistry {
    /// Register an accepted school row.
    pub fn insert(&mut self, year: i32, school_code: &str, info: SchoolInfo) {
        let entry = Entry { county: self.county_number(&info.county_code), school_type: info.school_type };
        match numeric_code(school_code) {
            Some(code) => {
                self.years.entry(year).or_default().insert(code, entry);
            }
            None => {
                self.other_codes.insert((year, school_code.into()), entry);
            }
        }
    }

    fn county_number(&mut self, county_code: &str) -> u32 {
        if let Some(&n) = self.county_numbers.get(county_code) {
            return n;
        }
        let n = self.counties.len() as u32;
        self.counties.push(county_code.into());
        self.county_numbers.insert(county_code.into(), n);
        n
    }

    /// Look a school up for a year.
    pub fn get(&self, year: i32, school_code: &str) -> Option<School<'_>> {
        let entry = match numeric_code(school_code) {
            Some(code) => self.years.get(&year)?.get(&code)?,
            None => self.other_codes.get(&(year, school_code.into()))?,
        };
        Some(School { county_code: &self.counties[entry.county as usize], school_type: entry.school_type })
    }

    /// Add the schools of another registry (another year's).
    pub fn extend(&mut self, other: SchoolRegistry) {
        let renumber: Vec<u32> = other.counties.iter().map(|c| self.county_number(c)).collect();
        let moved = |mut e: Entry| {
            e.county = renumber[e.county as usize];
            e
        };
        for (year, schools) in other.years {
            let mine = self.years.entry(year).or_default();
            mine.reserve(schools.len());
            mine.extend(schools.into_iter().map(|(code, e)| (code, moved(e))));
        }
        self.other_codes.extend(other.other_codes.into_iter().map(|(k, e)| (k, moved(e))));
    }

    /// Number of school-years registered.
    pub fn len(&self) -> usize {
        self.years.values().map(HashMap::len).sum::<usize>() + self.other_codes.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keys seen so far in one scope (a table of a file, or a whole table), with where. File names
/// are stored once each: a country's school keys number in the millions.
#[derive(Debug, Default)]
pub struct KeySet {
    seen: HashMap<Box<str>, (u32, u64)>,
    files: Vec<String>,
}

impl KeySet {
    /// Record a key; if it was seen before, return the (file, row) that holds it.
    pub fn first_holder(&mut self, key: String, file: &str, row: u64) -> Option<(String, u64)> {
        match self.seen.entry(key.into_boxed_str()) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let (f, r) = *e.get();
                Some((self.files[f as usize].clone(), r))
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                // Files arrive one after another: a name is stored again only when files alternate.
                if self.files.last().is_none_or(|f| f != file) {
                    self.files.push(file.to_owned());
                }
                e.insert(((self.files.len() - 1) as u32, row));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schools_are_found_by_year_and_exact_code() {
        let info = |county: &str| SchoolInfo { county_code: county.into(), school_type: Some(SchoolType::Primary) };
        let mut registry = SchoolRegistry::default();
        registry.insert(2018, "0012345678", info("110101"));
        registry.insert(2018, "A-17", info("110102"));
        let mut next = SchoolRegistry::default();
        next.insert(2019, "12345678", info("110102"));
        next.insert(2019, "0012345678", info("110101"));
        registry.extend(next);
        assert_eq!(registry.len(), 4);
        assert_eq!(registry.get(2018, "0012345678").map(|s| s.county_code), Some("110101"));
        // Leading zeros are part of the code: 12345678 is another school.
        assert_eq!(registry.get(2018, "12345678"), None);
        assert_eq!(registry.get(2019, "12345678").map(|s| s.county_code), Some("110102"));
        assert_eq!(registry.get(2019, "0012345678").map(|s| s.county_code), Some("110101"));
        assert_eq!(registry.get(2018, "A-17").map(|s| s.county_code), Some("110102"));
        assert_eq!(registry.get(2017, "0012345678"), None);
    }

    #[test]
    fn a_key_seen_twice_names_its_first_file_and_row() {
        let mut keys = KeySet::default();
        assert_eq!(keys.first_holder("2018|A".into(), "a.csv", 2), None);
        assert_eq!(keys.first_holder("2018|B".into(), "b.csv", 2), None);
        assert_eq!(keys.first_holder("2018|C".into(), "a.csv", 3), None);
        assert_eq!(keys.first_holder("2018|A".into(), "b.csv", 9), Some(("a.csv".into(), 2)));
        assert_eq!(keys.first_holder("2018|C".into(), "c.csv", 4), Some(("a.csv".into(), 3)));
    }
}
