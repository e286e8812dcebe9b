//! Runs and compound results as the API reads and writes them.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub run_id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub pipeline_config: Value,
    pub adapter_sequence: Vec<String>,
    pub results: Option<Value>,
    pub lockfile: Value,
    pub user_id: Option<String>,
    pub error_message: Option<String>,
    pub total_compounds: i32,
    pub completed_compounds: i32,
    pub failed_compounds: i32,
    pub stage_counts: Value,
    pub steps_done: i64,
    /// `high`, `normal` or `low`: the run's weight in admission.
    pub priority: String,
    /// Compounds admitted to the pipeline so far.
    pub admitted: i32,
}

impl RunRow {
    /// Fraction of (compound, stage) steps finished, 0..1.
    pub fn progress(&self) -> f64 {
        let total = self.total_compounds as i64 * self.adapter_sequence.len().max(1) as i64;
        if self.status == "completed" || self.status == "failed" {
            return 1.0;
        }
        if total == 0 {
            0.0
        } else {
            (self.steps_done as f64 / total as f64).clamp(0.0, 1.0)
        }
    }
}

const RUN_COLUMNS: &str = "id, run_id, status, created_at, updated_at, completed_at, pipeline_config, \
    adapter_sequence, results, lockfile, user_id, error_message, total_compounds, completed_compounds, \
    failed_compounds, stage_counts, steps_done, priority, fanout_published AS admitted";

/// A stored JSON document passed through as its text: the API serves the
/// sections of a compound as Postgres returns them, without building a tree
/// of them (a page of 100 compounds with ADMET sections is ~0.5 MB of JSON).
pub type RawJson = sqlx::types::Json<Box<serde_json::value::RawValue>>;

#[derive(Debug, sqlx::FromRow)]
pub struct CompoundRow {
    pub idx: i32,
    pub compound_id: String,
    pub smiles: String,
    pub trace_id: Option<String>,
    pub status: String,
    pub properties: Option<RawJson>,
    pub admet: Option<RawJson>,
    pub pubchem: Option<RawJson>,
    pub bioactivity: Option<RawJson>,
    pub docking: Option<RawJson>,
    pub synthesis: Option<RawJson>,
    pub errors: RawJson,
    pub scores: Option<RawJson>,
    pub final_score: Option<f64>,
    pub rank: Option<i32>,
}

const COMPOUND_COLUMNS: &str = "idx, compound_id, smiles, trace_id, status, properties, admet, pubchem, bioactivity, \
    docking, synthesis, errors, scores, final_score, rank";

pub struct NewRun<'a> {
    pub run_id: &'a str,
    pub input_smiles: &'a [String],
    pub pipeline_config: &'a Value,
    pub adapter_sequence: &'a [String],
    pub user_id: Option<&'a str>,
    pub priority: &'a str,
}

/// Inserts a run in `pending`; returns the stored row.
pub async fn create_run(pool: &PgPool, run: NewRun<'_>) -> Result<RunRow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO pipeline_runs (run_id, input_smiles, pipeline_config, adapter_sequence, user_id, total_compounds, priority) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {RUN_COLUMNS}"
    );
    sqlx::query_as::<_, RunRow>(&sql)
        .bind(run.run_id)
        .bind(sqlx::types::Json(run.input_smiles))
        .bind(run.pipeline_config)
        .bind(run.adapter_sequence)
        .bind(run.user_id)
        .bind(run.input_smiles.len() as i32)
        .bind(run.priority)
        .fetch_one(pool)
        .await
}

pub async fn get_run(pool: &PgPool, run_id: &str) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1");
    sqlx::query_as::<_, RunRow>(&sql).bind(run_id).fetch_optional(pool).await
}

pub async fn get_input_smiles(pool: &PgPool, run_id: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<Vec<String>>,)> =
        sqlx::query_as("SELECT input_smiles FROM pipeline_runs WHERE run_id = $1").bind(run_id).fetch_optional(pool).await?;
    Ok(row.map(|r| r.0 .0))
}

