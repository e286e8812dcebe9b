//! Webhooks: `pipeline_config.webhook = {"url", "events"}` has a run's events
//! POSTed to `url`, signed the Standard Webhooks way
//! (<https://www.standardwebhooks.com>): `webhook-id` (the same on every
//! attempt, for receivers to drop duplicates), `webhook-timestamp` (the
//! attempt's) and `webhook-signature`, `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the deployment's `WEBHOOK_SECRET`.
//!
//! Events wait in Postgres (`pharmforge_store::webhooks`): a trigger writes a
//! run's final event in the transaction that ends it, and every replica's
//! dispatcher delivers what is due, retrying with backoff for a day; a
//! restart or a replica's death loses nothing, at worst an event goes twice.
//! A URL is refused when its host resolves to an address that is not public
//! (the API must not become a way into the network it runs in), at
//! submission and again at every attempt, as DNS answers may change.

use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use pharmforge_core::config::{env_millis, env_parse, ConfigError};
use pharmforge_core::Shutdown;
use pharmforge_store::webhooks::{self as store, AttemptOutcome, DueEvent, RunSnapshot};
use pharmforge_store::RunRow;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use sqlx::PgPool;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// What a run may subscribe to.
pub const EVENTS: [&str; 4] = ["completed", "failed", "cancelled", "progress"];
/// A webhook without `events` gets the run's end, however it ends.
pub const DEFAULT_EVENTS: [&str; 3] = ["completed", "failed", "cancelled"];
pub const MAX_URL_LENGTH: usize = 2048;
/// How long a host may take to resolve, at submission and at each attempt.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts shown on `GET /runs/{id}`, the latest ones.
const DELIVERIES_SHOWN: i64 = 50;
/// Deliveries in progress at once per replica (each holds a database
/// connection only while it records its outcome).
const CONCURRENCY: usize = 8;
/// How often a dispatcher looks for due events when it found none.
const POLL: Duration = Duration::from_secs(1);
/// How often settled progress events past their retention are removed (a
/// scan of the outbox: rarely).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Retries go on this long after the event, then the event is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The key events are signed with. Never printed.
#[derive(Clone)]
pub struct SigningKey(Arc<[u8]>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// `whsec_<base64>` is the key the spec's libraries read (the base64
    /// decoded); any other value is the key as written, its UTF-8 bytes.
    /// At least 24 bytes, the spec's minimum.
    pub fn parse(raw: &str) -> Result<SigningKey, String> {
        let key = match raw.strip_prefix("whsec_") {
            Some(encoded) => BASE64.decode(encoded.trim()).map_err(|e| format!("the part after whsec_ is not base64: {e}"))?,
            None => raw.as_bytes().to_vec(),
        };
        if key.len() < 24 {
            return Err(format!("the key is {} bytes; at least 24 are needed", key.len()));
        }
        Ok(SigningKey(key.into()))
    }
}

/// `webhook-signature` for one attempt: `v1,` and the base64 HMAC-SHA256 of
/// `{webhook_id}.{timestamp}.{body}`.
pub fn sign(key: &SigningKey, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `WEBHOOK_SECRET`: unset, runs with a webhook are refused.
    pub secret: Option<SigningKey>,
    /// `WEBHOOK_ALLOW_PRIVATE` (false): also deliver to loopback, private and
    /// link-local addresses (a deployment whose receivers are internal; tests).
    pub allow_private: bool,
    /// `WEBHOOK_PROGRESS_INTERVAL_MS` (10 s): at most one `progress` event per
    /// run this often.
    pub progress_interval: Duration,
    /// `WEBHOOK_TIMEOUT_MS` (15 s, the spec's recommended lower end): an
    /// attempt not answered by then has failed.
    pub timeout: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = match std::env::var("WEBHOOK_SECRET") {
            Ok(raw) if !raw.trim().is_empty() => {
                Some(SigningKey::parse(raw.trim()).map_err(|reason| ConfigError { name: "WEBHOOK_SECRET".into(), value: "***".into(), reason })?)
            }
            _ => None,
        };
        Ok(Settings {
            secret,
            allow_private: env_parse("WEBHOOK_ALLOW_PRIVATE", false)?,
            progress_interval: env_millis("WEBHOOK_PROGRESS_INTERVAL_MS", 10_000)?.max(Duration::from_millis(100)),
            timeout: env_millis("WEBHOOK_TIMEOUT_MS", 15_000)?.max(Duration::from_millis(100)),
        })
    }
}

