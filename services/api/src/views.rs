//! The JSON shapes of the API contract (README, API), built from stored rows.
//!
//! Responses are serialized straight from these borrowed views: a compound's
//! stored sections go out as the JSON text Postgres returned, never through a
//! `serde_json::Value` tree (which cost the API most of its CPU and memory on
//! result pages).

use chrono::{DateTime, SecondsFormat, Utc};
use pharmforge_core::profile::{self, Profile};
use pharmforge_store::{CompoundRow, RawJson, RunRow};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize)]
struct StageCounts {
    pending: i64,
    done: i64,
    failed: i64,
    skipped: i64,
}

#[derive(Serialize)]
struct CompoundCounts {
    total: i32,
    completed: i32,
    failed: i32,
}

/// Where a run's compounds are in admission: `admitted` have entered the
/// pipeline; `waiting` wait for room (none once the run has ended).
#[derive(Serialize)]
struct AdmissionView {
    admitted: i32,
    waiting: i32,
}

/// A run. `input_smiles` is included where the caller has it (creation and
/// single-run reads), inline compound results once the run has finished.
#[derive(Serialize)]
pub struct RunView<'a> {
    run_id: &'a str,
    status: &'a str,
    created_at: String,
    updated_at: String,
    completed_at: Option<String>,
    pipeline_config: &'a Value,
    user_id: Option<&'a str>,
    /// `high`, `normal` or `low` (`pipeline_config.priority`).
    priority: &'a str,
    progress: f64,
    compounds: CompoundCounts,
    /// Per-stage counts: `{<adapter>: {pending, done, failed, skipped}}`, in
    /// the run's adapter order.
    stages: Stages<'a>,
    admission: AdmissionView,
    lockfile: &'a Value,
    error_message: Option<&'a str>,
    results: Option<ResultsView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_smiles: Option<&'a [String]>,
    /// How many input SMILES are left out (a run too large to show them).
    #[serde(skip_serializing_if = "Option::is_none")]
    input_smiles_omitted: Option<i32>,
    /// `pipeline_config.webhook`'s deliveries (single-run reads, runs with one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhooks::WebhookView>,
    /// `[{profile, applied_at, name?}]`: the profiles the run was scored
    /// with, the last one current (`POST /runs/{id}/rescore` appends); not
    /// in lists of runs (a history holds up to 100 profiles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scoring_history: Option<&'a Value>,
}

/// A run's input SMILES as a single-run view shows them: all of them, or
/// how many were left out.
pub struct InputSmiles<'a> {
    list: Option<&'a [String]>,
    omitted: Option<i32>,
}

impl<'a> InputSmiles<'a> {
    pub fn of(run: &RunRow, list: Option<&'a [String]>) -> Self {
        match list {
            Some(list) => InputSmiles { list: Some(list), omitted: None },
            None => InputSmiles { list: None, omitted: Some(run.total_compounds) },
        }
    }
}

/// The run's `results` summary as the aggregator stored it, with the first
/// compounds inline.
#[derive(Serialize)]
struct ResultsView<'a> {
    #[serde(flatten)]
    summary: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compounds: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compounds_truncated: Option<bool>,
}

pub fn run<'a>(run: &'a RunRow, input: Option<InputSmiles<'a>>, inline: Option<&'a crate::finished::InlineResults>) -> RunView<'a> {
    let results = run.results.as_ref().and_then(Value::as_object).map(|summary| ResultsView {
        summary,
        compounds: inline.map(|i| &*i.compounds),
        compounds_truncated: inline.map(|i| i.truncated),
    });
    RunView {
        run_id: &run.run_id,
        status: run.status.as_str(),
        created_at: timestamp(&run.created_at),
        updated_at: timestamp(&run.updated_at),
        completed_at: run.completed_at.as_ref().map(timestamp),
        pipeline_config: &run.pipeline_config,
        user_id: run.user_id.as_deref(),
        priority: &run.priority,
        progress: run.progress(),
        compounds: CompoundCounts { total: run.total_compounds, completed: run.completed_compounds, failed: run.failed_compounds },
        stages: stages(&run.adapter_sequence, &run.stage_counts, run.total_compounds),
        admission: AdmissionView { admitted: run.admitted, waiting: if !run.status.is_finished() { (run.total_compounds - run.admitted).max(0) } else { 0 } },
        lockfile: &run.lockfile,
        error_message: run.error_message.as_deref(),
        results,
        input_smiles: input.as_ref().and_then(|i| i.list),
        input_smiles_omitted: input.as_ref().and_then(|i| i.omitted),
        webhook: None,
        scoring_history: Some(&run.scoring_history),
    }
}

/// A run's summary, as its live events carry it.
#[derive(Serialize)]
pub struct RunSummary<'a> {
    run_id: &'a str,
    status: &'a str,
    progress: f64,
    compounds: CompoundCounts,
    stages: Stages<'a>,
    admission: AdmissionView,
    updated_at: String,
    error_message: Option<&'a str>,
}

pub fn summary(run: &RunRow) -> RunSummary<'_> {
    let full = self::run(run, None, None);
    RunSummary {
        run_id: full.run_id,
        status: full.status,
        progress: full.progress,
        compounds: full.compounds,
        stages: full.stages,
        admission: full.admission,
        updated_at: full.updated_at,
        error_message: full.error_message,
    }
}

