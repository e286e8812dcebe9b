//! Prometheus metrics and probes for the services without an HTTP API of
//! their own (the adapters, the aggregator): `/metrics` (Prometheus text),
//! `/healthz` (the process is not stuck: its consume loop has not died) and
//! `/readyz` (connected, the topology in place, consuming) on `METRICS_ADDR`
//! (e.g. `0.0.0.0:9100`, as the manifests set it; unset: not served).
//!
//! Metrics are recorded through the `metrics` facade; every name starts
//! with `pharmforge_` and every duration is a histogram (seconds, buckets
//! from 1 ms to 5 min), not a summary, so that replicas can be aggregated.

use crate::Shutdown;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Bucket bounds of every duration histogram, in seconds.
pub const BUCKETS: [f64; 16] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// The process's recorder, installed once; `None` if another recorder was
/// installed first (then this process's metrics go there).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).expect("buckets are not empty");
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// What the probes answer.
#[derive(Clone, Default)]
pub struct Health {
    alive: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Alive from the start (connecting is not being stuck), served on
    /// `METRICS_ADDR` if set; ready once the caller says so.
    pub fn start(shutdown: &Shutdown) -> Health {
        let health = Health::default();
        health.set_alive(true);
        serve_app(addr_from_env(), probes_and_metrics(health.clone()), shutdown);
        health
    }

    /// The main loop has ended: no longer ready, and no longer alive if it
    /// ended on an error (the orchestrator restarts the process).
    pub fn ended<T, E>(&self, result: &Result<T, E>) {
        self.set_ready(false);
        if result.is_err() {
            self.set_alive(false);
        }
    }

    /// `/healthz`: the service's main loop runs.
    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::Relaxed);
    }
    /// `/readyz`: connected and able to work.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// `METRICS_ADDR`: where `/metrics` and the probes are served (the
/// manifests use `0.0.0.0:9100`); unset, empty or `off`: not served (several
/// services on one host would otherwise fight over one port).
pub fn addr_from_env() -> Option<String> {
    match std::env::var("METRICS_ADDR").ok().map(|v| v.trim().to_owned()) {
        None => None,
        Some(v) if v.is_empty() || v.eq_ignore_ascii_case("off") => None,
        Some(v) => Some(v),
    }
}

/// The recorded metrics as a Prometheus text answer (503 when no recorder
/// could be installed).
pub fn prometheus_text() -> axum::response::Response {
    use axum::response::IntoResponse;
    match handle() {
        Some(handle) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "metrics recorder not installed\n").into_response(),
    }
}

/// `/metrics`, `/healthz` and `/readyz` of a service without an API.
fn probes_and_metrics(health: Health) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let (h1, h2) = (health.clone(), health);
    let probe = |ok: bool| if ok { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not yet\n") };
    axum::Router::new()
        .route("/metrics", get(|| async { prometheus_text() }))
        .route("/healthz", get(move || async move { probe(h1.alive()) }))
        .route("/readyz", get(move || async move { probe(h2.ready()) }))
}

/// Installs the recorder and serves `app` (which answers `/metrics`, and
/// whatever else the service puts beside it) on `addr` until shutdown, with
/// the recorder's upkeep every 5 s. With no `addr` nothing is installed, so
/// nothing is recorded either (no one could read it). A port that cannot be
/// bound is logged, not fatal: the service works without its metrics.
pub fn serve_app(addr: Option<String>, app: axum::Router, shutdown: &Shutdown) {
    let Some(addr) = addr else { return };
    // Installed now, not in the task: what happens from here on is recorded.
    let Some(handle) = handle() else { return };
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot serve /metrics");
                return;
            }
        };
        tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or(addr), "serving /metrics");
        let upkeep = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await }).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
        upkeep.abort();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_histograms_with_the_pharmforge_prefix() {
        let handle = handle().expect("the recorder installs");
        metrics::histogram!("pharmforge_test_duration_seconds", "adapter" => "x").record(0.003);
        metrics::counter!("pharmforge_test_total", "outcome" => "ok").increment(2);
        let text = handle.render();
        assert!(text.contains("pharmforge_test_duration_seconds_bucket{adapter=\"x\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("pharmforge_test_duration_seconds_bucket{adapter=\"x\",le=\"0.0025\"} 0"), "{text}");
        assert!(text.contains("pharmforge_test_total{outcome=\"ok\"} 2"), "{text}");
    }
}
