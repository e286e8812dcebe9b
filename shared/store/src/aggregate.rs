//! The aggregator's write: a batch of records seen on `pipeline.>` becomes, in
//! one transaction, upserted compound rows plus the runs' counters, status and
//! lockfile.
//!
//! Idempotency: a compound row remembers how many stages it has passed
//! (`step`). A record whose step is not beyond the stored one is a duplicate
//! (redelivery, re-publish) and changes nothing; counters move by exactly the
//! stages a record adds. The run rows are locked first (`FOR UPDATE`, in id
//! order), so aggregator replicas serialise per run and never double count.

use crate::stages::RunStageCounts;
use pharmforge_core::profile::Profile;
use pharmforge_core::{CompoundRecord, RunId, RunStatus, Section};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default, PartialEq)]
pub struct BatchOutcome {
    /// Records that moved a compound forward.
    pub applied: usize,
    /// Records already applied before (redelivery or duplicate publish).
    pub duplicates: usize,
    /// Records of runs that no longer exist (deleted).
    pub orphans: usize,
    /// Records that do not fit their run (another route, an index past its
    /// compounds): ignored, so no record counts beyond what its run allows.
    pub misfits: usize,
    /// Runs that finished with this batch.
    pub finished_runs: Vec<RunId>,
}

struct RunState {
    pk: i64,
    status: RunStatus,
    route: Vec<String>,
    total: i32,
    completed: i32,
    failed: i32,
    steps_done: i64,
    stage_counts: RunStageCounts,
    lockfile: Map<String, Value>,
    /// The keys of each section over the run's results (`result_keys`), and
    /// whether this batch added any.
    result_keys: BTreeMap<String, BTreeSet<String>>,
    new_keys: bool,
    changed: bool,
    /// The run's current scoring profile.
    profile: Profile,
}

impl RunState {
    /// Notes the keys of a section (a JSON object) that a result carries.
    fn note_keys<'k>(&mut self, section: &str, keys: impl IntoIterator<Item = &'k str>) {
        let known = self.result_keys.entry(section.to_owned()).or_default();
        for key in keys {
            if !known.contains(key) {
                known.insert(key.to_owned());
                self.new_keys = true;
            }
        }
    }
}

