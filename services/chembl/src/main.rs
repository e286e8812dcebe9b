use pharmforge_chembl::{ChemblAdapter, ChemblSettings};
use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{adapter::run_adapter_built, telemetry, AdapterName, Shutdown};

/// mimalloc: every record is decoded and re-encoded here, thousands a second
/// on a cache-warm run, where glibc's malloc spent more time than the
/// adapter's own work (chunk consolidation on the records' buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut vars = pharmforge_core::config::service_vars();
    vars.extend(pharmforge_core::config::consumer_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", 25, "2"));
    vars.extend(pharmforge_chembl::ChemblSettings::vars());
    pharmforge_core::config::help_on_request("pharmforge-chembl", "the chembl adapter: bioactivity from the ChEMBL web services", "  pharmforge-chembl", &vars);
    telemetry::init("chembl");
    // Batches of compounds share requests (`__in` filters): bigger batches,
    // fewer requests per compound. While the cache answers everything,
    // batches grow further (webclient::batch_size).
    let settings = NatsSettings::from_env().and_then(|n| Ok((n, ConsumerSettings::from_env(25, 2)?, ChemblSettings::from_env()?)));
    let (nats, consumer, chembl) = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    let shutdown = Shutdown::on_signals();
    let (adapter_nats, adapter_shutdown) = (nats.clone(), shutdown.clone());
    let build = move |client| async move { ChemblAdapter::connect(client, &adapter_nats, chembl, &adapter_shutdown).await };
    if let Err(e) = run_adapter_built(AdapterName::Chembl, nats, consumer, shutdown, build).await {
        tracing::error!(error = %e, "chembl stopped on an error");
        std::process::exit(1);
    }
    telemetry::shutdown();
}
