//! junheng (均衡, "balance"): the statistics behind China's county compulsory-education balanced
//! development assessment (县域义务教育均衡发展), from county submissions to published marts.
//!
//! ```text
//!  submissions (CSV / JSON, any encoding, Chinese or English headers; local or object store)
//!      │ extract     find files, decode, find and bind headers        → RawBatch (cells as text)
//!      │ validate    read cells, apply the contract's rules            → CheckedBatch + findings
//!      │ normalise   canonical names, types, units, stages, provenance → staging Arrow batches
//!      │ load        Parquet under versions/<run_id>/ (+ quarantine)
//!      │ transform   sql/ staging → intermediate → marts, in DataFusion
//!      ▼ publish     ledger runs/<run_id>.json (the commit) and the `current` switch
//! ```
//!
//! Each stage is a module that only hands its output to the next; [`run`] is the only module
//! that calls them in order. Bad input is data ([`validate::Finding`]), never an [`Error`].
#![warn(missing_docs)]

pub mod contract;
pub mod dictionary;
pub mod error;
pub mod explain;
pub mod extract;
pub mod generate;
pub mod ledger;
pub mod load;
pub mod normalise;
pub mod pipeline;
pub mod quarantine;
pub mod query;
pub mod report;
pub mod run;
pub mod schedule;
pub mod serve;
pub mod storage;
pub mod summary;
pub mod transform;
pub mod validate;
pub mod workbook;

pub use error::{Error, Result};
