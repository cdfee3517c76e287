//! Who may see what: the logins of a users file (`serve --users users.toml`), each with the
//! administrative areas it may read, and the rule that enforces them — a login restricted to
//! some areas sees every table through a filter on `county_code` inside the plan, so joins,
//! subqueries, views and `information_schema` all see the same rows.
//!
//! Area codes are prefixes of the county code (GB/T 2260): a province `23`, a city `2311`, a
//! county `231182`; `*` is every area.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::DataFusionError;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::{col, lit};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The iterations of PBKDF2-SHA-256 a password hash is made with (SCRAM-SHA-256's, as PostgreSQL).
pub const HASH_ITERATIONS: usize = 4096;

/// The shortest password `junheng serve` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The areas a login may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Areas {
    /// Every county.
    All,
    /// The counties whose code starts with one of these (none covered by another).
    Prefixes(Vec<String>),
}

impl Areas {
    /// The areas of these codes (`*` is all); a code covered by a shorter one is dropped.
    pub fn of(codes: &[String]) -> Areas {
        if codes.iter().any(|c| c == "*") {
            return Areas::All;
        }
        let unique: BTreeSet<&String> = codes.iter().collect();
        let kept = unique
            .iter()
            .filter(|code| !unique.iter().any(|other| other != *code && code.starts_with(other.as_str())))
            .map(|c| (*c).clone())
            .collect();
        Areas::Prefixes(kept)
    }

    /// Whether rows of this county are visible.
    pub fn allows(&self, county_code: &str) -> bool {
        match self {
            Areas::All => true,
            Areas::Prefixes(prefixes) => prefixes.iter().any(|p| county_code.starts_with(p.as_str())),
        }
    }

    /// The codes as the audit log and messages give them.
    pub fn codes(&self) -> Vec<String> {
        match self {
            Areas::All => vec!["*".into()],
            Areas::Prefixes(p) => p.clone(),
        }
    }

    /// `starts_with(county_code, p1) OR …` (never true for a NULL county), or `None` for all.
    fn predicate(&self) -> Option<Expr> {
        let Areas::Prefixes(prefixes) = self else { return None };
        let starts =
            |p: &String| datafusion::functions::string::expr_fn::starts_with(col("county_code"), lit(p.clone()));
        Some(prefixes.iter().map(starts).reduce(Expr::or).unwrap_or(lit(false)))
    }
}

/// What a restricted login sees of one table: the table through its area filter, or nothing
/// when the table has no `county_code` to filter on.
pub(super) fn restricted(
    name: &str,
    table: Arc<dyn TableProvider>,
    areas: &Areas,
) -> std::result::Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
    let Some(predicate) = areas.predicate() else { return Ok(Some(table)) };
    if table.schema().column_with_name("county_code").is_none() {
        return Ok(None);
    }
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(table), None)?.filter(predicate)?.build()?;
    Ok(Some(Arc::new(ViewTable::new(plan, None))))
}

/// One login of the users file.
#[derive(Debug, Clone)]
pub struct User {
    /// The login name.
    pub name: String,
    /// PBKDF2-SHA-256 of the password (SCRAM's salted password) and its salt.
    pub(super) salted_password: Vec<u8>,
    pub(super) salt: Vec<u8>,
    /// What it may read.
    pub areas: Areas,
}

/// The logins `serve --users` accepts.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: BTreeMap<String, User>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    roles: BTreeMap<String, RoleSpec>,
    #[serde(default)]
    users: Vec<UserSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    areas: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSpec {
    name: String,
    password: String,
    #[serde(default)]
    areas: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl Users {
    /// Read and check a users file.
    pub fn read(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            operation: "read",
            path: path.into(),
            source,
        })?;
        Users::parse(&text).map_err(|message| Error::Usage(format!("{}: {message}", path.display())))
    }

    /// Parse a users file; the message says what is wrong and how to mend it.
    pub fn parse(text: &str) -> std::result::Result<Users, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for (role, spec) in &file.roles {
            check_codes(&spec.areas).map_err(|m| format!("role `{role}`: {m}"))?;
        }
        let mut by_name = BTreeMap::new();
        for spec in file.users {
            let who = format!("user `{}`", spec.name);
            if spec.name.is_empty() || spec.name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!("{who}: a login name is one word without spaces"));
            }
            let (salt, salted_password) = parse_hash(&spec.password).map_err(|m| format!("{who}: {m}"))?;
            check_codes(&spec.areas).map_err(|m| format!("{who}: {m}"))?;
            let mut codes = spec.areas.clone();
            for role in &spec.roles {
                let found = file.roles.get(role).ok_or_else(|| format!("{who}: no role `{role}` in [roles]"))?;
                codes.extend(found.areas.iter().cloned());
            }
            if codes.is_empty() {
                return Err(format!(
                    "{who}: no areas: give `areas = [\"23\"]` (a province, city or county code, or \"*\" for all) or a role"
                ));
            }
            let user = User { name: spec.name.clone(), salted_password, salt, areas: Areas::of(&codes) };
            if by_name.insert(spec.name.clone(), user).is_some() {
                return Err(format!("{who} is given twice"));
            }
        }
        if by_name.is_empty() {
            return Err("no [[users]]: add one with the lines `junheng serve-user NAME --area CODE` prints".into());
        }
        Ok(Users { by_name })
    }

    /// The login of this name.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// The single login of `JUNHENG_SERVE_USER` / `JUNHENG_SERVE_PASSWORD`, which sees every area.
    pub fn one(name: &str, password: &str) -> Users {
        let salt = random_bytes();
        let salted_password = salted(password, &salt);
        let user = User { name: name.to_owned(), salted_password, salt: salt.to_vec(), areas: Areas::All };
        Users { by_name: BTreeMap::from([(name.to_owned(), user)]) }
    }
}

