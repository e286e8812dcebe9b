//! The load benchmark: one large run through every adapter (PubChem and
//! ChEMBL answered by the local fakes) while the API is read at a fixed rate;
//! prints one JSON object.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench-load
//! ```
//!
//! * `LOAD_COMPOUNDS` (100,000): the run's size, the reference molecules
//!   repeated (the web adapters' shared cache answers repeats; ADMET-AI and
//!   RDKit compute every one).
//! * `LOAD_GET_PER_S` (500): open-loop GET rate during the run, a client mix
//!   of 70% progress polls (`GET /runs/{id}`), 10% run lists
//!   (`GET /runs?page_size=20`) and 20% result pages
//!   (`GET /runs/{id}/results?page_size=20`, pages 1..50 in turn); each
//!   request is sent on schedule whatever the previous ones do, so slow
//!   answers show in the latency instead of lowering the rate. Requests shed
//!   by the API (503 `overloaded`) are counted apart.
//! * RSS of every service: the peak (VmHWM), and the value at each quarter
//!   of the run (flat = independent of the run's size).
//! * `LOAD_ADAPTERS` (`rdkit_local,admet_ai,pubchem,chembl`): the route, and
//!   the adapter services started.
//! * `LOAD_WARM` (0): 1 runs the distinct molecules once before the measured
//!   run, so that PubChem and ChEMBL answer it from the cache throughout
//!   (CPU figures then cover the measured run only).
//! * `cpu_ms_per_compound`: CPU time of every process of the stack over the
//!   measured run, per compound, and their sum: the chain's cost per
//!   compound, which is what a core-bound deployment pays.
//!
//! The issue-18 figures (chain cost per compound) are taken with
//! `LOAD_COMPOUNDS=10000 LOAD_GET_PER_S=1`, once with
//! `LOAD_ADAPTERS=rdkit_local,admet_ai` and once with `LOAD_WARM=1`.
//!
//! The fakes are given a rate limit of 1,000/s: this measures PharmForge,
//! not PubChem's 5/s policy (see `pharmforge-bench-external` for that).