#[derive(Debug, Default)]
pub struct RunFilter<'a> {
    pub status: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

/// One page of runs, newest first, and the total matching the filter.
pub async fn list_runs(pool: &PgPool, filter: &RunFilter<'_>, page: i64, page_size: i64) -> Result<(Vec<RunRow>, i64), sqlx::Error> {
    let where_clause = "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR user_id = $2)";
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM pipeline_runs {where_clause} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    );
    let runs = sqlx::query_as::<_, RunRow>(&sql)
        .bind(filter.status)
        .bind(filter.user_id)
        .bind(page_size)
        .bind((page - 1).saturating_mul(page_size))
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query(&format!("SELECT count(*) FROM pipeline_runs {where_clause}"))
        .bind(filter.status)
        .bind(filter.user_id)
        .fetch_one(pool)
        .await?
        .get(0);
    Ok((runs, total))
}

/// What cancelling a run found.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    AlreadyCancelled,
    /// The run had already finished (completed or failed): it cannot be cancelled.
    Finished(String),
    NotFound,
}

/// Marks a pending or running run `cancelled`. Compounds already recorded stay;
/// the adapters skip the rest.
pub async fn cancel_run(pool: &PgPool, run_id: &str) -> Result<CancelOutcome, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE pipeline_runs SET status = 'cancelled', updated_at = now(), completed_at = now(), \
         error_message = 'cancelled by request' WHERE run_id = $1 AND status IN ('pending', 'running')",
    )
    .bind(run_id)
    .execute(pool)
    .await?;
    if updated.rows_affected() > 0 {
        return Ok(CancelOutcome::Cancelled);
    }
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM pipeline_runs WHERE run_id = $1").bind(run_id).fetch_optional(pool).await?;
    Ok(match status.as_deref() {
        None => CancelOutcome::NotFound,
        Some("cancelled") => CancelOutcome::AlreadyCancelled,
        Some(other) => CancelOutcome::Finished(other.to_owned()),
    })
}

/// Deletes a run and (by cascade) its compound results; false if unknown.
pub async fn delete_run(pool: &PgPool, run_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM pipeline_runs WHERE run_id = $1").bind(run_id).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOrder {
    Input,
    Rank,
}

/// One page of a run's compound results.
///
/// In input order, page `p` holds the compounds with index
/// `(p - 1) * page_size ..= p * page_size - 1` that have a result: a range
/// of the primary key, read without touching any other row. Once a run has
/// finished every compound has its row, so this is the same as skipping
/// `(p - 1) * page_size` rows; while it runs, a page keeps the same
/// compounds as results arrive (only filling up) instead of shifting, and
/// reading page 50 no longer costs Postgres the 980 rows before it (an
/// `OFFSET` read each of them: most of Postgres' work under the load
/// benchmark's 100 result pages a second). By rank (set when the run
/// finishes), pages are ranges of the rank index, then the compounds
/// without a rank in input order.
pub async fn list_results(
    pool: &PgPool,
    run_pk: i64,
    order: ResultOrder,
    page: i64,
    page_size: i64,
) -> Result<Vec<CompoundRow>, sqlx::Error> {
    let skip = (page - 1).saturating_mul(page_size);
    match order {
        ResultOrder::Input => {
            let sql = format!(
                "SELECT {COMPOUND_COLUMNS} FROM compound_results WHERE run_pk = $1 AND idx >= $2 AND idx < $3 ORDER BY idx"
            );
            let first = skip.clamp(0, i32::MAX as i64) as i32;
            let end = skip.saturating_add(page_size).clamp(0, i32::MAX as i64) as i32;
            sqlx::query_as::<_, CompoundRow>(&sql).bind(run_pk).bind(first).bind(end).fetch_all(pool).await
        }
        ResultOrder::Rank => {
            // Ranks are 1..=ranked, dense, stored when the run finishes: a
            // page of them is a range of the rank index, whatever its number
            // (an OFFSET read every entry before it: page 9,999 of a
            // 1,000,000-compound run scanned a million). Compounds without a
            // rank (no score) follow in input order.
            let ranked: i64 = sqlx::query_scalar("SELECT coalesce(max(rank), 0)::bigint FROM compound_results WHERE run_pk = $1")
                .bind(run_pk)
                .fetch_one(pool)
                .await?;
            let mut rows = Vec::new();
            if skip < ranked {
                let sql = format!("SELECT {COMPOUND_COLUMNS} FROM compound_results WHERE run_pk = $1 AND rank > $2 AND rank <= $3 ORDER BY rank");
                rows = sqlx::query_as::<_, CompoundRow>(&sql)
                    .bind(run_pk)
                    .bind(skip.clamp(0, i32::MAX as i64) as i32)
                    .bind(skip.saturating_add(page_size).min(ranked).clamp(0, i32::MAX as i64) as i32)
                    .fetch_all(pool)
                    .await?;
            }
            let wanted = page_size - rows.len() as i64;
            if wanted > 0 {
                let sql = format!("SELECT {COMPOUND_COLUMNS} FROM compound_results WHERE run_pk = $1 AND rank IS NULL ORDER BY idx LIMIT $2 OFFSET $3");
                let unranked = sqlx::query_as::<_, CompoundRow>(&sql)
                    .bind(run_pk)
                    .bind(wanted)
                    .bind((skip - ranked).max(0))
                    .fetch_all(pool)
                    .await?;
                rows.extend(unranked);
            }
            Ok(rows)
        }
    }
}

