use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{run_adapter, telemetry, Shutdown};
use pharmforge_pubchem::{PubchemAdapter, PubchemSettings};

/// mimalloc: every record is decoded and re-encoded here, thousands a second
/// on a cache-warm run, where glibc's malloc spent more time than the
/// adapter's own work (chunk consolidation on the records' buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
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
    let Some(adapter) = PubchemAdapter::connect(&nats, pubchem, &shutdown).await else {
        return;
    };
    if let Err(e) = run_adapter(adapter, nats, consumer, shutdown).await {
        tracing::error!(error = %e, "pubchem stopped on an error");
        std::process::exit(1);
    }
    telemetry::shutdown();
}
