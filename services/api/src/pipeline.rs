//! What an operator asks of the pipeline (`GET /api/v1/pipeline`): per
//! adapter, its backlog as JetStream counts it, the replicas connected now
//! (their heartbeats, see `pharmforge_core::heartbeat`), its throughput over
//! the last minute, its dead letters with their reasons; the aggregator's
//! backlog; the external services' shared rate-limit state.

use crate::error::ApiError;
use crate::AppState;
use futures::StreamExt;
use pharmforge_core::heartbeat::{self, Heartbeat};
use pharmforge_core::{AdapterName, Shutdown};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// A replica unheard for this long is gone (three beats).
const GONE_AFTER: Duration = Duration::from_secs(15);
/// The window throughput is measured over.
const WINDOW: Duration = Duration::from_secs(60);
/// Dead letters shown per adapter, newest first.
const DEAD_LETTERS_SHOWN: usize = 10;

struct Replica {
    beat: Heartbeat,
    seen: Instant,
    /// (when, forwarded, errors), oldest first, spanning a little over `WINDOW`.
    samples: VecDeque<(Instant, u64, u64)>,
}

/// The replicas this API has heard from, by instance.
#[derive(Clone, Default)]
pub struct Replicas(Arc<Mutex<HashMap<String, Replica>>>);

/// One adapter's replicas as the page shows them.
#[derive(Debug, Default)]
pub struct AdapterReplicas {
    pub replicas: Vec<ReplicaView>,
    /// Records forwarded per second over the last minute (or since the
    /// replica's first beat here, if later), all replicas together.
    pub per_second: f64,
    pub errors_per_second: f64,
}

impl Replicas {
    pub fn heard(&self, beat: Heartbeat, now: Instant) {
        let mut all = self.0.lock().unwrap();
        if beat.stopping {
            all.remove(&beat.instance);
            return;
        }
        let replica = all.entry(beat.instance.clone()).or_insert_with(|| Replica { beat: beat.clone(), seen: now, samples: VecDeque::new() });
        // A restarted process with the same name starts counting again.
        if beat.forwarded < replica.beat.forwarded || beat.started_at_ms != replica.beat.started_at_ms {
            replica.samples.clear();
        }
        replica.samples.push_back((now, beat.forwarded, beat.errors));
        while replica.samples.len() > 2 && now.duration_since(replica.samples[1].0) >= WINDOW {
            replica.samples.pop_front();
        }
        replica.beat = beat;
        replica.seen = now;
    }

