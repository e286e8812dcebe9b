//! The fair-share benchmark: one user's large run, and two other users'
//! small runs submitted while it goes; prints one JSON object.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench-fair
//! ```
//!
//! Each phase runs on a fresh stack (services, NATS, database):
//!
//! * `a_alone_unbounded`: user A's `BENCH_FAIR_COMPOUNDS` (20,000) compounds
//!   through rdkit_local + admet_ai with admission unbounded (the whole run
//!   on the pipeline at once, as before admission existed): the baseline
//!   throughput;
//! * `a_alone`: the same with admission as configured (default windows);
//! * `shared`: the same, and 5 s after A's POST users B and C each submit 5
//!   compounds, again every 5 s for a minute: B/C latency (POST to
//!   completed) p50/p95/max, and A's throughput;
//! * `shared_unbounded` (with `BENCH_FAIR_BASELINE=1`): `shared` with
//!   admission unbounded, to see what B and C waited before;
//! * `external`: A's `BENCH_FAIR_EXTERNAL_COMPOUNDS` (1,000) compounds
//!   through rdkit_local + pubchem + chembl against the local fakes at the
//!   policy limit (5 requests/s), B and C as above with compounds of their
//!   own (nothing cached): their small runs must not wait for A's PubChem
//!   backlog. A is cancelled once the minute is over.
//!
//! Every phase reports the peak of messages on the `PIPELINE` stream
//! (sampled every 100 ms) and the CPU seconds of each process.
//!
//! * `api_memory`: the API's peak RSS (MB, its high-water mark reset before
//!   each, in a fresh API process) while it receives a 1,000,000-SMILES body and hostile bodies of up
//!   to the 64 MiB limit, and what it answered. `BENCH_FAIR_ONLY=api_memory`
//!   runs this phase alone.