use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::{peak_rss_kb, reference, rss_kb, Stack};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n = env_usize("LOAD_COMPOUNDS", 100_000);
    let get_rate = env_usize("LOAD_GET_PER_S", 500).max(1);
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    let nice = std::env::var("LOAD_ADAPTER_NICE").unwrap_or_else(|_| "10".into());
    let mut env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, Some(1000));
    env.push(("RUST_LOG", "warn".into()));
    // Adapters and the aggregator at lower CPU priority than the API (they
    // apply it; the API ignores it): `LOAD_ADAPTER_NICE`, 10.
    env.push(("PHARMFORGE_NICE", nice.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let adapters_var = std::env::var("LOAD_ADAPTERS").unwrap_or_else(|_| "rdkit_local,admet_ai,pubchem,chembl".into());
    let adapters: Vec<&str> = adapters_var.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
    let stack = Arc::new(Stack::start_with_env(&adapters, &env).await);

    let pool: Vec<String> = reference::load("chembl_cmet_1017.rdkit.jsonl").into_iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    let warm = env_usize("LOAD_WARM", 0) == 1;
    if warm {
        let run = stack.create_run(json!({"input_smiles": pool, "pipeline_config": {"adapters": adapters}})).await;
        let id = run["run_id"].as_str().unwrap().to_owned();
        let status = stack.wait_finished(&id, Duration::from_secs(3600)).await;
        eprintln!("warm-up run of {} molecules: {}", pool.len(), status["status"]);
    }
    let input: Vec<&String> = pool.iter().cycle().take(n).collect();
    let cpu_before = stack.cpu_snapshot();
    let started = Instant::now();
    let run = stack.create_run(json!({"input_smiles": input, "pipeline_config": {"adapters": adapters}})).await;
    let accepted_ms = started.elapsed().as_secs_f64() * 1e3;
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    // Open-loop readers.
    // (kind, ms, seconds into the run when sent): kind 0 run, 1 run list,
    // 2 results page.
    let latencies = Arc::new(Mutex::new(Vec::<(usize, f64, f64)>::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let shed = Arc::new(Mutex::new(0usize));
    let reading = {
        let (stack, run_id, latencies, failures, shed) = (stack.clone(), run_id.clone(), latencies.clone(), failures.clone(), shed.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / get_rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in 0u64.. {
                tick.tick().await;
                let (kind, path) = match i % 10 {
                    0 => (1, "/api/v1/runs?page_size=20".to_owned()),
                    1 | 2 => (2, format!("/api/v1/runs/{run_id}/results?page={}&page_size=20", 1 + (i / 10) % 50)),
                    _ => (0, format!("/api/v1/runs/{run_id}")),
                };
                let (stack, latencies, failures, shed) = (stack.clone(), latencies.clone(), failures.clone(), shed.clone());
                tokio::spawn(async move {
                    let t = Instant::now();
                    let sent_at = started.elapsed().as_secs_f64();
                    let status = match stack.http.get(stack.url(&path)).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            if r.bytes().await.is_ok() {
                                status
                            } else {
                                0
                            }
                        }
                        Err(_) => 0,
                    };
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    match status {
                        200 => latencies.lock().unwrap().push((kind, ms, sent_at)),
                        503 => *shed.lock().unwrap() += 1,
                        _ => *failures.lock().unwrap() += 1,
                    }
                });
            }
        })
    };

    // Progress and RSS, every second, until the run finishes.
    let mut at_quarter: Vec<Value> = Vec::new();
    let mut next_quarter = 1;
    let done = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, body) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        if status != 200 {
            continue;
        }
        let finished = body["compounds"]["completed"].as_u64().unwrap_or(0) + body["compounds"]["failed"].as_u64().unwrap_or(0);
        while next_quarter <= 4 && finished as usize * 4 >= n * next_quarter {
            let rss: serde_json::Map<String, Value> =
                stack.services.iter().map(|s| (s.name.clone(), json!((rss_kb(s.pid()).unwrap_or(0) as f64 / 1024.0).round()))).collect();
            at_quarter.push(json!({"finished": finished, "seconds": started.elapsed().as_secs(), "rss_mb": rss}));
            next_quarter += 1;
        }
        let s = body["status"].as_str().unwrap_or("");
        if s != "pending" && s != "running" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(4 * 3600), "run not finished after 4 h");
    };
    let seconds = started.elapsed().as_secs_f64();
    reading.abort();
    let cpu = pharmforge_tests::cpu_delta(&cpu_before, &stack.cpu_snapshot());
    let mut per_compound: serde_json::Map<String, Value> =
        cpu.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!((v.as_f64().unwrap_or(0.0) * 1e3 / n as f64 * 1e3).round() / 1e3))).collect();
    let total_ms: f64 = cpu.as_object().unwrap().values().filter_map(Value::as_f64).sum::<f64>() * 1e3 / n as f64;
    per_compound.insert("total".into(), json!((total_ms * 1e3).round() / 1e3));
    let bench_cpu = pharmforge_tests::cpu_seconds(std::process::id()).unwrap_or(0.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = latencies.lock().unwrap().clone();
    // Latencies (ms, sorted) of the answers `keep` picks.
    let sorted_where = |keep: &dyn Fn(&(usize, f64, f64)) -> bool| -> Vec<f64> {
        let mut v: Vec<f64> = all.iter().filter(|l| keep(l)).map(|(_, ms, _)| *ms).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    };
    let sorted = |kind: Option<usize>| sorted_where(&|(k, _, _)| kind.is_none_or(|want| *k == want));
    let lat = sorted(None);
    let by_kind: serde_json::Map<String, Value> = ["GET /runs/{id}", "GET /runs", "GET /runs/{id}/results"]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let v = sorted(Some(k));
            (name.to_string(), json!({"answered": v.len(), "p50_ms": percentile(&v, 0.5), "p99_ms": percentile(&v, 0.99)}))
        })
        .collect();
    // p99 in each tenth of the run: whether the tail is spread evenly or
    // comes from some phase (fan-out at the start, ranking at the end).
    let by_tenth: Vec<Value> = (0..10)
        .map(|t| {
            let (from, to) = (seconds * t as f64 / 10.0, seconds * (t + 1) as f64 / 10.0);
            let v = sorted_where(&|(_, _, at)| *at >= from && *at < to);
            json!({"from_s": from.round(), "answered": v.len(), "p50_ms": percentile(&v, 0.5), "p99_ms": percentile(&v, 0.99)})
        })
        .collect();
    let failed_gets = *failures.lock().unwrap();
    let shed_gets = *shed.lock().unwrap();

    // VmHWM: the highest resident set each process ever had.
    let peak_mb: serde_json::Map<String, Value> =
        stack.services.iter().map(|s| (s.name.clone(), json!((peak_rss_kb(s.pid()).unwrap_or(0) as f64 / 1024.0 * 10.0).round() / 10.0))).collect();
    let out = json!({
        "compounds": n,
        "adapters": adapters,
        "cache_warmed_first": warm,
        "adapter_nice": std::env::var("LOAD_ADAPTER_NICE").unwrap_or_else(|_| "10".into()),
        "status": done["status"],
        "compounds_completed": done["compounds"]["completed"],
        "compounds_failed": done["compounds"]["failed"],
        "accept_ms": (accepted_ms * 10.0).round() / 10.0,
        "seconds": (seconds * 10.0).round() / 10.0,
        "compounds_per_s": (n as f64 / seconds * 10.0).round() / 10.0,
        "gets": {
            "target_per_s": get_rate,
            "answered": lat.len(),
            "shed_503": shed_gets,
            "failed": failed_gets,
            "sent_per_s": ((lat.len() + shed_gets + failed_gets) as f64 / seconds).round(),
            "mix": "70% GET /runs/{id}, 10% GET /runs?page_size=20, 20% GET /runs/{id}/results?page_size=20",
            "p50_ms": percentile(&lat, 0.5),
            "p99_ms": percentile(&lat, 0.99),
            "max_ms": lat.last().copied().unwrap_or(f64::NAN),
            "by_kind": by_kind,
            "by_tenth_of_run": by_tenth,
        },
        "cpu_seconds": cpu,
        "cpu_ms_per_compound": per_compound,
        "cpu_seconds_of_this_process_fakes_and_readers": (bench_cpu * 10.0).round() / 10.0,
        "peak_rss_mb": peak_mb,
        "rss_at_each_quarter": at_quarter,
        "requests_to_fakes": {"pubchem": pubchem.log().len(), "chembl": chembl.log().len()},
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
