//! Deterministic synthetic submissions: the example county that reproduces the seed report.

pub mod seed;
