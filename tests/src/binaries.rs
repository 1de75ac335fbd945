//! The workspace's binaries, built by `cargo test --workspace` (each binary's
//! own package has an integration test, which makes cargo build it first), or
//! by `cargo build --release --bins` for the benchmarks.

use std::path::PathBuf;

/// Path of a workspace binary in the same target profile as this test.
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    // A test runs from target/<profile>/deps/, a bench binary from target/<profile>/.
    let mut profile_dir = exe.parent().expect("target profile dir");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir.parent().expect("target profile dir");
    }
    let binary = profile_dir.join(name);
    assert!(binary.exists(), "{} is not built: run the tests with `cargo test --workspace`", binary.display());
    binary
}

pub fn coordinator() -> PathBuf {
    path("coordinator")
}

pub fn worker() -> PathBuf {
    path("worker")
}
