//! Admission through the real services: compounds enter the pipeline a
//! window at a time, shared fairly between users; cancelling or deleting a
//! run stops its admission and its work; two API replicas, one killed
//! mid-admission, admit each compound once.
//!
//! A slow stage is the test adapter standing in for rdkit_local with a delay
//! per record, so that a large run takes long enough to be overtaken.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use pharmforge_tests::{free_port, Stack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The test adapter in place of rdkit_local, `delay_ms` per record.
fn slow_stage(stack: &mut Stack, delay_ms: u64) {
    stack.spawn("pharmforge-test-adapter", &[("TEST_ADAPTER_AS", "rdkit_local"), ("TEST_ADAPTER_DELAY_MS", &delay_ms.to_string())]);
}

fn molecules(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("C{}{tag}", "C".repeat(i % 7))).collect()
}

async fn run_state(stack: &Stack, run_id: &str) -> Value {
    stack.get_json(&format!("/api/v1/runs/{run_id}")).await.1
}

async fn wait_for(stack: &Stack, run_id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = run_state(stack, run_id).await;
        if pred(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "never reached: {what}; last {run}\n{}", stack.all_logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_small_run_submitted_behind_a_large_one_finishes_while_the_large_one_is_still_going() {
    let mut stack = Stack::start(&[]).await;
    // About 400 records/s through the slow stage: 6,000 take ~15 s.
    slow_stage(&mut stack, 5);
    let large = stack.create_run(json!({"input_smiles": molecules(6_000, "O"), "pipeline_config": {"adapters": ["rdkit_local"]}, "user_id": "alice"})).await;
    let large_id = large["run_id"].as_str().unwrap().to_owned();
    wait_for(&stack, &large_id, "the large run under way", |r| r["stages"]["rdkit_local"]["done"].as_i64().unwrap_or(0) > 1_200).await;

    let submitted = Instant::now();
    let small = stack
        .create_run(json!({"input_smiles": molecules(5, "N"), "pipeline_config": {"adapters": ["rdkit_local"], "priority": "high"}, "user_id": "bob"}))
        .await;
    assert_eq!(small["priority"], "high", "the priority is shown on the run");
    let small_id = small["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished_polling(&small_id, Duration::from_secs(60), Duration::from_millis(20)).await;
    let waited = submitted.elapsed();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["admission"], json!({"admitted": 5, "waiting": 0}));

    let large_now = run_state(&stack, &large_id).await;
    assert_eq!(large_now["status"], "running", "the large run must still be going: {}", large_now["stages"]);
    let left = large_now["stages"]["rdkit_local"]["pending"].as_i64().unwrap();
    assert!(left > 1_000, "the large run had {left} compounds left; the small one was not really behind it");
    // Behind the whole backlog it would have waited for `left` more records (> 2.5 s at 400/s).
    assert!(waited < Duration::from_secs(3), "the small run took {waited:?} with {left} of the large run's compounds still to go");
    // The large run holds at most the window of compounds on the pipeline, not all of them.
    let admitted = large_now["admission"]["admitted"].as_i64().unwrap();
    assert!(admitted < 6_000, "the whole large run was admitted at once: {}", large_now["admission"]);
    assert_eq!(large_now["admission"]["waiting"].as_i64().unwrap(), 6_000 - admitted);

    let large_done = stack.wait_finished(&large_id, Duration::from_secs(120)).await;
    assert_eq!(large_done["compounds"], json!({"total": 6_000, "completed": 6_000, "failed": 0}));
    assert_eq!(large_done["admission"], json!({"admitted": 6_000, "waiting": 0}));
}

/// A durable consumer of `pipeline.done` made before any record gets there,
/// so that every finished record is kept for the test to read.
async fn watch_done(stack: &Stack) -> (jetstream::Context, consumer::PullConsumer) {
    let js = jetstream::new(async_nats::connect(stack.nats.url()).await.unwrap());
    let stream = js.get_stream(format!("{}PIPELINE", stack.prefix)).await.unwrap();
    let watcher = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("test_done_watch".into()),
            filter_subject: format!("{}pipeline.done", stack.prefix),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    (js, watcher)
}

/// Reads finished records until none has come for `quiet`.
async fn finished_records(watcher: &consumer::PullConsumer, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let mut batch = watcher.fetch().max_messages(500).expires(quiet).messages().await.unwrap();
        let mut got = 0;
        while let Some(Ok(m)) = batch.next().await {
            out.push(serde_json::from_slice(&m.payload).unwrap());
            m.ack().await.unwrap();
            got += 1;
        }
        if got == 0 {
            return out;
        }
    }
}

/// A run of 2,000 with a window of 100 and no adapter running: 100 admitted
/// and waiting at rdkit_local. `stop` cancels or deletes it; then the adapter
/// starts. Only those 100 ever reach the end, every one skipped.
async fn stopping_a_run_stops_its_admission_and_its_work(stop: &str) -> (Stack, String) {
    let mut stack = Stack::start_with_env(&[], &[("SCHEDULER_INITIAL_WINDOW", "100"), ("SCHEDULER_MAX_WINDOW", "100")]).await;
    let (_js, watcher) = watch_done(&stack).await;
    let run = stack.create_run(json!({"input_smiles": molecules(2_000, "O"), "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let waiting = wait_for(&stack, &run_id, "a window's worth admitted", |r| r["admission"]["admitted"] == 100).await;
    assert_eq!(waiting["admission"]["waiting"], 1_900);
    // Still 100 a moment later: the window holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_state(&stack, &run_id).await["admission"]["admitted"], 100);

    let url = stack.url(&format!("/api/v1/runs/{run_id}{stop}"));
    let response = if stop.is_empty() { stack.http.delete(url).send().await.unwrap() } else { stack.http.post(url).send().await.unwrap() };
    assert!(response.status().is_success(), "{}", response.status());
    stack.spawn("pharmforge-rdkit-local", &[]);
    let records = finished_records(&watcher, Duration::from_secs(3)).await;
    assert_eq!(records.len(), 100, "only the compounds admitted before the stop went through");
    assert!(records.iter().all(|r| r["cancelled"] == true && r["sections"].get("properties").is_none()), "the adapter skipped them all");
    let indices: std::collections::BTreeSet<i64> = records.iter().map(|r| r["index"].as_i64().unwrap()).collect();
    assert_eq!(indices, (0..100).collect(), "the first 100, each once");
    (stack, run_id)
}

#[tokio::test]
async fn deleting_a_running_run_stops_its_admission_and_its_work() {
    let (stack, run_id) = stopping_a_run_stops_its_admission_and_its_work("").await;
    assert_eq!(stack.get_json(&format!("/api/v1/runs/{run_id}")).await.0, 404);
    let pool = stack.db.pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 0, "nothing of a deleted run is written back");
}

#[tokio::test]
async fn cancelling_a_run_stops_its_admission_and_its_work() {
    let (stack, run_id) = stopping_a_run_stops_its_admission_and_its_work("/cancel").await;
    let run = run_state(&stack, &run_id).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["admission"], json!({"admitted": 100, "waiting": 0}));
    // The cancelled run is never picked up again (it used to be re-announced every 5 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(run_state(&stack, &run_id).await["admission"]["admitted"], 100);
    let logs = stack.all_logs();
    assert!(!logs.contains("announcing it again"), "{logs}");
}

#[tokio::test]
async fn killing_the_admitting_api_replica_mid_admission_hands_over_without_loss_or_double() {
    let mut stack = Stack::start_with_env(&[], &[("SCHEDULER_MAX_WINDOW", "100"), ("PHARMFORGE_ACK_WAIT_MS", "3000")]).await;
    let second_port = free_port().to_string();
    stack.spawn("pharmforge-api", &[("API_ADDR", &format!("127.0.0.1:{second_port}"))]);
    slow_stage(&mut stack, 1);
    let total = 3_000;
    let run = stack.create_run(json!({"input_smiles": molecules(total, "O"), "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let first = wait_for(&stack, &run_id, "admission under way", |r| r["admission"]["admitted"].as_i64().unwrap_or(0) > 300).await;
    let leader = stack
        .services
        .iter()
        .position(|s| s.name == "pharmforge-api" && s.log_text().contains("this replica admits compounds now"))
        .expect("one replica admits");
    assert_eq!(
        stack.services.iter().filter(|s| s.name == "pharmforge-api" && s.log_text().contains("this replica admits compounds now")).count(),
        1,
        "{}",
        stack.all_logs()
    );
    // The stack's own replica was spawned second (after the aggregator).
    let survivor_port = if leader == 1 { second_port.clone() } else { stack.api_port.to_string() };
    stack.services[leader].kill();
    let at_kill = get_via(&stack, &survivor_port, &run_id).await;
    let admitted_at_kill = at_kill["admission"]["admitted"].as_i64().unwrap();
    assert!(admitted_at_kill < total as i64, "admission had finished before the kill ({} at first look)", first["admission"]);

    // The other replica takes over: the run completes, each compound once.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let run = get_via(&stack, &survivor_port, &run_id).await;
        if run["status"] == "completed" {
            break run;
        }
        assert!(Instant::now() < deadline, "never completed: {run}\n{}", stack.all_logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["compounds"], json!({"total": total, "completed": total, "failed": 0}));
    assert_eq!(done["stages"]["rdkit_local"], json!({"pending": 0, "done": total, "failed": 0, "skipped": 0}));
    let pool = stack.db.pool().await;
    let (rows, distinct): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT idx) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!((rows, distinct), (total as i64, total as i64));
    let taken_over =
        stack.services.iter().enumerate().any(|(i, s)| i != leader && s.name == "pharmforge-api" && s.log_text().contains("this replica admits compounds now"));
    assert!(taken_over, "{}", stack.all_logs());
}

async fn get_via(stack: &Stack, port: &str, run_id: &str) -> Value {
    let r = stack.http.get(format!("http://127.0.0.1:{port}/api/v1/runs/{run_id}")).send().await.unwrap();
    r.json().await.unwrap()
}