pub async fn apply_batch(pool: &PgPool, records: Vec<CompoundRecord>) -> Result<BatchOutcome, sqlx::Error> {
    let mut outcome = BatchOutcome::default();
    // Within a batch keep only the furthest record of each compound.
    let mut latest: BTreeMap<(RunId, u32), CompoundRecord> = BTreeMap::new();
    for mut r in records {
        // Postgres stores U+0000 neither in text nor in jsonb: it would
        // refuse the whole batch, every time it came again.
        if r.strip_nul() {
            tracing::warn!(compound_id = %r.compound_id(), "U+0000 removed from the record's strings before storing it");
        }
        let key = (r.run_id.clone(), r.index);
        match latest.get(&key) {
            Some(existing) if existing.step >= r.step => outcome.duplicates += 1,
            _ => {
                if latest.insert(key, r).is_some() {
                    outcome.duplicates += 1;
                }
            }
        }
    }
    if latest.is_empty() {
        return Ok(outcome);
    }

    let mut tx = pool.begin().await?;
    let run_ids: Vec<RunId> = {
        let mut ids: Vec<RunId> = latest.keys().map(|(r, _)| r.clone()).collect();
        ids.dedup();
        ids
    };
    let mut runs = lock_runs(&mut tx, &run_ids).await?;

    let (pks, idxs): (Vec<i64>, Vec<i32>) = latest.keys().filter_map(|(run, idx)| runs.get(run).map(|s| (s.pk, *idx as i32))).unzip();
    // Planned at every call (an unnamed statement), never from a cached
    // generic plan: a plan made while the table was small (a hash join over
    // a scan of the whole table) was kept as it grew, and at 40,000 rows
    // into a 100,000-compound run this lookup held a core on its own and
    // the run slowed to a quarter of its speed. With the batch's keys in
    // hand the planner looks each one up in the primary key.
    let stored: HashMap<(i64, i32), i16> = sqlx::query(
        "SELECT c.run_pk, c.idx, c.step FROM compound_results c \
         JOIN UNNEST($1::bigint[], $2::int[]) AS k(run_pk, idx) ON c.run_pk = k.run_pk AND c.idx = k.idx",
    )
    .persistent(false)
    .bind(&pks)
    .bind(&idxs)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| ((row.get(0), row.get(1)), row.get(2)))
    .collect();

    let mut rows = CompoundRows::default();
    for ((run_id, index), record) in &latest {
        let Some(run) = runs.get_mut(run_id) else {
            outcome.orphans += 1;
            continue;
        };
        let fits =
            *index < run.total.max(0) as u32 && record.route.len() == run.route.len() && record.route.iter().zip(&run.route).all(|(a, b)| a.as_str() == b);
        if !fits {
            tracing::warn!(compound_id = %record.compound_id(), "a record that does not fit its run (route or index); ignored");
            outcome.misfits += 1;
            continue;
        }
        let old_step = stored.get(&(run.pk, *index as i32)).copied().unwrap_or(0) as usize;
        let new_step = (record.step as usize).min(record.route.len());
        if new_step <= old_step {
            outcome.duplicates += 1;
            continue;
        }
        outcome.applied += 1;
        run.changed = true;
        for adapter in &record.route[old_step..new_step] {
            run.stage_counts.count(*adapter, record.outcome_of(*adapter));
            run.steps_done += 1;
        }
        for (adapter, provenance) in &record.provenance {
            let entry = run.lockfile.entry(adapter.clone()).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                if !list.iter().any(|v| v.as_str() == Some(provenance)) {
                    list.push(Value::String(provenance.clone()));
                }
            }
        }
        for adapter in &record.route[old_step..new_step] {
            let section = adapter.section().as_str();
            if let Some(raw) = record.sections.get(section) {
                let keys = crate::section::flat_keys(crate::section::Section::Result(adapter.section()), raw);
                run.note_keys(section, keys.iter().map(String::as_str));
            }
        }
        run.note_keys("errors", record.errors.keys().map(String::as_str));
        let status = if !record.is_done() {
            "running"
        } else if record.cancelled {
            "cancelled"
        } else if record.fatal.is_some() {
            run.failed += 1;
            "failed"
        } else {
            run.completed += 1;
            "completed"
        };
        rows.push(run.pk, record, old_step, new_step, status, &run.profile);
        if let Some(scores) = rows.scores.last().and_then(Option::as_ref) {
            if let Some(scores) = scores.0.as_object() {
                let names: Vec<String> = scores.keys().cloned().collect();
                run.note_keys("scores", names.iter().map(String::as_str));
            }
        }
    }

    if !rows.is_empty() {
        upsert_compounds(&mut tx, rows).await?;
    }
    for (run_id, run) in runs.iter_mut().filter(|(_, r)| r.changed) {
        if finish_or_progress(&mut tx, run).await? {
            outcome.finished_runs.push(run_id.clone());
        }
    }
    tx.commit().await?;
    Ok(outcome)
}

async fn lock_runs(tx: &mut Transaction<'_, Postgres>, run_ids: &[RunId]) -> Result<HashMap<RunId, RunState>, sqlx::Error> {
    let run_ids: Vec<&str> = run_ids.iter().map(RunId::as_str).collect();
    let rows = sqlx::query(
        "SELECT id, run_id, status, total_compounds, completed_compounds, failed_compounds, steps_done, \
         stage_counts, lockfile, adapter_sequence, result_keys, scoring_history \
         FROM pipeline_runs WHERE run_id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&run_ids)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            let as_map = |v: Value| match v {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            Ok((
                RunId::try_from(row.get::<String, _>(1)).map_err(|e| sqlx::Error::Decode(e.into()))?,
                RunState {
                    pk: row.get(0),
                    status: RunStatus::try_from(row.get::<String, _>(2)).map_err(|e| sqlx::Error::Decode(e.into()))?,
                    total: row.get(3),
                    completed: row.get(4),
                    failed: row.get(5),
                    steps_done: row.get(6),
                    stage_counts: row.get::<Json<RunStageCounts>, _>(7).0,
                    lockfile: as_map(row.get(8)),
                    route: row.get(9),
                    result_keys: serde_json::from_value(row.get(10)).unwrap_or_default(),
                    new_keys: false,
                    changed: false,
                    profile: crate::runs::current_profile(&row.get::<Value, _>(11)),
                },
            ))
        })
        .collect()
}

