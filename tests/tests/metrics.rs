//! Metrics and probes of the services without an HTTP API: an adapter and
//! the aggregator serve Prometheus text on `METRICS_ADDR` with the counts of
//! what they did (records by outcome, batch durations and waits as
//! histograms, rows written), and `/healthz` and `/readyz`.

use pharmforge_tests::{free_port, Stack};
use serde_json::json;
use std::time::Duration;

/// The value of the sample `name` (with its labels as Prometheus writes
/// them, e.g. `x_total{adapter="a",outcome="ok"}`), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    match http.get(url).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_and_the_aggregator_count_what_they_do_and_answer_their_probes() {
    // The aggregator alone gets this METRICS_ADDR (a Stack's shared env would
    // give the API the same address too, and one of the two would lose it).
    let aggregator = format!("127.0.0.1:{}", free_port());
    let mut stack = Stack::start(&[]).await;
    stack.service("pharmforge-aggregator").terminate(Duration::from_secs(20)).expect("aggregator stops");
    stack.spawn("pharmforge-aggregator", &[("METRICS_ADDR", &aggregator)]);
    let adapter = format!("127.0.0.1:{}", free_port());
    stack.spawn("pharmforge-rdkit-local", &[("METRICS_ADDR", &adapter)]);
    let http = stack.http.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for base in [&adapter, &aggregator] {
        while get(&http, &format!("http://{base}/readyz")).await.0 != 200 {
            assert!(std::time::Instant::now() < deadline, "{base} never ready\n{}", stack.all_logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(get(&http, &format!("http://{base}/healthz")).await.0, 200);
    }

    // 19 molecules and one RDKit cannot read.
    let mut smiles = pharmforge_tests::distinct_molecules(19, &["c1ccccc1"]);
    smiles.push("C1CC".into());
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    // A message no adapter can read: dead-lettered.
    stack.publish_unreadable("rdkit_local").await;

    let want = |name: &str| format!("pharmforge_records_total{{adapter=\"rdkit_local\",outcome=\"{name}\"}}");
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        text = get(&http, &format!("http://{adapter}/metrics")).await.1;
        if sample(&text, &want("dead_lettered")) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sample(&text, &want("ok")), Some(19.0), "{text}");
    assert_eq!(sample(&text, &want("error")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &want("dead_lettered")), Some(1.0), "{text}");
    // Durations are histograms (buckets), not summaries.
    assert!(sample(&text, "pharmforge_batch_duration_seconds_count{adapter=\"rdkit_local\"}").is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("pharmforge_batch_duration_seconds_bucket{adapter=\"rdkit_local\",le=\"0.1\"}"), "{text}");
    assert!(sample(&text, "pharmforge_record_wait_seconds_count{adapter=\"rdkit_local\"}").is_some_and(|n| n >= 20.0), "{text}");

    let text = get(&http, &format!("http://{aggregator}/metrics")).await.1;
    // Each compound's record is written as it leaves rdkit_local (and once more if it was seen before it).
    assert!(sample(&text, "pharmforge_aggregator_rows_total").is_some_and(|n| n >= 20.0), "{text}");
    assert!(sample(&text, "pharmforge_aggregator_commit_duration_seconds_count").is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("pharmforge_aggregator_commit_duration_seconds_bucket{le=\"0.25\"}"), "{text}");

    // A service that stops is no longer ready (nor serving at all).
    stack.service("pharmforge-rdkit-local").terminate(Duration::from_secs(20));
    assert_ne!(get(&http, &format!("http://{adapter}/readyz")).await.0, 200);
}

