//! The webhook outbox on a real Postgres: which status changes write an event
//! (and how many), leases, progress events' pace, a run's attempts.

use chrono::Utc;
use pharmforge_store::webhooks::{add_progress_events, claim_due, prune_progress_events, record_attempt, run_deliveries, AttemptOutcome};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;

mod common;
use common::fresh_pool;

/// A run of 2 compounds through rdkit_local; its row id.
async fn new_run(pool: &PgPool, run_id: &str, pipeline_config: Value) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO pipeline_runs (run_id, input_smiles, pipeline_config, adapter_sequence, total_compounds) \
         VALUES ($1, '[]', $2, ARRAY['rdkit_local'], 2) RETURNING id",
    )
    .bind(run_id)
    .bind(pipeline_config)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// What the aggregator's update does to a run (counters, status).
async fn aggregate(pool: &PgPool, pk: i64, status: &str, done: i32) {
    sqlx::query(
        "UPDATE pipeline_runs SET status = $2, completed_compounds = $3, steps_done = $3, \
         stage_counts = jsonb_build_object('rdkit_local', jsonb_build_object('done', $3, 'failed', 0, 'skipped', 0)), updated_at = now() \
         WHERE id = $1",
    )
    .bind(pk)
    .bind(status)
    .bind(done)
    .execute(pool)
    .await
    .unwrap();
}

async fn events(pool: &PgPool, pk: i64) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT event, snapshot FROM webhook_events WHERE run_pk = $1 ORDER BY id").bind(pk).fetch_all(pool).await.unwrap()
}

fn hook(events: &[&str]) -> Value {
    json!({"adapters": ["rdkit_local"], "webhook": {"url": "https://hooks.example/x", "events": events}})
}

#[tokio::test]
async fn a_run_ending_writes_one_event_if_it_subscribed_to_that_end() {
    let pool = fresh_pool().await;
    let subscribed = new_run(&pool, "run_00000000000000b1", hook(&["completed"])).await;
    let other_end = new_run(&pool, "run_00000000000000b2", hook(&["failed", "progress"])).await;
    let without = new_run(&pool, "run_00000000000000b3", json!({"adapters": ["rdkit_local"]})).await;
    for pk in [subscribed, other_end, without] {
        aggregate(&pool, pk, "running", 0).await;
        aggregate(&pool, pk, "running", 1).await;
        aggregate(&pool, pk, "completed", 2).await;
        // A batch counted again after the end (a redelivery) changes nothing.
        aggregate(&pool, pk, "completed", 2).await;
    }
    let got = events(&pool, subscribed).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "completed");
    assert_eq!(
        got[0].1,
        json!({"run_id": "run_00000000000000b1", "status": "completed", "user_id": null, "total": 2, "completed": 2, "failed": 0,
               "steps_done": 2, "stage_counts": {"rdkit_local": {"done": 2, "failed": 0, "skipped": 0}}, "adapter_sequence": ["rdkit_local"]})
    );
    assert!(events(&pool, other_end).await.is_empty());
    assert!(events(&pool, without).await.is_empty());

    // No `events`: the three ends. A cancel is an end like the others.
    let default = new_run(&pool, "run_00000000000000b4", json!({"webhook": {"url": "https://hooks.example/y"}})).await;
    assert_eq!(
        pharmforge_store::cancel_run(&pool, &pharmforge_core::RunId::parse("run_00000000000000b4").unwrap()).await.unwrap(),
        pharmforge_store::CancelOutcome::Cancelled
    );
    let got = events(&pool, default).await;
    assert_eq!(got.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["cancelled"]);
    assert_eq!(got[0].1["status"], "cancelled");
}

