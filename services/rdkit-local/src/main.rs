use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{run_adapter, telemetry, Shutdown};

/// mimalloc for Rust and, through its `override` feature, for RDKit's C++
/// and the InChI library too (they allocate per atom and per bond).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut vars = pharmforge_core::config::service_vars();
    vars.extend(pharmforge_core::config::consumer_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", 64, "the cores available"));
    pharmforge_core::config::help_on_request(
        "pharmforge-rdkit-local",
        "the rdkit_local adapter: RDKit descriptors, identifiers and QED for each compound",
        "  pharmforge-rdkit-local",
        &vars,
    );
    telemetry::init("rdkit-local");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let settings = NatsSettings::from_env().and_then(|n| Ok((n, ConsumerSettings::from_env(64, cores)?)));
    let (nats, consumer) = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    let adapter = pharmforge_rdkit_local::RdkitLocal::new();
    if let Err(e) = run_adapter(adapter, nats, consumer, Shutdown::on_signals()).await {
        tracing::error!(error = %e, "rdkit-local stopped on an error");
        std::process::exit(1);
    }
    // A call abandoned at its time limit may still occupy a blocking thread,
    // which dropping the runtime would wait for: everything is settled, exit.
    telemetry::shutdown();
    std::process::exit(0);
}
