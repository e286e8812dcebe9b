//! The API service: validates and accepts runs, admits their compounds to
//! the pipeline a window at a time, fairly between users and runs (see
//! `scheduler` and `fair`), and serves runs and results from Postgres.

pub mod auth;
pub mod browse;
pub mod dashboard;
pub mod depict;
pub mod error;
pub mod events;
pub mod export;
pub mod fair;
pub mod finished;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod routes;
pub mod scheduler;
pub mod upload;
pub mod validate;
pub mod views;
pub mod webhooks;

use async_nats::jetstream;
use pharmforge_core::config::{env_millis, env_or, env_parse, ConfigError, EnvVar, NatsSettings};
use pharmforge_core::{Shutdown, Topology};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::OnceCell;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `API_ADDR`
    pub addr: String,
    pub database_url: String,
    pub nats: NatsSettings,
    pub limits: Limits,
    pub auth: auth::Auth,
    pub scheduler: scheduler::Settings,
    pub webhooks: webhooks::Settings,
}

/// Input limits, so no request can exhaust the service.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `API_MAX_BODY_BYTES`: larger bodies get 413.
    pub max_body_bytes: usize,
    /// `API_MAX_COMPOUNDS`: SMILES per run.
    pub max_compounds: usize,
    /// `API_MAX_SMILES_LENGTH`: characters per SMILES.
    pub max_smiles_length: usize,
    /// `API_INLINE_RESULTS`: compound results embedded in `GET /runs/{id}`;
    /// the rest are paged through `/runs/{id}/results`.
    pub inline_results: i64,
    /// `API_MAX_IN_FLIGHT`: requests handled at once; beyond it the API sheds
    /// load (503 with `Retry-After`) instead of queueing without bound.
    pub max_in_flight: usize,
    /// `API_RUNS_PER_MINUTE` and `API_RUNS_BURST`: run creations per user.
    pub runs_per_minute: u32,
    pub runs_burst: u32,
    /// `API_HEADER_TIMEOUT_MS` (10 s): a connection whose request headers
    /// have not all arrived by then is closed.
    pub header_timeout: std::time::Duration,
    /// `API_BODY_TIMEOUT_MS` (30 s): a request body not all there by then gets
    /// 408; a file upload, streamed, gets it when no byte came for that long.
    pub body_timeout: std::time::Duration,
    /// `API_MAX_UPLOAD_BYTES` (1 GiB): the largest file upload, counted both
    /// as sent and as decompressed (an SD file is ~2 kB a compound).
    pub max_upload_bytes: u64,
    /// `API_MAX_UPLOADS` (4): file uploads in progress at once; each holds a
    /// database connection while its file streams in.
    pub max_uploads: usize,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Settings {
            addr: env_or("API_ADDR", "0.0.0.0:8000"),
            database_url: pharmforge_store::database_url(),
            nats: NatsSettings::from_env()?,
            limits: Limits {
                max_body_bytes: env_parse("API_MAX_BODY_BYTES", 64 * 1024 * 1024)?,
                max_compounds: env_parse("API_MAX_COMPOUNDS", 1_000_000)?,
                max_smiles_length: env_parse("API_MAX_SMILES_LENGTH", 10_000)?,
                inline_results: env_parse("API_INLINE_RESULTS", 100)?,
                max_in_flight: env_parse("API_MAX_IN_FLIGHT", 64usize)?.max(1),
                runs_per_minute: env_parse("API_RUNS_PER_MINUTE", 120)?,
                runs_burst: env_parse("API_RUNS_BURST", 30)?,
                header_timeout: env_millis("API_HEADER_TIMEOUT_MS", 10_000)?.max(std::time::Duration::from_millis(100)),
                body_timeout: env_millis("API_BODY_TIMEOUT_MS", 30_000)?.max(std::time::Duration::from_millis(100)),
                max_upload_bytes: env_parse("API_MAX_UPLOAD_BYTES", 1u64 << 30)?,
                max_uploads: env_parse("API_MAX_UPLOADS", 4usize)?.max(1),
            },
            auth: auth::Auth::from_env()?,
            scheduler: scheduler::Settings::from_env()?,
            webhooks: webhooks::Settings::from_env()?,
        })
    }

    /// Every variable [`Settings::from_env`] reads, for `--help`.
    pub fn vars() -> Vec<EnvVar> {
        let mut vars = pharmforge_core::config::service_vars();
        vars.extend([
            EnvVar::new("API_ADDR", "0.0.0.0:8000", "where the API listens"),
            EnvVar::new("DATABASE_URL", pharmforge_store::DEFAULT_DATABASE_URL, "Postgres"),
            EnvVar::new("API_AUTH", "jwt", "jwt, or off (local use only: every request is the user 'anonymous')"),
            EnvVar::new("API_JWT_HS256_SECRET", "", "HS256 key of 32+ bytes that tokens are verified with"),
            EnvVar::new("API_JWT_RS256_PUBLIC_KEY", "", "or an RS256 public key (PEM)"),
            EnvVar::new("API_JWT_ISSUER", "", "accept only tokens of this issuer"),
            EnvVar::new("API_JWT_AUDIENCE", "", "accept only tokens for this audience"),
            EnvVar::new("API_RUNS_PER_MINUTE", 120, "run creations per user per minute (per replica); 429 beyond"),
            EnvVar::new("API_RUNS_BURST", 30, "run creations a user may make at once"),
            EnvVar::new("API_MAX_BODY_BYTES", 64 * 1024 * 1024, "largest JSON body"),
            EnvVar::new("API_MAX_COMPOUNDS", 1_000_000, "most compounds in a run"),
            EnvVar::new("API_MAX_SMILES_LENGTH", 10_000, "longest SMILES"),
            EnvVar::new("API_INLINE_RESULTS", 100, "compound results embedded in GET /runs/{id}"),
            EnvVar::new("API_MAX_IN_FLIGHT", 64, "requests in progress at once; 503 overloaded beyond"),
            EnvVar::new("API_HEADER_TIMEOUT_MS", 10_000, "a connection whose request headers are not in by then is closed"),
            EnvVar::new("API_BODY_TIMEOUT_MS", 30_000, "a POST /runs body not all in by then gets 408"),
            EnvVar::new("API_MAX_UPLOAD_BYTES", 1u64 << 30, "largest file upload, as sent and as decompressed"),
            EnvVar::new("API_MAX_UPLOADS", 4, "file uploads at once"),
            EnvVar::new("SCHEDULER_TICK_MS", 50, "admission: how often the admitting replica looks for room"),
            EnvVar::new("SCHEDULER_QUEUE_MS", 500, "admission: how much of a stage's own work its queue should hold"),
            EnvVar::new("SCHEDULER_MIN_QUEUE", 16, "admission: the smallest queue kept at a stage"),
            EnvVar::new("SCHEDULER_INITIAL_WINDOW", 32, "admission: each stage's window at start"),
            EnvVar::new("SCHEDULER_MAX_WINDOW", 50_000, "admission: the most compounds in flight at a stage and in all"),
            EnvVar::new("SCHEDULER_MAX_IN_FLIGHT_PER_USER", 0, "admission: the most compounds one user may have in flight (0: no cap)"),
            EnvVar::new("WEBHOOK_SECRET", "", "key that signs webhooks (whsec_<base64>, or 24+ bytes); unset: runs with a webhook are refused"),
            EnvVar::new("WEBHOOK_ALLOW_PRIVATE", false, "true lets webhooks go to loopback, link-local and private addresses"),
            EnvVar::new("WEBHOOK_PROGRESS_INTERVAL_MS", 10_000, "at most one progress webhook per run this often"),
            EnvVar::new("WEBHOOK_TIMEOUT_MS", 15_000, "time limit of one webhook delivery"),
        ]);
        vars
    }
}

