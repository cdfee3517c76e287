//! What validation remembers across rows and files: the schools of each year (for references)
//! and the keys already seen (for uniqueness).

use std::collections::HashMap;

/// What the rest of the submission needs to know about a school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolInfo {
    /// The county the school belongs to.
    pub county_code: String,
    /// Its type (`primary`, `nine_year`, …).
    pub school_type: &'static str,
    /// Public (true) or private.
    pub is_public: bool,
    /// For teaching points, the parent school.
    pub parent_school_code: Option<String>,
}

/// The accepted schools of every year, keyed by year then school_code (a map per year, so a
/// lookup borrows the code instead of building a key).
#[derive(Debug, Clone, Default)]
pub struct SchoolRegistry {
    years: HashMap<i32, HashMap<Box<str>, SchoolInfo>>,
}

impl SchoolRegistry {
    /// Register an accepted school row.
    pub fn insert(&mut self, year: i32, school_code: String, info: SchoolInfo) {
        self.years.entry(year).or_default().insert(school_code.into_boxed_str(), info);
    }

    /// Look a school up for a year.
    pub fn get(&self, year: i32, school_code: &str) -> Option<&SchoolInfo> {
        self.years.get(&year)?.get(school_code)
    }

    /// Add the schools of another registry (another year's).
    pub fn extend(&mut self, other: SchoolRegistry) {
        for (year, schools) in other.years {
            self.years.entry(year).or_default().extend(schools);
        }
    }

    /// Number of school-years registered.
    pub fn len(&self) -> usize {
        self.years.values().map(HashMap::len).sum()
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
    fn a_key_seen_twice_names_its_first_file_and_row() {
        let mut keys = KeySet::default();
        assert_eq!(keys.first_holder("2018|A".into(), "a.csv", 2), None);
        assert_eq!(keys.first_holder("2018|B".into(), "b.csv", 2), None);
        assert_eq!(keys.first_holder("2018|C".into(), "a.csv", 3), None);
        assert_eq!(keys.first_holder("2018|A".into(), "b.csv", 9), Some(("a.csv".into(), 2)));
        assert_eq!(keys.first_holder("2018|C".into(), "c.csv", 4), Some(("a.csv".into(), 3)));
    }
}
