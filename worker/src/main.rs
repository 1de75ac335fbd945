//! `worker`: the daemon that mines tasks with a local LLM. Not built yet: it
//! comes with the worker issue. Until then it says so instead of pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "worker: not implemented yet (podmine {}). `coordinator enqueue` fills the queue; \
         the worker daemon that drains it is the next milestone.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
