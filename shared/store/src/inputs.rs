//! A run's input compounds (`run_inputs`): written a batch at a time while a
//! run is created, so that an upload of any size is never whole in memory,
//! and read back by slices of the primary key.
//!
//! A run and its inputs are written in one transaction: until `commit`, no
//! one (admission included) sees the run, and a file that turns out to be
//! bad half-way leaves nothing behind.

use crate::runs::{RunRow, RUN_COLUMNS};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// One input compound, as the user gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputCompound {
    /// The SMILES (empty when the record could not be read: see `input_error`).
    pub smiles: String,
    /// The user's own ID for it.
    pub given_id: Option<String>,
    /// An SD record's data items, `{name: value}`.
    pub properties: Option<serde_json::Map<String, Value>>,
    /// Why the input record could not be read; such a compound fails at once.
    pub input_error: Option<String>,
}

impl InputCompound {
    pub fn smiles(smiles: impl Into<String>) -> Self {
        InputCompound { smiles: smiles.into(), ..Default::default() }
    }
}

/// A run being created: the run's row and its inputs so far, not yet visible.
pub struct RunDraft {
    tx: Transaction<'static, Postgres>,
    pk: i64,
    count: i32,
    /// The names of the inputs' properties so far (the export's `input.`
    /// columns), at most `MAX_PROPERTY_NAMES`.
    property_names: std::collections::BTreeSet<String>,
}

/// The most distinct input property names kept as export columns; an SD
/// file whose records each name their own items would otherwise make a
/// column per record (the values stay in each result's input_properties).
pub const MAX_PROPERTY_NAMES: usize = 1000;

/// What a new run is, apart from its compounds.
pub struct NewRun<'a> {
    pub run_id: &'a pharmforge_core::RunId,
    pub pipeline_config: &'a Value,
    pub adapter_sequence: &'a [String],
    pub user_id: Option<&'a str>,
    pub priority: &'a str,
    /// The creating request's trace context (`traceparent`).
    pub traceparent: Option<&'a str>,
    /// The first entry of its scoring history: `{profile, name?}` (the
    /// time it applies from is the run's creation).
    pub scoring: &'a Value,
}

/// Starts a run: its row (`pending`, no compounds yet) in a transaction of its own.
pub async fn begin_run(pool: &PgPool, run: NewRun<'_>) -> Result<RunDraft, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let pk: i64 = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (run_id, pipeline_config, adapter_sequence, user_id, total_compounds, priority, traceparent, scoring_history) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, jsonb_build_array($7::jsonb || jsonb_build_object('applied_at', now()))) RETURNING id",
    )
    .bind(run.run_id.as_str())
    .bind(run.pipeline_config)
    .bind(run.adapter_sequence)
    .bind(run.user_id)
    .bind(run.priority)
    .bind(run.traceparent)
    .bind(run.scoring)
    .fetch_one(&mut *tx)
    .await?;
    Ok(RunDraft { tx, pk, count: 0, property_names: Default::default() })
}

impl RunDraft {
    /// Compounds written so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends compounds, numbered on from those already written.
    pub async fn append(&mut self, batch: &[InputCompound]) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let first = self.count;
        let idx: Vec<i32> = (0..batch.len() as i32).map(|i| first + i).collect();
        let smiles: Vec<&str> = batch.iter().map(|c| c.smiles.as_str()).collect();
        let ids: Vec<Option<&str>> = batch.iter().map(|c| c.given_id.as_deref()).collect();
        let properties: Vec<Option<String>> =
            batch.iter().map(|c| c.properties.as_ref().map(|p| serde_json::to_string(p).expect("a JSON map serializes"))).collect();
        let errors: Vec<Option<&str>> = batch.iter().map(|c| c.input_error.as_deref()).collect();
        sqlx::query(
            "INSERT INTO run_inputs (run_pk, idx, smiles, given_id, properties, input_error) \
             SELECT $1, u.idx, u.smiles, u.given_id, u.properties::jsonb, u.input_error \
             FROM UNNEST($2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(idx, smiles, given_id, properties, input_error)",
        )
        .bind(self.pk)
        .bind(&idx)
        .bind(&smiles)
        .bind(&ids)
        .bind(&properties)
        .bind(&errors)
        .execute(&mut *self.tx)
        .await?;
        self.count += batch.len() as i32;
        for name in batch.iter().filter_map(|c| c.properties.as_ref()).flat_map(|p| p.keys()) {
            if self.property_names.len() >= MAX_PROPERTY_NAMES {
                break;
            }
            if !self.property_names.contains(name) {
                self.property_names.insert(name.clone());
            }
        }
        Ok(())
    }

    /// Sets the run's size and makes it visible: from here admission sees it.
    pub async fn commit(mut self) -> Result<RunRow, sqlx::Error> {
        let sql = format!(
            "UPDATE pipeline_runs SET total_compounds = $2, result_keys = jsonb_build_object('input_properties', $3::text[]) \
             WHERE id = $1 RETURNING {RUN_COLUMNS}"
        );
        let names: Vec<&String> = self.property_names.iter().collect();
        let row = sqlx::query_as::<_, RunRow>(&sql).bind(self.pk).bind(self.count).bind(names).fetch_one(&mut *self.tx).await?;
        self.tx.commit().await?;
        Ok(row)
    }
}

/// One compound of a slice, as admission needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmittedInput {
    pub smiles: String,
    pub input_error: Option<String>,
}

/// Compounds `from..to` of a run, in order (fewer if the run has fewer; none
/// if it is gone): one range read of the primary key.
pub async fn input_slice(conn: &mut PgConnection, pk: i64, from: i32, to: i32) -> Result<Vec<AdmittedInput>, sqlx::Error> {
    if to <= from {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT smiles, input_error FROM run_inputs WHERE run_pk = $1 AND idx >= $2 AND idx < $3 ORDER BY idx")
            .bind(pk)
            .bind(from)
            .bind(to)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(smiles, input_error)| AdmittedInput { smiles, input_error }).collect())
}

/// The first `limit` input SMILES of a run, in order.
pub async fn input_smiles(pool: &PgPool, pk: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT smiles FROM run_inputs WHERE run_pk = $1 AND idx < $2 ORDER BY idx")
        .bind(pk)
        .bind(limit.clamp(0, i32::MAX as i64) as i32)
        .fetch_all(pool)
        .await
}

/// The input SMILES of compound `idx` of a run (`None`: no such compound).
pub async fn compound_smiles(pool: &PgPool, pk: i64, idx: i32) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT smiles FROM run_inputs WHERE run_pk = $1 AND idx = $2").bind(pk).bind(idx).fetch_optional(pool).await
}
