//! `worker`: see `worker --help`.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use worker::cli::{Cli, Command, RunArgs};
use worker::{Connections, Settings};
use worker::{Outbox, OutboxFull};

fn main() -> ExitCode {
    runtime::start::run(run_command)
}

async fn run_command() -> ExitCode {
    runtime::logging::init("info");
    let outcome = match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Bench(args) => worker::bench::run(args).await,
        Command::Service(args) => worker::service::execute(args).map(|report| println!("{report}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `worker run`: settings, connections, then the daemon until a stop signal;
/// when the outbox's disk fills up, it waits for space and starts again.
async fn run(args: RunArgs) -> anyhow::Result<()> {
    let settings = Settings::from_options(&args.options)?;
    let js = protocol::connect::connect(&args.nats, "podmine-worker", protocol::connect::Role::Worker).await?;
    let cancel = CancellationToken::new();
    tokio::spawn(stop_on_signal(cancel.clone()));
    loop {
        let full = match Outbox::open(&args.data_dir) {
            Ok(outbox) => {
                let connections = Connections { js: js.clone(), outbox };
                match worker::run(settings.clone(), connections, cancel.clone()).await {
                    Err(err) if err.downcast_ref::<OutboxFull>().is_some() => err,
                    done => return done,
                }
            }
            Err(err) if runtime::full_disk::is_full(&err) => {
                tracing::error!(
                    "no space left on the disk of {} for the worker outbox: free space there (or give it another \
                     --data-dir); the worker starts pulling by itself when there is room",
                    args.data_dir.display()
                );
                err
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open the outbox in {}", args.data_dir.display()))
            }
        };
        runtime::full_disk::wait_for_space(&[&args.data_dir], &cancel).await;
        if cancel.is_cancelled() {
            tracing::info!("stopped while waiting for space ({full:#})");
            return Ok(());
        }
        tracing::warn!("there is space again for the worker outbox in {}: pulling resumes", args.data_dir.display());
    }
}

/// SIGTERM (launchd, systemd) or SIGINT (Ctrl-C) starts a graceful stop.
async fn stop_on_signal(cancel: CancellationToken) {
    runtime::shutdown::requested().await;
    tracing::info!("stop requested: finishing in-flight work");
    cancel.cancel();
}
