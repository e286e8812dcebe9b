//! A run's scores and ranks under its scoring profile: placing its
//! compounds when it finishes, and rescoring a finished run under another
//! profile from the raw values it stored, without running any adapter.
//!
//! Both read the run's compounds as a stream of a few numbers each (never
//! their results), place them in Rust with the same code
//! (`profile::place`: competition ranks, a dense rank order, Pareto fronts)
//! and write the placements back in chunks, one `UPDATE` of a few thousand
//! rows at a time, inside the caller's transaction.

use futures::TryStreamExt;
use pharmforge_core::profile::{self, Method, Placement, Profile};
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row, Transaction};

/// Rows written per `UPDATE`.
const CHUNK: usize = 5_000;

/// A run's compounds as placing needs them: each one's index, and its
/// final score with its objectives' desirabilities (in the profile's order).
#[derive(Default)]
struct Entries {
    idx: Vec<i32>,
    keys: Vec<(Option<f64>, Vec<Option<f64>>)>,
}

impl Entries {
    fn push(&mut self, idx: i32, score: Option<f64>, desirabilities: Vec<Option<f64>>) {
        self.idx.push(idx);
        self.keys.push((score, desirabilities));
    }
}

/// Places a finished run's compounds from the scores the aggregator stored
/// (each compound was scored with `profile` as it finished). Returns how
/// many were ranked.
pub async fn place_run(tx: &mut Transaction<'_, Postgres>, run_pk: i64, profile: &Profile) -> Result<usize, sqlx::Error> {
    let pareto = profile.method == Method::Pareto;
    let names: Vec<&str> = profile.objectives.iter().map(|o| o.name.as_str()).collect();
    let mut entries = Entries::default();
    {
        let mut rows = sqlx::query("SELECT idx, final_score, CASE WHEN $2 THEN scores END FROM compound_results WHERE run_pk = $1 ORDER BY idx")
            .persistent(false)
            .bind(run_pk)
            .bind(pareto)
            .fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            let scores: Option<Json<Map<String, Value>>> = row.get(2);
            let desirabilities = match &scores {
                Some(Json(s)) => names.iter().map(|n| s.get(*n).and_then(Value::as_f64)).collect(),
                None => Vec::new(),
            };
            entries.push(row.get(0), row.get(1), desirabilities);
        }
    }
    write_placements(tx, run_pk, profile, &entries, false).await
}

#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error("no run {0}")]
    NotFound(String),
    #[error("run {run_id} is {status}: only a finished run (completed, failed or cancelled) is rescored")]
    NotFinished { run_id: String, status: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rescored {
    /// Compounds read (every row the run has).
    pub compounds: usize,
    /// Compounds that got a rank.
    pub ranked: usize,
}

/// Rescores a finished run under `profile` (named `name` when a built-in):
/// every finished compound's objectives are read from its stored results,
/// scored, placed and written back, and the profile is appended to the
/// run's `scoring_history` (which keeps the latest 100), all in one transaction (readers see the old
/// ranking or the new one, never a mix). The run row is locked first, so
/// two rescores of a run take turns, and the aggregator (which locks it
/// too) scores any late compound with the new profile.
pub async fn rescore(pool: &PgPool, run_id: &str, profile: &Profile, name: Option<&str>) -> Result<Rescored, RescoreError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String)> = sqlx::query_as("SELECT id, status FROM pipeline_runs WHERE run_id = $1 FOR UPDATE")
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?;
    let (run_pk, status) = row.ok_or_else(|| RescoreError::NotFound(run_id.to_owned()))?;
    if !matches!(status.as_str(), "completed" | "failed" | "cancelled") {
        return Err(RescoreError::NotFinished { run_id: run_id.to_owned(), status });
    }

    // Each objective's raw value, extracted by Postgres: only a few
    // numbers per compound cross the wire, never its sections.
    let mut binds: Vec<&str> = Vec::new();
    let mut exprs = Vec::new();
    for o in &profile.objectives {
        let (section, keys) = profile::locate(&o.value).expect("a parsed profile names known paths");
        let mut expr = format!("c.{section}");
        for key in keys.iter().filter(|k| !k.is_empty()) {
            binds.push(key);
            expr.push_str(&format!(" -> ${}::text", binds.len() + 1));
        }
        exprs.push(expr);
    }
    let sql = format!(
        "SELECT c.idx, c.status <> 'running', jsonb_build_array({}) FROM compound_results c WHERE c.run_pk = $1 ORDER BY c.idx",
        exprs.join(", ")
    );
    let mut entries = Entries::default();
    {
        let mut query = sqlx::query(&sql).persistent(false).bind(run_pk);
        for b in &binds {
            query = query.bind(*b);
        }
        let mut rows = query.fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let idx: i32 = row.get(0);
            let done: bool = row.get(1);
            let Json(values): Json<Vec<Value>> = row.get(2);
            if done {
                let scored = profile.score(&|path| {
                    let i = profile.objectives.iter().position(|o| o.value == path)?;
                    values.get(i).filter(|v| !v.is_null()).cloned()
                });
                entries.push(idx, scored.final_score, scored.parts.iter().map(|p| p.desirability).collect());
            } else {
                entries.push(idx, None, Vec::new());
            }
        }
    }
    let ranked = write_placements(&mut tx, run_pk, profile, &entries, true).await?;

    let mut applied = json!({"profile": profile.to_json()});
    if let Some(name) = name {
        applied["name"] = json!(name);
    }
    let names: Vec<&str> = {
        let mut n: Vec<&str> = profile.objectives.iter().map(|o| o.name.as_str()).collect();
        n.sort_unstable();
        n
    };
    sqlx::query(
        "UPDATE pipeline_runs SET \
             scoring_history = jsonb_path_query_array( \
                 scoring_history || jsonb_build_array($2::jsonb || jsonb_build_object('applied_at', now())), \
                 '$[last - 99 to last]'), \
             result_keys = jsonb_set(result_keys, '{scores}', $3), updated_at = now() \
         WHERE id = $1",
    )
    .bind(run_pk)
    .bind(applied)
    .bind(json!(names))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rescored { compounds: entries.idx.len(), ranked })
}

