//! The shipped nats-server configs are accepted by the real server.

use std::path::Path;
use std::process::Command;

#[test]
fn every_shipped_nats_config_passes_nats_server_t() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats");
    let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/nats exists") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "conf") {
            let out = Command::new(&binary).arg("-t").arg("-c").arg(&path).output().expect("run nats-server -t");
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            checked += 1;
        }
    }
    assert!(checked >= 1, "no configs found in {}", dir.display());
}
