use pharmforge_core::{telemetry, Shutdown};

/// mimalloc: the aggregator decodes and re-encodes thousands of JSON records
/// a second on every worker thread, where glibc's per-thread arenas kept
/// freed memory resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    pharmforge_core::config::help_on_request(
        "pharmforge-aggregator",
        "writes the pipeline's results and each run's progress to Postgres (and runs the migrations)",
        "  pharmforge-aggregator            consume and write results (runs the migrations first)\n  pharmforge-aggregator migrate    apply the database migrations and exit",
        &pharmforge_aggregator::Settings::vars(),
    );
    telemetry::init("aggregator");
    let settings = pharmforge_core::config::settings_or_exit("pharmforge-aggregator", pharmforge_aggregator::Settings::from_env());
    match std::env::args().nth(1).as_deref() {
        None => {
            if let Err(e) = pharmforge_aggregator::run(settings, Shutdown::on_signals()).await {
                tracing::error!(error = %e, "aggregator stopped on an error");
                std::process::exit(1);
            }
        }
        // A deploy step (the Kubernetes migration Job): the schema, then exit.
        Some("migrate") => {
            if let Err(e) = pharmforge_aggregator::migrate(&settings, Shutdown::on_signals()).await {
                tracing::error!(error = %e, "migrations failed");
                eprintln!("pharmforge-aggregator migrate: {e}");
                std::process::exit(1);
            }
        }
        Some(other) => {
            eprintln!(
                "pharmforge-aggregator: unknown argument {other:?}\n\
                 usage: pharmforge-aggregator            consume and write results (runs the migrations first)\n\
                 \x20      pharmforge-aggregator migrate    apply the database migrations and exit"
            );
            std::process::exit(2);
        }
    }
    telemetry::shutdown();
}
