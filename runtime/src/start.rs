//! How both binaries start: `--env-file` loaded into the environment before
//! any thread exists, then a tokio runtime runs the command, and blocking
//! work still running at exit gets a short grace (a store flush stuck on a
//! dead disk must not keep the process alive).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// How long the process waits at exit for blocking work still running.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Runs `command` to its exit code.
pub fn run<F: Future<Output = ExitCode>>(command: impl FnOnce() -> F) -> ExitCode {
    // Before any thread starts: the flags read NATS_* from the environment.
    if let Err(err) = crate::env_file::load_from_args() {
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
    let code = runtime.block_on(command());
    runtime.shutdown_timeout(EXIT_GRACE);
    code
}
