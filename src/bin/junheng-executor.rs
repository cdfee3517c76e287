//! A Ballista executor (Ballista 55, as junheng is built with) that reads S3 objects with the
//! standard `AWS_*` variables. Its options are Ballista's own (`junheng-executor --help`:
//! `--vcores`, `--scheduler-host`, `--job-data-clean-up-interval-seconds` …); it is upstream's
//! `ballista-executor` binary without the log-file options, built inside this workspace so that
//! a cluster and junheng always share one Ballista, DataFusion and Arrow.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_core::object_store::{runtime_env_with_s3_support, session_config_with_s3_support};
use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::spawn_health_server;
use clap::Parser;

#[tokio::main]
async fn main() -> ballista_core::error::Result<()> {
    let options = Config::parse();
    let (bind_host, health_port) = (options.bind_host.clone(), options.bind_health_port);
    let mut config: ExecutorProcessConfig = options.try_into()?;
    config.override_config_producer = Some(Arc::new(session_config_with_s3_support));
    config.override_runtime_producer = Some(Arc::new(runtime_env_with_s3_support));
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.special_mod_log_level.clone());
    tracing_subscriber::fmt().with_ansi(false).with_env_filter(tracing_subscriber::EnvFilter::new(filter)).init();
    // Liveness and readiness probes (`/healthz`, `/readyz`), as upstream's binary serves them.
    let health_address: SocketAddr = format!("{bind_host}:{health_port}")
        .parse()
        .map_err(|e| BallistaError::General(format!("invalid --bind-health-port address: {e}")))?;
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = spawn_health_server(health_address, config.health.clone(), health_stopped);
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result
}
