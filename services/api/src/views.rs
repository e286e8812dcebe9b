//! The JSON shapes of the API contract (README, API), built from stored rows.
//!
//! Responses are serialized straight from these borrowed views: a compound's
//! stored sections go out as the JSON text Postgres returned, never through a
//! `serde_json::Value` tree (which cost the API most of its CPU and memory on
//! result pages).

use chrono::{DateTime, SecondsFormat, Utc};
use pharmforge_core::profile::{self, Profile};
use pharmforge_store::{CompoundRow, RawJson, RunRow, RunStageCounts};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One stage's compounds: waiting for it or in it, done, failed in it, skipped (an earlier stage failed them).
#[derive(Serialize, ToSchema)]
pub(crate) struct StageCounts {
    pending: i64,
    done: i64,
    failed: i64,
    skipped: i64,
}

/// The run's compounds: in all, completed, failed.
#[derive(Serialize, ToSchema)]
struct CompoundCounts {
    total: i32,
    completed: i32,
    failed: i32,
}

/// Where a run's compounds are in admission: `admitted` have entered the
/// pipeline; `waiting` wait for room (none once the run has ended).
#[derive(Serialize, ToSchema)]
#[schema(as = Admission)]
struct AdmissionView {
    admitted: i32,
    waiting: i32,
}

/// A run. `input_smiles` is included where the caller has it (creation and
/// single-run reads), inline compound results once the run has finished.
#[derive(Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunView<'a> {
    #[schema(pattern = "^run_[0-9a-f]{16}$", example = "run_0123456789abcdef")]
    run_id: &'a str,
    #[schema(value_type = crate::openapi::RunStatus)]
    status: &'a str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When it ended; null until then.
    #[schema(format = DateTime, required)]
    completed_at: Option<String>,
    /// As it runs: `adapters` and `priority` filled in, `webhook` as checked.
    #[schema(value_type = crate::openapi::PipelineConfig)]
    pipeline_config: &'a Value,
    #[schema(required)]
    user_id: Option<&'a str>,
    /// `high`, `normal` or `low` (`pipeline_config.priority`).
    #[schema(value_type = crate::openapi::Priority)]
    priority: &'a str,
    /// The share of its compounds' stages done, 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    progress: f64,
    compounds: CompoundCounts,
    /// Per-stage counts: `{<adapter>: {pending, done, failed, skipped}}`, in
    /// the run's adapter order.
    #[schema(value_type = std::collections::HashMap<String, StageCounts>)]
    stages: Stages<'a>,
    /// Compounds admitted to the pipeline so far, and those waiting for room (0 once the run has ended).
    admission: AdmissionView,
    /// Per adapter, what it ran as (its name, version and engine: the RDKit release, the model's files).
    #[schema(value_type = std::collections::HashMap<String, Vec<String>>)]
    lockfile: &'a Value,
    #[schema(required)]
    error_message: Option<&'a str>,
    /// The aggregator's summary once the run has finished, with its first
    /// compounds inline (`API_INLINE_RESULTS`) on single-run reads; null until then.
    #[schema(required)]
    results: Option<ResultsView<'a>>,
    /// Single-run views of runs of up to 1,000 compounds (any size with `?include=input_smiles`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>)]
    input_smiles: Option<&'a [String]>,
    /// How many input SMILES a larger run's view leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    input_smiles_omitted: Option<i32>,
    /// Only on `GET /runs/{run_id}`, for a run with `pipeline_config.webhook`: each delivery attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub webhook: Option<crate::webhooks::WebhookView>,
    /// The profiles the run was scored with (the latest 100), the last one
    /// current (`POST /runs/{run_id}/rescore` appends); not in lists of runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<crate::openapi::ScoringHistoryEntry>)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = RunResults)]
struct ResultsView<'a> {
    #[serde(flatten)]
    #[schema(value_type = crate::openapi::RunResultsSummary)]
    summary: &'a Map<String, Value>,
    /// The first compounds (`API_INLINE_RESULTS`, 100), as `/results` returns them; single-run reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<CompoundView>)]
    compounds: Option<&'a RawValue>,
    /// Whether the run has more compounds than `compounds` shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    compounds_truncated: Option<bool>,
}

