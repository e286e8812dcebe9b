//! Nothing lost, nothing doubled: services killed with SIGKILL mid-run and
//! restarted, nats-server restarted mid-run. Each run must complete with
//! exactly one result row per compound and every count exact.

use pharmforge_tests::{reference, PgServer, Stack, TestDatabase};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const COMPOUNDS: usize = 2_000;
/// Short ack wait so redelivery after a kill happens within seconds.
const FAST_REDELIVERY: [(&str, &str); 1] = [("PHARMFORGE_ACK_WAIT_MS", "3000")];

fn smiles() -> Vec<String> {
    let valid: Vec<String> = reference::load("chembl_cmet_1017.rdkit.jsonl").into_iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    valid.iter().cycle().take(COMPOUNDS).cloned().collect()
}

async fn start_run(stack: &Stack) -> String {
    let run = stack.create_run(json!({"input_smiles": smiles(), "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    run["run_id"].as_str().unwrap().to_owned()
}

/// Waits until `pred` holds for the run (polled), or panics; the run must
/// still be unfinished then, or the fault would come too late to test anything.
async fn wait_until(stack: &Stack, run_id: &str, what: &str, pred: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, run) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        if pred(&run) {
            assert_eq!(run["status"], "running", "the run finished before the fault: {}", run["compounds"]);
            return;
        }
        assert!(Instant::now() < deadline, "never reached: {what}; last {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn assert_complete_and_exact(stack: &Stack, run_id: &str) {
    let done = stack.wait_finished(run_id, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": COMPOUNDS, "completed": COMPOUNDS, "failed": 0}));
    assert_eq!(done["stages"]["rdkit_local"], json!({"pending": 0, "done": COMPOUNDS, "failed": 0, "skipped": 0}));
    let pool = stack.db.pool().await;
    let (rows, distinct, with_props): (i64, i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT idx), count(properties) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!((rows, distinct, with_props), (COMPOUNDS as i64, COMPOUNDS as i64, COMPOUNDS as i64));
    // Every compound placed once: rank orders 1..=n, each once (ranks
    // themselves are shared by compounds that score the same).
    let places: (i64, i64, i64) =
        sqlx::query_as("SELECT count(DISTINCT rank_order), max(rank_order)::bigint, count(rank) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(places, (COMPOUNDS as i64, COMPOUNDS as i64, COMPOUNDS as i64), "rank orders 1..=n, each once, and a rank each");
}

#[tokio::test]
async fn killing_the_api_right_after_it_accepts_a_run_loses_nothing() {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &FAST_REDELIVERY).await;
    let run_id = start_run(&stack).await;
    // Killed mid-admission: with the only API dead, the run's admission
    // cursor (in Postgres) cannot move, and it must stand short of the run.
    stack.service("pharmforge-api").kill();
    let pool = stack.db.pool().await;
    let admitted: i32 = sqlx::query_scalar("SELECT fanout_published FROM pipeline_runs WHERE run_id = $1").bind(&run_id).fetch_one(&pool).await.unwrap();
    assert!((admitted as usize) < COMPOUNDS, "the kill came after admission was over ({admitted} of {COMPOUNDS})");
    stack.kill_and_restart("pharmforge-api");
    stack.wait_ready(Duration::from_secs(30)).await;
    assert_complete_and_exact(&stack, &run_id).await;
    println!("killed with {admitted} of {COMPOUNDS} compounds admitted");
}

#[tokio::test]
async fn killing_rdkit_local_mid_run_loses_nothing() {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &FAST_REDELIVERY).await;
    let run_id = start_run(&stack).await;
    wait_until(&stack, &run_id, "some compounds done", |r| r["stages"]["rdkit_local"]["done"].as_i64().unwrap_or(0) > 100).await;
    stack.kill_and_restart("pharmforge-rdkit-local");
    assert_complete_and_exact(&stack, &run_id).await;
}

#[tokio::test]
async fn killing_the_aggregator_mid_run_loses_nothing_and_doubles_nothing() {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &FAST_REDELIVERY).await;
    let run_id = start_run(&stack).await;
    wait_until(&stack, &run_id, "some compounds recorded", |r| r["compounds"]["completed"].as_i64().unwrap_or(0) > 100).await;
    stack.kill_and_restart("pharmforge-aggregator");
    assert_complete_and_exact(&stack, &run_id).await;
}

#[tokio::test]
async fn restarting_nats_mid_run_loses_nothing() {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &FAST_REDELIVERY).await;
    let run_id = start_run(&stack).await;
    wait_until(&stack, &run_id, "some compounds recorded", |r| r["compounds"]["completed"].as_i64().unwrap_or(0) > 100).await;
    stack.nats.restart();
    assert_complete_and_exact(&stack, &run_id).await;
}

#[tokio::test]
async fn restarting_postgres_mid_run_loses_nothing() {
    let pg = PgServer::start();
    let db = TestDatabase::create_on(&pg.admin_url()).await;
    let stack = Stack::start_on(db, &["rdkit_local"], &FAST_REDELIVERY).await;
    let run_id = start_run(&stack).await;
    wait_until(&stack, &run_id, "some compounds recorded", |r| r["compounds"]["completed"].as_i64().unwrap_or(0) > 100).await;
    // Down for a few seconds (every connection cut), while compounds keep
    // flowing through NATS; the aggregator and the API reconnect on their own.
    pg.stop();
    let (status, _) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, 503, "reads answer 503 while Postgres is down");
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again();
    assert_complete_and_exact(&stack, &run_id).await;
    // The services saw it: their connections were cut (writes then wait for
    // a connection or are handed back, both without loss).
    let logs = stack.all_logs();
    assert!(logs.contains("terminating connection due to administrator command"), "{logs}");
    let (ready, _) = stack.get_json("/readyz").await;
    assert_eq!(ready, 200);
}

/// SIGTERM under load: the service stops pulling, finishes or hands back what
/// it holds and exits (status 0) within a bound; after a restart the run
/// completes exactly. The ack wait is set to 60 s, so a message the service
/// kept without handing it back would hold the run for a minute: the run must
/// finish well before that.
async fn sigterm_mid_run(binary: &str, wait_for_progress: bool) {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &[("PHARMFORGE_ACK_WAIT_MS", "60000"), ("SHUTDOWN_GRACE_MS", "10000")]).await;
    let run_id = start_run(&stack).await;
    if wait_for_progress {
        wait_until(&stack, &run_id, "some compounds done", |r| r["stages"]["rdkit_local"]["done"].as_i64().unwrap_or(0) > 100).await;
    }
    let (status, took) = stack.terminate_and_restart(binary, Duration::from_secs(20));
    assert!(status.success(), "{binary} exited with {status} after SIGTERM");
    assert!(took < Duration::from_secs(15), "{binary} took {took:?} to stop");
    let restarted = Instant::now();
    stack.wait_ready(Duration::from_secs(30)).await;
    assert_complete_and_exact(&stack, &run_id).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(45),
        "the run waited {:?}: something held by {binary} was neither finished nor handed back",
        restarted.elapsed()
    );
}

#[tokio::test]
async fn sigterm_to_rdkit_local_under_load_loses_nothing() {
    sigterm_mid_run("pharmforge-rdkit-local", true).await;
}

#[tokio::test]
async fn sigterm_to_the_aggregator_under_load_loses_nothing() {
    sigterm_mid_run("pharmforge-aggregator", true).await;
}

#[tokio::test]
async fn sigterm_to_the_api_during_fan_out_loses_nothing() {
    sigterm_mid_run("pharmforge-api", false).await;
}
