//! Services installed by the binaries (`worker service`, `coordinator service
//! nats|collector`): the plists a dry run prints parse with Python's plistlib
//! and have what launchd needs (UserName, RunAtLoad, KeepAlive, an
//! ExitTimeOut above the drain time, absolute program paths) and never the
//! password; the systemd units pass `systemd-analyze verify`; an install over
//! a running worker waits for it to drain (a `launchctl` stand-in answers
//! "in progress" meanwhile) and lands the new binary by rename.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::binaries;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `coordinator nats-users` into `dir`: server.env, coordinator.env, worker.env.
fn nats_users(dir: &Path) -> PathBuf {
    let users = dir.join("users");
    let out = Command::new(binaries::coordinator()).args(["nats-users", "--dir"]).arg(&users).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    users
}

fn password(env_file: &Path) -> String {
    let text = std::fs::read_to_string(env_file).unwrap();
    text.lines().find_map(|l| l.strip_prefix("NATS_PASSWORD=")).unwrap().to_owned()
}

/// Runs a binary with `HOME` at `home`; its stdout, which must say it succeeded.
fn run(binary: PathBuf, home: &Path, args: &[&str]) -> String {
    let out = Command::new(binary).args(args).env("HOME", home).env_remove("SUDO_USER").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {said}{}", String::from_utf8_lossy(&out.stderr));
    said
}

/// `service install … --dry-run --target TARGET` of `binary`; what it printed.
fn dry_run(binary: PathBuf, home: &Path, target: &str, args: &[&str]) -> String {
    let all = [&["service", "install", "--dry-run", "--target", target], args].concat();
    run(binary, home, &all)
}

/// The files a dry run would write: path → contents.
fn files_in(dry_run: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut lines = dry_run.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("--- file ") {
            let path = rest.split(" (mode").next().unwrap().to_owned();
            let end = format!("--- end of {path}");
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != end).collect();
            files.insert(path, body.join("\n") + "\n");
        }
    }
    files
}

