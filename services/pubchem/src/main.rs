use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{adapter::run_adapter_built, telemetry, AdapterName, Shutdown};
use pharmforge_pubchem::{PubchemAdapter, PubchemSettings};

/// mimalloc: every record is decoded and re-encoded here, thousands a second
/// on a cache-warm run, where glibc's malloc spent more time than the
/// adapter's own work (chunk consolidation on the records' buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut vars = pharmforge_core::config::service_vars();
    vars.extend(pharmforge_core::config::consumer_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", 8, "2"));
    vars.extend(pharmforge_pubchem::PubchemSettings::vars());
    pharmforge_core::config::help_on_request(
        "pharmforge-pubchem",
        "the pubchem adapter: names, identifiers and properties from PubChem PUG-REST",
        "  pharmforge-pubchem",
        &vars,
    );
    telemetry::init("pubchem");
    // One request per compound at ~5/s: small batches, two in flight. Enough
    // to keep the shared rate limit busy, few enough that what one replica
    // has pulled (2 × batch × concurrency) is done well within the ack wait
    // even when replicas share the rate; more would only get redelivered.
    // While the cache answers everything, batches grow (webclient::batch_size).
    let settings = NatsSettings::from_env().and_then(|n| Ok((n, ConsumerSettings::from_env(8, 2)?, PubchemSettings::from_env()?)));
    let (nats, consumer, pubchem) = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    let shutdown = Shutdown::on_signals();
    let (adapter_nats, adapter_shutdown) = (nats.clone(), shutdown.clone());
    let build = move |client| async move { PubchemAdapter::connect(client, &adapter_nats, pubchem, &adapter_shutdown).await };
    if let Err(e) = run_adapter_built(AdapterName::Pubchem, nats, consumer, shutdown, build).await {
        tracing::error!(error = %e, "pubchem stopped on an error");
        std::process::exit(1);
    }
    telemetry::shutdown();
}
