//! The `coordinator` binary without a server: dry runs, bad input, exit codes.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

fn coordinator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coordinator")).args(args).env_remove("NATS_URL").output().expect("run coordinator")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

const SRT: &[u8] =
    b"1\n00:00:00,000 --> 00:00:20,000\nHello and welcome.\n\n2\n00:00:20,000 --> 00:00:40,000\nSecond cue here.\n";

#[test]
fn dry_run_reports_bad_files_by_name_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.srt", SRT);
    write(dir.path(), "empty.txt", b"");
    write(dir.path(), "audio.vtt", b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00");
    write(dir.path(), "cut.json", b"[{\"speaker\": \"A\", \"time\": \"00:00:01\", \"mess");
    write(dir.path(), "latin1.txt", b"caf\xe9 society talk");
    let out = coordinator(&["enqueue", "--dry-run", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("read 2 episode(s)"), "{stdout}");
    assert!(stdout.contains("empty.txt: empty file"), "{stdout}");
    assert!(stdout.contains("audio.vtt: binary file"), "{stdout}");
    assert!(stdout.contains("cut.json: invalid JSON at line 1"), "{stdout}");
    assert!(stdout.contains("latin1.txt: not UTF-8") && stdout.contains("Windows-1252"), "{stdout}");
}

#[test]
fn nothing_readable_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.srt", b"\n\n");
    let out = coordinator(&["enqueue", "--dry-run", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_unreachable_server_says_what_to_start() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.srt", SRT);
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = coordinator(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "enqueue",
        "--nats",
        &url,
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach NATS at {url}")) && stderr.contains("nats-server -js"), "{stderr}");
}

#[test]
fn status_works_from_the_data_dir_alone() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = coordinator(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "status",
        "--json",
        "--nats",
        &format!("nats://127.0.0.1:{port}"),
    ]);
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["segments"]["total"], 0);
    assert_eq!(status["queue"]["reachable"], false);
}