/// Places `entries` and writes each one's rank, rank order and front (and,
/// when `with_scores`, its scores and final score), a chunk at a time.
async fn write_placements(
    tx: &mut Transaction<'_, Postgres>,
    run_pk: i64,
    profile: &Profile,
    entries: &Entries,
    with_scores: bool,
) -> Result<usize, sqlx::Error> {
    let placements = profile::place(profile.method, &entries.keys);
    let ranked = placements.iter().filter(|p| p.rank.is_some()).count();
    let int = |v: Option<u32>| v.map(|x| x as i32);
    for ((idx, keys), places) in entries.idx.chunks(CHUNK).zip(entries.keys.chunks(CHUNK)).zip(placements.chunks(CHUNK)) {
        let scores: Vec<Option<Json<Value>>> = keys
            .iter()
            .map(|(_, desirabilities)| {
                (with_scores && !desirabilities.is_empty()).then(|| {
                    Json(Value::Object(
                        profile
                            .objectives
                            .iter()
                            .zip(desirabilities)
                            .map(|(o, d)| (o.name.clone(), d.map(Value::from).unwrap_or(Value::Null)))
                            .collect(),
                    ))
                })
            })
            .collect();
        let finals: Vec<Option<f64>> = keys.iter().map(|k| k.0).collect();
        let (rank, order, front): (Vec<_>, Vec<_>, Vec<_>) =
            places.iter().map(|p: &Placement| (int(p.rank), int(p.order), int(p.front))).fold((vec![], vec![], vec![]), |mut acc, (a, b, c)| {
                acc.0.push(a);
                acc.1.push(b);
                acc.2.push(c);
                acc
            });
        sqlx::query(
            "UPDATE compound_results c SET rank = u.rank, rank_order = u.rank_order, pareto_front = u.front, \
                 scores = CASE WHEN $8 THEN u.scores ELSE c.scores END, \
                 final_score = CASE WHEN $8 THEN u.final_score ELSE c.final_score END \
             FROM UNNEST($2::int[], $3::jsonb[], $4::float8[], $5::int[], $6::int[], $7::int[]) \
                 AS u(idx, scores, final_score, rank, rank_order, front) \
             WHERE c.run_pk = $1 AND c.idx = u.idx",
        )
        .persistent(false)
        .bind(run_pk)
        .bind(idx.to_vec())
        .bind(scores)
        .bind(finals)
        .bind(rank)
        .bind(order)
        .bind(front)
        .bind(with_scores)
        .execute(&mut **tx)
        .await?;
    }
    Ok(ranked)
}
