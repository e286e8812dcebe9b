//! The admet_ai adapter: ADMET-AI 2.0.1's predictions for each compound (the
//! `admet` section: `{properties, percentiles, model}`), computed in Rust by
//! `pharmforge-admet` from the package's published checkpoints.
//!
//! Inference is CPU-bound: each batch runs on tokio's blocking pool, on one
//! thread by default (`ADMET_AI_THREADS`), with one batch in flight per core.

use pharmforge_admet::{AdmetModels, Input, Known};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the unpacked `admet_ai/resources` folder is: `ADMET_AI_MODELS_DIR`,
/// default `./.data/admet_ai`.
pub fn models_dir_from_env() -> PathBuf {
    std::env::var_os("ADMET_AI_MODELS_DIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("./.data/admet_ai"))
}

pub struct AdmetAi {
    models: Arc<AdmetModels>,
}

impl AdmetAi {
    /// Loads the models; the error names the file and the reason. A batch's
    /// predictions use `threads` threads (`None`: the cores this process may
    /// use, which in a container without a CPU limit is every core of the
    /// node).
    pub fn load(dir: &Path, threads: Option<usize>) -> Result<Self, pharmforge_admet::LoadError> {
        let mut models = AdmetModels::load(dir)?;
        if let Some(t) = threads {
            models.set_threads(t);
        }
        Ok(AdmetAi { models: Arc::new(models) })
    }
}

/// Adds the admet section (or the error) to each record of a batch. The
/// physchem values rdkit_local put in the record are taken from it.
pub fn enrich_batch(models: &AdmetModels, batch: &mut [CompoundRecord]) {
    let inputs: Vec<Input> = batch
        .iter()
        .map(|r| Input { smiles: &r.smiles, known: r.sections.get(AdapterName::RdkitLocal.section().as_str()).and_then(|s| Known::from_section(s.get())) })
        .collect();
    let predictions = match catch_unwind(AssertUnwindSafe(|| models.predict_inputs(&inputs))) {
        Ok(p) => p,
        Err(_) => {
            // One molecule crashed the batch: predict one by one to isolate it.
            inputs
                .iter()
                .map(|input| {
                    catch_unwind(AssertUnwindSafe(|| models.predict_serial(std::slice::from_ref(input))))
                        .ok()
                        .and_then(|mut v| v.pop())
                        .unwrap_or_else(|| Err("ADMET prediction failed on this molecule (internal error)".into()))
                })
                .collect()
        }
    };
    for (record, prediction) in batch.iter_mut().zip(predictions) {
        match prediction {
            Ok(p) => record.set_section(AdapterName::AdmetAi, models.section(&p)),
            Err(e) => record.set_error(AdapterName::AdmetAi, e),
        }
    }
}

impl Adapter for AdmetAi {
    fn name(&self) -> AdapterName {
        AdapterName::AdmetAi
    }

    fn provenance(&self) -> String {
        format!("admet_ai {} (admet-ai {} models)", env!("CARGO_PKG_VERSION"), pharmforge_admet::ADMET_AI_VERSION)
    }

    async fn enrich(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        let models = self.models.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let mut batch = Attempt::records(batch);
            enrich_batch(&models, &mut batch);
            Outcome::forward_all(batch)
        });
        // enrich_batch catches panics per batch, so a join error means the
        // runtime is shutting down: return nothing and the batch is redelivered.
        handle.await.unwrap_or_default()
    }
}
