//! The webhook outbox (migration `..._webhooks.sql`): events a trigger writes
//! when a run ends, progress events the dispatchers add while it runs, and
//! each delivery attempt. Any number of API replicas share it: an event is
//! claimed by one dispatcher at a time (`FOR UPDATE SKIP LOCKED`, then a
//! lease), and one that was claimed by a dispatcher which died is due again
//! once its lease runs out, so every event is delivered at least once.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::PgPool;
use std::time::Duration;

/// Key of the transaction-level advisory lock under which one dispatcher at a
/// time adds progress events.
const PROGRESS_LOCK: i64 = 0x7066_5f77_6870_7267; // "pf_whprg"

/// A run as one of its events saw it (`webhook_snapshot` in the migration).
#[derive(Debug, Clone, Deserialize)]
pub struct RunSnapshot {
    /// Left as stored: a snapshot is read in a batch of claimed events, and
    /// one run's id this version cannot read must not hold back the others'.
    pub run_id: String,
    pub status: pharmforge_core::RunStatus,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub total: i32,
    #[serde(default)]
    pub completed: i32,
    #[serde(default)]
    pub failed: i32,
    #[serde(default)]
    pub steps_done: i64,
    /// As `pipeline_runs.stage_counts`.
    #[serde(default)]
    pub stage_counts: crate::stages::RunStageCounts,
    #[serde(default)]
    pub adapter_sequence: Vec<String>,
}

impl RunSnapshot {
    /// Fraction of (compound, stage) steps finished, 0..1, as `GET /runs/{id}` reports it.
    pub fn progress(&self) -> f64 {
        crate::runs::progress(self.status, self.total, self.adapter_sequence.len(), self.steps_done)
    }
}

/// An event claimed for one delivery attempt.
#[derive(Debug, sqlx::FromRow)]
pub struct DueEvent {
    pub pk: i64,
    pub webhook_id: String,
    pub run_pk: i64,
    /// `completed`, `failed`, `cancelled` or `progress`.
    pub event: String,
    pub url: String,
    pub snapshot: Json<RunSnapshot>,
    pub created_at: DateTime<Utc>,
    /// This attempt's number, from 1.
    pub attempts: i32,
}

/// Adds a progress event for each running run that subscribed to them, has
/// moved since its last one and had none for `interval`. One dispatcher at a
/// time does it (the others skip the round), so replicas do not add one each.
/// Returns how many were added.
pub async fn add_progress_events(pool: &PgPool, interval: Duration) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(PROGRESS_LOCK).fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(0);
    }
    // Taken after the lock, this statement's snapshot sees the events the
    // previous holder committed.
    let added = sqlx::query(
        "INSERT INTO webhook_events (run_pk, event, url, snapshot) \
         SELECT r.id, 'progress', r.pipeline_config -> 'webhook' ->> 'url', webhook_snapshot( \
             r.run_id, r.status, r.user_id, r.total_compounds, r.completed_compounds, r.failed_compounds, \
             r.steps_done, r.stage_counts, r.adapter_sequence) \
         FROM pipeline_runs r \
         LEFT JOIN LATERAL (SELECT max(created_at) AS at FROM webhook_events e WHERE e.run_pk = r.id AND e.event = 'progress') last ON true \
         WHERE r.status = 'running' \
           AND jsonb_typeof(r.pipeline_config -> 'webhook' -> 'url') = 'string' \
           AND r.pipeline_config -> 'webhook' -> 'events' ? 'progress' \
           AND (last.at IS NULL OR (last.at <= now() - make_interval(secs => $1) AND r.updated_at > last.at))",
    )
    .bind(interval.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(added)
}

