//! Domain identifiers, parsed once so the rest of the code never handles an
//! unchecked string: run ids and adapter names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `run_` followed by 16 lower-case hex digits, as the system we replace issued them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("malformed run id {0:?}: expected \"run_\" followed by 16 lower-case hex digits")]
pub struct InvalidRunId(pub String);

impl RunId {
    pub fn new_random() -> Self {
        RunId(format!("run_{:016x}", rand::random::<u64>()))
    }

    pub fn parse(s: &str) -> Result<Self, InvalidRunId> {
        let ok = s.len() == 20 && s.starts_with("run_") && s[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(RunId(s.to_owned()))
        } else {
            Err(InvalidRunId(s.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = InvalidRunId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RunId::parse(&s)
    }
}

impl From<RunId> for String {
    fn from(r: RunId) -> String {
        r.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The registered adapters: the one list of them (README, "Adding an
/// adapter"). Streams, consumers, validation, metrics and the dashboard
/// follow it; an adapter fills one [`Section`], and is on the default route
/// or not ([`AdapterName::in_default_route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterName {
    RdkitLocal,
    AdmetAi,
    Pubchem,
    Chembl,
    Scaffolds,
}

impl AdapterName {
    /// Every registered adapter, in route order: a route of several is put
    /// in this order wherever one is made for the user (the default route).
    pub const ALL: [AdapterName; 5] = [AdapterName::RdkitLocal, AdapterName::AdmetAi, AdapterName::Pubchem, AdapterName::Chembl, AdapterName::Scaffolds];

    /// Whether a run that names no adapters (`pipeline_config.adapters`
    /// left out) goes through this one. An adapter off the default route
    /// runs only for the runs that ask for it.
    pub fn in_default_route(self) -> bool {
        match self {
            AdapterName::RdkitLocal | AdapterName::AdmetAi | AdapterName::Pubchem | AdapterName::Chembl => true,
            AdapterName::Scaffolds => false,
        }
    }

    /// The route of a run that names no adapters: those
    /// [on it](Self::in_default_route), in [`ALL`](Self::ALL)'s order.
    pub fn default_route() -> Vec<AdapterName> {
        Self::ALL.into_iter().filter(|a| a.in_default_route()).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdapterName::RdkitLocal => "rdkit_local",
            AdapterName::AdmetAi => "admet_ai",
            AdapterName::Pubchem => "pubchem",
            AdapterName::Chembl => "chembl",
            AdapterName::Scaffolds => "scaffolds",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Its service: the crate under `services/`, the docker-compose service
    /// and the Kubernetes component (`rdkit-local`).
    pub fn service(self) -> String {
        self.as_str().replace('_', "-")
    }

    /// Its binary (`pharmforge-rdkit-local`).
    pub fn binary(self) -> String {
        format!("pharmforge-{}", self.service())
    }

    /// Its name for people (the dashboard's labels).
    pub fn label(self) -> &'static str {
        match self {
            AdapterName::RdkitLocal => "RDKit",
            AdapterName::AdmetAi => "ADMET-AI",
            AdapterName::Pubchem => "PubChem",
            AdapterName::Chembl => "ChEMBL",
            AdapterName::Scaffolds => "Scaffolds",
        }
    }

    /// The section of a compound result this adapter fills.
    pub fn section(self) -> Section {
        match self {
            AdapterName::RdkitLocal => Section::Properties,
            AdapterName::AdmetAi => Section::Admet,
            AdapterName::Pubchem => Section::Pubchem,
            AdapterName::Chembl => Section::Bioactivity,
            AdapterName::Scaffolds => Section::Scaffolds,
        }
    }

    pub fn known_names() -> String {
        Self::ALL.map(|a| a.as_str()).join(", ")
    }
}

impl fmt::Display for AdapterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sections of a compound's result that adapters fill: the one list of
/// them. Each is a `jsonb` column of `compound_results` (the seed's schema
/// has the first six; a later one comes with the migration adding its
/// column), a key of every result and a group of export columns; the
/// store, the results, the exports and the sort keys follow this list.
/// `docking` and `synthesis` wait for their adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Properties,
    Admet,
    Pubchem,
    Bioactivity,
    Docking,
    Synthesis,
    /// Bemis–Murcko scaffolds (`scaffolds`; migration 20261130000003).
    Scaffolds,
}

impl Section {
    /// Every section, in the order of their columns.
    pub const ALL: [Section; 7] =
        [Section::Properties, Section::Admet, Section::Pubchem, Section::Bioactivity, Section::Docking, Section::Synthesis, Section::Scaffolds];

    /// Its name: the key in a result, and its column.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Properties => "properties",
            Section::Admet => "admet",
            Section::Pubchem => "pubchem",
            Section::Bioactivity => "bioactivity",
            Section::Docking => "docking",
            Section::Synthesis => "synthesis",
            Section::Scaffolds => "scaffolds",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The adapter that fills it, if one does yet.
    pub fn adapter(self) -> Option<AdapterName> {
        AdapterName::ALL.into_iter().find(|a| a.section() == self)
    }

    pub fn known_names() -> String {
        Self::ALL.map(|s| s.as_str()).join(", ")
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's priority (`pipeline_config.priority`): its weight when the
/// pipeline's room is shared. `high` weighs 4, `normal` 2, `low` 1, so a
/// high run gets four times a low one's share and a low one is never starved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn weight(self) -> u32 {
        match self {
            Priority::High => 4,
            Priority::Normal => 2,
            Priority::Low => 1,
        }
    }
}

/// A run's status, as `pipeline_runs.status` stores it and the API shows
/// it: `pending` until its first compound is recorded, `running`, then one
/// of the finished three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [RunStatus::Pending, RunStatus::Running, RunStatus::Completed, RunStatus::Failed, RunStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Completed, failed or cancelled: nothing more will change its results.
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Postgres gives back: a status the code does not know is an error
/// (a row written by a newer version), never silently another status.
impl TryFrom<String> for RunStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RunStatus::parse(&s).ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adapter_fills_its_own_section_and_names_read_back() {
        for a in AdapterName::ALL {
            assert_eq!(a.section().adapter(), Some(a), "{a} is the only adapter filling {}", a.section());
            assert_eq!(AdapterName::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        for s in Section::ALL {
            assert_eq!(Section::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Section::Docking.adapter(), None);
    }

    #[test]
    fn the_default_route_is_the_adapters_on_it_in_route_order() {
        assert_eq!(AdapterName::default_route(), [AdapterName::RdkitLocal, AdapterName::AdmetAi, AdapterName::Pubchem, AdapterName::Chembl]);
        assert!(!AdapterName::Scaffolds.in_default_route(), "scaffolds runs only when a run asks for it");
    }

    #[test]
    fn run_statuses_read_back_as_written() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::try_from(status.as_str().to_owned()), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert!(RunStatus::try_from("done".to_owned()).is_err());
        assert_eq!(RunStatus::ALL.iter().filter(|s| s.is_finished()).count(), 3);
    }

    #[test]
    fn run_ids_are_run_underscore_16_lower_hex() {
        let id = RunId::new_random();
        assert_eq!(RunId::parse(id.as_str()), Ok(id.clone()));
        assert!(RunId::parse("run_0123456789abcdef").is_ok());
        for bad in ["run_0123456789ABCDEF", "run_0123", "xxx_0123456789abcdef", "run_0123456789abcdeg", "", "run_0123456789abcdef0"] {
            assert!(RunId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn adapter_names_round_trip() {
        for a in AdapterName::ALL {
            assert_eq!(AdapterName::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.as_str()));
        }
        assert_eq!(AdapterName::parse("vina"), None);
    }

    #[test]
    fn priorities_round_trip_and_weigh_four_two_one() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(Priority::ALL.map(Priority::weight), [4, 2, 1]);
        assert_eq!(Priority::default(), Priority::Normal);
    }
}