/// The API's own `/metrics`: request durations by matched route and status
/// (a histogram; never a raw path), runs by status, the admission backlog
/// and every consumer's pending counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_times_requests_by_route_and_counts_runs_backlog_and_consumers() {
    let mut stack = Stack::start(&["rdkit_local"]).await;
    // This API serves its metrics on a port of its own.
    let metrics = format!("127.0.0.1:{}", free_port());
    stack.service("pharmforge-api").terminate(Duration::from_secs(20));
    stack.spawn("pharmforge-api", &[("METRICS_ADDR", &metrics)]);
    stack.wait_ready(Duration::from_secs(60)).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "c1ccccc1O"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    stack.wait_finished(&run_id, Duration::from_secs(60)).await;
    assert_eq!(stack.get_json(&format!("/api/v1/runs/{run_id}")).await.0, 200);
    assert_eq!(stack.get_json("/api/v1/nowhere").await.0, 404);
    assert_eq!(stack.get_json("/metrics").await.0, 404, "not on the API's own port, which the gateway exposes");
    let (status, text) = get(&stack.http, &format!("http://{metrics}/metrics")).await;
    assert_eq!(status, 200, "{text}");
    let count = |route: &str, status: u16| sample(&text, &format!("pharmforge_http_request_duration_seconds_count{{route=\"{route}\",status=\"{status}\"}}"));
    assert_eq!(count("/api/v1/runs", 201), Some(1.0), "{text}");
    assert!(count("/api/v1/runs/{run_id}", 200).is_some_and(|n| n >= 1.0), "by route, not by path: {text}");
    assert!(!text.contains(&run_id), "a run id in a label: {text}");
    assert_eq!(count("unmatched", 404), Some(2.0), "/api/v1/nowhere and /metrics on the API's port: {text}");
    assert!(text.contains("pharmforge_http_request_duration_seconds_bucket{route=\"/api/v1/runs\",status=\"201\",le=\"0.25\"}"), "{text}");
    assert_eq!(sample(&text, "pharmforge_runs{status=\"completed\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "pharmforge_runs{status=\"running\"}"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "pharmforge_admission_backlog"), Some(0.0), "{text}");
    for consumer in ["rdkit_local", "admet_ai", "pubchem", "chembl", "aggregator"] {
        assert!(sample(&text, &format!("pharmforge_consumer_pending{{consumer=\"{consumer}\"}}")).is_some(), "{consumer}: {text}");
        assert!(sample(&text, &format!("pharmforge_consumer_ack_pending{{consumer=\"{consumer}\"}}")).is_some(), "{consumer}: {text}");
    }
}

/// A web adapter counts its requests by status, its cache hits and its
/// waits for the shared rate (a histogram).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_adapter_counts_requests_cache_hits_and_rate_limit_waits() {
    use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
    use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    let env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, Some(50));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let mut stack = Stack::start_with_env(&["rdkit_local"], &env).await;
    let addr = format!("127.0.0.1:{}", free_port());
    stack.spawn("pharmforge-pubchem", &[("METRICS_ADDR", &addr)]);
    let smiles = pharmforge_tests::distinct_molecules(10, &["c1ccccc1"]);
    // The same compounds twice: the second run is answered from the cache.
    for _ in 0..2 {
        let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem"]}})).await;
        stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(120)).await;
    }
    let text = get(&stack.http, &format!("http://{addr}/metrics")).await.1;
    let requests = pubchem.log().len() as f64;
    let answered: f64 = text
        .lines()
        .filter(|l| l.starts_with("pharmforge_upstream_requests_total{service=\"pubchem\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(answered, requests, "every request the fake answered is counted: {text}");
    assert!(sample(&text, "pharmforge_upstream_requests_total{service=\"pubchem\",status=\"200\"}").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(sample(&text, "pharmforge_cache_lookups_total{service=\"pubchem\"}"), Some(20.0), "{text}");
    assert!(sample(&text, "pharmforge_cache_hits_total{service=\"pubchem\"}").is_some_and(|n| n >= 10.0), "the second run's lookups hit: {text}");
    assert_eq!(sample(&text, "pharmforge_rate_limit_wait_seconds_count{service=\"pubchem\"}"), Some(requests), "{text}");
}
