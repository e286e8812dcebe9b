//! What tracing costs: end-to-end throughput with OpenTelemetry export off,
//! on at 1% sampling, and on for everything, side by side on this machine;
//! prints one JSON object.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench-traces
//! ```
//!
//! Each mode gets a fresh stack (API, aggregator, rdkit-local: the fastest
//! route, where a per-record cost shows most) and `TRACE_BENCH_RUNS` (100)
//! runs of `TRACE_BENCH_RUN_SIZE` (200) reference compounds submitted at
//! once; throughput is compounds from the first submission to the last
//! run's completion. A run is one trace, so 1% sampling traces about one run
//! in a hundred: the others pay for their unsampled spans. Spans go over
//! OTLP/HTTP (protobuf, the default) to a local receiver. The modes are
//! interleaved, `TRACE_BENCH_ROUNDS` (2) rounds, so drift on the machine
//! falls on all of them.

use pharmforge_tests::otlp::OtlpReceiver;
use pharmforge_tests::{reference, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn measure(mode: &str, runs: usize, size: usize, pool: &[String]) -> (f64, u64, u64) {
    let receiver = OtlpReceiver::start().await;
    let mut env: Vec<(&str, String)> = vec![("RUST_LOG", "warn".into()), ("API_RUNS_BURST", "100000".into())];
    match mode {
        "off" => {}
        "ratio_0.01" => {
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()));
            env.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".into()));
            env.push(("OTEL_TRACES_SAMPLER_ARG", "0.01".into()));
        }
        "always_on" => {
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()));
            env.push(("OTEL_TRACES_SAMPLER", "parentbased_always_on".into()));
        }
        other => panic!("unknown mode {other}"),
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let stack = Stack::start_with_env(&["rdkit_local"], &env).await;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(runs);
    for r in 0..runs {
        let smiles: Vec<&String> = pool.iter().cycle().skip(r * size).take(size).collect();
        let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
        ids.push(run["run_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let done = stack.wait_finished_polling(id, Duration::from_secs(600), Duration::from_millis(20)).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    let secs = started.elapsed().as_secs_f64();
    // Let the last batches of spans arrive before counting them.
    tokio::time::sleep(Duration::from_millis(if mode == "off" { 0 } else { 6000 })).await;
    let (requests, bytes) = receiver.requests_and_bytes();
    ((runs * size) as f64 / secs, requests, bytes)
}

#[tokio::main]
async fn main() {
    let runs = env_usize("TRACE_BENCH_RUNS", 100);
    let size = env_usize("TRACE_BENCH_RUN_SIZE", 200);
    let rounds = env_usize("TRACE_BENCH_ROUNDS", 2);
    let pool: Vec<String> = reference::load("chembl_cmet_1017.rdkit.jsonl").into_iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    let modes = ["off", "ratio_0.01", "always_on"];
    let mut figures: Vec<(String, Vec<f64>, u64, u64)> = modes.iter().map(|m| (m.to_string(), Vec::new(), 0, 0)).collect();
    for _ in 0..rounds {
        for (i, mode) in modes.iter().enumerate() {
            let (rate, requests, bytes) = measure(mode, runs, size, &pool).await;
            eprintln!("{mode}: {rate:.0} compounds/s ({requests} export requests, {bytes} bytes)");
            figures[i].1.push(rate);
            figures[i].2 += requests;
            figures[i].3 += bytes;
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let off = mean(&figures[0].1);
    let out: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(mode, rates, requests, bytes)| {
            (
                mode.clone(),
                json!({
                    "compounds_per_s": rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
                    "mean_compounds_per_s": mean(rates).round(),
                    "vs_off": (mean(rates) / off * 1000.0).round() / 1000.0,
                    "export_requests": requests,
                    "export_bytes": bytes,
                }),
            )
        })
        .collect();
    println!(
        "{}",
        json!({"benchmark": "traces", "compounds_per_mode_round": runs * size, "runs_per_mode_round": runs, "route": ["rdkit_local"], "rounds": rounds, "modes": out})
    );
}