/// Checks `pipeline_config.webhook`, if there is one, and stores it with its
/// URL as parsed and its `events` filled in. Shape errors are 422s like the
/// rest of `pipeline_config`; a destination that is refused is a 400.
pub async fn check_config(config: &mut Map<String, Value>, settings: &Settings) -> Result<(), ApiError> {
    let Some(hook) = config.get("webhook") else {
        return Ok(());
    };
    let invalid = |field: &str, message: String| ApiError::validation(format!("pipeline_config.webhook{field}"), message);
    let Some(hook) = hook.as_object() else {
        return Err(invalid("", "pipeline_config.webhook must be an object: {\"url\": ..., \"events\": [...]}".into()));
    };
    if let Some(other) = hook.keys().find(|k| *k != "url" && *k != "events") {
        let shown: String = other.chars().take(32).collect();
        return Err(invalid("", format!("unknown field {shown:?} in pipeline_config.webhook; expected url, events")));
    }
    let raw_url = match hook.get("url") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid(".url", "pipeline_config.webhook.url must be a string".into())),
        None => return Err(invalid(".url", "pipeline_config.webhook needs a url".into())),
    };
    if raw_url.len() > MAX_URL_LENGTH {
        return Err(invalid(".url", format!("pipeline_config.webhook.url is {} bytes; at most {MAX_URL_LENGTH} are accepted", raw_url.len())));
    }
    let url = reqwest::Url::parse(raw_url).map_err(|e| invalid(".url", format!("pipeline_config.webhook.url is not a URL: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(".url", format!("pipeline_config.webhook.url must be http or https, not {:?}", url.scheme())));
    }
    if url.host().is_none() {
        return Err(invalid(".url", "pipeline_config.webhook.url has no host".into()));
    }
    // Shown back on every read of the run, and logged with failed attempts.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(".url", "pipeline_config.webhook.url must not carry credentials; receivers check the signature instead".into()));
    }
    let events = match hook.get("events") {
        None => DEFAULT_EVENTS.to_vec(),
        Some(Value::Array(list)) => {
            let mut events = Vec::new();
            for (i, item) in list.iter().enumerate() {
                match item.as_str().and_then(|s| EVENTS.iter().find(|e| **e == s)) {
                    Some(e) if !events.contains(e) => events.push(*e),
                    Some(_) => {}
                    None => {
                        let shown: String = item.to_string().chars().take(32).collect();
                        return Err(invalid(&format!(".events[{i}]"), format!("unknown event {shown}; expected one of {}", EVENTS.join(", "))));
                    }
                }
            }
            if events.is_empty() {
                return Err(invalid(".events", format!("pipeline_config.webhook.events must name at least one of {}", EVENTS.join(", "))));
            }
            events
        }
        Some(_) => return Err(invalid(".events", format!("pipeline_config.webhook.events must be a list of {}", EVENTS.join(", ")))),
    };
    if settings.secret.is_none() {
        return Err(ApiError::BadRequest("webhooks are off on this deployment: it has no WEBHOOK_SECRET to sign them with".into()));
    }
    if !settings.allow_private {
        check_destination(&url).await.map_err(|reason| ApiError::BadRequest(format!("pipeline_config.webhook.url is refused: {reason}")))?;
    }
    config.insert("webhook".into(), serde_json::json!({"url": url.as_str(), "events": events}));
    Ok(())
}

/// Why an address is not public, if it is not: the loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, documentation and
/// reserved ranges, and IPv6 addresses that embed such an IPv4 address.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => not_public_v6(v6),
    }
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => Some("unspecified"),
        (127, _, _) => Some("loopback"),
        (10, _, _) | (192, 168, _) => Some("private"),
        (172, 16..=31, _) => Some("private"),
        (100, 64..=127, _) => Some("shared (carrier-grade NAT)"),
        (169, 254, _) => Some("link-local"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Some("documentation"),
        (198, 18..=19, _) => Some("benchmarking"),
        (192, 0, 0) | (192, 88, 99) => Some("reserved"),
        (224..=239, _, _) => Some("multicast"),
        (240..=255, _, _) => Some("reserved"),
        _ => None,
    }
}