/// Compound rows to upsert, one array per column: Postgres receives each
/// value in its own type (each section as one `jsonb` parameter element,
/// parsed once), where a single JSON document of rows made it parse the
/// document, print every section back to text and parse it again.
#[derive(Default)]
struct CompoundRows<'a> {
    run_pk: Vec<i64>,
    idx: Vec<i32>,
    compound_id: Vec<String>,
    smiles: Vec<&'a str>,
    trace_id: Vec<&'a str>,
    status: Vec<&'static str>,
    step: Vec<i16>,
    /// One column per section, in `Section::ALL`'s order.
    sections: [Vec<Option<Json<&'a RawValue>>>; Section::ALL.len()],
    errors: Vec<Json<&'a BTreeMap<String, String>>>,
    scores: Vec<Option<Json<Value>>>,
    final_score: Vec<Option<f64>>,
    /// The ADMET section's numbers (`admet_values`, as an array literal:
    /// an array per row does not go through `UNNEST`) and its model, when
    /// the section is sent.
    admet_values: Vec<Option<String>>,
    admet_model: Vec<Option<String>>,
}

impl<'a> CompoundRows<'a> {
    fn is_empty(&self) -> bool {
        self.run_pk.is_empty()
    }

    /// Adds the row of a compound moving from `old_step` to `step`. Only the
    /// sections of the stages it passed since (`route[old_step..step]`) are
    /// sent; the others are already stored, and the upsert keeps them as they
    /// are (`COALESCE`), so an ADMET section is parsed, compressed and
    /// written once, not again at every later stage.
    fn push(&mut self, run_pk: i64, record: &'a CompoundRecord, old_step: usize, step: usize, status: &'static str, profile: &Profile) {
        self.run_pk.push(run_pk);
        self.idx.push(record.index as i32);
        self.compound_id.push(record.compound_id());
        self.smiles.push(&record.smiles);
        self.trace_id.push(&record.trace_id);
        self.status.push(status);
        self.step.push(step as i16);
        let fresh: Vec<Section> = record.route[old_step.min(step)..step].iter().map(|a| a.section()).collect();
        for (section, values) in Section::ALL.iter().zip(self.sections.iter_mut()) {
            values.push(fresh.contains(section).then(|| record.sections.get(section.as_str())).flatten().map(|raw| Json(&**raw)));
        }
        let admet = fresh.contains(&Section::Admet).then(|| record.sections.get(Section::Admet.as_str())).flatten();
        let (values, model) = admet.map(|raw| admet_columns(raw)).unwrap_or_default();
        self.admet_values.push(values);
        self.admet_model.push(model);
        self.errors.push(Json(&record.errors));
        if record.is_done() {
            let s = profile.score_sections(&record.sections);
            self.scores.push(Some(Json(Value::Object(s.desirabilities()))));
            self.final_score.push(s.final_score);
        } else {
            self.scores.push(None);
            self.final_score.push(None);
        }
    }
}

/// An ADMET section's `admet_values` (as a Postgres array literal) and
/// `admet_model`; none for anything but an object.
fn admet_columns(raw: &RawValue) -> (Option<String>, Option<String>) {
    let Some(values) = pharmforge_core::profile::admet_values(raw.get()) else { return (None, None) };
    let mut literal = String::with_capacity(values.len() * 20);
    literal.push('{');
    for (at, v) in values.iter().enumerate() {
        if at > 0 {
            literal.push(',');
        }
        match v {
            // Display writes the shortest text that reads back the same
            // number, which float8in reads exactly.
            Some(v) => {
                use std::fmt::Write;
                let _ = write!(literal, "{v}");
            }
            None => literal.push_str("NULL"),
        }
    }
    literal.push('}');
    #[derive(serde::Deserialize)]
    struct Model {
        model: Option<Value>,
    }
    let model = serde_json::from_str::<Model>(raw.get()).ok().and_then(|m| m.model?.as_str().map(str::to_owned));
    (Some(literal), model)
}

async fn upsert_compounds(tx: &mut Transaction<'_, Postgres>, rows: CompoundRows<'_>) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(&UPSERT_COMPOUNDS)
        .bind(rows.run_pk)
        .bind(rows.idx)
        .bind(rows.compound_id)
        .bind(rows.smiles)
        .bind(rows.trace_id)
        .bind(rows.status)
        .bind(rows.step);
    for section in rows.sections {
        query = query.bind(section);
    }
    query.bind(rows.errors).bind(rows.scores).bind(rows.final_score).bind(rows.admet_values).bind(rows.admet_model).execute(&mut **tx).await?;
    Ok(())
}

