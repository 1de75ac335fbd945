//! Scale-out as users deploy it: nats-server from the shipped config with its
//! users, and a worker on its own network address (a network namespace joined
//! to the host by a veth pair, like a second Mac) with its own local LLM.
//! The worker mines through the authenticated server; wrong credentials get a
//! clear error; the worker's user cannot delete or purge the task stream.
//!
//! Needs root and iproute2 (`ip`), as CI has; without them it fails saying so.
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`

use async_nats::jetstream;
use podmine_tests::auth::NatsUsers;
use podmine_tests::mining::{srt, terminate, Process};
use podmine_tests::netns::{http_get, NetNs};
use podmine_tests::{binaries, wait, NatsOptions, NatsServer};
use protocol::streams;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SEGMENTS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_another_address_mines_through_the_authenticated_shipped_config() {
    let scratch = tempfile::tempdir().expect("scratch");
    let users = NatsUsers::make(&scratch.path().join("users"));
    let ns = NetNs::create();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/single-node.conf");
    let server = NatsServer::start_with(NatsOptions {
        config: Some(config),
        env: users.server_env.clone(),
        host: ns.host_addr.clone(),
        extra_args: Vec::new(),
    });

    // Without credentials the server lets nobody in.
    let anonymous = Command::new(binaries::coordinator())
        .args(["--data-dir"])
        .arg(scratch.path().join("anon"))
        .args(["enqueue", "--nats", &server.url()])
        .arg(scratch.path())
        .env_remove("NATS_USER")
        .output()
        .expect("run coordinator");
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("refused an anonymous client"));

    // The coordinator (on the host) enqueues as its user.
    let corpus = scratch.path().join("corpus");
    std::fs::create_dir_all(&corpus).expect("corpus dir");
    std::fs::write(corpus.join("episode.srt"), srt(SEGMENTS)).expect("write corpus");
    let enqueue_as_coordinator = || {
        Command::new(binaries::coordinator())
            .args(["--data-dir"])
            .arg(scratch.path().join("coordinator"))
            .args(["enqueue", "--nats", &server.url()])
            .arg(&corpus)
            .envs(users.coordinator.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run coordinator")
    };
    let enqueue = enqueue_as_coordinator();
    assert!(enqueue.status.success(), "enqueue: {}", String::from_utf8_lossy(&enqueue.stderr));

    // The worker's Mac: its own LLM server on its own loopback, the worker beside it.
    let mut llm = Process(
        ns.command(Path::new(env!("CARGO_BIN_EXE_fake-llm")))
            .args(["--tokens-per-s", "2000"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake-llm in the namespace"),
    );
    let llm_url = {
        let stdout = llm.stdout.take().expect("fake-llm stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("fake-llm prints its URL");
        line.trim().to_owned()
    };
    let log = scratch.path().join("worker.log");
    let mut worker = Process(
        ns.command(&binaries::worker())
            .args(["run", "--nats", &server.url(), "--llm", &llm_url, "--data-dir"])
            .arg(scratch.path().join("worker"))
            .args(["--concurrency", "3"])
            .envs(users.worker.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).expect("worker log"))
            .spawn()
            .expect("start the worker in the namespace"),
    );

    let admin = connect(&server.url(), "coordinator", users.coordinator_password()).await;
    let results = admin.get_stream(streams::RESULTS).await.expect("results stream");
    wait::until_async(Duration::from_secs(60), "every segment mined through the authenticated server", || {
        let mut results = results.clone();
        async move { results.info().await.map(|i| i.state.messages as usize == SEGMENTS).unwrap_or(false) }
    })
    .await;
    let mut results = results;
    assert_eq!(results.info().await.expect("info").state.subjects_count as usize, SEGMENTS, "one per segment");
    let mut tasks = admin.get_stream(streams::TASKS).await.expect("tasks stream");
    assert_eq!(tasks.info().await.expect("info").state.messages, 0, "every task acked");

    // The server saw the worker come from the namespace's address.
    let connz: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{}/connz?auth=1", server.monitor_url()))).expect("connz JSON");
    let worker_connection = connz["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["name"] == "podmine-worker")
        .unwrap_or_else(|| panic!("no worker connection in {connz}"));
    assert_eq!(worker_connection["ip"], ns.inner_addr.as_str(), "{worker_connection}");
    assert_eq!(worker_connection["authorized_user"], "worker", "{worker_connection}");

    let (code, _) = terminate(&mut worker, Duration::from_secs(20));
    assert_eq!(code, Some(0));
    let worker_log = std::fs::read_to_string(&log).expect("worker log");
    assert!(!worker_log.contains(users.worker_password()), "the password reached the log");

    // Wrong password, from the namespace: a clear error, no password in it.
    let refused = ns
        .command(&binaries::worker())
        .args(["run", "--nats", &server.url(), "--llm", &llm_url, "--data-dir"])
        .arg(scratch.path().join("worker2"))
        .env("NATS_USER", "worker")
        .env("NATS_PASSWORD", "not-the-password")
        .output()
        .expect("run worker");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a refused worker must exit non-zero: {stderr}");
    assert!(stderr.contains("refused user \"worker\"") && stderr.contains("NATS_PASSWORD"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "the password reached the error: {stderr}");

    // The worker's user may not delete or purge the task stream, or publish tasks.
    std::fs::write(corpus.join("second.srt"), srt(3)).expect("write corpus");
    assert!(enqueue_as_coordinator().status.success());
    let as_worker = connect(&server.url(), "worker", users.worker_password()).await;
    assert!(as_worker.delete_stream(streams::TASKS).await.is_err(), "the worker deleted the task stream");
    let worker_view = as_worker.get_stream(streams::TASKS).await.expect("the worker may read stream info");
    assert!(worker_view.purge().await.is_err(), "the worker purged the task stream");
    let forged = as_worker.publish("podmine.task.forged.0", "x".into()).await;
    assert!(forged.is_err() || forged.expect("publish").await.is_err(), "the worker published a task");
    assert!(as_worker.delete_consumer_from_stream(streams::WORKERS_CONSUMER, streams::TASKS).await.is_err());
    assert_eq!(tasks.info().await.expect("info").state.messages, 3, "the queued tasks are all still there");
    admin
        .get_stream(streams::TASKS)
        .await
        .expect("stream")
        .get_consumer::<jetstream::consumer::pull::Config>(streams::WORKERS_CONSUMER)
        .await
        .expect("the workers' consumer is still there");
}

async fn connect(url: &str, user: &str, password: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        .request_timeout(Some(Duration::from_secs(2)))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"));
    jetstream::new(client)
}

#[test]
fn tls_with_the_documented_self_signed_ca() {
    let scratch = tempfile::tempdir().expect("scratch");
    let users = NatsUsers::make(&scratch.path().join("users"));
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats");
    let tls = scratch.path().join("tls");
    let made = Command::new("bash").arg(deploy.join("make-tls.sh")).arg(&tls).arg("127.0.0.1").output().expect("bash");
    assert!(made.status.success(), "make-tls.sh: {}", String::from_utf8_lossy(&made.stderr));
    // The shipped config with a tls block, as docs/fleet-on-macs.md says for TLS (includes
    // are relative, so beside a copy of the shipped files).
    let copy = scratch.path().join("nats");
    std::fs::create_dir_all(&copy).expect("config dir");
    for file in ["single-node.conf", "users.conf"] {
        std::fs::copy(deploy.join(file), copy.join(file)).expect("copy config");
    }
    let config = copy.join("tls.conf");
    std::fs::write(
        &config,
        format!(
            "include \"single-node.conf\"\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
            tls.join("server.pem").display(),
            tls.join("server-key.pem").display()
        ),
    )
    .expect("write config");
    let server = NatsServer::start_with(NatsOptions {
        config: Some(config),
        env: users.server_env.clone(),
        ..NatsOptions::default()
    });
    std::fs::create_dir_all(scratch.path().join("corpus")).expect("corpus");
    std::fs::write(scratch.path().join("corpus/e.srt"), srt(2)).expect("write corpus");
    let enqueue = |tls_ca: Option<&Path>| {
        let mut command = Command::new(binaries::coordinator());
        command
            .args(["--data-dir"])
            .arg(scratch.path().join("coordinator"))
            .args(["enqueue", "--nats", &server.url()])
            .arg(scratch.path().join("corpus"))
            .envs(users.coordinator.iter().map(|(k, v)| (k, v)));
        if let Some(ca) = tls_ca {
            command.arg("--tls-ca").arg(ca);
        }
        command.output().expect("run coordinator")
    };
    let without_ca = enqueue(None);
    let stderr = String::from_utf8_lossy(&without_ca.stderr);
    assert!(!without_ca.status.success());
    assert!(stderr.contains("TLS to NATS") && stderr.contains("--tls-ca"), "{stderr}");
    let with_ca = enqueue(Some(&tls.join("ca.pem")));
    assert!(with_ca.status.success(), "{}", String::from_utf8_lossy(&with_ca.stderr));
    assert!(
        String::from_utf8_lossy(&with_ca.stdout).contains("2 segments"),
        "{}",
        String::from_utf8_lossy(&with_ca.stdout)
    );
}