fn not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return not_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s[0] {
        0 if ip.is_unspecified() => Some("unspecified"),
        0 if ip.is_loopback() => Some("loopback"),
        // NAT64's well-known prefix reaches the IPv4 address in its last 32 bits.
        0x64 if s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] => not_public_v4(embedded(s[6], s[7])),
        0x64 if s[1] == 0xff9b => Some("private (local NAT64)"),
        0x100 if s[1..4] == [0, 0, 0] => Some("reserved (discard)"),
        // 6to4 carries the IPv4 address in bits 16..48.
        0x2002 => not_public_v4(embedded(s[1], s[2])),
        0x2001 if s[1] == 0xdb8 => Some("documentation"),
        0x2001 if s[1] == 0 => Some("reserved (Teredo)"),
        x if x & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        x if x & 0xffc0 == 0xfe80 => Some("link-local"),
        x if x & 0xffc0 == 0xfec0 => Some("private (site-local)"),
        x if x & 0xff00 == 0xff00 => Some("multicast"),
        // The rest of ::/8 (IPv4-compatible and other reserved forms).
        x if x & 0xff00 == 0 => Some("reserved"),
        _ => None,
    }
}

/// The addresses `host` resolves to, or why it may not be called: an
/// address that is not public among them, or no address at all.
async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("{host} did not resolve within {} s", RESOLVE_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{host} cannot be resolved: {e}"))?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    // Every address, not only the first: a client may connect to any.
    if let Some((addr, why)) = addrs.iter().find_map(|a| not_public(a.ip()).map(|why| (a, why))) {
        return Err(refusal(host, addr.ip(), why));
    }
    Ok(addrs)
}

fn refusal(host: &str, ip: IpAddr, why: &str) -> String {
    let target = if host.trim_matches(['[', ']']) == ip.to_string() { host.to_owned() } else { format!("{host} resolves to {ip}, which") };
    format!("{target} is a {why} address; webhooks go only to public addresses unless the deployment sets WEBHOOK_ALLOW_PRIVATE=true")
}

/// The URL's host may be called: an IP address that is public, or a name
/// whose addresses all are.
async fn check_destination(url: &reqwest::Url) -> Result<(), String> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => not_public_v4(ip).map_or(Ok(()), |why| Err(refusal(&ip.to_string(), ip.into(), why))),
        Some(url::Host::Ipv6(ip)) => not_public_v6(ip).map_or(Ok(()), |why| Err(refusal(&ip.to_string(), ip.into(), why))),
        Some(url::Host::Domain(name)) => public_addresses(name, url.port_or_known_default().unwrap_or(443)).await.map(drop),
        None => Err("the URL has no host".into()),
    }
}

/// The HTTP client's resolver when only public addresses may be called: the
/// check is made on the very addresses the client then connects to, so a
/// name cannot pass the check and resolve elsewhere a moment later.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs = public_addresses(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The `webhook` of `GET /runs/{id}`: where the run's events go and its
/// latest delivery attempts.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView {
    url: String,
    /// The latest attempts (at most 50), oldest first.
    deliveries: Vec<DeliveryView>,
    /// Attempts in all (more than `deliveries` shows once there are over 50).
    deliveries_total: i64,
}

/// One delivery attempt.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
struct DeliveryView {
    /// The event's webhook-id, the same on each of its attempts.
    webhook_id: String,
    #[schema(value_type = crate::openapi::WebhookEventName)]
    event: String,
    #[schema(minimum = 1)]
    attempt: i32,
    /// The receiver's answer; null when there was none (`error` says why).
    #[schema(required)]
    status_code: Option<i32>,
    /// Why there was no answer (timeout, refused address, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
    #[schema(format = DateTime)]
    at: String,
}