fn check_codes(codes: &[String]) -> std::result::Result<(), String> {
    for code in codes {
        let ok =
            code == "*" || (!code.is_empty() && code.len() <= 12 && code.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            return Err(format!(
                "area `{code}` is not an area code: give a code's leading digits (a province `23`, a city `2311`, a county `231182`) or \"*\" for all"
            ));
        }
    }
    Ok(())
}

/// PBKDF2-SHA-256 of a password (SCRAM-SHA-256's salted password).
pub(super) fn salted(password: &str, salt: &[u8]) -> Vec<u8> {
    datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password(password, salt, HASH_ITERATIONS)
}

/// The users-file form of a password: `pbkdf2-sha256$4096$<salt>$<hash>` (hex). It is not the
/// password, but SCRAM can log in with it: keep the file readable by the server only.
pub fn hash_password(password: &str) -> std::result::Result<String, String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("a password needs at least {MIN_PASSWORD_CHARS} characters"));
    }
    let salt = random_bytes();
    Ok(format!("pbkdf2-sha256${HASH_ITERATIONS}${}${}", hex::encode(salt), hex::encode(salted(password, &salt))))
}

fn parse_hash(text: &str) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    let refuse = || {
        "the password is not a hash made by `junheng serve-user` (pbkdf2-sha256$4096$…$…); \
         a users file never holds a plaintext password"
            .to_owned()
    };
    let parts: Vec<&str> = text.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else { return Err(refuse()) };
    if *scheme != "pbkdf2-sha256" {
        return Err(refuse());
    }
    if iterations.parse::<usize>().ok() != Some(HASH_ITERATIONS) {
        return Err(format!(
            "the hash has {iterations} iterations; junheng uses {HASH_ITERATIONS}: make it again with `junheng serve-user`"
        ));
    }
    let salt = hex::decode(salt).map_err(|_| refuse())?;
    let hash = hex::decode(hash).map_err(|_| refuse())?;
    if salt.len() < 16 || hash.len() != 32 {
        return Err(refuse());
    }
    Ok((salt, hash))
}

/// Sixteen unpredictable bytes: the kernel's, or (where it cannot be read) hashes of the clock
/// with the standard library's per-process random keys.
pub(super) fn random_bytes() -> [u8; 16] {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok() {
        return bytes;
    }
    use std::hash::{BuildHasher, Hasher};
    for chunk in bytes.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_code_prefixes_and_covered_codes_are_dropped() {
        let areas = Areas::of(&["231182".into(), "2311".into(), "2302".into()]);
        assert_eq!(areas, Areas::Prefixes(vec!["2302".into(), "2311".into()]));
        assert!(areas.allows("231182") && areas.allows("231101") && areas.allows("230202"));
        assert!(!areas.allows("230101") && !areas.allows("23") && !areas.allows(""));
        assert_eq!(Areas::of(&["23".into(), "*".into()]), Areas::All);
    }

    #[test]
    fn a_users_file_holds_hashes_roles_and_areas() {
        let hash = hash_password("a long enough password").unwrap();
        let text = format!(
            "[roles.heihe]\nareas = [\"2311\"]\n\n[[users]]\nname = \"city\"\npassword = \"{hash}\"\nroles = [\"heihe\"]\n\n\
             [[users]]\nname = \"province\"\npassword = \"{hash}\"\nareas = [\"23\"]\n"
        );
        let users = Users::parse(&text).unwrap();
        assert_eq!(users.get("city").unwrap().areas, Areas::Prefixes(vec!["2311".into()]));
        assert_eq!(users.get("province").unwrap().areas, Areas::Prefixes(vec!["23".into()]));
        assert_eq!(users.get("city").unwrap().salted_password.len(), 32);
        assert!(users.get("nobody").is_none());
    }

    #[test]
    fn plaintext_passwords_bad_codes_and_missing_roles_are_refused() {
        let hash = hash_password("a long enough password").unwrap();
        let plain = "[[users]]\nname = \"a\"\npassword = \"secret\"\nareas = [\"23\"]\n";
        assert!(Users::parse(plain).unwrap_err().contains("never holds a plaintext password"));
        let bad_code = format!("[[users]]\nname = \"a\"\npassword = \"{hash}\"\nareas = [\"23/../\"]\n");
        assert!(Users::parse(&bad_code).unwrap_err().contains("not an area code"));
        let no_role = format!("[[users]]\nname = \"a\"\npassword = \"{hash}\"\nroles = [\"x\"]\n");
        assert!(Users::parse(&no_role).unwrap_err().contains("no role `x`"));
        let no_area = format!("[[users]]\nname = \"a\"\npassword = \"{hash}\"\n");
        assert!(Users::parse(&no_area).unwrap_err().contains("no areas"));
        let one = format!("[[users]]\nname = \"a\"\npassword = \"{hash}\"\nareas = [\"*\"]\n");
        assert!(Users::parse(&format!("{one}{one}")).unwrap_err().contains("given twice"));
        assert!(Users::parse("").unwrap_err().contains("no [[users]]"));
        assert!(hash_password("short").unwrap_err().contains("at least 12"));
    }
}