/// What the handlers share. NATS is connected in the background: until it is,
/// runs are still accepted (admitted once it is) and
/// `/readyz` answers 503.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jetstream: Arc<OnceCell<jetstream::Context>>,
    pub topology: Topology,
    pub limits: Limits,
    pub auth: auth::Auth,
    pub run_limiter: auth::RateLimiter,
    /// Permits for requests in progress (`Limits::max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Permits for file uploads in progress (`Limits::max_uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Finished runs' inline compounds, rendered once.
    pub finished: finished::FinishedRuns,
    /// Told when the API stops: open event streams end at once (their
    /// clients reconnect to another replica) instead of holding the exit
    /// for the whole shutdown grace.
    pub shutdown: Shutdown,
    /// Structure pictures drawn so far.
    pub pictures: depict::Pictures,
    /// Live progress feeds of the runs listened to on this replica.
    pub feeds: events::Feeds,
    /// Wakes this replica's scheduler when a run arrives (it also looks on its own every tick).
    pub admission_wake: Arc<tokio::sync::Notify>,
    /// What `pipeline_config.webhook` is checked against.
    pub webhooks: webhooks::Settings,
    /// The adapter replicas heard from (their heartbeats).
    pub replicas: pipeline::Replicas,
    /// The pipeline overview, reused for a second.
    pub overviews: pipeline::Overviews,
    /// Orders of results tables browsed lately.
    pub orders: browse::Orders,
    /// Rescores in progress on this replica, two at a time (each holds a
    /// connection and a run's scores in memory while it works).
    pub rescores: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// A replica's state before it has connected to anything.
    pub fn new(pool: PgPool, topology: Topology, limits: Limits, auth: auth::Auth, webhooks: webhooks::Settings, shutdown: Shutdown) -> AppState {
        AppState {
            pool,
            jetstream: Arc::new(OnceCell::new()),
            topology,
            run_limiter: auth::RateLimiter::new(limits.runs_per_minute, limits.runs_burst),
            in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight)),
            uploads: Arc::new(tokio::sync::Semaphore::new(limits.max_uploads)),
            limits,
            auth,
            // A few finished runs' worth (~0.6 MB each with ADMET sections).
            finished: finished::FinishedRuns::new(16 << 20),
            admission_wake: Arc::new(tokio::sync::Notify::new()),
            feeds: events::Feeds::default(),
            pictures: depict::Pictures::default(),
            shutdown,
            webhooks,
            replicas: pipeline::Replicas::default(),
            overviews: pipeline::Overviews::default(),
            orders: browse::Orders::default(),
            rescores: Arc::new(tokio::sync::Semaphore::new(2)),
        }
    }
}