/// A plist as JSON, parsed by Python's plistlib.
fn plist(contents: &str) -> Value {
    let script = "import json,plistlib,sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), contents.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "plistlib refused:\n{contents}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_a_service_plist(plist: &Value, drain_s: u64) {
    assert!(plist["Label"].as_str().unwrap().starts_with("com.podmine."), "{plist}");
    assert!(plist["UserName"].is_string(), "{plist}");
    for key in ["StandardOutPath", "StandardErrorPath", "WorkingDirectory"] {
        assert!(plist[key].as_str().is_some_and(|p| p.starts_with('/')), "{key}: {plist}");
    }
    assert!((5..=60).contains(&plist["ThrottleInterval"].as_u64().unwrap()), "{plist}");
    assert_eq!((plist["RunAtLoad"].as_bool(), plist["KeepAlive"].as_bool()), (Some(true), Some(true)), "{plist}");
    assert!(plist["ExitTimeOut"].as_u64().unwrap() > drain_s, "{plist}");
    let program = plist["ProgramArguments"][0].as_str().unwrap();
    assert!(program.starts_with('/'), "{program}");
}

/// `binary` as on a Mac: HOME at `home`, the stand-ins for launchctl and
/// caffeinate first on PATH (their state in `state`), a macOS install carried out on Linux.
fn on_a_stand_in_mac(binary: PathBuf, home: &Path, state: &Path) -> Command {
    let stand_ins = Path::new(env!("CARGO_MANIFEST_DIR")).join("stand-ins");
    let path = format!("{}:{}", stand_ins.display(), std::env::var("PATH").unwrap());
    let mut command = Command::new(binary);
    command.env("HOME", home).env("PATH", path).env("LAUNCHCTL_STATE", state);
    command.env("PODMINE_SERVICE_ANY_TARGET", "1").env_remove("SUDO_USER");
    command
}

#[test]
fn dry_runs_print_plists_launchd_accepts_with_no_password_in_them() {
    let home = tempfile::tempdir().unwrap();
    let users = nats_users(home.path());
    let worker_env = users.join("worker.env").to_string_lossy().into_owned();
    let said = dry_run(
        binaries::worker(),
        home.path(),
        "macos",
        &[
            "--env-file",
            &worker_env,
            "--nats",
            "nats://mac-studio.local:4222",
            "--",
            "--llm",
            "http://127.0.0.1:11434",
            "--drain-timeout",
            "90s",
        ],
    );
    assert!(!said.contains(&password(&users.join("worker.env"))), "the password is never printed:\n{said}");
    let copied = said.lines().find(|l| l.contains("podmine/worker.env' (mode 600)")).unwrap_or_default();
    assert!(
        copied.starts_with("copy ") && copied.ends_with("-- secrets: the service reads them from there at start"),
        "{said}"
    );
    let files = files_in(&said);
    let worker = plist(&files["/Library/LaunchDaemons/com.podmine.worker.plist"]);
    assert_a_service_plist(&worker, 90);
    let args: Vec<&str> = worker["ProgramArguments"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[1], "run");
    assert!(args.windows(2).any(|w| w[0] == "--env-file" && w[1].ends_with("podmine/worker.env")), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["--drain-timeout", "90s"]), "{args:?}");
    assert!(args[0].ends_with("Library/Application Support/podmine/bin/worker"), "{args:?}");
    assert!(said.contains("launchctl bootout system/com.podmine.worker"), "{said}");
    // An earlier install's LaunchAgent of the worker is stopped and removed first: never two workers.
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    assert!(said.contains(&format!("launchctl bootout gui/{}/com.podmine.worker", uid.trim())), "{said}");
    assert!(said.contains("Library/LaunchAgents/com.podmine.worker.plist"), "{said}");
    assert!(said.contains("launchctl bootstrap system /Library/LaunchDaemons/com.podmine.worker.plist"), "{said}");

    let coordinator_env = users.join("coordinator.env").to_string_lossy().into_owned();
    let server_env = users.join("server.env").to_string_lossy().into_owned();
    let said = dry_run(
        binaries::coordinator(),
        home.path(),
        "macos",
        &[
            "collector",
            "--env-file",
            &coordinator_env,
            "--",
            "--dashboard",
            "0.0.0.0:8080",
            "--dashboard-allow-host",
            "mac-studio.local",
        ],
    );
    assert!(!said.contains(&password(&users.join("coordinator.env"))), "{said}");
    let files = files_in(&said);
    let collector = plist(&files["/Library/LaunchDaemons/com.podmine.collector.plist"]);
    assert_a_service_plist(&collector, 30);
    let args = collector["ProgramArguments"].to_string();
    assert!(
        args.contains("\"collect\"") && args.contains("\"--follow\"") && args.contains("\"--dashboard\""),
        "{args}"
    );
    let awake = plist(&files["/Library/LaunchDaemons/com.podmine.collector.awake.plist"]);
    assert_eq!(awake["ProgramArguments"], serde_json::json!(["/usr/bin/caffeinate", "-i", "-s"]));

    let said = dry_run(binaries::coordinator(), home.path(), "macos", &["nats", "--env-file", &server_env]);
    let hashes = std::fs::read_to_string(users.join("server.env")).unwrap();
    for hash in hashes.lines().filter_map(|l| l.split_once('=')).map(|(_, h)| h.trim_matches(['\'', '"'])) {
        assert!(!said.contains(hash), "a password hash is printed:\n{said}");
    }
    let files = files_in(&said);
    let nats = plist(&files["/Library/LaunchDaemons/com.podmine.nats.plist"]);
    assert_a_service_plist(&nats, 30);
    assert!(nats["ProgramArguments"][0].as_str().unwrap().ends_with("nats-server"), "{nats}");
    let config = files.iter().find(|(path, _)| path.ends_with("podmine.conf")).unwrap().1;
    assert!(config.contains("include \"users.conf\"") && config.contains("store_dir: \"/"), "{config}");
    assert!(said.contains("nats/users.conf' (mode 600)") && said.contains("not shown"), "{said}");
}

#[test]
fn linux_units_pass_systemd_analyze_verify() {
    let home = tempfile::tempdir().unwrap();
    let users = nats_users(home.path());
    let worker_env = users.join("worker.env").to_string_lossy().into_owned();
    let said = dry_run(
        binaries::worker(),
        home.path(),
        "linux",
        &["--env-file", &worker_env, "--nats", "nats://10.0.0.2:4222"],
    );
    let coordinator_env = users.join("coordinator.env").to_string_lossy().into_owned();
    let collector =
        dry_run(binaries::coordinator(), home.path(), "linux", &["collector", "--env-file", &coordinator_env]);
    let units = home.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let mut written = Vec::new();
    for (path, contents) in files_in(&said).into_iter().chain(files_in(&collector)) {
        assert!(path.starts_with("/etc/systemd/system/"), "{path}");
        assert!(contents.contains("User=") && contents.contains("Restart=always"), "{contents}");
        let stop: u64 = contents.lines().find_map(|l| l.strip_prefix("TimeoutStopSec=")).unwrap().parse().unwrap();
        let drain = if path.contains("worker") { 60 } else { 30 };
        assert!(stop > drain, "outwaits the {drain} s it may take to stop: {contents}");
        // verify wants the programs it names: put this build's binaries where the units run them.
        let exec = contents.lines().find_map(|l| l.strip_prefix("ExecStart=\"")).unwrap();
        let program = PathBuf::from(exec.split('"').next().unwrap());
        std::fs::create_dir_all(program.parent().unwrap()).unwrap();
        let name = program.file_name().unwrap().to_str().unwrap();
        std::fs::copy(if name == "worker" { binaries::worker() } else { binaries::coordinator() }, &program).unwrap();
        let unit = units.join(Path::new(&path).file_name().unwrap());
        std::fs::write(&unit, contents).unwrap();
        written.push(unit);
    }
    assert_eq!(written.len(), 2);
    let out = Command::new("systemd-analyze").arg("verify").args(&written).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !said.contains("podmine"), "systemd-analyze verify: {said}");
}

