//! `coordinator`: see `coordinator --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::start::run(run)
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
