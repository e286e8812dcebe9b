//! A run's per-stage counts, as `pipeline_runs.stage_counts` keeps them:
//! `{<adapter>: {"done": n, "failed": n, "skipped": n}}`, written by the
//! aggregator and read by the API, the scheduler and the webhook outbox.

use pharmforge_core::record::StageOutcome;
use pharmforge_core::AdapterName;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One stage's compounds: done, failed in it, skipped (an earlier stage
/// failed them, or the run was cancelled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    pub done: i64,
    pub failed: i64,
    pub skipped: i64,
}

impl StageCounts {
    /// The compounds that have passed the stage, whichever way.
    pub fn passed(&self) -> i64 {
        self.done + self.failed + self.skipped
    }

    pub fn count(&mut self, outcome: StageOutcome) {
        match outcome {
            StageOutcome::Done => self.done += 1,
            StageOutcome::Failed => self.failed += 1,
            StageOutcome::Skipped => self.skipped += 1,
        }
    }

    /// Read as the column has always been read: a count that is missing or
    /// not an integer is 0 (rows made by hand, e.g. by tests and repairs,
    /// carry only `done`).
    fn lenient(v: &Value) -> Self {
        let get = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
        StageCounts { done: get("done"), failed: get("failed"), skipped: get("skipped") }
    }
}

/// The counts of each stage of a run. Adapters this version does not know
/// (a row written by another version) are kept aside under their names, so
/// that such a run still reads, shows those stages, and has them written
/// back as they were; they are never counted into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStageCounts {
    stages: BTreeMap<AdapterName, StageCounts>,
    unknown: BTreeMap<String, StageCounts>,
}

impl RunStageCounts {
    /// The counts of a stage (all 0 before its first compound passed).
    pub fn of(&self, adapter: AdapterName) -> StageCounts {
        self.stages.get(&adapter).copied().unwrap_or_default()
    }

    /// The counts of a stage named as the run's `adapter_sequence` names it,
    /// whether this version knows the adapter or not.
    pub fn named(&self, adapter: &str) -> StageCounts {
        match AdapterName::parse(adapter) {
            Some(a) => self.of(a),
            None => self.unknown.get(adapter).copied().unwrap_or_default(),
        }
    }

    /// Counts one compound passing `adapter`'s stage.
    pub fn count(&mut self, adapter: AdapterName, outcome: StageOutcome) {
        self.stages.entry(adapter).or_default().count(outcome);
    }

    /// Stages of known adapters, in `AdapterName`'s order.
    pub fn iter(&self) -> impl Iterator<Item = (AdapterName, StageCounts)> + '_ {
        self.stages.iter().map(|(a, c)| (*a, *c))
    }
}

impl Serialize for RunStageCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let known = self.stages.iter().map(|(a, c)| (a.as_str(), c));
        let unknown = self.unknown.iter().map(|(a, c)| (a.as_str(), c));
        serializer.collect_map(known.chain(unknown))
    }
}

/// Any JSON reads: a stored run never becomes unreadable over its counts
/// (anything but an object is no counts yet, as the column's default `{}`).
impl<'de> Deserialize<'de> for RunStageCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut counts = RunStageCounts::default();
        if let Value::Object(map) = Value::deserialize(deserializer)? {
            for (name, v) in map {
                let c = StageCounts::lenient(&v);
                match AdapterName::parse(&name) {
                    Some(a) => {
                        counts.stages.insert(a, c);
                    }
                    None => {
                        counts.unknown.insert(name, c);
                    }
                }
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_read_back_in_the_columns_shape() {
        let mut c = RunStageCounts::default();
        c.count(AdapterName::AdmetAi, StageOutcome::Done);
        c.count(AdapterName::RdkitLocal, StageOutcome::Failed);
        c.count(AdapterName::AdmetAi, StageOutcome::Skipped);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v, json!({"rdkit_local": {"done": 0, "failed": 1, "skipped": 0}, "admet_ai": {"done": 1, "failed": 0, "skipped": 1}}));
        assert_eq!(serde_json::from_value::<RunStageCounts>(v).unwrap(), c);
        assert_eq!(c.of(AdapterName::AdmetAi).passed(), 2);
        assert_eq!(c.of(AdapterName::Chembl), StageCounts::default());
    }

    #[test]
    fn an_unknown_adapter_or_a_short_entry_does_not_make_a_run_unreadable() {
        let stored = json!({"vina": {"done": 3, "failed": 1, "skipped": 0}, "rdkit_local": {"done": 2}, "pubchem": "garbage"});
        let mut c: RunStageCounts = serde_json::from_value(stored).unwrap();
        assert_eq!(c.named("vina"), StageCounts { done: 3, failed: 1, skipped: 0 }, "shown under its name");
        assert_eq!(c.named("rdkit_local"), StageCounts { done: 2, failed: 0, skipped: 0 }, "missing counts are 0");
        assert_eq!(c.of(AdapterName::Pubchem), StageCounts::default());
        assert_eq!(c.iter().map(|(a, _)| a).collect::<Vec<_>>(), [AdapterName::RdkitLocal, AdapterName::Pubchem]);
        c.count(AdapterName::RdkitLocal, StageOutcome::Done);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"vina": {"done": 3, "failed": 1, "skipped": 0}, "rdkit_local": {"done": 3, "failed": 0, "skipped": 0}, "pubchem": {"done": 0, "failed": 0, "skipped": 0}}),
            "written back with the unknown stage kept"
        );
        for nothing in [json!({}), json!(null), json!([1]), json!("x")] {
            assert_eq!(serde_json::from_value::<RunStageCounts>(nothing).unwrap(), RunStageCounts::default());
        }
    }
}