#[tokio::test]
async fn a_claimed_event_is_not_claimed_again_until_its_lease_runs_out_or_it_is_retried() {
    let pool = fresh_pool().await;
    let pk = new_run(&pool, "run_00000000000000c1", hook(&["completed"])).await;
    aggregate(&pool, pk, "completed", 2).await;
    let first = claim_due(&pool, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].attempts, first[0].event.as_str(), first[0].url.as_str()), (1, "completed", "https://hooks.example/x"));
    assert!(first[0].webhook_id.starts_with("msg_"));
    assert!(claim_due(&pool, 10, Duration::from_secs(1)).await.unwrap().is_empty(), "leased");
    // The dispatcher that claimed it died: once the lease is out, another claims it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = claim_due(&pool, 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!((again.len(), again[0].attempts, &again[0].webhook_id), (1, 2, &first[0].webhook_id));
    record_attempt(&pool, &again[0], Some(500), None, &AttemptOutcome::RetryAt(Utc::now())).await.unwrap();
    let third = claim_due(&pool, 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(third.len(), 1, "due again at the retry's time, not the lease's");
    record_attempt(&pool, &third[0], Some(204), None, &AttemptOutcome::Delivered).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(claim_due(&pool, 10, Duration::from_secs(1)).await.unwrap().is_empty(), "delivered");

    let (shown, total) = run_deliveries(&pool, pk, 50).await.unwrap();
    assert_eq!(total, 2);
    let seen: Vec<_> = shown.iter().map(|d| (d.attempt, d.status_code)).collect();
    assert_eq!(seen, [(2, Some(500)), (3, Some(204))], "attempt 1 was never recorded (its dispatcher died)");
    let (latest, total) = run_deliveries(&pool, pk, 1).await.unwrap();
    assert_eq!((latest.len(), latest[0].attempt, total), (1, 3, 2), "the latest, and how many in all");

    // A 410 gives up every undelivered event of the run.
    let pk2 = new_run(&pool, "run_00000000000000c2", hook(&["progress", "completed"])).await;
    aggregate(&pool, pk2, "running", 1).await;
    add_progress_events(&pool, Duration::from_secs(60)).await.unwrap();
    aggregate(&pool, pk2, "completed", 2).await;
    let due = claim_due(&pool, 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(due.len(), 2);
    record_attempt(&pool, &due[0], Some(410), None, &AttemptOutcome::GiveUpRun).await.unwrap();
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE run_pk = $1 AND gave_up_at IS NULL").bind(pk2).fetch_one(&pool).await.unwrap();
    assert_eq!(open, 0);

    // Deleting a run deletes its events and attempts.
    sqlx::query("DELETE FROM pipeline_runs WHERE id = $1").bind(pk).execute(&pool).await.unwrap();
    assert_eq!(run_deliveries(&pool, pk, 50).await.unwrap().1, 0);
    assert!(events(&pool, pk).await.is_empty());
}

#[tokio::test]
async fn progress_events_come_at_most_once_an_interval_and_only_when_the_run_moved() {
    let pool = fresh_pool().await;
    let pk = new_run(&pool, "run_00000000000000d1", hook(&["progress"])).await;
    let quiet = new_run(&pool, "run_00000000000000d2", hook(&["completed"])).await;
    let interval = Duration::from_millis(500);
    assert_eq!(add_progress_events(&pool, interval).await.unwrap(), 0, "pending: nothing to report");
    aggregate(&pool, pk, "running", 1).await;
    aggregate(&pool, quiet, "running", 1).await;
    assert_eq!(add_progress_events(&pool, interval).await.unwrap(), 1, "only the run that subscribed");
    aggregate(&pool, pk, "running", 1).await;
    assert_eq!(add_progress_events(&pool, interval).await.unwrap(), 0, "within the interval");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(add_progress_events(&pool, interval).await.unwrap(), 1, "moved since, and the interval is out");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(add_progress_events(&pool, interval).await.unwrap(), 0, "has not moved");
    let got = events(&pool, pk).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(e, s)| e == "progress" && s["status"] == "running" && s["completed"] == 1), "{got:?}");
    assert!(events(&pool, quiet).await.is_empty());
}

/// Settled progress events older than the retention go, with their
/// attempts; pending ones, each run's latest progress event (its pace is
/// measured from it) and the events that end a run stay.
#[tokio::test]
async fn old_settled_progress_events_are_pruned_but_each_runs_latest_and_its_end() {
    let pool = fresh_pool().await;
    let pk = new_run(&pool, "run_00000000000000b9", hook(&["progress", "completed"])).await;
    let other = new_run(&pool, "run_00000000000000ba", hook(&["progress"])).await;
    let add = |run: i64, event: &'static str, hours_ago: i32, settled: Option<&'static str>| {
        let pool = pool.clone();
        async move {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_events (run_pk, event, url, snapshot, created_at, delivered_at, gave_up_at) \
                 VALUES ($1, $2, 'https://hooks.example/x', '{}', now() - make_interval(hours => $3), \
                         CASE WHEN $4 = 'delivered' THEN now() END, CASE WHEN $4 = 'gave_up' THEN now() END) RETURNING id",
            )
            .bind(run)
            .bind(event)
            .bind(hours_ago)
            .bind(settled)
            .fetch_one(&pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO webhook_attempts (event_pk, run_pk, attempt, status_code) VALUES ($1, $2, 1, 200)")
                .bind(id)
                .bind(run)
                .execute(&pool)
                .await
                .unwrap();
            id
        }
    };
    let delivered_old = add(pk, "progress", 50, Some("delivered")).await;
    let given_up_old = add(pk, "progress", 49, Some("gave_up")).await;
    let pending_old = add(pk, "progress", 48, None).await;
    let latest_old = add(pk, "progress", 30, Some("delivered")).await;
    let end_old = add(pk, "completed", 29, Some("delivered")).await;
    let only_other = add(other, "progress", 40, Some("delivered")).await;
    let fresh = add(other, "progress", 1, Some("delivered")).await;

    let pruned = prune_progress_events(&pool, Duration::from_secs(24 * 3600)).await.unwrap();
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM webhook_events ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(left, vec![pending_old, latest_old, end_old, fresh], "pruned {pruned}");
    assert_eq!(pruned, 3, "{delivered_old}, {given_up_old} and {only_other} went");
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts").fetch_one(&pool).await.unwrap();
    assert_eq!(attempts, 4, "their attempts went with them");
    assert_eq!(prune_progress_events(&pool, Duration::from_secs(24 * 3600)).await.unwrap(), 0, "nothing more to prune");
}
