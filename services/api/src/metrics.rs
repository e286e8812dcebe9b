//! The API's Prometheus metrics, at `/metrics` on a port of their own
//! (`METRICS_ADDR`, like every service): not on the API's port, which the
//! gateway exposes, since they are unauthenticated (counts and durations
//! only, no run ids or user names).
//!
//! * `pharmforge_http_request_duration_seconds{route,status}`: a histogram
//!   of the time to the response's head (an export's or an event stream's
//!   body may go on for long after), by matched route (`/api/v1/runs/{run_id}`,
//!   never a raw path: a label per run would be unbounded).
//! * read at each scrape: `pharmforge_runs{status}`,
//!   `pharmforge_admission_backlog` (compounds of pending and running runs
//!   not yet admitted), `pharmforge_consumer_pending{consumer}` and
//!   `pharmforge_consumer_ack_pending{consumer}` (each adapter's and the
//!   aggregator's JetStream consumer).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::response::Response;
use pharmforge_core::AdapterName;
use std::time::Instant;

/// The request's matched route (`/api/v1/runs/{run_id}`), or `unmatched`.
fn route_of(req: &Request) -> String {
    req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into())
}

/// Times every request, labelled by its matched route and status.
pub async fn record_http(req: Request, next: axum::middleware::Next) -> Response {
    let route = route_of(&req);
    let started = Instant::now();
    let response = next.run(req).await;
    metrics::histogram!("pharmforge_http_request_duration_seconds", "route" => route, "status" => response.status().as_u16().to_string())
        .record(started.elapsed().as_secs_f64());
    response
}

tokio::task_local! {
    /// The trace context of the request being served: its span's when
    /// traces are exported, else the caller's `traceparent` (or none).
    static REQUEST_TRACE: opentelemetry::Context;
}

/// A span per request (`METHOD route`), continuing the caller's trace
/// context (a gateway's `traceparent`); exported when traces are.
pub async fn trace_http(req: Request, next: axum::middleware::Next) -> Response {
    use opentelemetry::trace::TraceContextExt;
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let route = route_of(&req);
    let parent = pharmforge_core::telemetry::extract_http(req.headers());
    let span = tracing::info_span!(
        "http.request",
        otel.name = format!("{} {route}", req.method()),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(parent.clone());
    let own = span.context();
    let cx = if own.span().span_context().is_valid() { own } else { parent };
    let response = REQUEST_TRACE.scope(cx, next.run(req).instrument(span.clone())).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The `traceparent` a run created by this request keeps: the request's
/// span (or the caller's context), or a new unsampled root when there is none.
pub fn request_traceparent() -> String {
    REQUEST_TRACE
        .try_with(pharmforge_core::telemetry::traceparent_of)
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("00-{:032x}-{:016x}-00", rand::random::<u128>().max(1), rand::random::<u64>().max(1)))
}

/// Serves `/metrics` on `METRICS_ADDR`, if set, until shutdown.
pub fn serve(state: AppState, shutdown: &pharmforge_core::Shutdown) {
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(state);
    pharmforge_core::metrics::serve_app(pharmforge_core::metrics::addr_from_env(), app, shutdown);
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    refresh_gauges(&state).await;
    pharmforge_core::metrics::prometheus_text()
}

/// The gauges read from Postgres and JetStream at each scrape; one that
/// cannot be read keeps its last value (and the log says why).
async fn refresh_gauges(state: &AppState) {
    let counts: Result<Vec<(String, i64, i64)>, _> = sqlx::query_as(
        "SELECT status, count(*), coalesce(sum(CASE WHEN status IN ('pending', 'running') THEN greatest(total_compounds - fanout_published, 0) ELSE 0 END), 0)::bigint \
         FROM pipeline_runs GROUP BY status",
    )
    .fetch_all(&state.pool)
    .await;
    match counts {
        Ok(rows) => {
            let mut backlog = 0;
            for status in pharmforge_core::RunStatus::ALL.map(pharmforge_core::RunStatus::as_str) {
                let n = rows.iter().find(|(s, _, _)| s == status).map_or(0, |r| r.1);
                metrics::gauge!("pharmforge_runs", "status" => status).set(n as f64);
            }
            for (_, _, waiting) in &rows {
                backlog += waiting;
            }
            metrics::gauge!("pharmforge_admission_backlog").set(backlog as f64);
        }
        Err(e) => tracing::warn!(error = %e, "run counts not read for /metrics"),
    }
    let Some(js) = state.jetstream.get() else { return };
    let Ok(stream) = js.get_stream(state.topology.pipeline_stream()).await else { return };
    let consumers = AdapterName::ALL.iter().map(|a| (a.as_str().to_owned(), state.topology.adapter_consumer(*a)));
    for (label, name) in consumers.chain(std::iter::once(("aggregator".to_owned(), state.topology.aggregator_consumer()))) {
        match stream.consumer_info(&name).await {
            Ok(info) => {
                metrics::gauge!("pharmforge_consumer_pending", "consumer" => label.clone()).set(info.num_pending as f64);
                metrics::gauge!("pharmforge_consumer_ack_pending", "consumer" => label).set(info.num_ack_pending as f64);
            }
            Err(e) => tracing::warn!(error = %e, consumer = %name, "consumer counts not read for /metrics"),
        }
    }
}
