//! A 3-node nats-server cluster from the shipped configs in
//! deploy/nats/cluster/ (with their users), on free ports on 127.0.0.1.

use crate::auth::NatsUsers;
use crate::nats::{free_port, NatsOptions, NatsServer};
use std::path::Path;

pub const NODES: [&str; 3] = ["a", "b", "c"];

pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
    pub users: NatsUsers,
    _configs: tempfile::TempDir,
}

impl NatsCluster {
    /// Copies the shipped node configs with the Mac host names and ports
    /// replaced by free local ones, and starts the three servers.
    pub fn start() -> Self {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats");
        let configs = tempfile::tempdir().expect("config dir");
        let users = NatsUsers::make(&configs.path().join("users"));
        std::fs::create_dir_all(configs.path().join("cluster")).expect("mkdir");
        std::fs::copy(shipped.join("users.conf"), configs.path().join("users.conf")).expect("copy users.conf");
        let routes: Vec<u16> = NODES.iter().map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for (i, node) in NODES.iter().enumerate() {
            let file = format!("cluster/node-{node}.conf");
            let mut text = std::fs::read_to_string(shipped.join(&file)).expect("read the shipped node config");
            assert!(text.contains("listen: 0.0.0.0:6222"), "{file}: the route listener moved");
            text = text.replace("listen: 0.0.0.0:6222", &format!("listen: 127.0.0.1:{}", routes[i]));
            for (j, other) in NODES.iter().enumerate() {
                text = text.replace(&format!("nats-{other}.local:6222"), &format!("127.0.0.1:{}", routes[j]));
            }
            let config = configs.path().join(&file);
            std::fs::write(&config, text).expect("write node config");
            nodes.push(NatsServer::start_with(NatsOptions {
                config: Some(config),
                env: users.server_env.clone(),
                ..NatsOptions::default()
            }));
        }
        Self { nodes, users, _configs: configs }
    }

    /// All three client URLs, as workers are given them.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(NatsServer::url).collect::<Vec<_>>().join(",")
    }

    /// The node whose server name (`podmine-a` …) is `name`.
    pub fn node_named(&mut self, name: &str) -> &mut NatsServer {
        let index = NODES.iter().position(|n| format!("podmine-{n}") == name).unwrap_or_else(|| panic!("{name}?"));
        &mut self.nodes[index]
    }
}