/// The run's webhook and its deliveries, if it has one.
pub async fn view(pool: &PgPool, run: &RunRow) -> Result<Option<WebhookView>, sqlx::Error> {
    let Some(url) = run.pipeline_config.get("webhook").and_then(|h| h.get("url")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let (rows, total) = store::run_deliveries(pool, run.id, DELIVERIES_SHOWN).await?;
    let deliveries = rows
        .into_iter()
        .map(|d| DeliveryView {
            webhook_id: d.webhook_id,
            event: d.event,
            attempt: d.attempt,
            status_code: d.status_code,
            error: d.error,
            at: crate::views::timestamp(&d.at),
        })
        .collect();
    Ok(Some(WebhookView { url: url.to_owned(), deliveries, deliveries_total: total }))
}

/// The body of a webhook delivery (not an endpoint of this API): the run as
/// it was when the event happened, the same bytes on every attempt.
#[derive(Serialize, ToSchema)]
pub struct WebhookEvent<'a> {
    #[serde(rename = "type")]
    #[schema(schema_with = crate::openapi::webhook_event_type)]
    kind: String,
    /// When the event happened.
    #[schema(format = DateTime)]
    timestamp: String,
    data: WebhookEventData<'a>,
}

#[derive(Serialize, ToSchema)]
struct WebhookEventData<'a> {
    #[schema(pattern = "^run_[0-9a-f]{16}$")]
    run_id: &'a str,
    #[schema(value_type = crate::openapi::RunStatus)]
    status: &'a str,
    #[schema(minimum = 0, maximum = 1)]
    progress: f64,
    compounds: WebhookCompounds,
    #[schema(value_type = std::collections::HashMap<String, crate::views::StageCounts>)]
    stages: crate::views::Stages<'a>,
    #[schema(required)]
    user_id: Option<&'a str>,
}

/// The run's compounds: in all, completed, failed.
#[derive(Serialize, ToSchema)]
struct WebhookCompounds {
    total: i32,
    completed: i32,
    failed: i32,
}

/// The body of an event: `{"type": "run.<event>", "timestamp", "data"}`, the
/// data being the run as it was when the event happened. The same bytes on
/// every attempt.
pub fn body(event: &str, at: &DateTime<Utc>, run: &RunSnapshot) -> Vec<u8> {
    let body = WebhookEvent {
        kind: format!("run.{event}"),
        timestamp: crate::views::timestamp(at),
        data: WebhookEventData {
            run_id: &run.run_id,
            status: run.status.as_str(),
            progress: run.progress(),
            compounds: WebhookCompounds { total: run.total, completed: run.completed, failed: run.failed },
            stages: crate::views::stages(&run.adapter_sequence, &run.stage_counts, run.total),
            user_id: run.user_id.as_deref(),
        },
    };
    serde_json::to_vec(&body).expect("an event body serializes")
}

/// How long to wait after failed attempt number `attempt` (from 1): 10 s
/// tripled at each attempt, at most 4 h, times `jitter` (0.5..=1, so that
/// receivers that failed together are not all retried together). The first
/// retry comes within 10 s; over a day there are about a dozen.
pub fn retry_delay(attempt: i32, jitter: f64) -> Duration {
    let base = 10.0 * 3f64.powi(attempt.clamp(1, 20) - 1);
    Duration::from_secs_f64(base.min(4.0 * 3600.0) * jitter.clamp(0.5, 1.0))
}

/// What follows a failed attempt: another at the backoff's time (or later
/// if the receiver asked with `Retry-After`, up to an hour), the last one a
/// day after the event, and then none.
pub fn after_failure(created_at: DateTime<Utc>, now: DateTime<Utc>, attempt: i32, retry_after: Option<Duration>, jitter: f64) -> AttemptOutcome {
    let deadline = created_at + chrono::Duration::from_std(GIVE_UP_AFTER).expect("a day fits");
    if now >= deadline {
        return AttemptOutcome::GiveUp;
    }
    let wait = retry_delay(attempt, jitter).max(retry_after.unwrap_or_default().min(Duration::from_secs(3600)));
    let next = now + chrono::Duration::from_std(wait).expect("at most hours");
    AttemptOutcome::RetryAt(next.min(deadline))
}