pub fn run<'a>(run: &'a RunRow, input: Option<InputSmiles<'a>>, inline: Option<&'a crate::finished::InlineResults>) -> RunView<'a> {
    let results = run.results.as_ref().and_then(Value::as_object).map(|summary| ResultsView {
        summary,
        compounds: inline.map(|i| &*i.compounds),
        compounds_truncated: inline.map(|i| i.truncated),
    });
    RunView {
        run_id: run.run_id.as_str(),
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

/// A run's summary, as its live events carry it (each event's `data`).
#[derive(Serialize, ToSchema)]
pub struct RunSummary<'a> {
    #[schema(pattern = "^run_[0-9a-f]{16}$")]
    run_id: &'a str,
    #[schema(value_type = crate::openapi::RunStatus)]
    status: &'a str,
    #[schema(minimum = 0, maximum = 1)]
    progress: f64,
    compounds: CompoundCounts,
    #[schema(value_type = std::collections::HashMap<String, StageCounts>)]
    stages: Stages<'a>,
    admission: AdmissionView,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(required)]
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
pub fn stages<'a>(adapter_sequence: &'a [String], stage_counts: &RunStageCounts, total_compounds: i32) -> Stages<'a> {
    Stages(
        adapter_sequence
            .iter()
            .map(|adapter| {
                let c = stage_counts.named(adapter);
                let pending = (total_compounds as i64 - c.passed()).max(0);
                (adapter.as_str(), StageCounts { pending, done: c.done, failed: c.failed, skipped: c.skipped })
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
#[derive(Serialize, ToSchema)]
#[schema(as = CompoundResult)]
pub struct CompoundView<'a> {
    /// The user's own ID for the compound, as given (null when none was).
    #[schema(required)]
    id: Option<&'a str>,
    /// `<run_id>_<index>`.
    compound_id: &'a str,
    /// Its place in the input, from 0.
    index: i32,
    smiles: &'a str,
    /// `running` (still in the pipeline), `completed`, `failed` or `cancelled`.
    status: &'a str,
    /// RDKit's descriptors (`rdkit_local`); null until computed or when not on the route.
    #[schema(value_type = Option<Object>, required)]
    properties: Option<&'a RawValue>,
    /// ADMET-AI's predictions (`admet_ai`), with their DrugBank-approved percentiles.
    #[schema(value_type = Option<Object>, required)]
    admet: Option<&'a RawValue>,
    /// PubChem's record of the compound (`pubchem`).
    #[schema(value_type = Option<Object>, required)]
    pubchem: Option<&'a RawValue>,
    /// ChEMBL's bioactivity for the compound (`chembl`).
    #[schema(value_type = Option<Object>, required)]
    bioactivity: Option<&'a RawValue>,
    /// Kept for the seed's clients: no adapter fills it yet.
    #[schema(value_type = Option<Object>, required)]
    docking: Option<&'a RawValue>,
    /// Kept for the seed's clients: no adapter fills it yet.
    #[schema(value_type = Option<Object>, required)]
    synthesis: Option<&'a RawValue>,
    /// The Bemis–Murcko scaffold, its generic form and the ring systems (`scaffolds`, only on runs that ask for it).
    #[schema(value_type = Option<Object>, required)]
    scaffolds: Option<&'a RawValue>,
    /// Each adapter's error for this compound, by adapter.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    errors: &'a RawValue,
    /// Each objective's desirability under the run's current profile (null: left out).
    #[schema(value_type = Option<std::collections::HashMap<String, Option<f64>>>, required)]
    scores: Option<&'a RawValue>,
    /// The trace the compound's records went through the pipeline in.
    #[schema(required)]
    trace_id: Option<&'a str>,
    #[schema(required)]
    final_score: Option<f64>,
    /// 1 is best; ties share a rank and the next skips (1, 2, 2, 4); null: unranked.
    #[schema(required)]
    rank: Option<i32>,
    /// The compound's Pareto front (1 = dominated by none), under a
    /// `pareto` profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pareto_front: Option<i32>,
    /// How the final score came about: each objective of the run's current
    /// profile with the raw value read, its desirability and its weight
    /// (null desirability: left out). Present once the compound is scored,
    /// not with `view=table`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    score_parts: Option<Vec<ScorePart>>,
    /// The data items of the compound's SD record (or its CSV row's other
    /// columns), as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = std::collections::HashMap<String, String>)]
    input_properties: Option<&'a RawValue>,
}

fn raw(v: &Option<RawJson>) -> Option<&RawValue> {
    v.as_ref().map(|j| &*j.0)
}

/// One objective of a compound's score.
#[derive(Serialize, ToSchema)]
pub struct ScorePart {
    name: String,
    /// The path of the value in the result (`properties.logp`).
    value: String,
    /// The value read there (null: none).
    #[schema(value_type = Value, required)]
    raw: Option<Value>,
    /// Its transform's value, 0 to 1 (null: left out).
    #[schema(required)]
    desirability: Option<f64>,
    weight: f64,
}

/// The stored section a profile path reads.
fn section<'c>(c: &'c CompoundRow, name: &str) -> Option<&'c RawValue> {
    c.section(pharmforge_core::Section::parse(name)?).map(|j| &*j.0)
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
        scaffolds: raw(&c.scaffolds),
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

/// A page of runs, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunPage<'a> {
    pub runs: Vec<RunView<'a>>,
    /// How many runs match.
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

/// A page of a run's compound results.
#[derive(Serialize, ToSchema)]
pub struct ResultPage<'a> {
    pub results: Vec<CompoundView<'a>>,
    /// How many results match.
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

/// A run after `POST /runs/{run_id}/rescore`, and what the rescore did.
#[derive(Serialize, ToSchema)]
pub struct RescoredRun<'a> {
    #[serde(flatten)]
    pub run: RunView<'a>,
    pub rescored: Rescored,
}

