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

/// The accepted schools of every year, keyed by (year, school_code).
#[derive(Debug, Clone, Default)]
pub struct SchoolRegistry {
    schools: HashMap<(i32, String), SchoolInfo>,
}

impl SchoolRegistry {
    /// Register an accepted school row.
    pub fn insert(&mut self, year: i32, school_code: String, info: SchoolInfo) {
        self.schools.insert((year, school_code), info);
    }

    /// Look a school up for a year.
    pub fn get(&self, year: i32, school_code: &str) -> Option<&SchoolInfo> {
        // A (i32, String) key needs an owned String; codes are short, so this is cheap.
        self.schools.get(&(year, school_code.to_owned()))
    }

    /// Number of school-years registered.
    pub fn len(&self) -> usize {
        self.schools.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.schools.is_empty()
    }
}

/// Keys seen so far in one scope (a table of a file, or a whole table), with where.
#[derive(Debug, Default)]
pub struct KeySet {
    seen: HashMap<String, (String, u64)>,
}

impl KeySet {
    /// Record a key; if it was seen before, return the (file, row) that holds it.
    pub fn first_holder(&mut self, key: String, file: &str, row: u64) -> Option<(String, u64)> {
        match self.seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.get().clone()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((file.to_owned(), row));
                None
            }
        }
    }
}
