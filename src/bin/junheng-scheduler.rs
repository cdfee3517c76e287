//! A Ballista scheduler (Ballista 55, as junheng is built with) that reads S3 objects with the
//! standard `AWS_*` variables. Its options are Ballista's own (`junheng-scheduler --help`); it is
//! upstream's `ballista-scheduler` binary without the log-file options, built inside this
//! workspace so that a cluster and junheng always share one Ballista, DataFusion and Arrow.

use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_core::object_store::{session_config_with_s3_support, session_state_with_s3_support};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;

fn main() -> ballista_core::error::Result<()> {
    // Upstream's stack size: planning deep plans recurses.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .map_err(|e| BallistaError::General(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(serve())
}

async fn serve() -> ballista_core::error::Result<()> {
    let options = Config::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| options.log_level_setting.clone());
    tracing_subscriber::fmt().with_ansi(false).with_env_filter(tracing_subscriber::EnvFilter::new(filter)).init();
    let address = format!("{}:{}", options.bind_host, options.bind_port)
        .parse()
        .map_err(|e: std::net::AddrParseError| BallistaError::Configuration(e.to_string()))?;
    let config: SchedulerConfig = options.try_into()?;
    let config = config
        .with_override_config_producer(Arc::new(session_config_with_s3_support))
        .with_override_session_builder(Arc::new(session_state_with_s3_support));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, address, Arc::new(config)).await
}
