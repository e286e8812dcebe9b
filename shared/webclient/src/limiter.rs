//! A request rate shared by every replica of a service.
//!
//! The policy "at most R requests/s and M requests/min" is enforced as a
//! minimum spacing between request starts, `max(1/R, 60/M)` seconds, times a
//! slow-down factor the server's throttling signals set. The state is one
//! JSON value in a JetStream key-value bucket:
//!
//! ```json
//! {"next_ms": 1764350000200, "factor": 1.0, "paused_until_ms": 0}
//! ```
//!
//! To send a request a replica reads the value and its revision, takes the
//! slot `max(now, next_ms)`, writes `next_ms = slot + spacing` *only if the
//! revision is unchanged* (compare-and-set; on a conflict it reads again), then
//! sleeps until its slot. Slots are therefore handed out one at a time across
//! all replicas, each at least `spacing` after the previous one, so any window
//! of one second sees at most R request starts and any minute at most M. The
//! clock is the hosts' wall clock (replicas behind one IP share a host or an
//! NTP-synchronised cluster); `margin_ms` absorbs small skews.

use crate::now_ms;
use async_nats::jetstream::kv::Store;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub per_second: f64,
    pub per_minute: f64,
    /// Added to the spacing. A request leaves a little after its slot
    /// (scheduling, connection set-up); if one leaves late and the next on
    /// time, the server sees them closer than the spacing. The margin absorbs
    /// those delays (and clock skew between hosts) so the server never counts
    /// more than the policy in any window (40 ms by default: 4.2 requests/s
    /// under a 5/s policy).
    pub margin_ms: u64,
    /// How long every replica stops when the server says Black.
    pub black_pause: Duration,
}

impl RateLimitSettings {
    /// Minimum spacing between request starts, in milliseconds.
    pub fn spacing_ms(&self) -> f64 {
        let s = if self.per_second > 0.0 { 1000.0 / self.per_second } else { 0.0 };
        let m = if self.per_minute > 0.0 { 60_000.0 / self.per_minute } else { 0.0 };
        s.max(m) + self.margin_ms as f64
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
struct State {
    next_ms: u64,
    factor: f64,
    paused_until_ms: u64,
}

/// What the server said about its load (PubChem's `X-Throttling-Control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Throttle {
    Green,
    Yellow,
    Red,
    Black,
}

impl Throttle {
    /// The worst status in a header such as
    /// `Request Count status: Green (0%), Request Time status: Yellow (60%), Service status: Green (20%)`.
    pub fn parse(header: &str) -> Option<Throttle> {
        let mut worst = None;
        for part in header.split(',') {
            let Some((_, rest)) = part.split_once(':') else { continue };
            let word = rest.trim().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
            let t = match word.to_ascii_lowercase().as_str() {
                "green" => Throttle::Green,
                "yellow" => Throttle::Yellow,
                "red" => Throttle::Red,
                "black" => Throttle::Black,
                _ => continue,
            };
            worst = Some(worst.map_or(t, |w: Throttle| w.max(t)));
        }
        worst
    }

    fn factor(self) -> f64 {
        match self {
            Throttle::Green => 1.0,
            Throttle::Yellow => 2.0,
            Throttle::Red => 4.0,
            Throttle::Black => 8.0,
        }
    }
}

#[derive(Clone)]
pub struct SharedRateLimiter {
    kv: Store,
    key: String,
    settings: RateLimitSettings,
    /// The factor this replica last saw in the shared state, to write only changes.
    seen_factor: std::sync::Arc<std::sync::Mutex<f64>>,
    /// When this replica last asked for a slot (or was opened).
    last_used: std::sync::Arc<std::sync::Mutex<std::time::Instant>>,
}

impl SharedRateLimiter {
    /// Opens (or creates, on `replicas` servers) the bucket and the
    /// service's key in it.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        bucket: &str,
        key: &str,
        settings: RateLimitSettings,
        replicas: usize,
    ) -> Result<Self, async_nats::Error> {
        let kv = crate::key_value(js, bucket, Duration::ZERO, replicas, 0).await?;
        Ok(SharedRateLimiter {
            kv,
            key: key.to_owned(),
            settings,
            seen_factor: std::sync::Arc::new(1.0.into()),
            last_used: std::sync::Arc::new(std::time::Instant::now().into()),
        })
    }

