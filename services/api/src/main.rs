use pharmforge_core::{telemetry, Shutdown};

// The system allocator, not mimalloc (which the adapters use): the API
// holds whole request bodies and the lists read from them, and glibc grows a
// huge buffer in place (mremap) and gives freed huge blocks back at once,
// where mimalloc about doubled the API's peak under a large or hostile body
// (figures in the commit that made the change).

#[tokio::main]
async fn main() {
    pharmforge_core::config::help_on_request(
        "pharmforge-api",
        "the PharmForge REST API: takes runs, admits their compounds into the pipeline, serves results, exports, pictures and events",
        "  pharmforge-api",
        &pharmforge_api::Settings::vars(),
    );
    telemetry::init("api");
    let settings = pharmforge_core::config::settings_or_exit("pharmforge-api", pharmforge_api::Settings::from_env());
    if let Err(e) = pharmforge_api::run(settings, Shutdown::on_signals()).await {
        tracing::error!(error = %e, "api stopped on an error");
        std::process::exit(1);
    }
    telemetry::shutdown();
}
