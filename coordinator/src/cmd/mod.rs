//! One file per command: its arguments (clap), `execute` (what it does,
//! given the data dir) and the report it prints (`Display`). `cli.rs` only
//! parses and dispatches; `run` lives in `crate::run` (the one place the
//! worker crate is used).

pub mod collect;
pub mod dashboard;
pub mod enqueue;
pub mod export;
pub mod failed;
pub mod nats_users;
pub mod respec;
pub mod retry_failed;
pub mod service;
pub mod status;

use std::process::ExitCode;

/// What a command prints when it ends, and how the process exits.
pub trait Report: std::fmt::Display {
    fn exit_code(&self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

/// Prints `report` to standard output and gives its exit code.
pub fn emit(report: impl Report) -> ExitCode {
    print!("{report}");
    report.exit_code()
}
