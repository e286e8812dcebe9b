use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{run_adapter, telemetry, Shutdown};

// The system allocator, not mimalloc (which rdkit-local uses): mimalloc's
// per-thread heaps grow with the prediction threads, taking the service's
// peak well past glibc's, for no gain in the ensemble's speed.
#[tokio::main]
async fn main() {
    let mut vars = pharmforge_core::config::service_vars();
    vars.extend(pharmforge_core::config::consumer_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", 64, "1"));
    vars.extend([
        pharmforge_core::config::EnvVar::new("ADMET_AI_MODELS_DIR", "./.data/admet_ai", "the unpacked admet_ai/resources folder of the ADMET-AI 2.0.1 package"),
        pharmforge_core::config::EnvVar::new("ADMET_AI_THREADS", 0, "threads one batch's predictions use (0: the cores available)"),
    ]);
    pharmforge_core::config::help_on_request(
        "pharmforge-admet-ai",
        "the admet_ai adapter: ADMET-AI 2.0.1 predictions (41 endpoints, physchem columns, DrugBank percentiles)",
        "  pharmforge-admet-ai",
        &vars,
    );
    telemetry::init("admet-ai");
    // One batch at a time by default: each batch already uses every core.
    let settings = NatsSettings::from_env().and_then(|n| {
        // `ADMET_AI_THREADS` (default: the cores available): threads per batch.
        let threads: usize = pharmforge_core::config::env_parse("ADMET_AI_THREADS", 0)?;
        Ok((n, ConsumerSettings::from_env(64, 1)?, (threads > 0).then_some(threads)))
    });
    let (nats, consumer, threads) = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    let dir = pharmforge_admet_ai::models_dir_from_env();
    let started = std::time::Instant::now();
    let adapter = match tokio::task::spawn_blocking(move || pharmforge_admet_ai::AdmetAi::load(&dir, threads)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot load the ADMET-AI models (ADMET_AI_MODELS_DIR)");
            eprintln!("pharmforge-admet-ai: cannot load the ADMET-AI models: {e}");
            std::process::exit(2);
        }
        Err(e) => {
            tracing::error!(error = %e, "model loading crashed");
            std::process::exit(2);
        }
    };
    tracing::info!(ms = started.elapsed().as_millis() as u64, "ADMET-AI models loaded");
    if let Err(e) = run_adapter(adapter, nats, consumer, Shutdown::on_signals()).await {
        tracing::error!(error = %e, "admet-ai stopped on an error");
        std::process::exit(1);
    }
    // A call abandoned at its time limit may still occupy a blocking thread,
    // which dropping the runtime would wait for: everything is settled, exit.
    telemetry::shutdown();
    std::process::exit(0);
}
