//! Deterministic synthetic submissions for junheng's tests and benchmark: the example county
//! that reproduces the seed report (`seed`), and a synthetic country drawn from it (`national`).
//!
//! These are tools, not the product: nothing in the pipeline depends on them. `junheng generate`
//! calls them; the fixture `fixtures/wudalianchi/` is exactly [`seed::write`]'s output.
#![warn(missing_docs)]

pub mod national;
pub mod seed;

use std::path::PathBuf;

/// What can stop a generator: a file that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating a folder or writing a file failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done (`create folder`, `write`).
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A CSV or workbook could not be encoded (or the example county's own CSV read back).
    #[error("{}: {message}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
    /// A generator thread panicked.
    #[error("a generator thread failed")]
    Thread,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Create the folder a file is about to be written into.
pub(crate) fn create_parent(path: &std::path::Path) -> Result<()> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            operation: "create folder",
            path: parent.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

/// Small deterministic generator (SplitMix64), shared by both generators so that a seed means
/// the same stream in each.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// exp(σ·N(0,1)), multiplied in the order the national generator always has (σ·√… first),
    /// so that its output stays byte for byte what it was.
    pub(crate) fn log_normal(&mut self, sigma: f64) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (sigma * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()).exp()
    }
}
