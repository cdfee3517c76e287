//! Deterministic synthetic submissions: the example county that reproduces the seed report, and
//! a synthetic country drawn from it for scale tests and the benchmark.

pub mod national;
pub mod seed;
