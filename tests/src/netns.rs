//! A network namespace joined to the host by a veth pair: a process run in it
//! has its own address, as a worker on another Mac would. Made with `ip`
//! (iproute2, root needed) and removed when dropped.

use std::process::Command;

pub struct NetNs {
    pub name: String,
    host_link: String,
    /// The host side's address (reachable from inside).
    pub host_addr: String,
    /// The namespace's own address.
    pub inner_addr: String,
}

impl NetNs {
    pub fn create() -> Self {
        let id = std::process::id();
        let subnet = format!("10.231.{}", id % 250);
        let ns = Self {
            name: format!("podmine-test-{id}"),
            host_link: format!("pmh{}", id % 100_000),
            host_addr: format!("{subnet}.1"),
            inner_addr: format!("{subnet}.2"),
        };
        let inner_link = format!("pmw{}", id % 100_000);
        ns.cleanup();
        let (host_cidr, inner_cidr) = (format!("{}/30", ns.host_addr), format!("{}/30", ns.inner_addr));
        let steps: [Vec<&str>; 8] = [
            vec!["netns", "add", &ns.name],
            vec!["link", "add", &ns.host_link, "type", "veth", "peer", "name", &inner_link],
            vec!["link", "set", &inner_link, "netns", &ns.name],
            vec!["addr", "add", &host_cidr, "dev", &ns.host_link],
            vec!["link", "set", &ns.host_link, "up"],
            vec!["-n", &ns.name, "addr", "add", &inner_cidr, "dev", &inner_link],
            vec!["-n", &ns.name, "link", "set", &inner_link, "up"],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
        ];
        for step in &steps {
            let out = Command::new("ip").args(step).output().unwrap_or_else(|e| {
                panic!("cannot run `ip` ({e}): this test needs iproute2 (`apt-get install iproute2`) and root")
            });
            assert!(
                out.status.success(),
                "`ip {}` failed: {}. This test makes a network namespace and needs root (CAP_NET_ADMIN)",
                step.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        ns
    }

    /// `program args…` to run inside the namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Cuts the namespace off the host (its link goes down), as a Mac that
    /// drops off the network; `reconnect` brings the link back.
    pub fn disconnect(&self) {
        self.set_host_link("down");
    }

    pub fn reconnect(&self) {
        self.set_host_link("up");
    }

    fn set_host_link(&self, state: &str) {
        let out = Command::new("ip").args(["link", "set", &self.host_link, state]).output().expect("run ip");
        assert!(out.status.success(), "ip link set {state}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn cleanup(&self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The body of an HTTP GET (for nats-server's monitoring endpoint).
pub fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}
