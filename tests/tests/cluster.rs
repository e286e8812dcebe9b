//! A real NATS cluster, and what KEDA reads.
//!
//! 1. Three nats-server nodes on loopback ports, every stream and bucket
//!    replicated three ways (`PHARMFORGE_STREAM_REPLICAS=3`), a 5,000-compound
//!    run through all four adapters (PubChem and ChEMBL faked): the JetStream
//!    meta leader is killed (SIGKILL) mid-run, then, once it is back, the
//!    leader of the PIPELINE stream. The run must complete with every compound
//!    recorded once at every stage.
//! 2. KEDA's nats-jetstream scaler reads `/jsz?acc=$G&consumers=true` on the
//!    monitoring port and takes a consumer's `num_pending + num_ack_pending`
//!    as its lag. With admet-ai stopped mid-run, that lag must equal the
//!    records waiting for it (passed rdkit_local, not admet_ai, as Postgres
//!    has them), and fall to 0 when two new replicas drain it, each doing
//!    part of the work.

use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::{free_port, reference, NatsServer, Stack, TestDatabase};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn reference_smiles(n: usize) -> Vec<String> {
    let valid: Vec<String> = reference::load("chembl_cmet_1017.rdkit.jsonl").into_iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    valid.iter().cycle().take(n).cloned().collect()
}

