//! `coordinator`: see `coordinator --help`.

use std::process::ExitCode;
use std::time::Duration;

/// How long the process waits at exit for blocking work still running (a
/// store flush stuck on a dead disk must not keep it alive).
const EXIT_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    // Before any thread starts: the flags read NATS_* from the environment.
    if let Err(err) = runtime::env_file::load_from_args() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run());
    runtime.shutdown_timeout(EXIT_GRACE);
    code
}

async fn run() -> ExitCode {
    runtime::logging::init("warn");
    let cli = coordinator::cli::parse();
    match coordinator::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