/// How long a settled progress event (delivered, or given up on) is kept. A
/// progress event tells where a run was at one moment, and a long run with
/// progress webhooks adds one every interval: kept as long as the run, they
/// (and their attempts) would grow without bound. The events that end a run
/// stay with it.
pub const PROGRESS_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Deletes the settled progress events older than `keep`, with their
/// attempts, but each run's latest (its pace is measured from it). Returns
/// how many went.
pub async fn prune_progress_events(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let pruned = sqlx::query(
        "DELETE FROM webhook_events e \
         WHERE e.event = 'progress' AND (e.delivered_at IS NOT NULL OR e.gave_up_at IS NOT NULL) \
           AND e.created_at < now() - make_interval(secs => $1) \
           AND EXISTS (SELECT 1 FROM webhook_events n WHERE n.run_pk = e.run_pk AND n.event = 'progress' AND n.created_at > e.created_at)",
    )
    .bind(keep.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(pruned.rows_affected())
}

/// Claims up to `limit` due events, oldest due first, for one attempt each:
/// they are not due again before `lease` has passed (the attempt records its
/// outcome well before then).
pub async fn claim_due(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<DueEvent>, sqlx::Error> {
    sqlx::query_as::<_, DueEvent>(
        "UPDATE webhook_events SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM webhook_events \
                      WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now() \
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id AS pk, webhook_id, run_pk, event, url, snapshot, created_at, attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// A 2xx answer: the event is delivered.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// No more attempts for this event.
    GiveUp,
    /// No more attempts for any undelivered event of the run (the receiver
    /// answered 410 Gone).
    GiveUpRun,
}

/// Records an attempt and what follows from it, in one transaction. An event
/// whose run was deleted meanwhile is gone, and so is its attempt.
pub async fn record_attempt(
    pool: &PgPool,
    event: &DueEvent,
    status_code: Option<u16>,
    error: Option<&str>,
    outcome: &AttemptOutcome,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (event_pk, run_pk, attempt, status_code, error) \
         SELECT id, run_pk, $2, $3, $4 FROM webhook_events WHERE id = $1",
    )
    .bind(event.pk)
    .bind(event.attempts)
    .bind(status_code.map(i32::from))
    .bind(error)
    .execute(&mut *tx)
    .await?;
    let update = match outcome {
        AttemptOutcome::Delivered => sqlx::query("UPDATE webhook_events SET delivered_at = now() WHERE id = $1").bind(event.pk),
        AttemptOutcome::RetryAt(at) => sqlx::query("UPDATE webhook_events SET next_attempt_at = $2 WHERE id = $1").bind(event.pk).bind(*at),
        AttemptOutcome::GiveUp => sqlx::query("UPDATE webhook_events SET gave_up_at = now() WHERE id = $1").bind(event.pk),
        AttemptOutcome::GiveUpRun => {
            sqlx::query("UPDATE webhook_events SET gave_up_at = now() WHERE run_pk = $1 AND delivered_at IS NULL AND gave_up_at IS NULL").bind(event.run_pk)
        }
    };
    update.execute(&mut *tx).await?;
    tx.commit().await
}

/// One attempt to deliver one of a run's events.
#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub webhook_id: String,
    pub event: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A run's latest `limit` delivery attempts, oldest first, and how many it
/// has had in all.
pub async fn run_deliveries(pool: &PgPool, run_pk: i64, limit: i64) -> Result<(Vec<DeliveryRow>, i64), sqlx::Error> {
    let mut rows = sqlx::query_as::<_, DeliveryRow>(
        "SELECT e.webhook_id, e.event, a.attempt, a.status_code, a.error, a.at \
         FROM webhook_attempts a JOIN webhook_events e ON e.id = a.event_pk \
         WHERE a.run_pk = $1 ORDER BY a.id DESC LIMIT $2",
    )
    .bind(run_pk)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.reverse();
    let total = if (rows.len() as i64) < limit {
        rows.len() as i64
    } else {
        sqlx::query_scalar("SELECT count(*) FROM webhook_attempts WHERE run_pk = $1").bind(run_pk).fetch_one(pool).await?
    };
    Ok((rows, total))
}