/// How many compound results a run has stored, read from its row: the
/// aggregator writes a compound's row in the same transaction in which it
/// counts the compound's first stage (done, failed or skipped), and never
/// otherwise, so the first stage's counts are the number of rows. (A
/// `count(*)` over a 100,000-compound run costs Postgres ~10 ms for every
/// results page a client asks for while the run is going.)
pub fn results_stored(run: &RunRow) -> i64 {
    let Some(first) = run.adapter_sequence.first() else {
        return 0;
    };
    let counts = run.stage_counts.get(first);
    ["done", "failed", "skipped"]
        .iter()
        .map(|k| counts.and_then(|c| c.get(*k)).and_then(Value::as_i64).unwrap_or(0))
        .sum()
}

/// Compound results of one run, at most `limit`, in input order (for the run's
/// inline `results.compounds`).
pub async fn first_results(pool: &PgPool, run_pk: i64, limit: i64) -> Result<Vec<CompoundRow>, sqlx::Error> {
    list_results(pool, run_pk, ResultOrder::Input, 1, limit).await
}

/// The record of a compound whose message was lost at `adapter` (an
/// undecodable dead letter), rebuilt from the run's stored input: failed at
/// that adapter with `reason`, the remaining stages skipped. `None` when the
/// run or the compound does not exist (deleted, or a made-up id).
pub async fn lost_compound_record(
    pool: &PgPool,
    run_id: &str,
    index: u32,
    adapter: pharmforge_core::AdapterName,
    reason: &str,
) -> Result<Option<pharmforge_core::CompoundRecord>, sqlx::Error> {
    let row: Option<(Vec<String>, Option<String>)> =
        sqlx::query_as("SELECT adapter_sequence, input_smiles ->> $2 FROM pipeline_runs WHERE run_id = $1")
            .bind(run_id)
            .bind(index as i32)
            .fetch_optional(pool)
            .await?;
    let Some((sequence, Some(smiles))) = row else {
        return Ok(None);
    };
    let route: Vec<_> = sequence.iter().filter_map(|a| pharmforge_core::AdapterName::parse(a)).collect();
    let Some(position) = route.iter().position(|a| *a == adapter) else {
        return Ok(None);
    };
    let mut record = pharmforge_core::CompoundRecord::new(run_id, index, smiles, route);
    record.step = position as u16;
    record.set_fatal(adapter, reason);
    record.advance();
    Ok(Some(record))
}