    pub fn of(&self, adapter: AdapterName, now: Instant) -> AdapterReplicas {
        let mut all = self.0.lock().unwrap();
        all.retain(|_, r| now.duration_since(r.seen) < GONE_AFTER);
        let mut out = AdapterReplicas::default();
        let mut mine: Vec<&Replica> = all.values().filter(|r| r.beat.adapter == adapter).collect();
        mine.sort_by(|a, b| a.beat.instance.cmp(&b.beat.instance));
        for r in mine {
            let (rate, error_rate) = match (r.samples.front(), r.samples.back()) {
                (Some(first), Some(last)) if last.0 > first.0 => {
                    let secs = last.0.duration_since(first.0).as_secs_f64();
                    ((last.1 - first.1) as f64 / secs, (last.2.saturating_sub(first.2)) as f64 / secs)
                }
                _ => (0.0, 0.0),
            };
            out.per_second += rate;
            out.errors_per_second += error_rate;
            out.replicas.push(ReplicaView {
                instance: r.beat.instance.clone(),
                provenance: r.beat.provenance.clone(),
                started_at: chrono::DateTime::from_timestamp_millis(r.beat.started_at_ms as i64),
                last_seen_ms_ago: now.duration_since(r.seen).as_millis() as u64,
                forwarded: r.beat.forwarded,
                errors: r.beat.errors,
                per_second: round2(rate),
                batch_size: r.beat.batch_size,
                concurrency: r.beat.concurrency,
            });
        }
        out.per_second = round2(out.per_second);
        out.errors_per_second = round2(out.errors_per_second);
        out
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Listens to every adapter replica's heartbeat until shutdown.
pub async fn listen(state: AppState, shutdown: Shutdown) {
    let Some(js) = crate::events::jetstream_when_connected(&state, &shutdown).await else {
        return;
    };
    let Some(mut beats) = crate::events::subscribe_until(&js, state.topology.heartbeat_wildcard(), &shutdown).await else {
        return;
    };
    loop {
        tokio::select! {
            beat = beats.next() => match beat {
                Some(message) => match serde_json::from_slice::<Heartbeat>(&message.payload) {
                    Ok(beat) => state.replicas.heard(beat, Instant::now()),
                    Err(e) => tracing::debug!(error = %e, subject = %message.subject, "unreadable heartbeat ignored"),
                },
                None => return,
            },
            _ = shutdown.wait() => return,
        }
    }
}

/// The last overview, reused for a second: every open pipeline page and run
/// form asks for it every few seconds, and it costs a dozen JetStream
/// requests (and one per dead letter shown). Callers at the same moment wait
/// for one computation instead of each making their own.
#[derive(Clone, Default)]
pub struct Overviews(Arc<tokio::sync::Mutex<Option<(Instant, Value)>>>);

const REUSE_FOR: Duration = Duration::from_secs(1);

impl Overviews {
    pub async fn get(&self, state: &AppState) -> Result<Value, ApiError> {
        let mut last = self.0.lock().await;
        if let Some((at, value)) = last.as_ref() {
            if at.elapsed() < REUSE_FOR {
                return Ok(value.clone());
            }
        }
        let value = overview(state).await?;
        *last = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

/// The pipeline as an operator sees it (`GET /api/v1/pipeline`).
#[derive(Serialize, ToSchema)]
#[schema(as = PipelineOverview)]
pub struct Overview {
    /// Every registered adapter, in route order.
    adapters: Vec<AdapterOverview>,
    /// The aggregator's backlog.
    aggregator: Backlog,
    /// Each external service's shared rate state.
    #[schema(value_type = Vec<RateLimit>)]
    rate_limits: Vec<pharmforge_webclient::RateLimitView>,
    /// The window `per_second` and `errors_per_second` are measured over.
    window_seconds: u64,
    /// How often each replica beats; one unheard for three beats is gone.
    heartbeat_seconds: u64,
}

/// One adapter's stage.
#[derive(Serialize, ToSchema)]
struct AdapterOverview {
    #[schema(value_type = crate::openapi::Adapter)]
    name: &'static str,
    /// Records waiting in its JetStream consumer.
    pending: u64,
    /// Delivered to a replica, not yet acknowledged.
    in_flight: usize,
    redelivered: usize,
    replicas_connected: usize,
    /// Records forwarded per second over the last `window_seconds`, all replicas together.
    per_second: f64,
    /// Of those, records that carry the adapter's error.
    errors_per_second: f64,
    /// Each replica, by its heartbeat.
    replicas: Vec<ReplicaView>,
    dead_letters: DeadLetters,
}

/// A stage's backlog.
#[derive(Serialize, ToSchema)]
struct Backlog {
    pending: u64,
    in_flight: usize,
}

/// One adapter replica, by its last heartbeat.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Replica)]
pub struct ReplicaView {
    /// `host:pid`.
    instance: String,
    /// The adapter's name, version and engine.
    provenance: String,
    #[schema(value_type = Option<String>, format = DateTime, required)]
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    last_seen_ms_ago: u64,
    /// Records forwarded since it started.
    forwarded: u64,
    errors: u64,
    pub per_second: f64,
    batch_size: usize,
    concurrency: usize,
}

/// An adapter's dead letters: records it gave up on.
#[derive(Serialize, ToSchema)]
struct DeadLetters {
    total: usize,
    /// The newest (up to 10), newest first.
    recent: Vec<DeadLetter>,
}

#[derive(Clone, Serialize, ToSchema)]
struct DeadLetter {
    sequence: u64,
    adapter: String,
    #[schema(value_type = Option<String>, format = DateTime, required)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was given up on.
    #[schema(required)]
    reason: Option<String>,
    /// How often it was delivered.
    #[schema(required)]
    deliveries: Option<u64>,
    /// `run_id/index`, when it can be read.
    #[schema(required)]
    compound: Option<String>,
}

// Describes `pharmforge_webclient::RateLimitView`, another crate's type.
/// A service's shared request rate, as all its replicas pace themselves.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RateLimit {
    /// `pubchem`, `chembl`.
    service: String,
    /// The server's throttling signal as a factor of the request spacing: 1 Green, 2 Yellow, 4 Red, 8 Black.
    slow_down: f64,
    /// Every replica waits this long before its next request (Black, or a Retry-After); 0 when not paused.
    paused_for_ms: u64,
    /// The next free request slot is this far ahead.
    next_slot_in_ms: u64,
}

/// `GET /api/v1/pipeline`.
pub async fn overview(state: &AppState) -> Result<Value, ApiError> {
    let js = state.jetstream.get().ok_or_else(|| ApiError::Unavailable("not connected to NATS yet".into()))?;
    let unavailable = |what: &str, e: &dyn std::fmt::Display| ApiError::Unavailable(format!("{what}: {e}"));
    let pipeline = js.get_stream(state.topology.pipeline_stream()).await.map_err(|e| unavailable("the PIPELINE stream", &e))?;
    let dead = js.get_stream(state.topology.dead_letter_stream()).await.map_err(|e| unavailable("the DEADLETTER stream", &e))?;
    let dead_counts: HashMap<String, usize> = match dead.info_with_subjects(state.topology.dead_letter_wildcard()).await {
        Ok(subjects) => subjects.filter_map(|s| async move { s.ok() }).collect().await,
        Err(e) => return Err(unavailable("the dead-letter counts", &e)),
    };
    let recent = recent_dead_letters(&dead, state).await;
    let now = Instant::now();
    let mut adapters = Vec::new();
    for adapter in AdapterName::ALL {
        let info = pipeline.consumer_info(state.topology.adapter_consumer(adapter)).await.map_err(|e| unavailable("an adapter's consumer", &e))?;
        let replicas = state.replicas.of(adapter, now);
        let shown: Vec<DeadLetter> = recent.iter().filter(|d| d.adapter == adapter.as_str()).take(DEAD_LETTERS_SHOWN).cloned().collect();
        adapters.push(AdapterOverview {
            name: adapter.as_str(),
            pending: info.num_pending,
            in_flight: info.num_ack_pending,
            redelivered: info.num_redelivered,
            replicas_connected: replicas.replicas.len(),
            per_second: replicas.per_second,
            errors_per_second: replicas.errors_per_second,
            replicas: replicas.replicas,
            dead_letters: DeadLetters { total: dead_counts.get(&state.topology.dead_letter_subject(adapter)).copied().unwrap_or(0), recent: shown },
        });
    }
    let aggregator = pipeline.consumer_info(state.topology.aggregator_consumer()).await.map_err(|e| unavailable("the aggregator's consumer", &e))?;
    let rate_limits = pharmforge_webclient::rate_limit_views(js, &pharmforge_webclient::rate_bucket(state.topology.prefix())).await.unwrap_or_default();
    let overview = Overview {
        adapters,
        aggregator: Backlog { pending: aggregator.num_pending, in_flight: aggregator.num_ack_pending },
        rate_limits,
        window_seconds: WINDOW.as_secs(),
        heartbeat_seconds: heartbeat::EVERY.as_secs(),
    };
    serde_json::to_value(overview).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The newest dead letters of every adapter (the last 100 stored), newest first.
async fn recent_dead_letters(dead: &async_nats::jetstream::stream::Stream, state: &AppState) -> Vec<DeadLetter> {
    use pharmforge_core::adapter::dead_letter_headers as h;
    let mut dead = dead.clone();
    let Ok(info) = dead.info().await else {
        return Vec::new();
    };
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return out;
    }
    let mut seq = last;
    while seq >= first.max(1) && seq + 100 > last {
        if let Ok(m) = dead.get_raw_message(seq).await {
            let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_owned());
            let millis = (m.time.unix_timestamp_nanos() / 1_000_000) as i64;
            out.push(DeadLetter {
                sequence: m.sequence,
                adapter: state.topology.dead_letter_adapter(m.subject.as_str()).unwrap_or(m.subject.as_str()).to_owned(),
                at: chrono::DateTime::from_timestamp_millis(millis),
                reason: header(h::REASON),
                deliveries: header(h::DELIVERIES).and_then(|d| d.parse::<u64>().ok()),
                compound: header(h::LOST_COMPOUND).or_else(|| compound_of(&m.payload)),
            });
        }
        seq -= 1;
    }
    out
}

/// `run_id/index` of a dead letter's record, when it can be read.
fn compound_of(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Ids {
        run_id: String,
        index: u32,
    }
    serde_json::from_slice::<Ids>(payload).ok().map(|r| format!("{}/{}", r.run_id, r.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(instance: &str, adapter: AdapterName, forwarded: u64) -> Heartbeat {
        Heartbeat {
            adapter,
            instance: instance.into(),
            provenance: "x".into(),
            started_at_ms: 7,
            forwarded,
            errors: 0,
            batch_size: 1,
            concurrency: 1,
            stopping: false,
        }
    }

    #[test]
    fn throughput_is_over_the_last_minute_and_replicas_go_when_unheard_or_stopping() {
        let r = Replicas::default();
        let t0 = Instant::now();
        r.heard(beat("a:1", AdapterName::AdmetAi, 0), t0);
        r.heard(beat("a:1", AdapterName::AdmetAi, 1000), t0 + Duration::from_secs(10));
        r.heard(beat("b:2", AdapterName::AdmetAi, 0), t0 + Duration::from_secs(5));
        r.heard(beat("b:2", AdapterName::AdmetAi, 250), t0 + Duration::from_secs(10));
        let now = t0 + Duration::from_secs(10);
        let seen = r.of(AdapterName::AdmetAi, now);
        assert_eq!(seen.replicas.len(), 2);
        assert_eq!(seen.per_second, 150.0);
        assert!(r.of(AdapterName::Pubchem, now).replicas.is_empty());
        // Samples older than the window fall off: a replica idle for two
        // minutes after a burst shows 0/s, not the burst's average.
        for s in 1..=30u64 {
            r.heard(beat("a:1", AdapterName::AdmetAi, 1000), t0 + Duration::from_secs(10 + 5 * s));
        }
        assert_eq!(r.of(AdapterName::AdmetAi, t0 + Duration::from_secs(160)).replicas[0].per_second, 0.0);
        // Unheard for 15 s: gone. A stopping beat: gone at once.
        assert_eq!(r.of(AdapterName::AdmetAi, t0 + Duration::from_secs(200)).replicas.len(), 0);
        r.heard(beat("c:3", AdapterName::Pubchem, 1), t0);
        assert_eq!(r.of(AdapterName::Pubchem, t0).replicas.len(), 1);
        r.heard(Heartbeat { stopping: true, ..beat("c:3", AdapterName::Pubchem, 1) }, t0);
        assert!(r.of(AdapterName::Pubchem, t0).replicas.is_empty());
    }
}
