//! What the web-service adapters (pubchem, chembl) share:
//!
//! - [`SharedRateLimiter`]: one request budget for every replica of a service
//!   (they share one outgoing IP). The state — the earliest time the next
//!   request may start, a slow-down factor and a pause — lives in one key of a
//!   JetStream key-value bucket and is changed only by compare-and-set, so two
//!   replicas can never take the same slot.
//! - [`SharedCache`]: a JetStream key-value bucket with a TTL, shared by every
//!   replica, keyed by InChIKey.
//! - [`FetchError`], [`classify_status`], [`backoff`]: which failures are worth
//!   a retry and how long to wait (with jitter, honouring `Retry-After`).

pub mod cache;
pub mod limiter;
pub mod retry;
pub mod service;

pub use cache::SharedCache;
pub use limiter::{rate_limit_views, RateLimitSettings, RateLimitView, SharedRateLimiter, Throttle};
pub use retry::{backoff, classify_status, parse_retry_after, FetchError, RetrySettings};
pub use service::{cache_bucket, serve, Answer, Compound, Fetched, ServiceInfo, WebAdapter, WebClient, WebService, WebSettings};

use std::time::Duration;

/// Records per batch on a cache-warm stretch (see [`batch_size`]).
pub const WARM_BATCH_SIZE: usize = 64;
/// How long a replica must have sent no request to count as cache-warm.
pub const WARM_AFTER: Duration = Duration::from_secs(3);

/// Records per batch for an adapter whose requests all go through `limiter`.
/// A record that needs a request costs a rate-limited slot (200 ms at 5/s),
/// so batches stay at the configured size: what a replica has pulled is done
/// soon and forwarded in small steps. A record the cache answers costs
/// microseconds, and there the per-batch overhead (one pull, and a wake-up
/// of every process the batch passes through) was most of the work: while
/// the replica has sent no request for `WARM_AFTER`, batches grow to
/// `WARM_BATCH_SIZE`. The first batch needing requests after that is large once;
/// the runtime reports it in progress to JetStream, as any long batch.
pub fn batch_size(limiter: Option<&SharedRateLimiter>, configured: usize) -> usize {
    match limiter {
        Some(l) if l.unused_for() >= WARM_AFTER => configured.max(WARM_BATCH_SIZE),
        _ => configured,
    }
}

pub use pharmforge_core::now_ms;

/// An HTTP client with the request timeout and a user agent naming PharmForge.
/// The most bytes of an upstream answer read (16 MiB): a ChEMBL page of
/// 1,000 activities is about 0.5 MB; anything far larger is a fault, and
/// reading it whole could exhaust the service.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Reads an answer's body as text, refusing (a permanent error) one larger
/// than `limit` bytes, by its `Content-Length` or as it streams in.
pub async fn read_body(service: &str, mut resp: reqwest::Response, limit: usize) -> Result<String, FetchError> {
    let too_large = || FetchError::Permanent(format!("{service} answered with a body larger than {limit} bytes; not read"));
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::from_reqwest(service, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub fn http_client(timeout: Duration, connect_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("PharmForge/", env!("CARGO_PKG_VERSION"), " (+https://github.com/pharmforge)"))
        .build()
        .expect("the HTTP client builds")
}

/// Counts one request to an external service in
/// `pharmforge_upstream_requests_total{service,status}`: its HTTP status, or
/// `error` when no answer came (connection, timeout).
pub fn count_upstream(service: &'static str, status: Option<u16>) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    metrics::counter!("pharmforge_upstream_requests_total", "service" => service, "status" => status).increment(1);
}

/// Gets a key-value bucket, creating it (with `max_age` as TTL) when missing,
/// kept on `replicas` servers. With `max_bytes` above 0 it holds at most that
/// much and drops its oldest entries to take new ones (a cache that stays in
/// its budget); at 0 it is unbounded.
pub async fn key_value(
    js: &async_nats::jetstream::Context,
    bucket: &str,
    max_age: Duration,
    replicas: usize,
    max_bytes: i64,
) -> Result<async_nats::jetstream::kv::Store, async_nats::Error> {
    let config = async_nats::jetstream::kv::Config { bucket: bucket.to_owned(), history: 1, max_age, num_replicas: replicas, max_bytes, ..Default::default() };
    pharmforge_core::topology::ensure_bucket(js, config, max_bytes > 0).await
}

/// The key-value bucket holding every service's shared rate-limit state.
pub fn rate_bucket(prefix: &str) -> String {
    format!("{prefix}webclient_rate")
}

/// Deserialisers for fields upstream services send loosely: a number as a
/// JSON number or a numeric string (PubChem's weights, ChEMBL's decimals), a
/// text that may be missing or of another type. What cannot be read is
/// `None`, as an absent field is: one odd field never costs a compound its
/// whole answer.
pub mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::{Number, Value};

    /// A number, kept as sent (an integer stays an integer).
    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Number>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => Some(n),
            Value::String(s) => s.trim().parse::<f64>().ok().and_then(Number::from_f64),
            _ => None,
        })
    }

    /// A number as `f64`.
    pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(number(d)?.and_then(|n| n.as_f64()))
    }

    /// A string.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }
}