/// The upsert of a batch's compound rows, a `jsonb[]` parameter and a column
/// per section. A section not sent (`NULL`: its stage was passed before) keeps
/// what is stored.
static UPSERT_COMPOUNDS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let names = Section::ALL.map(|s| s.as_str());
    let first = 8; // $1..$7: run_pk, idx, compound_id, smiles, trace_id, status, step
    let n = names.len();
    let section_params: Vec<String> = (first..first + n).map(|i| format!("${i}::jsonb[]")).collect();
    let mut keep: Vec<String> = names.iter().map(|c| format!("{c} = COALESCE(EXCLUDED.{c}, compound_results.{c})")).collect();
    // The ADMET columns go with the section: kept when it is not sent.
    keep.push("admet_values = CASE WHEN EXCLUDED.admet IS NULL THEN compound_results.admet_values ELSE EXCLUDED.admet_values END".into());
    keep.push("admet_model = CASE WHEN EXCLUDED.admet IS NULL THEN compound_results.admet_model ELSE EXCLUDED.admet_model END".into());
    let columns = format!("run_pk, idx, compound_id, smiles, trace_id, status, step, {}, errors, scores, final_score", names.join(", "));
    format!(
        "INSERT INTO compound_results ({columns}, admet_values, admet_model) \
         SELECT {columns}, admet_values::float8[], admet_model \
         FROM UNNEST($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], {section_params}, \
             ${e}::jsonb[], ${s}::jsonb[], ${f}::float8[], ${v}::text[], ${m}::text[]) AS x({columns}, admet_values, admet_model) \
         ORDER BY run_pk, idx \
         ON CONFLICT (run_pk, idx) DO UPDATE SET status = EXCLUDED.status, step = EXCLUDED.step, {keep}, \
             errors = compound_results.errors || EXCLUDED.errors, scores = EXCLUDED.scores, final_score = EXCLUDED.final_score, \
             updated_at = now() \
         WHERE compound_results.step < EXCLUDED.step",
        section_params = section_params.join(", "),
        keep = keep.join(", "),
        e = first + n,
        s = first + n + 1,
        f = first + n + 2,
        v = first + n + 3,
        m = first + n + 4,
    )
});

/// Writes the run's counters; when its last compound is in, also its status,
/// summary and the ranks of its compounds. Returns whether the run finished.
async fn finish_or_progress(tx: &mut Transaction<'_, Postgres>, run: &RunState) -> Result<bool, sqlx::Error> {
    let finished = run.completed + run.failed >= run.total && run.status != RunStatus::Cancelled;
    let status = if finished {
        if run.completed == 0 && run.total > 0 {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        }
    } else if run.status == RunStatus::Pending {
        RunStatus::Running
    } else {
        run.status
    };
    let error_message = (finished && status == RunStatus::Failed).then(|| format!("all {} compounds failed; each compound's errors say why", run.total));
    sqlx::query(
        "UPDATE pipeline_runs SET status = $2, completed_compounds = $3, failed_compounds = $4, steps_done = $5, \
         stage_counts = $6, lockfile = $7, updated_at = now(), \
         completed_at = CASE WHEN $8 THEN now() ELSE completed_at END, \
         error_message = COALESCE($9, error_message), \
         results = CASE WHEN $8 THEN jsonb_build_object('total_processed', $3 + $4, 'succeeded', $3, 'failed', $4, \
             'adapter_sequence', to_jsonb(adapter_sequence), 'completed_at', to_jsonb(now())) ELSE results END, \
         result_keys = COALESCE($10, result_keys) \
         WHERE id = $1",
    )
    .bind(run.pk)
    .bind(status.as_str())
    .bind(run.completed)
    .bind(run.failed)
    .bind(run.steps_done)
    .bind(Json(&run.stage_counts))
    .bind(Value::Object(run.lockfile.clone()))
    .bind(finished)
    .bind(error_message)
    .bind(run.new_keys.then(|| serde_json::to_value(&run.result_keys).expect("keys serialize")))
    .execute(&mut **tx)
    .await?;
    if finished {
        crate::scores::place_run(tx, run.pk, &run.profile).await?;
    }
    Ok(finished)
}
