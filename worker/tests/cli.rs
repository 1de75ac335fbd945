//! The `worker` binary without a server. (Having an integration test here also
//! makes `cargo test --workspace` build the binary the end-to-end tests run.)
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

#[test]
fn an_unreachable_nats_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(["run", "--nats", &format!("nats://127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach NATS") && stderr.contains("nats-server -js"), "{stderr}");
}

#[test]
fn help_names_the_flags_scripts_use() {
    let out = Command::new(env!("CARGO_BIN_EXE_worker")).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--nats",
        "--llm",
        "--api",
        "--model",
        "--concurrency",
        "--rate",
        "--request-timeout",
        "--drain-timeout",
        "--prompt",
        "--schema",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(!help.contains("test-pause-before-publish"), "test hooks stay hidden");
}
