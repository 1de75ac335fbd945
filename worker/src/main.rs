//! `worker`: see `worker --help`.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use worker::cli::{Cli, Command, RunArgs};
use worker::Outbox;
use worker::{Connections, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::logging::init("info");
    let outcome = match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Bench(args) => worker::bench::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `worker run`: settings, connections, then the daemon until a stop signal.
async fn run(args: RunArgs) -> anyhow::Result<()> {
    let settings = Settings::from_options(&args.options)?;
    let llm = Arc::new(settings.llm_endpoints()?);
    let js = protocol::connect::connect(&args.nats, "podmine-worker", protocol::connect::Role::Worker).await?;
    let outbox = Outbox::open(&args.data_dir)
        .with_context(|| format!("cannot open the outbox in {}", args.data_dir.display()))?;
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    worker::run(settings, Connections { js, outbox, llm }, cancel).await
}

/// SIGTERM (launchd, systemd) or SIGINT (Ctrl-C) starts a graceful stop.
async fn stop_on_signal(cancel: CancellationToken) {
    runtime::shutdown::requested().await;
    tracing::info!("stop requested: finishing in-flight work");
    cancel.cancel();
}
