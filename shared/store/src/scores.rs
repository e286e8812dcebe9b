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
use pharmforge_core::profile::{self, Method, Profile};
use pharmforge_core::{RunId, RunStatus};
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
    NotFound(RunId),
    #[error("run {run_id} is {status}: only a finished run (completed, failed or cancelled) is rescored")]
    NotFinished { run_id: RunId, status: String },
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
pub async fn rescore(pool: &PgPool, run_id: &RunId, profile: &Profile, name: Option<&str>) -> Result<Rescored, RescoreError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM pipeline_runs WHERE run_id = $1 FOR UPDATE").bind(run_id.as_str()).fetch_optional(&mut *tx).await?;
    let (run_pk, status) = row.ok_or_else(|| RescoreError::NotFound(run_id.clone()))?;
    if !RunStatus::parse(&status).is_some_and(RunStatus::is_finished) {
        return Err(RescoreError::NotFinished { run_id: run_id.clone(), status });
    }

    // Each objective's raw value, extracted by Postgres: only a few
    // numbers per compound cross the wire, never its sections.
    let started = std::time::Instant::now();
    // A section's JSON is read out of its stored (compressed) form once per
    // compound: each objective's path starts from the part of it the
    // objectives share (`admet -> 'properties'`), computed once behind an
    // `OFFSET 0` fence, where Postgres would otherwise decompress the whole
    // section again for every objective read from it.
    fn param<'a>(binds: &mut Vec<&'a str>, v: &'a str) -> String {
        binds.push(v);
        format!("${}::text", binds.len() + 1)
    }
    let mut binds: Vec<&str> = Vec::new();
    // ((section, the path's first key when it has two), its SQL)
    let mut bases: Vec<((&str, &str), String)> = Vec::new();
    let mut exprs = Vec::new();
    for o in &profile.objectives {
        let (section, keys) = profile::locate(&o.value).expect("a parsed profile names known paths");
        let (head, leaf) = if keys[1].is_empty() { ("", keys[0]) } else { (keys[0], keys[1]) };
        // An ADMET value from the array stored beside the section: no
        // section is decompressed for it (the JSON only for a row written
        // without the array).
        if let Some(at) =
            crate::browse::admet_position(crate::section::Section::Result(pharmforge_core::Section::Admet), &[head, leaf]).filter(|_| section == "admet")
        {
            let path = format!("{} -> {}", param(&mut binds, head), param(&mut binds, leaf));
            exprs.push(format!("COALESCE(to_jsonb(c.admet_values[{}]), c.admet -> {path})", at + 1));
            continue;
        }
        let at = match bases.iter().position(|(k, _)| *k == (section, head)) {
            Some(at) => at,
            None => {
                let sql = if head.is_empty() { format!("c.{section}") } else { format!("c.{section} -> {}", param(&mut binds, head)) };
                bases.push(((section, head), sql));
                bases.len() - 1
            }
        };
        exprs.push(format!("x.b{at} -> {}", param(&mut binds, leaf)));
    }
    let sql = format!(
        "SELECT c.idx, c.status <> 'running', jsonb_build_array({}) FROM compound_results c, \
         LATERAL (SELECT {} OFFSET 0) x WHERE c.run_pk = $1 ORDER BY c.idx",
        exprs.join(", "),
        bases.iter().enumerate().map(|(at, (_, sql))| format!("{sql} AS b{at}")).collect::<Vec<_>>().join(", ")
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
    let read = started.elapsed();
    let ranked = write_placements(&mut tx, run_pk, profile, &entries, true).await?;
    tracing::info!(run_id = %run_id, compounds = entries.idx.len(), read_ms = read.as_millis() as u64, total_ms = started.elapsed().as_millis() as u64, "rescored");

    let applied = profile.history_entry(name);
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
///
/// Each chunk is a range of indexes, its values arrays by position in the
/// range, so Postgres reads the range off the primary key and looks each
/// row's values up: a join with the values instead was planned as a loop
/// over the run's rows rescanning the values whenever the table's
/// statistics were older than the run (a run just written: "1 row"), hours
/// for 100,000 compounds.
async fn write_placements(
    tx: &mut Transaction<'_, Postgres>,
    run_pk: i64,
    profile: &Profile,
    entries: &Entries,
    with_scores: bool,
) -> Result<usize, sqlx::Error> {
    let placements = profile::place(profile.method, &entries.keys);
    let ranked = placements.iter().filter(|p| p.rank.is_some()).count();
    for ((idx, keys), places) in entries.idx.chunks(CHUNK).zip(entries.keys.chunks(CHUNK)).zip(placements.chunks(CHUNK)) {
        let (first, last) = (idx[0], idx[idx.len() - 1]);
        let span = (last - first + 1) as usize;
        // No NULLs in the number arrays (0 and NaN stand for none): an
        // element of an array with NULLs, like one of a jsonb[], is found
        // by walking the elements before it; these are indexed directly,
        // and the scores are one jsonb array, whose elements are too.
        let mut scores: Vec<Value> = vec![Value::Null; span];
        let mut finals: Vec<f64> = vec![f64::NAN; span];
        let (mut rank, mut order, mut front) = (vec![0i32; span], vec![0i32; span], vec![0i32; span]);
        for ((&i, (score, desirabilities)), p) in idx.iter().zip(keys).zip(places) {
            let at = (i - first) as usize;
            if with_scores && !desirabilities.is_empty() {
                scores[at] = Value::Object(
                    profile.objectives.iter().zip(desirabilities).map(|(o, d)| (o.name.clone(), d.map(Value::from).unwrap_or(Value::Null))).collect(),
                );
            }
            finals[at] = score.unwrap_or(f64::NAN);
            let int = |v: Option<u32>| v.map_or(0, |x| x as i32);
            (rank[at], order[at], front[at]) = (int(p.rank), int(p.order), int(p.front));
        }
        let at = "c.idx - $2 + 1";
        sqlx::query(&format!(
            "UPDATE compound_results c SET rank = NULLIF(($4::int[])[{at}], 0), rank_order = NULLIF(($5::int[])[{at}], 0), \
                 pareto_front = NULLIF(($6::int[])[{at}], 0), \
                 scores = CASE WHEN $9 THEN NULLIF($7::jsonb -> (c.idx - $2), 'null') ELSE c.scores END, \
                 final_score = CASE WHEN $9 THEN NULLIF(($8::float8[])[{at}], 'NaN') ELSE c.final_score END \
             WHERE c.run_pk = $1 AND c.idx >= $2 AND c.idx <= $3"
        ))
        .persistent(false)
        .bind(run_pk)
        .bind(first)
        .bind(last)
        .bind(rank)
        .bind(order)
        .bind(front)
        .bind(Json(Value::Array(scores)))
        .bind(finals)
        .bind(with_scores)
        .execute(&mut **tx)
        .await?;
    }
    Ok(ranked)
}
