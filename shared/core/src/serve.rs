//! An adapter binary's `main`, once: `--help`, settings read at start (a bad
//! value exits 2 naming it), telemetry, the adapter runtime on the process's
//! one NATS connection until a signal, and the exit codes.

use crate::config::{ConsumerSettings, EnvVar, NatsSettings};
use crate::{Adapter, AdapterName, Shutdown};
use std::future::Future;

/// What an adapter binary says of itself and its consumer defaults.
pub struct AdapterMain<'a> {
    pub adapter: AdapterName,
    /// One line for `--help`.
    pub about: &'a str,
    /// `ADAPTER_BATCH_SIZE` and `ADAPTER_CONCURRENCY`'s defaults; `concurrency_shown`
    /// is the latter as `--help` prints it (e.g. "the cores available").
    pub batch: usize,
    pub concurrency: usize,
    pub concurrency_shown: &'a str,
    /// The adapter's own variables, beyond every service's and the consumer's.
    pub vars: Vec<EnvVar>,
}

/// The cores this process may use (2 when that cannot be read): the
/// default `ADAPTER_CONCURRENCY` of adapters whose batches are CPU work,
/// shown in `--help` as "the cores available".
pub fn cores_available() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Runs an adapter service: `settings` reads the adapter's own settings (and
/// loads what it needs, such as model files) at start, before any
/// connection, so a bad value or a missing file ends the process at once,
/// with 2 and the reason on stderr; `build` makes the adapter from them on
/// the service's NATS connection once the JetStream topology is ready
/// (`None`: shutdown came first). Exits the
/// process: 0 after a clean stop (a call abandoned at its time limit may
/// still hold a blocking thread, which dropping the runtime would wait
/// for), 1 when the runtime stopped on an error, 2 on a bad setting.
pub async fn serve_adapter<T, A, B, Fut>(main: AdapterMain<'_>, settings: impl FnOnce() -> Result<T, Box<dyn std::error::Error>>, build: B) -> !
where
    A: Adapter,
    B: FnOnce(T, async_nats::Client, NatsSettings, Shutdown) -> Fut,
    Fut: Future<Output = Option<A>>,
{
    let name = main.adapter;
    let binary = name.binary();
    let mut vars = crate::config::service_vars();
    vars.extend(crate::config::consumer_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", main.batch, main.concurrency_shown));
    vars.extend(main.vars);
    crate::config::help_on_request(&binary, main.about, &format!("  {binary}"), &vars);
    // Once per process: the service's name for its traces and logs (`rdkit-local`).
    crate::telemetry::init(Box::leak(name.service().into_boxed_str()));
    let common = NatsSettings::from_env().and_then(|n| Ok((n, ConsumerSettings::from_env(main.batch, main.concurrency)?)));
    let read: Result<_, Box<dyn std::error::Error>> = common.map_err(Box::from).and_then(|(n, c)| Ok((n, c, settings()?)));
    let (nats, consumer, own) = crate::config::settings_or_exit(&binary, read);
    let shutdown = Shutdown::on_signals();
    let (build_nats, build_shutdown) = (nats.clone(), shutdown.clone());
    let built = move |client| build(own, client, build_nats, build_shutdown);
    let status = match crate::adapter::run_adapter_built(name, nats, consumer, shutdown, built).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "{name} stopped on an error");
            1
        }
    };
    crate::telemetry::shutdown();
    std::process::exit(status)
}
