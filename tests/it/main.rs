//! Integration tests: the real binary on the fixtures, outputs read back from Parquet.
//! One test binary (it links DataFusion once).

mod assessment;
mod atomic;
#[cfg(feature = "ballista")]
mod ballista;
mod cli;
mod common;
mod delta;
mod faults;
mod fixtures;
mod foreign;
mod formats;
mod fuzz;
mod groups;
mod hostile;
mod incremental;
mod indicators;
mod interop;
mod realdata;
mod s3;
mod seed;
mod serve;
mod surface;
mod vectors;