/// Every replica's dispatcher: adds progress events as they fall due, claims
/// due events and delivers them, until shutdown; then lets the attempts in
/// progress finish and record their outcome.
pub async fn dispatch(pool: PgPool, settings: Settings, shutdown: Shutdown) {
    let Some(key) = settings.secret.clone() else {
        tracing::info!("webhooks off: WEBHOOK_SECRET is not set");
        return;
    };
    let mut client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        // A redirect is a failed attempt, as the spec asks: the receiver
        // should give its URL, and a redirect could lead anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("PharmForge-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.allow_private {
        client = client.dns_resolver(Arc::new(PublicOnly));
    }
    let client = match client.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks off: the HTTP client cannot be built");
            return;
        }
    };
    let sender = Arc::new(Sender { client, pool: pool.clone(), key, allow_private: settings.allow_private });
    let lease = settings.timeout + Duration::from_secs(15);
    let mut deliveries = tokio::task::JoinSet::new();
    let mut progress_looked: Option<std::time::Instant> = None;
    let mut pruned: Option<std::time::Instant> = None;
    while !shutdown.is_triggered() {
        while deliveries.try_join_next().is_some() {}
        if progress_looked.is_none_or(|t| t.elapsed() >= POLL) {
            progress_looked = Some(std::time::Instant::now());
            if let Err(e) = store::add_progress_events(&pool, settings.progress_interval).await {
                log_store_error(&e, "adding progress events");
            }
        }
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            match store::prune_progress_events(&pool, store::PROGRESS_RETENTION).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "settled progress webhook events past their retention removed"),
                Err(e) => log_store_error(&e, "removing old progress events"),
            }
        }
        let room = CONCURRENCY - deliveries.len();
        if room == 0 {
            tokio::select! {
                _ = deliveries.join_next() => {}
                _ = shutdown.wait() => {}
            }
            continue;
        }
        let claimed = store::claim_due(&pool, room as i64, lease).await.unwrap_or_else(|e| {
            log_store_error(&e, "claiming due events");
            Vec::new()
        });
        // A full batch: there may be more due at once.
        let more = claimed.len() == room;
        for event in claimed {
            let sender = sender.clone();
            deliveries.spawn(async move { sender.deliver(event).await });
        }
        if !more {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
    while deliveries.join_next().await.is_some() {}
}

fn log_store_error(e: &sqlx::Error, doing: &str) {
    match e {
        // The aggregator runs the migrations; the API may start first.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => tracing::debug!(error = %e, "webhooks: {doing}: schema not there yet"),
        _ => tracing::warn!(error = %e, "webhooks: {doing} failed"),
    }
}

/// What every delivery uses.
struct Sender {
    client: reqwest::Client,
    pool: PgPool,
    key: SigningKey,
    allow_private: bool,
}

impl Sender {
    /// One attempt at one event, and its outcome recorded. If the outcome
    /// cannot be recorded, the event's lease runs out and it is tried again.
    async fn deliver(&self, event: DueEvent) {
        let body = body(&event.event, &event.created_at, &event.snapshot.0);
        let jitter = 0.5 + rand::random::<f64>() * 0.5;
        let (status_code, error, outcome) = match self.send(&event, body).await {
            Ok((status, _)) if (200..300).contains(&status) => (Some(status), None, AttemptOutcome::Delivered),
            // The receiver wants no more of this run's events (the spec: stop sending).
            Ok((410, _)) => (Some(410), None, AttemptOutcome::GiveUpRun),
            Ok((status, retry_after)) => (Some(status), None, after_failure(event.created_at, Utc::now(), event.attempts, retry_after, jitter)),
            Err(Failure::Refused(why)) => (None, Some(why), AttemptOutcome::GiveUp),
            Err(Failure::Transient(why)) => (None, Some(why), after_failure(event.created_at, Utc::now(), event.attempts, None, jitter)),
        };
        match &outcome {
            AttemptOutcome::Delivered => {
                tracing::info!(webhook_id = %event.webhook_id, event = %event.event, attempt = event.attempts, "webhook delivered")
            }
            next => tracing::info!(webhook_id = %event.webhook_id, event = %event.event, attempt = event.attempts, status = ?status_code,
                error = error.as_deref().unwrap_or(""), ?next, "webhook attempt failed"),
        }
        if let Err(e) = store::record_attempt(&self.pool, &event, status_code, error.as_deref(), &outcome).await {
            tracing::warn!(error = %e, webhook_id = %event.webhook_id, "webhook attempt could not be recorded; it will be made again");
        }
    }

