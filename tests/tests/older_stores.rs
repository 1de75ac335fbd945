//! A coordinator's store written by the build before typed tables and
//! version bytes (0dd9fb1; kept as a fixture it wrote, see
//! `fixtures/store-before-tables/README.md`) opens in this build and reads
//! the same: `status --json` and `failed --json` say what that build said,
//! and a write by this build (`retry-failed`) lands on it.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::NatsServer;
use protocol::status::{Rate, Status};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-before-tables").join(relative)
}

fn coordinator(data: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(podmine_tests::binaries::coordinator())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `status --json` without what depends on the moment it is asked.
fn status(data: &Path) -> Status {
    let mut status: Status =
        serde_json::from_slice(&coordinator(data, &["status", "--json", "--nats", "nats://127.0.0.1:1"])).unwrap();
    without_the_moment(&mut status);
    status
}

fn without_the_moment(status: &mut Status) {
    status.as_of_unix_ms = 0;
    status.eta_s = None;
    status.rate = Rate {
        segments_per_s: 0.0,
        output_tokens_per_s: 0.0,
        segments_per_s_1m: 0.0,
        segments_per_s_5m: 0.0,
        segments_per_s_15m: 0.0,
    };
}

#[test]
fn a_store_of_the_build_before_tables_reads_the_same_and_takes_new_writes() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("coordinator");
    podmine_tests::files::copy_tree(&fixture("store"), &data);
    let mut then: Status = serde_json::from_slice(&std::fs::read(fixture("status.json")).unwrap()).unwrap();
    without_the_moment(&mut then);
    assert_eq!(status(&data), then, "status reads what the older build wrote");
    assert_eq!(then.segments.superseded, 10, "the fixture has outcomes of an earlier spec");
    let failed = String::from_utf8(coordinator(&data, &["failed", "--json"])).unwrap();
    assert_eq!(failed, std::fs::read_to_string(fixture("failed.jsonl")).unwrap());
    assert_eq!(failed.lines().count(), 2);

    // This build writes to it: both failures retried (their tasks go to a fresh server).
    let server = NatsServer::start();
    let said =
        String::from_utf8(coordinator(&data, &["retry-failed", "--kind", "unusable-answer", "--nats", &server.url()]))
            .unwrap();
    assert!(said.contains("re-enqueued 2 failed segment(s)"), "{said}");
    let after = status(&data);
    assert!(after.failures_by_kind.is_empty(), "{after:?}");
    assert_eq!(after.segments.total, 10);
    assert_eq!(after.segments.superseded, 8, "the retried failures were of the earlier spec: {after:?}");
    assert!(coordinator(&data, &["failed", "--json"]).is_empty());
}
