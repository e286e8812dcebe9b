use pharmforge_core::{telemetry, Shutdown};

/// mimalloc for Rust and, through its `override` feature, for RDKit's C++:
/// the API parses SD records and draws structures with RDKit, which spends
/// a good part of its time in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    telemetry::init("api");
    let settings = match pharmforge_api::Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            std::process::exit(2);
        }
    };
    if let Err(e) = pharmforge_api::run(settings, Shutdown::on_signals()).await {
        tracing::error!(error = %e, "api stopped on an error");
        std::process::exit(1);
    }
    telemetry::shutdown();
}
