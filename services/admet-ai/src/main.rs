use pharmforge_core::config::{env_parse, EnvVar};
use pharmforge_core::serve::{cores_available, serve_adapter, AdapterMain};
use pharmforge_core::AdapterName;

// The system allocator, not mimalloc (which rdkit-local uses): mimalloc's
// per-thread heaps grow with the prediction threads, taking the service's
// peak well past glibc's, for no gain in the ensemble's speed.
#[tokio::main]
async fn main() {
    let main = AdapterMain {
        adapter: AdapterName::AdmetAi,
        about: "the admet_ai adapter: ADMET-AI 2.0.1 predictions (41 endpoints, physchem columns, DrugBank percentiles)",
        // As many batches at once as cores, each on one thread: a batch
        // split over the cores waits for its slowest half, and with
        // rdkit-local, the aggregator and Postgres on the same cores one
        // half was always the slow one (cores idled at the end of every
        // batch). 32 a batch keeps what one thread works on as it was (a
        // batch of 64 over two threads) and what is in hand, which a
        // newcomer's compounds queue behind (issue 12), at 64 on two cores.
        batch: 32,
        concurrency: cores_available(),
        concurrency_shown: "the cores available",
        vars: vec![
            EnvVar::new("ADMET_AI_MODELS_DIR", "./.data/admet_ai", "the unpacked admet_ai/resources folder of the ADMET-AI 2.0.1 package"),
            EnvVar::new("ADMET_AI_THREADS", 1, "threads one batch's predictions use (0: the cores available)"),
        ],
    };
    // The models load before anything connects: a missing or corrupt file
    // ends the service at once, naming the file.
    let load = || {
        // `ADMET_AI_THREADS` (default 1; 0: the cores available): threads per batch.
        let threads = Some(env_parse::<usize>("ADMET_AI_THREADS", 1)?).filter(|&t| t > 0);
        let started = std::time::Instant::now();
        let adapter = pharmforge_admet_ai::AdmetAi::load(&pharmforge_admet_ai::models_dir_from_env(), threads)
            .map_err(|e| format!("cannot load the ADMET-AI models (ADMET_AI_MODELS_DIR): {e}"))?;
        tracing::info!(ms = started.elapsed().as_millis() as u64, "ADMET-AI models loaded");
        Ok(adapter)
    };
    serve_adapter(main, load, |adapter, _, _, _| async { Some(adapter) }).await
}
