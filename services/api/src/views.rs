//! The JSON shapes of DESIGN.md's API contract, built from stored rows.

use chrono::{DateTime, SecondsFormat, Utc};
use pharmforge_store::{CompoundRow, RunRow};
use serde_json::{json, Map, Value};

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Per-stage counts: `{<adapter>: {pending, done, failed, skipped}}`.
fn stages(run: &RunRow) -> Value {
    let mut out = Map::new();
    for adapter in &run.adapter_sequence {
        let counts = run.stage_counts.get(adapter);
        let get = |k: &str| counts.and_then(|c| c.get(k)).and_then(Value::as_i64).unwrap_or(0);
        let (done, failed, skipped) = (get("done"), get("failed"), get("skipped"));
        let pending = (run.total_compounds as i64 - done - failed - skipped).max(0);
        out.insert(adapter.clone(), json!({"pending": pending, "done": done, "failed": failed, "skipped": skipped}));
    }
    Value::Object(out)
}

/// A run. `input_smiles` is included where the caller has it (creation and
/// single-run reads), `inline` compound results once the run has finished.
pub fn run(run: &RunRow, input_smiles: Option<&[String]>, inline: Option<(Vec<CompoundRow>, bool)>) -> Value {
    let mut v = json!({
        "run_id": run.run_id,
        "status": run.status,
        "created_at": timestamp(&run.created_at),
        "updated_at": timestamp(&run.updated_at),
        "completed_at": run.completed_at.as_ref().map(timestamp),
        "pipeline_config": run.pipeline_config,
        "user_id": run.user_id,
        "progress": run.progress(),
        "compounds": {
            "total": run.total_compounds,
            "completed": run.completed_compounds,
            "failed": run.failed_compounds,
        },
        "stages": stages(run),
        "lockfile": run.lockfile,
        "error_message": run.error_message,
        "results": Value::Null,
    });
    if let Some(smiles) = input_smiles {
        v["input_smiles"] = json!(smiles);
    }
    if let Some(summary) = &run.results {
        let mut results = summary.clone();
        if let (Some((rows, truncated)), Some(obj)) = (inline, results.as_object_mut()) {
            obj.insert("compounds".into(), Value::Array(rows.iter().map(compound).collect()));
            obj.insert("compounds_truncated".into(), json!(truncated));
        }
        v["results"] = results;
    }
    v
}

pub fn compound(c: &CompoundRow) -> Value {
    json!({
        "compound_id": c.compound_id,
        "index": c.idx,
        "smiles": c.smiles,
        "status": c.status,
        "properties": c.properties,
        "admet": c.admet,
        "pubchem": c.pubchem,
        "bioactivity": c.bioactivity,
        "docking": c.docking,
        "synthesis": c.synthesis,
        "errors": c.errors,
        "scores": c.scores,
        "trace_id": c.trace_id,
        "final_score": c.final_score,
        "rank": c.rank,
    })
}