    /// How long this replica has sent no request (counted from when it was
    /// opened if it never has).
    pub fn unused_for(&self) -> Duration {
        self.last_used.lock().unwrap().elapsed()
    }

    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    async fn read(&self) -> Result<Option<(State, u64)>, async_nats::Error> {
        match self.kv.entry(&self.key).await? {
            Some(e) if !e.value.is_empty() => {
                let state = serde_json::from_slice(&e.value).unwrap_or(State { factor: 1.0, ..Default::default() });
                Ok(Some((state, e.revision)))
            }
            Some(e) => Ok(Some((State { factor: 1.0, ..Default::default() }, e.revision))),
            None => Ok(None),
        }
    }

    /// Writes `state` if the key is still at `revision` (`None`: if absent).
    async fn cas(&self, state: &State, revision: Option<u64>) -> bool {
        let bytes: bytes::Bytes = serde_json::to_vec(state).expect("state serialises").into();
        match revision {
            Some(rev) => self.kv.update(&self.key, bytes, rev).await.is_ok(),
            None => self.kv.create(&self.key, bytes).await.is_ok(),
        }
    }

    /// Waits for this replica's turn to send one request; the wait is
    /// `pharmforge_rate_limit_wait_seconds{service}`.
    pub async fn acquire(&self) {
        let started = std::time::Instant::now();
        self.wait_for_slot().await;
        metrics::histogram!("pharmforge_rate_limit_wait_seconds", "service" => self.key.clone()).record(started.elapsed().as_secs_f64());
    }

    async fn wait_for_slot(&self) {
        *self.last_used.lock().unwrap() = std::time::Instant::now();
        let mut failures = 0u32;
        loop {
            let current = match self.read().await {
                Ok(c) => c,
                Err(e) => {
                    // NATS unreachable: fall back to the spacing alone, locally.
                    failures += 1;
                    tracing::warn!(error = %e, "rate-limit state unreadable; waiting one full spacing");
                    tokio::time::sleep(Duration::from_millis(self.settings.spacing_ms() as u64 * 2)).await;
                    if failures >= 3 {
                        return;
                    }
                    continue;
                }
            };
            let (state, revision) = match current {
                Some((s, r)) => (s, Some(r)),
                None => (State { factor: 1.0, ..Default::default() }, None),
            };
            *self.seen_factor.lock().unwrap() = state.factor;
            let now = now_ms();
            if state.paused_until_ms > now {
                tokio::time::sleep(Duration::from_millis((state.paused_until_ms - now).min(60_000))).await;
                continue;
            }
            let slot = state.next_ms.max(now);
            let spacing = (self.settings.spacing_ms() * state.factor.max(1.0)).ceil() as u64;
            let next = State { next_ms: slot + spacing, ..state };
            if self.cas(&next, revision).await {
                if slot > now {
                    tokio::time::sleep(Duration::from_millis(slot - now)).await;
                    // A pause (Black, Retry-After) set while this replica
                    // waited for its slot cancels the slot.
                    if let Ok(Some((s, _))) = self.read().await {
                        if s.paused_until_ms > now_ms() {
                            continue;
                        }
                    }
                }
                return;
            }
            // Another replica took a slot in between: read again.
            tokio::task::yield_now().await;
        }
    }

    /// Applies what a response said about the server's load: slows every
    /// replica down (Yellow ×2, Red ×4 spacing), pauses them all on Black.
    pub async fn observe(&self, throttle: Throttle) {
        let factor = throttle.factor();
        let pause = throttle == Throttle::Black;
        if !pause && (*self.seen_factor.lock().unwrap() - factor).abs() < f64::EPSILON {
            return;
        }
        if throttle >= Throttle::Yellow {
            tracing::warn!(?throttle, "server asks to slow down");
        }
        self.update(|s| {
            s.factor = factor;
            if pause {
                s.paused_until_ms = s.paused_until_ms.max(now_ms() + self.settings.black_pause.as_millis() as u64);
            }
        })
        .await;
    }