pub async fn run(settings: Settings, shutdown: Shutdown) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(&settings.addr).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let pool = pharmforge_store::lazy_pool(&settings.database_url, 16)?;
    let state = AppState::new(
        pool,
        Topology::for_settings(&settings.nats),
        settings.limits.clone(),
        settings.auth.clone(),
        settings.webhooks.clone(),
        shutdown.clone(),
    );
    state.auth.announce();
    let scheduler = tokio::spawn(scheduler::start(state.clone(), settings.nats.clone(), settings.scheduler.clone(), shutdown.clone()));
    let dispatcher = tokio::spawn(webhooks::dispatch(state.pool.clone(), settings.webhooks.clone(), shutdown.clone()));
    tokio::spawn(events::listen(state.clone(), shutdown.clone()));
    tokio::spawn(pipeline::listen(state.clone(), shutdown.clone()));
    // Before the first request: from here on requests are timed.
    metrics::serve(state.clone(), &shutdown);
    tracing::info!(%addr, "api listening");
    let header_timeout = state.limits.header_timeout;
    let app = routes::app(state);
    serve(listener, app, header_timeout, shutdown.clone()).await;
    // An admission round in progress publishes its records and moves its
    // cursors before the process exits.
    let _ = scheduler.await;
    // Attempts in progress record their outcome (or are made again later).
    let _ = dispatcher.await;
    tracing::info!("api stopped");
    Ok(())
}

/// Serves HTTP/1.1 connections until shutdown, then lets those in progress
/// finish (up to 20 s). Like `axum::serve`, but with a timer, so that
/// hyper's header-read timeout is on: a client that opens connections and
/// never finishes its headers cannot pile them up.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router, header_timeout: std::time::Duration, shutdown: Shutdown) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let (shutdown, open) = (shutdown.clone(), open_rx.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = shutdown.wait() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(open_rx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), open_tx.closed()).await;
}
