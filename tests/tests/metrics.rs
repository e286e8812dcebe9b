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
    let aggregator = format!("127.0.0.1:{}", free_port());
    let mut stack = Stack::start_with_env(&[], &[("METRICS_ADDR", &aggregator)]).await;
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
    let js = async_nats::jetstream::new(async_nats::connect(stack.nats.url()).await.unwrap());
    js.publish(format!("{}pipeline.rdkit_local", stack.prefix), "not a record".into()).await.unwrap().await.unwrap();

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