use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const UNBOUNDED: [(&str, &str); 2] = [("SCHEDULER_INITIAL_WINDOW", "10000000"), ("SCHEDULER_MAX_WINDOW", "10000000")];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `n` compounds from `offset` on. For rdkit_local + admet_ai (nothing
/// cached): the 1,017 ChEMBL compounds of the reference set, cycled, drug-like
/// as users' are. Through the web adapters (cached by InChIKey): distinct
/// small molecules, so that no user's compound is a cache hit for another.
fn molecules(offset: usize, n: usize, distinct: bool) -> Vec<String> {
    if distinct {
        let all = pharmforge_tests::distinct_molecules(offset + n, &["", "c1ccccc1", "C1CCCCC1", "c1ccncc1", "c1ccc2ccccc2c1", "C1CCNCC1"]);
        return all[offset..].to_vec();
    }
    let chembl: Vec<String> =
        pharmforge_tests::reference::load("chembl_cmet_1017.rdkit.jsonl").iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    chembl.iter().cycle().skip(offset % chembl.len()).take(n).cloned().collect()
}

/// Samples the number of messages on the `PIPELINE` stream until dropped.
fn watch_stream(stack: &Stack) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicU64::new(0));
    let (url, name, p) = (stack.nats.url(), format!("{}PIPELINE", stack.prefix), peak.clone());
    let task = tokio::spawn(async move {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("NATS"));
        let mut stream = js.get_stream(name).await.expect("PIPELINE");
        loop {
            if let Ok(info) = stream.info().await {
                p.fetch_max(info.state.messages, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (peak, task)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The small runs of users B and C: 5 compounds each, every 5 s for a
/// minute, from 5 s after `start`. Returns each one's seconds from POST to completed.
async fn small_runs(stack: &Stack, route: &[&str], start: Instant, fresh_from: usize, distinct: bool) -> Vec<f64> {
    let mut waits = Vec::new();
    let mut pending: Vec<(String, Instant)> = Vec::new();
    let mut next = start + Duration::from_secs(5);
    let mut round = 0;
    while round < 12 || !pending.is_empty() {
        if round < 12 && Instant::now() >= next {
            for (u, user) in ["bob", "carol"].iter().enumerate() {
                let smiles = molecules(fresh_from + (round * 2 + u) * 5, 5, distinct);
                let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": route}, "user_id": user})).await;
                pending.push((run["run_id"].as_str().unwrap().to_owned(), Instant::now()));
            }
            round += 1;
            next += Duration::from_secs(5);
        }
        let mut still = Vec::new();
        for (id, posted) in pending {
            let (_, run) = stack.get_json(&format!("/api/v1/runs/{id}")).await;
            match run["status"].as_str() {
                Some("completed") | Some("failed") => waits.push(posted.elapsed().as_secs_f64()),
                _ if posted.elapsed() > Duration::from_secs(900) => panic!("small run {id} never finished: {run}"),
                _ => still.push((id, posted)),
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    waits
}

async fn phase(
    name: &str,
    adapters: &[&str],
    extra: &[(&str, &str)],
    route: &[&str],
    a_compounds: usize,
    with_small: bool,
    cancel_a_after_small: bool,
) -> Value {
    let stack = Stack::start_with_env(adapters, extra).await;
    let (peak, watcher) = watch_stream(&stack);
    let cpu_before = stack.cpu_snapshot();
    let distinct = route.contains(&"pubchem") || route.contains(&"chembl");
    let smiles = molecules(0, a_compounds, distinct);
    let start = Instant::now();
    let a = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": route}, "user_id": "alice"})).await;
    let a_id = a["run_id"].as_str().unwrap().to_owned();
    let small = if with_small { small_runs(&stack, route, start, a_compounds, distinct).await } else { Vec::new() };
    let (a_secs, a_done) = if cancel_a_after_small {
        let secs = start.elapsed().as_secs_f64();
        let (_, run) = stack.get_json(&format!("/api/v1/runs/{a_id}")).await;
        let url = stack.url(&format!("/api/v1/runs/{a_id}/cancel"));
        stack.http.post(url).send().await.expect("cancel");
        (secs, run["compounds"]["completed"].as_i64().unwrap_or(0) + run["compounds"]["failed"].as_i64().unwrap_or(0))
    } else {
        let done = stack.wait_finished_polling(&a_id, Duration::from_secs(3600), Duration::from_millis(50)).await;
        assert_eq!(done["status"], "completed", "{done}");
        (start.elapsed().as_secs_f64(), a_compounds as i64)
    };
    let cpu = pharmforge_tests::cpu_delta(&cpu_before, &stack.cpu_snapshot());
    watcher.abort();
    let mut sorted = small.clone();
    sorted.sort_by(f64::total_cmp);
    let mut out = json!({
        "a_compounds": a_compounds,
        "a_compounds_finished": a_done,
        "a_seconds": round3(a_secs),
        "a_compounds_per_s": round3(a_done as f64 / a_secs),
        "peak_pipeline_messages": peak.load(Ordering::Relaxed),
        "cpu_seconds": cpu,
    });
    if with_small {
        out["small_runs"] = json!(sorted.len());
        out["small_latency_s"] =
            json!({"p50": round3(percentile(&sorted, 0.5)), "p95": round3(percentile(&sorted, 0.95)), "max": round3(*sorted.last().unwrap_or(&f64::NAN))});
    }
    eprintln!("{name}: {out}");
    out
}

/// Peak RSS of the API while it takes each body, each in a fresh API process.
async fn api_memory() -> Value {
    let mut stack = Stack::start(&[]).await;
    let pid = stack.service("pharmforge-api").pid();
    let filler = |n: usize, item: &str| std::iter::repeat_n(item, n).collect::<Vec<_>>().join(",");
    // ChEMBL compounds (56 characters on average), cycled: a 59 MB body.
    let chembl: Vec<String> =
        pharmforge_tests::reference::load("chembl_cmet_1017.rdkit.jsonl").iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    let million: Vec<&String> = chembl.iter().cycle().take(1_000_000).collect();
    let bodies: Vec<(&str, String)> = vec![
        ("1M_smiles", json!({"input_smiles": million, "pipeline_config": {"adapters": ["rdkit_local"]}}).to_string()),
        ("64MiB_numbers_as_smiles", format!("{{\"input_smiles\": [{}]}}", filler(32_000_000, "1"))),
        ("64MiB_numbers_in_pipeline_config", format!("{{\"input_smiles\": [\"C\"], \"pipeline_config\": {{\"x\": [{}]}}}}", filler(32_000_000, "1"))),
        ("64MiB_nested_lists", format!("{{\"user_id\": {}{}}}", "[".repeat(33_000_000), "]".repeat(33_000_000))),
        ("6400_smiles_of_10k_chars", json!({"input_smiles": vec!["C".repeat(10_000); 6_400], "pipeline_config": {"adapters": ["rdkit_local"]}}).to_string()),
    ];
    let mut out = serde_json::Map::new();
    let baseline = pharmforge_tests::rss_kb(pid).unwrap_or(0) as f64 / 1024.0;
    for (name, body) in bodies {
        // A fresh API for each body: what one body costs, not what the
        // allocator kept from the one before.
        stack.kill_and_restart("pharmforge-api");
        stack.wait_ready(Duration::from_secs(60)).await;
        let pid = stack.service("pharmforge-api").pid();
        let size = body.len();
        let started = Instant::now();
        let r = stack
            .http
            .post(stack.url("/api/v1/runs"))
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .expect("POST /runs");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let message: String = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["error"]["message"].as_str().map(str::to_owned)).unwrap_or_default();
        let peak = pharmforge_tests::peak_rss_kb(pid).unwrap_or(0) as f64 / 1024.0;
        let entry = json!({"body_mb": round3(size as f64 / 1048576.0), "status": status, "answer": message.chars().take(100).collect::<String>(), "seconds": round3(started.elapsed().as_secs_f64()), "api_peak_rss_mb": round3(peak)});
        eprintln!("api_memory {name}: {entry}");
        out.insert(name.into(), entry);
    }
    out.insert("api_rss_at_start_mb".into(), json!(round3(baseline)));
    Value::Object(out)
}

#[tokio::main]
async fn main() {
    if std::env::var("BENCH_FAIR_ONLY").is_ok_and(|v| v == "api_memory") {
        println!("{}", serde_json::to_string_pretty(&json!({"api_memory": api_memory().await})).unwrap());
        return;
    }
    // BENCH_FAIR_PHASES=a_alone,shared,... runs only those phases.
    let phases = std::env::var("BENCH_FAIR_PHASES").unwrap_or_default();
    let wanted = |name: &str| phases.is_empty() || phases.split(',').any(|p| p.trim() == name);
    let n = env_usize("BENCH_FAIR_COMPOUNDS", 20_000);
    let chain = ["rdkit_local", "admet_ai"];
    // BENCH_FAIR_SCHEDULER="SCHEDULER_QUEUE_MS=1000,..." sets the API's
    // admission settings in the windowed phases (to compare settings A/B).
    let tuned_text = std::env::var("BENCH_FAIR_SCHEDULER").unwrap_or_default();
    let tuned: Vec<(&str, &str)> = tuned_text.split(',').filter_map(|kv| kv.trim().split_once('=')).collect();
    let mut report = serde_json::Map::new();
    if wanted("a_alone_unbounded") {
        report.insert("a_alone_unbounded".into(), phase("a_alone_unbounded", &chain, &UNBOUNDED, &chain, n, false, false).await);
    }
    if wanted("a_alone") {
        report.insert("a_alone".into(), phase("a_alone", &chain, &tuned, &chain, n, false, false).await);
    }
    if wanted("shared") {
        report.insert("shared".into(), phase("shared", &chain, &tuned, &chain, n, true, false).await);
    }
    if std::env::var("BENCH_FAIR_BASELINE").is_ok_and(|v| v == "1") {
        report.insert("shared_unbounded".into(), phase("shared_unbounded", &chain, &UNBOUNDED, &chain, n, true, false).await);
    }
    let throughput = |k: &str| report.get(k).and_then(|r| r["a_compounds_per_s"].as_f64()).unwrap_or(f64::NAN);
    let (shared, alone) = (round3(throughput("shared") / throughput("a_alone_unbounded")), round3(throughput("a_alone") / throughput("a_alone_unbounded")));
    report.insert("a_shared_vs_unbounded".into(), json!(shared));
    report.insert("a_alone_vs_unbounded".into(), json!(alone));

    if !wanted("external") {
        if wanted("api_memory") {
            report.insert("api_memory".into(), api_memory().await);
        }
        println!("{}", serde_json::to_string_pretty(&Value::Object(report)).unwrap());
        return;
    }
    let external_n = env_usize("BENCH_FAIR_EXTERNAL_COMPOUNDS", 1_000);
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    let env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, None);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let external = ["rdkit_local", "pubchem", "chembl"];
    report.insert("external".into(), phase("external", &external, &env, &external, external_n, true, true).await);
    if wanted("api_memory") {
        report.insert("api_memory".into(), api_memory().await);
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(report)).unwrap());
}
