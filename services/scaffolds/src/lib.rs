//! The scaffolds adapter: the `scaffolds` section, each compound's
//! Bemis–Murcko scaffold as RDKit's Python gives it
//! (`MurckoScaffold.GetScaffoldForMol`), its generic form
//! (`MakeScaffoldGeneric`: every atom a carbon, every bond single) and its
//! ring systems, through `pharmforge-chem` (`Molecule::murcko_scaffold`).
//!
//! It is off the default route (`AdapterName::in_default_route`): a run
//! gets it by naming it in `pipeline_config.adapters`. An acyclic compound's
//! scaffold is `""`, as RDKit's. A SMILES RDKit rejects ends that compound's
//! journey with RDKit's message, as in rdkit_local (it is usually stopped
//! there first).
//!
//! ```json
//! {"scaffold": "c1ccc(Oc2ccccn2)cc1", "generic_scaffold": "C1CCC(CC2CCCCC2)CC1", "ring_systems": 2}
//! ```
//!
//! `generic_scaffold` is null, with a `note`, when the generic form is no
//! valid molecule (a ring atom of five or more bonds, which a carbon cannot
//! have: RDKit's Python raises there).

use pharmforge_chem::{ChemError, Molecule};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome};
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

const NAME: AdapterName = AdapterName::Scaffolds;

pub struct Scaffolds {
    provenance: String,
}

impl Scaffolds {
    pub fn new() -> Self {
        Scaffolds { provenance: format!("scaffolds {} (RDKit {})", env!("CARGO_PKG_VERSION"), pharmforge_chem::rdkit_version()) }
    }
}

impl Default for Scaffolds {
    fn default() -> Self {
        Self::new()
    }
}

/// The section of one SMILES.
pub fn section(smiles: &str) -> Result<Value, ChemError> {
    let s = Molecule::from_smiles(smiles)?.murcko_scaffold()?;
    Ok(match s.generic {
        Ok(generic) => json!({"scaffold": s.smiles, "generic_scaffold": generic, "ring_systems": s.ring_systems}),
        Err(why) => json!({
            "scaffold": s.smiles,
            "generic_scaffold": null,
            "ring_systems": s.ring_systems,
            "note": format!("no generic scaffold: {why}"),
        }),
    })
}

/// Adds the scaffolds section, or the error, to one record.
pub fn enrich_one(record: &mut CompoundRecord) {
    match catch_unwind(AssertUnwindSafe(|| section(&record.smiles))) {
        Ok(Ok(value)) => record.set_section(NAME, value),
        Ok(Err(ChemError::InvalidSmiles(message))) => record.set_fatal(NAME, format!("invalid SMILES: {message}")),
        Ok(Err(other)) => record.set_error(NAME, other.to_string()),
        Err(_) => record.set_error(NAME, "RDKit failed on this molecule (internal error)"),
    }
}

impl Adapter for Scaffolds {
    fn name(&self) -> AdapterName {
        NAME
    }

    fn provenance(&self) -> String {
        self.provenance.clone()
    }

    async fn enrich(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        pharmforge_core::adapter::enrich_each_blocking(batch, enrich_one).await
    }
}