    /// POSTs the event: the receiver's status and `Retry-After`, or why there was none.
    async fn send(&self, event: &DueEvent, body: Vec<u8>) -> Result<(u16, Option<Duration>), Failure> {
        let url = reqwest::Url::parse(&event.url).map_err(|e| Failure::Refused(format!("not a URL: {e}")))?;
        // The resolver sees names only: an address in the URL is checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::from(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::from(ip)),
            _ => None,
        };
        if let Some((ip, why)) = literal.filter(|_| !self.allow_private).and_then(|ip| not_public(ip).map(|why| (ip, why))) {
            return Err(Failure::Refused(refusal(&ip.to_string(), ip, why)));
        }
        let timestamp = Utc::now().timestamp();
        let signature = sign(&self.key, &event.webhook_id, timestamp, &body);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transient(error_text(&e.without_url())))?;
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok((response.status().as_u16(), retry_after))
    }
}

/// An error and its causes on one line, each said once (reqwest repeats
/// its inner error's text in its own).
fn error_text(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

enum Failure {
    /// Never to be sent: the stored URL is not one (or not allowed).
    Refused(String),
    /// No answer this time (DNS, connection, timeout; a host that now
    /// resolves to a private address may resolve elsewhere later).
    Transient(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The spec's reference libraries test against this vector; a receiver
        // using one of them accepts what matches it.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_plain_secret_is_the_key_as_written() {
        // Expected value computed independently: scripts/webhook_signature.py.
        let key = SigningKey::parse("a plain secret of some length, not base64").unwrap();
        let signature = sign(&key, "msg_1", 1700000000, br#"{"type":"run.completed"}"#);
        assert_eq!(signature, "v1,heh6BJxXM5A9HMQawJKX8vnyJVmGJDWH+Q0GYuxGbzg=");
        // The same bytes given the spec's way sign the same.
        let encoded = format!("whsec_{}", BASE64.encode("a plain secret of some length, not base64"));
        assert_eq!(sign(&SigningKey::parse(&encoded).unwrap(), "msg_1", 1700000000, br#"{"type":"run.completed"}"#), signature);
    }

    #[test]
    fn short_or_undecodable_secrets_are_refused() {
        assert!(SigningKey::parse("too short").unwrap_err().contains("at least 24"));
        assert!(SigningKey::parse("whsec_c2hvcnQ=").unwrap_err().contains("at least 24"));
        assert!(SigningKey::parse("whsec_not base64 at all!!").unwrap_err().contains("not base64"));
        assert_eq!(format!("{:?}", SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()), "SigningKey(***)");
    }

    fn why(addr: &str) -> Option<&'static str> {
        not_public(addr.parse().unwrap())
    }

    #[test]
    fn addresses_that_are_not_public_are_refused() {
        for (addr, want) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("fc00::1", "private (unique local)"),
            ("fd12:3456::1", "private (unique local)"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.127.255.254", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("192.0.2.10", "documentation"),
            ("2001:db8::1", "documentation"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::", "loopback"),
            ("fec0::1", "private (site-local)"),
        ] {
            assert_eq!(why(addr), Some(want), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert_eq!(why(addr), None, "{addr}");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_before_a_run_is_accepted() {
        let public_only =
            Settings { secret: SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok(), allow_private: false, progress_interval: POLL, timeout: POLL };
        let check = |hook: Value, settings: Settings| async move {
            let mut config = serde_json::json!({"webhook": hook}).as_object().unwrap().clone();
            check_config(&mut config, &settings).await.map(|()| config["webhook"].clone()).map_err(|e| e.to_string())
        };
        for (hook, want) in [
            (serde_json::json!({"url": "http://127.0.0.1:9/hook"}), "127.0.0.1 is a loopback address"),
            (serde_json::json!({"url": "http://[::ffff:127.0.0.1]/"}), "is a loopback address"),
            (serde_json::json!({"url": "http://localhost:8080/"}), "localhost resolves to"),
            (serde_json::json!({"url": "https://169.254.169.254/latest/meta-data"}), "link-local"),
            (serde_json::json!({"url": "ftp://example.com/"}), "must be http or https"),
            (serde_json::json!({"url": "not a url"}), "not a URL"),
            (serde_json::json!({"url": "https://user:pw@example.com/"}), "must not carry credentials"),
            (serde_json::json!({"url": 1}), "must be a string"),
            (serde_json::json!({"events": ["completed"]}), "needs a url"),
            (serde_json::json!({"url": "https://x.example", "events": ["done"]}), "unknown event \"done\""),
            (serde_json::json!({"url": "https://x.example", "events": []}), "at least one"),
            (serde_json::json!({"url": "https://x.example", "secret": "x"}), "unknown field \"secret\""),
            (serde_json::json!("https://x.example"), "must be an object"),
        ] {
            let err = check(hook.clone(), public_only.clone()).await.expect_err(&hook.to_string());
            assert!(err.contains(want), "{hook}: {err:?} does not say {want:?}");
        }
        let allowed = Settings { allow_private: true, ..public_only.clone() };
        let stored =
            check(serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["progress", "completed", "progress"]}), allowed.clone()).await.unwrap();
        assert_eq!(stored, serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["progress", "completed"]}));
        let stored = check(serde_json::json!({"url": "HTTP://LocalHost:80"}), allowed.clone()).await.unwrap();
        assert_eq!(stored, serde_json::json!({"url": "http://localhost/", "events": ["completed", "failed", "cancelled"]}), "as parsed, events filled in");
        let unsigned = Settings { secret: None, ..allowed };
        assert!(check(serde_json::json!({"url": "http://127.0.0.1/"}), unsigned).await.unwrap_err().contains("WEBHOOK_SECRET"));
    }

    #[test]
    fn retries_start_within_30_seconds_and_end_a_day_after_the_event() {
        for jitter in [0.5, 0.75, 1.0] {
            assert!(retry_delay(1, jitter) <= Duration::from_secs(10), "first retry within 10 s");
            assert!(retry_delay(2, jitter) <= Duration::from_secs(30));
        }
        let created = Utc::now();
        for jitter in [0.5, 1.0] {
            let (mut now, mut attempt, mut waits) = (created, 1, Vec::new());
            loop {
                match after_failure(created, now, attempt, None, jitter) {
                    AttemptOutcome::RetryAt(at) => {
                        assert!(at > now);
                        waits.push(at - now);
                        now = at;
                        attempt += 1;
                    }
                    AttemptOutcome::GiveUp => break,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(now, created + chrono::Duration::hours(24), "the last attempt is a day after the event");
            assert!(waits.windows(2).all(|w| w[0] <= w[1] || w[1] < chrono::Duration::hours(4)), "{waits:?}");
            assert!((10..=20).contains(&attempt), "{attempt} attempts at jitter {jitter}");
        }
        let asked = after_failure(created, created, 1, Some(Duration::from_secs(120)), 1.0);
        assert_eq!(asked, AttemptOutcome::RetryAt(created + chrono::Duration::seconds(120)), "Retry-After is honoured");
    }

    #[test]
    fn an_event_body_is_the_run_as_it_was() {
        let snapshot: RunSnapshot = serde_json::from_value(serde_json::json!({
            "run_id": "run_0123456789abcdef", "status": "completed", "user_id": "alice", "total": 3, "completed": 2, "failed": 1,
            "steps_done": 6, "stage_counts": {"rdkit_local": {"done": 2, "failed": 1, "skipped": 0}, "admet_ai": {"done": 2, "skipped": 1}},
            "adapter_sequence": ["rdkit_local", "admet_ai"],
        }))
        .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-29T12:00:00.5Z").unwrap().with_timezone(&Utc);
        let text = String::from_utf8(body("completed", &at, &snapshot)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"run.completed","timestamp":"2026-11-29T12:00:00.500000Z","data":{"run_id":"run_0123456789abcdef","status":"completed","progress":1.0,"compounds":{"total":3,"completed":2,"failed":1},"stages":{"rdkit_local":{"pending":0,"done":2,"failed":1,"skipped":0},"admet_ai":{"pending":0,"done":2,"failed":0,"skipped":1}},"user_id":"alice"}}"#
        );
    }
}
