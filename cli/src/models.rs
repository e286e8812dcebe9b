//! The parts of the API's answers the client reads. Lenient: a field the API
//! adds later is ignored, one it leaves out takes its default, so an older or
//! newer API still shows what it can.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// A run's status as the API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Other(String),
}

impl RunStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => RunStatus::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Other(s) => s,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled)
    }

    /// The exit status of `watch` for a run that ended so (see [`crate::error::exit`]).
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
        match self {
            RunStatus::Completed => exit::COMPLETED,
            RunStatus::Failed => exit::FAILED,
            RunStatus::Cancelled => exit::CANCELLED,
            _ => exit::ERROR,
        }
    }
}

impl Default for RunStatus {
    fn default() -> Self {
        RunStatus::Other(String::new())
    }
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RunStatus::parse(&String::deserialize(d)?))
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CompoundCounts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct StageCounts {
    pub pending: u64,
    pub done: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl StageCounts {
    /// Compounds this stage is through with, whichever way.
    pub fn finished(&self) -> u64 {
        self.done + self.failed + self.skipped
    }
}

/// `stages` in the order the API sent them, which is the run's adapter order
/// (a JSON object read into a map would sort them by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stages(pub Vec<(String, StageCounts)>);

impl<'de> Deserialize<'de> for Stages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Stages;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of stage counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Stages, A::Error> {
                let mut stages = Vec::new();
                while let Some((name, counts)) = map.next_entry::<String, StageCounts>()? {
                    stages.push((name, counts));
                }
                Ok(Stages(stages))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// A run, or the summary an event carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub run_id: String,
    pub status: RunStatus,
    pub progress: f64,
    pub compounds: CompoundCounts,
    pub stages: Stages,
    pub priority: Option<String>,
    pub created_at: Option<String>,
    pub completed_at: Option<String>,
    pub user_id: Option<String>,
    pub error_message: Option<String>,
    /// `[{profile, name?, applied_at}]`, the last one current.
    #[serde(default)]
    pub scoring_history: Vec<serde_json::Value>,
}

/// `GET /scoring/profiles`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Profiles {
    pub profiles: Vec<ProfileInfo>,
    pub default: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunsPage {
    pub runs: Vec<Run>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// One compound's result. Its sections stay JSON: the table picks a few
/// values, `--json` prints them as they came.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CompoundResult {
    /// The user's own ID (from the uploaded file), when the API has one.
    pub id: Option<String>,
    pub compound_id: String,
    pub index: u64,
    pub smiles: String,
    pub status: String,
    pub properties: Option<Map<String, Value>>,
    pub final_score: Option<f64>,
    pub rank: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResultsPage {
    pub results: Vec<Box<serde_json::value::RawValue>>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_keep_the_run_order() {
        let run: Run = serde_json::from_str(
            r#"{"run_id": "r1", "status": "running", "progress": 0.5,
                "compounds": {"total": 4, "completed": 1, "failed": 1},
                "stages": {"rdkit_local": {"pending": 0, "done": 3, "failed": 1, "skipped": 0},
                           "admet_ai": {"pending": 2, "done": 1, "failed": 0, "skipped": 1}},
                "admission": {"admitted": 4, "waiting": 0}}"#,
        )
        .unwrap();
        assert_eq!(run.status, RunStatus::Running);
        let names: Vec<&str> = run.stages.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["rdkit_local", "admet_ai"]);
        assert_eq!(run.stages.0[1].1.finished(), 2);
    }

    #[test]
    fn run_outcomes_give_their_exit_codes() {
        use crate::error::exit;
        assert_eq!(RunStatus::parse("completed").exit_code(), exit::COMPLETED);
        assert_eq!(RunStatus::parse("failed").exit_code(), exit::FAILED);
        assert_eq!(RunStatus::parse("cancelled").exit_code(), exit::CANCELLED);
        assert!(!RunStatus::parse("running").is_finished());
        assert_eq!(RunStatus::parse("archived"), RunStatus::Other("archived".into()));
    }
}
