//! PharmForge's Postgres layer: the schema (sqlx migrations in `migrations/`),
//! the queries the API reads with, the admission scheduler's (`schedule`), and
//! the aggregator's idempotent batch write (`aggregate`).

pub mod aggregate;
pub mod browse;
pub mod inputs;
pub mod runs;
pub mod schedule;
pub mod scores;
pub mod section;
pub mod stages;
pub mod webhooks;

use pharmforge_core::Shutdown;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub use inputs::{begin_run, InputCompound, NewRun, RunDraft};
pub use runs::*;
pub use stages::{RunStageCounts, StageCounts};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The local developer database, where `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/pharmforge";

/// `DATABASE_URL`, defaulting to the local developer database.
pub fn database_url() -> String {
    pharmforge_core::config::env_or("DATABASE_URL", DEFAULT_DATABASE_URL)
}

/// Connects, retrying with capped exponential backoff until Postgres answers or
/// shutdown is requested (then `None`). The password, if any, is never logged.
pub async fn connect(url: &str, max_connections: u32, shutdown: &Shutdown) -> Result<Option<PgPool>, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let shown = format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
    let what = format!("cannot reach Postgres at {shown}");
    let pool = shutdown
        .retry(&what, || PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10)).connect_with(options.clone()))
        .await;
    if pool.is_some() {
        tracing::info!(database = %shown, "connected to Postgres");
    }
    Ok(pool)
}

/// A pool that connects lazily: the API starts serving (and answers `/readyz`
/// with 503) before Postgres is reachable.
pub fn lazy_pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(5)).connect_lazy_with(options))
}