    /// Every replica waits at least `pause` before the next request (a
    /// `Retry-After` on a busy answer).
    pub async fn pause_for(&self, pause: Duration) {
        let until = now_ms() + pause.as_millis() as u64;
        self.update(|s| s.paused_until_ms = s.paused_until_ms.max(until)).await;
    }

    async fn update(&self, f: impl Fn(&mut State)) {
        for _ in 0..20 {
            let Ok(current) = self.read().await else { return };
            let (mut state, revision) = match current {
                Some((s, r)) => (s, Some(r)),
                None => (State { factor: 1.0, ..Default::default() }, None),
            };
            f(&mut state);
            if self.cas(&state, revision).await {
                *self.seen_factor.lock().unwrap() = state.factor;
                return;
            }
        }
    }
}

/// A service's shared rate as an operator sees it (the API's pipeline page).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RateLimitView {
    /// The key: the service's name (`pubchem`, `chembl`).
    pub service: String,
    /// The server's last throttling signal as a slow-down of the spacing:
    /// 1 (Green), 2 (Yellow), 4 (Red), 8 (Black).
    pub slow_down: f64,
    /// Every replica waits this long before its next request (Black, or a
    /// `Retry-After`); 0 when not paused.
    pub paused_for_ms: u64,
    /// Requests already given slots: the next free slot is this far ahead.
    pub next_slot_in_ms: u64,
}

impl RateLimitView {
    fn of(service: String, state: &State, now: u64) -> Self {
        RateLimitView {
            service,
            slow_down: state.factor.max(1.0),
            paused_for_ms: state.paused_until_ms.saturating_sub(now),
            next_slot_in_ms: state.next_ms.saturating_sub(now),
        }
    }
}

/// Every service's shared rate state in `bucket`, without creating the
/// bucket (none yet: no web adapter has started).
pub async fn rate_limit_views(js: &async_nats::jetstream::Context, bucket: &str) -> Result<Vec<RateLimitView>, async_nats::Error> {
    use futures::TryStreamExt;
    let Ok(kv) = js.get_key_value(bucket).await else {
        return Ok(Vec::new());
    };
    let keys: Vec<String> = kv.keys().await?.try_collect().await?;
    let mut views = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(value) = kv.get(&key).await? {
            let state = serde_json::from_slice(&value).unwrap_or(State { factor: 1.0, ..Default::default() });
            views.push(RateLimitView::of(key, &state, now_ms()));
        }
    }
    views.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_header_gives_the_worst_status() {
        let h = "Request Count status: Green (0%), Request Time status: Green (0%), Service status: Green (20%)";
        assert_eq!(Throttle::parse(h), Some(Throttle::Green));
        let h = "Request Count status: Yellow (60%), Request Time status: Red (80%), Service status: Green (20%)";
        assert_eq!(Throttle::parse(h), Some(Throttle::Red));
        let h = "Request Count status: Black (100%), Request Time status: Green (0%), Service status: Green (20%)";
        assert_eq!(Throttle::parse(h), Some(Throttle::Black));
        assert_eq!(Throttle::parse("nonsense"), None);
    }

    #[test]
    fn a_view_says_how_far_ahead_slots_and_pauses_are() {
        let state = State { next_ms: 1_500, factor: 2.0, paused_until_ms: 900 };
        let v = RateLimitView::of("pubchem".into(), &state, 1_000);
        assert_eq!(v, RateLimitView { service: "pubchem".into(), slow_down: 2.0, paused_for_ms: 0, next_slot_in_ms: 500 });
        let idle = RateLimitView::of("chembl".into(), &State { next_ms: 10, factor: 0.0, paused_until_ms: 5_000 }, 1_000);
        assert_eq!((idle.slow_down, idle.paused_for_ms, idle.next_slot_in_ms), (1.0, 4_000, 0));
    }

    #[test]
    fn spacing_follows_the_stricter_limit() {
        let s = RateLimitSettings { per_second: 5.0, per_minute: 400.0, margin_ms: 0, black_pause: Duration::from_secs(1) };
        assert_eq!(s.spacing_ms(), 200.0);
        let s = RateLimitSettings { per_second: 10.0, per_minute: 400.0, margin_ms: 0, black_pause: Duration::from_secs(1) };
        assert_eq!(s.spacing_ms(), 150.0);
    }
}