#[derive(Serialize, ToSchema)]
pub struct Rescored {
    /// Compounds scored again.
    pub compounds: usize,
    /// Of those, ranked (the rest are unranked under the profile).
    pub ranked: usize,
    /// How long it took, to the millisecond.
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmforge_core::Section;

    fn raw(text: &str) -> Option<pharmforge_store::RawJson> {
        Some(sqlx::types::Json(RawValue::from_string(text.to_owned()).unwrap()))
    }

    /// A result shows every registered section under its name: a section
    /// added to the registry without its place in the view fails here.
    #[test]
    fn a_result_shows_every_registered_section_under_its_name() {
        let mut row = CompoundRow {
            idx: 0,
            compound_id: "run_0123456789abcdef_0".into(),
            smiles: "C".into(),
            trace_id: None,
            status: "completed".into(),
            properties: None,
            admet: None,
            pubchem: None,
            bioactivity: None,
            docking: None,
            synthesis: None,
            scaffolds: None,
            errors: raw("{}").unwrap(),
            scores: None,
            final_score: None,
            rank: None,
            rank_order: None,
            pareto_front: None,
            given_id: None,
            admet_values: None,
            admet_model: None,
            input_properties: None,
        };
        for s in Section::ALL {
            let value = raw(&format!("{{\"from\":\"{s}\"}}"));
            match s {
                Section::Properties => row.properties = value,
                Section::Admet => row.admet = value,
                Section::Pubchem => row.pubchem = value,
                Section::Bioactivity => row.bioactivity = value,
                Section::Docking => row.docking = value,
                Section::Synthesis => row.synthesis = value,
                Section::Scaffolds => row.scaffolds = value,
            }
        }
        let shown = serde_json::to_value(compound(&row, None)).unwrap();
        for s in Section::ALL {
            assert_eq!(shown[s.as_str()]["from"], s.as_str(), "{shown}");
            assert_eq!(row.section(s).map(|j| j.0.get()), Some(format!("{{\"from\":\"{s}\"}}").as_str()));
        }
    }
}
