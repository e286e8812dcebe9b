//! A small OTLP/HTTP trace receiver: `POST /v1/traces`, as an OpenTelemetry
//! collector answers it. Bodies in OTLP/JSON (`Content-Type:
//! application/json`, the protocol `http/json`) are read into spans; other
//! bodies (protobuf) are counted and acknowledged, which is all a benchmark
//! needs of a sink.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One span as the receiver got it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The exporting service's `service.name` resource attribute.
    pub service: String,
    pub name: String,
    pub kind: i64,
    /// Hex, as OTLP/JSON writes them.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// `(trace_id, span_id)` of each link.
    pub links: Vec<(String, String)>,
    pub attributes: Value,
    /// `status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i64,
}

#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

pub struct OtlpReceiver {
    pub port: u16,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let received = Received::default();
        let router = axum::Router::new().route("/v1/traces", post(traces)).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OTLP receiver");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        OtlpReceiver { port, received, task }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the services (the exporter appends `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().unwrap().clone()
    }

    /// Export requests and body bytes received so far.
    pub fn requests_and_bytes(&self) -> (u64, u64) {
        (self.received.requests.load(Ordering::Relaxed), self.received.bytes.load(Ordering::Relaxed))
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn traces(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> (StatusCode, [(&'static str, &'static str); 1], &'static str) {
    received.requests.fetch_add(1, Ordering::Relaxed);
    received.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    let json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"));
    if !json {
        // An empty ExportTraceServiceResponse in protobuf is zero bytes.
        return (StatusCode::OK, [("content-type", "application/x-protobuf")], "");
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], "{}");
    };
    let mut spans = Vec::new();
    for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
        let service = rs["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or("")
            .to_owned();
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    name: text(&s["name"]),
                    kind: s["kind"].as_i64().unwrap_or(0),
                    trace_id: text(&s["traceId"]),
                    span_id: text(&s["spanId"]),
                    parent_span_id: text(&s["parentSpanId"]),
                    links: s["links"].as_array().into_iter().flatten().map(|l| (text(&l["traceId"]), text(&l["spanId"]))).collect(),
                    attributes: s["attributes"].clone(),
                    status_code: s["status"]["code"].as_i64().unwrap_or(0),
                });
            }
        }
    }
    received.spans.lock().unwrap().extend(spans);
    (StatusCode::OK, [("content-type", "application/json")], "{}")
}
