//! junheng (均衡, "balance"): the statistics behind China's county compulsory-education balanced
//! development assessment (县域义务教育均衡发展), from county submissions to published marts.
//!
//! ```text
//!  submissions (CSV / JSON / workbooks, any encoding, Chinese or English headers; local or object store)
//!      │ extract     find files, decode, find and bind headers        → RawBatch (cells as text)
//!      │ validate    read cells, apply the contract's rules            → CheckedBatch + findings
//!      │ normalise   canonical names, types, units, stages, provenance → staging and quarantine batches
//!      │ load        Parquet under versions/<run_id>/ (+ rows carried forward from the parent)
//!      │ transform   sql/ staging → intermediate → marts, in DataFusion
//!      ▼ publish     notes, dictionary, report; ledger runs/<run_id>.json (the commit); `current`
//! ```
//!
//! [`ingest`] drives the first four stages file by file; [`run`] holds the plan and calls the
//! stages in order, and nothing else. Below the stages sit what they all share: the contract
//! ([`contract`]), the pipeline file ([`pipeline`]), the run's request ([`job`]), the ledger's
//! records ([`ledger`]), storage ([`storage`]), text helpers ([`text`]) and errors ([`error`]).
//! Above them sit the readers of a published output: [`query`], [`report`], [`explain`], [`export`],
//! [`serve`], [`summary`], [`workbook`], [`dictionary`] and [`schedule`]. Bad input is data
//! ([`validate::Finding`]), never an [`Error`].
#![warn(missing_docs)]

pub mod contract;
pub mod dictionary;
pub mod error;
pub mod exit;
pub mod explain;
pub mod export;
pub mod extract;
pub mod ingest;
pub mod job;
pub mod ledger;
pub mod load;
pub mod marts;
pub mod normalise;
pub mod pipeline;
pub mod publish;
pub mod query;
pub mod report;
pub mod run;
pub mod schedule;
pub mod serve;
pub mod sql_files;
pub mod storage;
pub mod summary;
pub mod text;
pub mod transform;
pub mod validate;
pub mod workbook;

pub use error::{Error, Result};
