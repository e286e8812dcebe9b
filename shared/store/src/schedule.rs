//! What the API's scheduler reads and writes: the active runs with their
//! admission cursors and per-stage counts, and the
//! cursor moves. All of it goes over the one connection that holds the
//! scheduler's advisory lock, so a scheduler that lost its lock (its
//! connection) cannot move a cursor any more.

use crate::stages::RunStageCounts;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

/// Key of the session-level advisory lock held by the one admitting scheduler.
const SCHEDULER_LOCK: i64 = 0x7066_5f73_6368_6564; // "pf_sched"

/// Tries to become the admitting scheduler: true while this connection holds the lock.
pub async fn try_lock_scheduler(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(SCHEDULER_LOCK).fetch_one(conn).await
}

/// A pending or running run, as admission sees it.
#[derive(Debug, Clone)]
pub struct ActiveRun {
    pub pk: i64,
    /// Left as stored: the scheduler fails a run whose id this version
    /// cannot read (a row of another version), so it must see it first.
    pub run_id: String,
    /// `None` for runs submitted without authentication or user id.
    pub user_id: Option<String>,
    pub priority: String,
    pub adapter_sequence: Vec<String>,
    pub total: i32,
    /// Compounds admitted so far (indices `0..admitted`).
    pub admitted: i32,
    /// Compounds finished (completed or failed).
    pub finished: i32,
    /// Per adapter of the route: compounds that have passed that stage
    /// (done, failed or skipped), as the aggregator has recorded them.
    pub passed: Vec<i64>,
    /// The W3C trace context of the request that created the run: its
    /// compounds' spans belong to that trace.
    pub traceparent: Option<String>,
}

pub async fn active_runs(conn: &mut PgConnection) -> Result<Vec<ActiveRun>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, run_id, user_id, priority, adapter_sequence, total_compounds, fanout_published, \
         completed_compounds + failed_compounds, stage_counts, traceparent \
         FROM pipeline_runs WHERE status IN ('pending', 'running') ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let sequence: Vec<String> = row.get(4);
            let Json(counts): Json<RunStageCounts> = row.get(8);
            let passed = sequence.iter().map(|a| counts.named(a).passed()).collect();
            ActiveRun {
                pk: row.get(0),
                run_id: row.get(1),
                user_id: row.get(2),
                priority: row.get(3),
                adapter_sequence: sequence,
                total: row.get(5),
                admitted: row.get(6),
                finished: row.get(7),
                passed,
                traceparent: row.get(9),
            }
        })
        .collect())
}

/// Moves admission cursors forward (never back): `(run pk, admitted)` pairs.
/// A run whose cursor reaches its total is marked fanned out.
pub async fn record_admissions(conn: &mut PgConnection, moves: &[(i64, i32)]) -> Result<(), sqlx::Error> {
    if moves.is_empty() {
        return Ok(());
    }
    let (pks, counts): (Vec<i64>, Vec<i32>) = moves.iter().copied().unzip();
    sqlx::query(
        "UPDATE pipeline_runs p SET fanout_published = m.admitted, \
         fanout_completed_at = CASE WHEN m.admitted >= p.total_compounds THEN COALESCE(p.fanout_completed_at, now()) \
             ELSE p.fanout_completed_at END \
         FROM UNNEST($1::bigint[], $2::int[]) AS m(id, admitted) \
         WHERE p.id = m.id AND p.fanout_published < m.admitted",
    )
    .bind(&pks)
    .bind(&counts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails a run that can never be admitted, with why (it leaves the active runs).
pub async fn fail_run(conn: &mut PgConnection, pk: i64, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pipeline_runs SET status = 'failed', error_message = $2, completed_at = now(), updated_at = now() \
         WHERE id = $1 AND status IN ('pending', 'running')",
    )
    .bind(pk)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(())
}