/// `{<adapter>: counts}` in the run's adapter order.
pub struct Stages<'a>(Vec<(&'a str, StageCounts)>);

/// A run's per-stage counts, `{<adapter>: {pending, done, failed, skipped}}`
/// in its adapter order, from the aggregator's `stage_counts` (done, failed
/// and skipped; pending is the rest of its compounds).
pub fn stages<'a>(adapter_sequence: &'a [String], stage_counts: &Value, total_compounds: i32) -> Stages<'a> {
    Stages(
        adapter_sequence
            .iter()
            .map(|adapter| {
                let counts = stage_counts.get(adapter);
                let get = |k: &str| counts.and_then(|c| c.get(k)).and_then(Value::as_i64).unwrap_or(0);
                let (done, failed, skipped) = (get("done"), get("failed"), get("skipped"));
                let pending = (total_compounds as i64 - done - failed - skipped).max(0);
                (adapter.as_str(), StageCounts { pending, done, failed, skipped })
            })
            .collect(),
    )
}

impl Serialize for Stages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// One compound result.
#[derive(Serialize)]
pub struct CompoundView<'a> {
    /// The user's own ID for the compound, as given (null when none was).
    id: Option<&'a str>,
    compound_id: &'a str,
    index: i32,
    smiles: &'a str,
    status: &'a str,
    properties: Option<&'a RawValue>,
    admet: Option<&'a RawValue>,
    pubchem: Option<&'a RawValue>,
    bioactivity: Option<&'a RawValue>,
    docking: Option<&'a RawValue>,
    synthesis: Option<&'a RawValue>,
    errors: &'a RawValue,
    scores: Option<&'a RawValue>,
    trace_id: Option<&'a str>,
    final_score: Option<f64>,
    /// 1 is best; ties share a rank and the next skips (1, 2, 2, 4).
    rank: Option<i32>,
    /// The compound's Pareto front (1 = dominated by none), under a
    /// `pareto` profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pareto_front: Option<i32>,
    /// How the final score came about: each objective of the run's current
    /// profile with the raw value read, its desirability and its weight
    /// (null desirability: left out). Present once the compound is scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    score_parts: Option<Vec<ScorePart>>,
    /// The data items of the compound's SD record (or its CSV row's other
    /// columns), as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    input_properties: Option<&'a RawValue>,
}

fn raw(v: &Option<RawJson>) -> Option<&RawValue> {
    v.as_ref().map(|j| &*j.0)
}

/// One objective of a compound's score.
#[derive(Serialize)]
pub struct ScorePart {
    name: String,
    /// The path of the value in the result (`properties.logp`).
    value: String,
    raw: Option<Value>,
    desirability: Option<f64>,
    weight: f64,
}

/// The stored section a profile path reads.
fn section<'c>(c: &'c CompoundRow, name: &str) -> Option<&'c RawValue> {
    let column = match name {
        "properties" => &c.properties,
        "admet" => &c.admet,
        "pubchem" => &c.pubchem,
        "bioactivity" => &c.bioactivity,
        _ => return None,
    };
    column.as_ref().map(|j| &*j.0)
}

/// The raw value at a profile path of a stored result, read from the
/// section's JSON text without building the rest of it.
fn raw_at(c: &CompoundRow, path: &str) -> Option<Value> {
    let (name, keys) = profile::locate(path)?;
    let mut at: &RawValue = section(c, name)?;
    for key in keys.iter().filter(|k| !k.is_empty()) {
        let fields: std::collections::HashMap<String, &RawValue> = serde_json::from_str(at.get()).ok()?;
        at = fields.get(*key)?;
    }
    serde_json::from_str::<Value>(at.get()).ok().filter(|v| !v.is_null())
}

fn score_parts(c: &CompoundRow, profile: &Profile) -> Vec<ScorePart> {
    let scored = profile.score(&|path| raw_at(c, path));
    scored
        .parts
        .into_iter()
        .zip(&profile.objectives)
        .map(|(p, o)| ScorePart { name: p.name, value: o.value.clone(), raw: p.raw, desirability: p.desirability, weight: p.weight })
        .collect()
}

/// A compound's result, its score explained by `profile` (its run's
/// current one; `None` for a table view, whose sections are cut short).
pub fn compound<'a>(c: &'a CompoundRow, profile: Option<&Profile>) -> CompoundView<'a> {
    CompoundView {
        id: c.given_id.as_deref(),
        compound_id: &c.compound_id,
        index: c.idx,
        smiles: &c.smiles,
        status: &c.status,
        properties: raw(&c.properties),
        admet: raw(&c.admet),
        pubchem: raw(&c.pubchem),
        bioactivity: raw(&c.bioactivity),
        docking: raw(&c.docking),
        synthesis: raw(&c.synthesis),
        errors: &c.errors.0,
        scores: raw(&c.scores),
        trace_id: c.trace_id.as_deref(),
        final_score: c.final_score,
        rank: c.rank,
        pareto_front: c.pareto_front,
        score_parts: profile.filter(|_| c.scores.is_some()).map(|p| score_parts(c, p)),
        input_properties: raw(&c.input_properties),
    }
}

/// A page of runs (`runs`) or of a run's compound results (`results`).
#[derive(Serialize)]
pub struct Page<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RunView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<CompoundView<'a>>>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}
