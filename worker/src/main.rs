//! `worker`: see `worker --help`.

use clap::Parser;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use worker::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match Cli::parse().command {
        Command::Run(args) => {
            let cancel = CancellationToken::new();
            tokio::spawn(stop_on_signal(cancel.clone()));
            worker::run(args, cancel).await
        }
        Command::Bench(args) => worker::run_bench(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (launchd, systemd) or SIGINT (Ctrl-C) starts a graceful stop.
async fn stop_on_signal(cancel: CancellationToken) {
    worker::shutdown::requested().await;
    tracing::info!("stop requested: finishing in-flight work");
    cancel.cancel();
}
