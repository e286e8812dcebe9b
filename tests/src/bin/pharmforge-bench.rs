//! The pipeline benchmark: prints one JSON object of measured figures.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench
//! ```
//!
//! * `rdkit_local_us_per_molecule`: the adapter's enrichment in-process, one
//!   core, over the reference molecules (parse, descriptors, QED, InChI).
//! * `end_to_end_compounds_per_s`: a 10,000-compound run (`BENCH_COMPOUNDS`)
//!   through api → rdkit-local → aggregator → Postgres, POST to `completed`.
//! * `post_runs_100_smiles_ms`: p50/p99 latency of POST /runs with 100 SMILES.
//! * `accept_100k_run_ms`: time for POST /runs with 100,000 SMILES to answer 201.
//! * `peak_rss_mb`: each service's peak resident set (VmHWM) over the whole bench.
//!
//! It starts its own stack (private nats-server, fresh database) with the
//! release binaries next to this one.

use pharmforge_core::{AdapterName, CompoundRecord};
use pharmforge_tests::{peak_rss_kb, reference, Stack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn reference_smiles() -> Vec<String> {
    ["chembl_cmet_1017.rdkit.jsonl", "cdk2_47.rdkit.jsonl", "edge_cases.rdkit.jsonl"]
        .iter()
        .flat_map(|f| reference::load(f))
        .filter(|m| m["valid"] == true)
        .map(|m| m["smiles"].as_str().unwrap().to_owned())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rdkit_in_process(smiles: &[String]) -> f64 {
    let mut records: Vec<CompoundRecord> = smiles
        .iter()
        .enumerate()
        .map(|(i, s)| CompoundRecord::new(&pharmforge_core::RunId::parse("run_0000000000000000").unwrap(), i as u32, s.clone(), vec![AdapterName::RdkitLocal]))
        .collect();
    records.iter_mut().take(50).for_each(pharmforge_rdkit_local::enrich_one); // warm-up
    let start = Instant::now();
    let rounds = 3;
    for _ in 0..rounds {
        for r in records.iter_mut() {
            r.sections.clear();
            pharmforge_rdkit_local::enrich_one(r);
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / (rounds * records.len()) as f64
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_COMPOUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let smiles = reference_smiles();
    let us_per_molecule = rdkit_in_process(&smiles);

    // The POST latency phase sends 220 runs in a few seconds: lift the per-user limit.
    let stack = Stack::start_with_env(&["rdkit_local"], &[("API_RUNS_BURST", "100000")]).await;
    let rdkit_only = json!({"adapters": ["rdkit_local"]});

    // End to end.
    let cpu_before = stack.cpu_snapshot();
    let input: Vec<&String> = smiles.iter().cycle().take(n).collect();
    let start = Instant::now();
    let run = stack.create_run(json!({"input_smiles": input, "pipeline_config": rdkit_only})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished_polling(&run_id, Duration::from_secs(600), Duration::from_millis(20)).await;
    let e2e = start.elapsed().as_secs_f64();
    assert_eq!(done["status"], "completed", "{}", done["status"]);
    assert_eq!(done["compounds"]["completed"].as_u64(), Some(n as u64));
    let cpu_e2e = pharmforge_tests::cpu_delta(&cpu_before, &stack.cpu_snapshot());

    // The same run where RDKit rejects every SMILES at once: what the
    // pipeline itself (NATS, aggregator, Postgres) costs per compound.
    let junk: Vec<String> = (0..n).map(|i| format!("C1CC1({i}")).collect();
    let cpu_before = stack.cpu_snapshot();
    let start = Instant::now();
    let run = stack.create_run(json!({"input_smiles": junk, "pipeline_config": rdkit_only})).await;
    let overhead_run = run["run_id"].as_str().unwrap().to_owned();
    stack.wait_finished_polling(&overhead_run, Duration::from_secs(600), Duration::from_millis(20)).await;
    let overhead = start.elapsed().as_secs_f64();
    let cpu_overhead = pharmforge_tests::cpu_delta(&cpu_before, &stack.cpu_snapshot());

    // POST latency, 100-SMILES runs (no adapter consumes them: pure acceptance cost).
    let hundred: Vec<&String> = smiles.iter().take(100).collect();
    let body = json!({"input_smiles": hundred, "pipeline_config": {"adapters": ["chembl"]}});
    let mut latencies = Vec::new();
    for i in 0..220 {
        let t = Instant::now();
        let r = stack.http.post(stack.url("/api/v1/runs")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let _ = r.bytes().await;
        if i >= 20 {
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // Accepting 100,000 SMILES.
    let big: Vec<&String> = smiles.iter().cycle().take(100_000).collect();
    let big_body = serde_json::to_vec(&json!({"input_smiles": big, "pipeline_config": {"adapters": ["chembl"]}})).unwrap();
    let t = Instant::now();
    let r = stack.http.post(stack.url("/api/v1/runs")).header("content-type", "application/json").body(big_body.clone()).send().await.unwrap();
    let accept_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.status(), 201);
    // Let its fan-out finish so its cost shows in the API's peak RSS.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut rss = serde_json::Map::new();
    for s in &stack.services {
        rss.insert(s.name.clone(), json!(peak_rss_kb(s.pid()).map(|kb| (kb as f64 / 1024.0 * 10.0).round() / 10.0)));
    }
    let figures: Value = json!({
        "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rdkit_local_us_per_molecule": (us_per_molecule * 10.0).round() / 10.0,
        "end_to_end": {"compounds": n, "seconds": (e2e * 1000.0).round() / 1000.0, "compounds_per_s": (n as f64 / e2e).round(), "cpu_seconds": cpu_e2e},
        "pipeline_only": {"compounds": n, "seconds": (overhead * 1000.0).round() / 1000.0, "compounds_per_s": (n as f64 / overhead).round(), "cpu_seconds": cpu_overhead, "note": "every SMILES rejected by RDKit at once: the cost of NATS, aggregator and Postgres alone"},
        "post_runs_100_smiles_ms": {"requests": latencies.len(), "p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99)},
        "accept_100k_run_ms": (accept_ms * 10.0).round() / 10.0,
        "accept_100k_body_bytes": big_body.len(),
        "peak_rss_mb": rss,
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
}
