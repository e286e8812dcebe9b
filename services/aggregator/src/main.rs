use pharmforge_core::{telemetry, Shutdown};

/// mimalloc: the aggregator decodes and re-encodes thousands of JSON records
/// a second on every worker thread, where glibc's per-thread arenas kept
/// freed memory resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    telemetry::init("aggregator");
    let settings = match pharmforge_aggregator::Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    if let Err(e) = pharmforge_aggregator::run(settings, Shutdown::on_signals()).await {
        tracing::error!(error = %e, "aggregator stopped on an error");
        std::process::exit(1);
    }
}