/// Polls the run until `pred` holds; it must still be running then.
async fn wait_mid_run(stack: &Stack, run_id: &str, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, run) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        if pred(&run) {
            assert_eq!(run["status"], "running", "the run finished before {what}: {}", run["compounds"]);
            return run;
        }
        assert!(Instant::now() < deadline, "never reached: {what}; last {}", run["stages"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn completed(run: &Value) -> u64 {
    run["compounds"]["completed"].as_u64().unwrap_or(0) + run["compounds"]["failed"].as_u64().unwrap_or(0)
}

/// The meta leader as the running nodes agree on it (a fresh election is
/// over when every running node names the same one, itself running).
fn agreed_meta_leader(stack: &Stack) -> Option<String> {
    let running: Vec<&NatsServer> = stack.nats_nodes().filter(|n| n.is_running()).collect();
    let leaders: Vec<Option<String>> = running.iter().map(|n| n.meta_leader()).collect();
    let first = leaders.first()?.clone()?;
    (leaders.iter().all(|l| l.as_deref() == Some(&first)) && running.iter().any(|n| n.name == first)).then_some(first)
}

async fn wait_meta_leader(stack: &Stack, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(l) = agreed_meta_leader(stack).filter(|l| Some(l.as_str()) != not) {
            return l;
        }
        assert!(Instant::now() < deadline, "no meta leader agreed on within 60 s (not {not:?})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stream_info(js: &async_nats::jetstream::Context, name: &str) -> async_nats::jetstream::stream::Info {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match js.get_stream(name).await {
            Ok(s) => return s.cached_info().clone(),
            Err(e) => {
                assert!(Instant::now() < deadline, "stream {name}: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_three_node_cluster_loses_its_meta_leader_then_a_stream_leader_mid_run_and_loses_nothing() {
    const N: usize = 5_000;
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    let mut env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, Some(500));
    env.push(("PHARMFORGE_STREAM_REPLICAS", "3".into()));
    // Redelivery within seconds of a lost acknowledgement.
    env.push(("PHARMFORGE_ACK_WAIT_MS", "5000".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let nodes = NatsServer::cluster(3);
    let mut stack = Stack::start_on_cluster(nodes, TestDatabase::create().await, &["rdkit_local", "admet_ai", "pubchem", "chembl"], &env).await;

    // What the services set up is replicated three ways.
    let urls: Vec<async_nats::ServerAddr> = stack.nats_nodes().map(|n| n.url().parse().unwrap()).collect();
    let client = async_nats::ConnectOptions::new().connect(urls).await.expect("NATS cluster");
    let js = async_nats::jetstream::new(client);
    for name in ["PIPELINE", "DEADLETTER", "KV_cancelled_runs", "KV_webclient_rate", "KV_pubchem_cache", "KV_chembl_cache"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = stream_info(&js, name).await;
            assert_eq!(info.config.num_replicas, 3, "{name} is not replicated three ways");
            let cluster = info.cluster.expect("cluster info");
            // A new group may still be electing its leader.
            if cluster.leader.is_some() && cluster.replicas.len() == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: no leader and two followers: {cluster:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // pubchem creates its cache bucket (KV's own defaults), then sets its
    // limit and discard policy: read it once that second step is in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut cache = stream_info(&js, "KV_pubchem_cache").await;
    while cache.config.discard != async_nats::jetstream::stream::DiscardPolicy::Old && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        cache = stream_info(&js, "KV_pubchem_cache").await;
    }
    assert_eq!(cache.config.max_bytes, 1 << 30, "the cache bucket has its byte limit");
    assert_eq!(cache.config.discard, async_nats::jetstream::stream::DiscardPolicy::Old, "a full cache drops its oldest entries");

    let run = stack.create_run(json!({"input_smiles": reference_smiles(N)})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    // 1. The meta leader, mid-run.
    let before = wait_mid_run(&stack, &run_id, "10% done", Duration::from_secs(240), |r| completed(r) >= (N / 10) as u64).await;
    let meta = wait_meta_leader(&stack, None).await;
    stack.nats_node_mut(&meta).stop();
    let killed_at = completed(&before);
    let new_meta = wait_meta_leader(&stack, Some(&meta)).await;
    println!("killed meta leader {meta} at {killed_at}/{N} completed; {new_meta} elected");
    let after = wait_mid_run(&stack, &run_id, "progress after the meta leader's death", Duration::from_secs(240), |r| completed(r) >= killed_at + 300).await;
    stack.nats_node_mut(&meta).start_again();

    // 2. The PIPELINE stream's leader, once the cluster is whole again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream_leader = loop {
        let info = stream_info(&js, "PIPELINE").await;
        let cluster = info.cluster.expect("cluster info");
        let whole = cluster.replicas.len() == 2 && cluster.replicas.iter().all(|p| p.current);
        if let (true, Some(leader)) = (whole, cluster.leader.clone()) {
            break leader;
        }
        assert!(Instant::now() < deadline, "PIPELINE's replicas never caught up after {meta} came back: {cluster:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let run_now = wait_mid_run(&stack, &run_id, "the stream leader's kill", Duration::from_secs(10), |_| true).await;
    let second_kill_at = completed(&run_now);
    assert!(second_kill_at >= completed(&after) && second_kill_at < N as u64);
    stack.nats_node_mut(&stream_leader).stop();
    println!("killed PIPELINE's leader {stream_leader} at {second_kill_at}/{N} completed");
    wait_mid_run(&stack, &run_id, "progress after the stream leader's death", Duration::from_secs(240), |r| completed(r) >= second_kill_at + 300).await;
    stack.nats_node_mut(&stream_leader).start_again();

    let done = stack.wait_finished(&run_id, Duration::from_secs(600)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": N, "completed": N, "failed": 0}));
    for stage in ["rdkit_local", "admet_ai", "pubchem", "chembl"] {
        assert_eq!(done["stages"][stage], json!({"pending": 0, "done": N, "failed": 0, "skipped": 0}), "{stage}");
    }
    let pool = stack.db.pool().await;
    let (rows, distinct, props, admet, pubchem_rows, chembl_rows): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT idx), count(properties), count(admet), count(pubchem), count(bioactivity) FROM compound_results")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (N as i64, N as i64), "one row per compound");
    assert_eq!((props, admet, pubchem_rows, chembl_rows), (N as i64, N as i64, N as i64, N as i64), "every stage recorded on every row");
}

/// `/jsz?acc=$G&consumers=true&config=true`, as KEDA asks it: the consumer's
/// lag (`num_pending + num_ack_pending`) on the PIPELINE stream.
fn keda_lag(nats: &NatsServer, consumer: &str) -> Option<u64> {
    let jsz = nats.monitor("/jsz?acc=%24G&consumers=true&config=true")?;
    let account = jsz["account_details"].as_array()?.iter().find(|a| a["name"] == "$G")?;
    let stream = account["stream_detail"].as_array()?.iter().find(|s| s["name"] == "PIPELINE")?;
    let c = stream["consumer_detail"].as_array()?.iter().find(|c| c["name"] == consumer)?;
    Some(c["num_pending"].as_u64()? + c["num_ack_pending"].as_u64()?)
}

/// The adapter's `pharmforge_records_total{outcome="ok"}` on its `/metrics`.
async fn records_ok(http: &reqwest::Client, port: u16) -> f64 {
    let text = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("pharmforge_records_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn the_lag_keda_reads_equals_a_stopped_adapters_backlog_and_falls_to_zero_when_two_replicas_drain_it() {
    const N: usize = 3_000;
    let mut stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    let run = stack.create_run(json!({"input_smiles": reference_smiles(N), "pipeline_config": {"adapters": ["rdkit_local", "admet_ai"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    wait_mid_run(&stack, &run_id, "admet_ai under way", Duration::from_secs(120), |r| r["stages"]["admet_ai"]["done"].as_u64().unwrap_or(0) >= 50).await;
    stack.service("pharmforge-admet-ai").terminate(Duration::from_secs(30)).expect("admet-ai stops on SIGTERM");

    // Stopped: the records passed rdkit_local and not admet_ai wait in the
    // stream. Once nothing moves (the admission window for admet_ai is full),
    // KEDA's lag is exactly that backlog.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last: Option<(u64, u64)> = None;
    let (lag, backlog) = loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, r) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        let st = &r["stages"];
        let backlog = st["rdkit_local"]["done"].as_u64().unwrap() + st["rdkit_local"]["failed"].as_u64().unwrap()
            - st["admet_ai"]["done"].as_u64().unwrap()
            - st["admet_ai"]["failed"].as_u64().unwrap();
        let lag = keda_lag(&stack.nats, "admet_ai").expect("the admet_ai consumer in /jsz");
        if last == Some((lag, backlog)) {
            break (lag, backlog);
        }
        last = Some((lag, backlog));
        assert!(Instant::now() < deadline, "the backlog never settled: lag {lag}, backlog {backlog}");
    };
    println!("{}", json!({"admet_ai_stopped": {"keda_lag": lag, "backlog": backlog, "run_compounds": N}}));
    assert!(lag > 0, "records wait for the stopped adapter");
    assert_eq!(lag, backlog, "KEDA's lag is the records waiting for admet_ai");
    assert!(lag < N as u64 / 2, "admission holds a window, not the run: {lag} of {N}");
    let (_, r) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(r["status"], "running");

    // Two replicas drain it (each with its own /metrics to count its share).
    let ports = [free_port(), free_port()];
    for port in ports {
        let addr = format!("127.0.0.1:{port}");
        stack.spawn("pharmforge-admet-ai", &[("METRICS_ADDR", addr.as_str())]);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, r) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        let lag = keda_lag(&stack.nats, "admet_ai").unwrap_or(u64::MAX);
        if r["status"] == "completed" {
            assert_eq!(lag, 0, "nothing waits once the run is complete");
            break;
        }
        assert!(Instant::now() < deadline, "not drained: lag {lag}, {}", r["stages"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shares = [records_ok(&stack.http, ports[0]).await, records_ok(&stack.http, ports[1]).await];
    println!("{}", json!({"drained_by": shares}));
    assert!(shares.iter().all(|&s| s > 0.0), "both replicas took part: {shares:?}");
    let done = stack.wait_finished(&run_id, Duration::from_secs(30)).await;
    assert_eq!(done["compounds"], json!({"total": N, "completed": N, "failed": 0}));
}
