use pharmforge_core::{telemetry, Shutdown};

// The system allocator, not mimalloc (which the adapters use): with it, a
// 61 MB hostile body took the API to 185 MB at its peak against 88 MB with
// glibc, and a 1,000,000-SMILES body to 300 MB (the limit is 250): glibc
// grows a huge buffer in place (mremap) and gives freed huge blocks back at
// once.

#[tokio::main]
async fn main() {
    pharmforge_core::config::help_on_request(
        "pharmforge-api",
        "the PharmForge REST API: takes runs, admits their compounds into the pipeline, serves results, exports, pictures and events",
        "  pharmforge-api",
        &pharmforge_api::Settings::vars(),
    );
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