#[test]
fn an_install_over_a_draining_worker_waits_for_it_then_lands_the_binary_by_rename() {
    let home = tempfile::tempdir().unwrap();
    let users = nats_users(home.path());
    let stand_ins = Path::new(env!("CARGO_MANIFEST_DIR")).join("stand-ins");
    let state = home.path().join("launchd");
    std::fs::create_dir_all(&state).unwrap();
    // The old worker runs, from the binary an earlier install put there.
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let job = format!("gui_{}_com.podmine.worker", uid.trim());
    std::fs::write(state.join(&job), "running").unwrap();
    let installed = home.path().join("Library/Application Support/podmine/bin/worker");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::write(&installed, b"the old worker").unwrap();
    let old_inode = std::fs::metadata(&installed).unwrap().ino();

    let mut install = on_a_stand_in_mac(binaries::worker(), home.path(), &state);
    install.args(["service", "install", "--agent", "--target", "macos", "--env-file"]);
    install.arg(users.join("worker.env")).args(["--nats", "nats://mac-studio.local:4222"]);
    let out = install.env("LAUNCHCTL_DRAIN_PRINTS", "3").output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("waiting for the old gui/"), "says it waits: {said}");

    let calls = std::fs::read_to_string(state.join("calls.log")).unwrap();
    let verbs: Vec<&str> = calls.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(verbs, ["bootout", "print", "print", "print", "print", "bootstrap"], "{calls}");
    assert_eq!(std::fs::read_to_string(state.join(&job)).unwrap().trim(), "running", "the new job is loaded");
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(binaries::worker()).unwrap());
    assert_ne!(std::fs::metadata(&installed).unwrap().ino(), old_inode, "a new file, renamed over the old one");
    let plist_file = home.path().join("Library/LaunchAgents/com.podmine.worker.plist");
    let installed_plist = plist(&std::fs::read_to_string(plist_file).unwrap());
    assert_eq!(installed_plist["ProgramArguments"][0].as_str().unwrap(), installed.to_str().unwrap());
    assert!(installed_plist.get("UserName").is_none(), "an agent runs as its user: no UserName");
    let env = home.path().join("Library/Application Support/podmine/worker.env");
    assert_eq!(std::fs::metadata(&env).unwrap().mode() & 0o777, 0o600, "the login is private");

    // Without the wait, the stand-in refuses the bootstrap as launchd does: the error says what to do.
    std::fs::write(state.join(&job), "running").unwrap();
    std::fs::write(state.join(format!("{job}.draining")), "1").unwrap();
    let out = Command::new(stand_ins.join("launchctl"))
        .args(["bootstrap", &format!("gui/{}", uid.trim())])
        .arg(home.path().join("Library/LaunchAgents/com.podmine.worker.plist"))
        .env("LAUNCHCTL_STATE", &state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "the stand-in behaves as launchd: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn nats_installs_with_its_hashes_in_a_private_config_the_server_accepts() {
    let home = tempfile::tempdir().unwrap();
    let users = nats_users(home.path());
    let state = home.path().join("launchd");
    let mut install = on_a_stand_in_mac(binaries::coordinator(), home.path(), &state);
    install.args(["service", "install", "nats", "--agent", "--target", "macos", "--port", "14222", "--env-file"]);
    let out = install.arg(users.join("server.env")).output().unwrap();
    // The install ran `nats-server -t` on what it wrote: the server accepts the config and its users.
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    let dir = home.path().join("Library/Application Support/podmine/nats");
    let users_conf = dir.join("users.conf");
    assert_eq!(std::fs::metadata(&users_conf).unwrap().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&users_conf).unwrap().contains("PODMINE_WORKER_PASSWORD_HASH: \"$2b$"));
    let plist_text = std::fs::read_to_string(home.path().join("Library/LaunchAgents/com.podmine.nats.plist")).unwrap();
    assert!(!plist_text.contains("$2b$"), "no hash in the plist");
    let calls = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert!(calls.contains("bootstrap") && calls.contains("com.podmine.nats.awake.plist"), "{calls}");
}
