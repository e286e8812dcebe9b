//! A whole PharmForge stack for a test: NATS, a database, the services.

use crate::{cpu_seconds, cpu_seconds_of_all, free_port, tail, NatsServer, Service, TestDatabase};
use serde_json::Value;
use std::time::{Duration, Instant};

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
            let bin = pharmforge_core::AdapterName::parse(adapter).unwrap_or_else(|| panic!("no adapter {adapter}")).binary();
            stack.spawn(&bin, &[]);
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

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).json(&body).send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
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
