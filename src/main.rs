//! The junheng binary: parse the command line, call the library, print, and decide the exit
//! code — in one place, at the end of `main`.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use junheng::exit::ExitStatus;

use cli::Cli;

/// mimalloc (its v2 line) returns freed memory to the system after 10 ms and keeps per-thread
/// caches small. A national run's resident memory was far above its live heap with the system
/// allocator, and with mimalloc v3 (356 counties in 38 SQL groups: 568 MB with v3, 366 MB with
/// v2, whose live heap stays under 160 MB).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Rust ignores SIGPIPE, so printing into a closed pipe (`junheng explain … | head`) panics;
    // such a command ends quietly instead, as other Unix tools do. SIGPIPE itself stays ignored:
    // restored to its default it killed the process on a vectored write (`writev`, which has no
    // MSG_NOSIGNAL) to a socket its peer had closed — an S3 server's or a Ballista executor's
    // idle connection — and a run vanished mid-way with status 141.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    // Ballista's scheduler logs, as errors, metrics it cannot attach to a plan display: not ours to report.
    let default_level = if cli.quiet { "error" } else { "warn" };
    let default_level = format!("{default_level},ballista_scheduler::display=off,ballista_scheduler::state::aqe=error");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.as_str().into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Deep SQL plans recurse deeply when planned and (on Ballista) serialised: 2 MiB worker stacks
    // overflow on the marts in unoptimised builds.
    let status = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(16 << 20).build() {
        Ok(runtime) => runtime.block_on(commands::execute(cli)).unwrap_or_else(|failure| {
            // Every error's message already includes its cause.
            eprintln!("error: {failure}");
            failure.exit_status()
        }),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitStatus::Failed
        }
    };
    ExitCode::from(status.code())
}
