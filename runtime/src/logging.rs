//! Logging set-up shared by both binaries: to stderr, filtered by `RUST_LOG`
//! (or the binary's default level), with colour only when stderr is a
//! terminal, so `worker.log` under launchd and every redirected log stay
//! plain text.

use std::io::IsTerminal;

/// Installs the global subscriber; `default_filter` applies when `RUST_LOG` is unset.
pub fn init(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
