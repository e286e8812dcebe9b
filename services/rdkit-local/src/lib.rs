//! The rdkit_local adapter: the `properties` section (descriptors, identifiers,
//! QED) computed with RDKit's C++ library through `pharmforge-chem`. A SMILES
//! RDKit rejects ends that compound's journey with RDKit's own message.
//!
//! RDKit work is CPU-bound and synchronous: each batch runs on tokio's blocking
//! pool, so with `ADAPTER_CONCURRENCY` batches in flight every core is used.

use pharmforge_chem::{compute_properties, ChemError};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub struct RdkitLocal {
    provenance: String,
}

impl RdkitLocal {
    pub fn new() -> Self {
        RdkitLocal { provenance: format!("rdkit_local {} (RDKit {})", env!("CARGO_PKG_VERSION"), pharmforge_chem::rdkit_version()) }
    }
}

impl Default for RdkitLocal {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds the properties section, or the error, to one record.
pub fn enrich_one(record: &mut CompoundRecord) {
    let outcome = catch_unwind(AssertUnwindSafe(|| compute_properties(&record.smiles)));
    match outcome {
        Ok(Ok(props)) => match serde_json::to_value(&props) {
            Ok(value) => record.set_section(AdapterName::RdkitLocal, value),
            Err(e) => record.set_error(AdapterName::RdkitLocal, format!("properties not representable as JSON: {e}")),
        },
        Ok(Err(ChemError::InvalidSmiles(message))) => record.set_fatal(AdapterName::RdkitLocal, format!("invalid SMILES: {message}")),
        Ok(Err(other)) => record.set_fatal(AdapterName::RdkitLocal, other.to_string()),
        Err(_) => record.set_fatal(AdapterName::RdkitLocal, "RDKit failed on this molecule (internal error)"),
    }
}

impl Adapter for RdkitLocal {
    fn name(&self) -> AdapterName {
        AdapterName::RdkitLocal
    }

    fn provenance(&self) -> String {
        self.provenance.clone()
    }

    async fn enrich(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        pharmforge_core::adapter::enrich_each_blocking(batch, enrich_one).await
    }
}
