//! Adapter replicas say they are alive: every few seconds each one publishes
//! on core NATS (`heartbeat.<adapter>`, no stream: a missed beat costs
//! nothing) who it is and how many records it has handled since it started.
//! The API listens, so that the pipeline page and the run form know which
//! adapters have a replica connected now and how fast each stage goes,
//! without asking the replicas anything.

use crate::ids::AdapterName;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often a replica beats; a replica unheard for three beats is gone.
pub const EVERY: Duration = Duration::from_secs(5);

/// One beat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub adapter: AdapterName,
    /// `host:pid`, unique per process (a pod's host name is the pod's).
    pub instance: String,
    /// The adapter's provenance (name, version, engine).
    pub provenance: String,
    /// Unix milliseconds when the replica started.
    pub started_at_ms: u64,
    /// Records forwarded to their next stage since it started (cumulative).
    pub forwarded: u64,
    /// Of those, records that carry this adapter's error.
    pub errors: u64,
    /// Records pulled per batch and batches at once.
    pub batch_size: usize,
    pub concurrency: usize,
    /// The last beat, sent as the replica stops: forget it at once.
    #[serde(default)]
    pub stopping: bool,
}

/// What a replica counts as it works.
#[derive(Debug, Default)]
pub struct Counters {
    pub forwarded: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn record(&self, with_error: bool) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        if with_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// This process's instance name: `host:pid`.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Beats every [`EVERY`] until `shutdown`, then once more with `stopping`.
pub async fn beat(client: async_nats::Client, subject: String, mut make: impl FnMut() -> Heartbeat + Send, shutdown: crate::Shutdown) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.wait() => true,
        };
        let beat = Heartbeat { stopping, ..make() };
        if let Ok(payload) = serde_json::to_vec(&beat) {
            if let Err(e) = client.publish(subject.clone(), payload.into()).await {
                tracing::debug!(error = %e, "heartbeat not sent");
            }
        }
        if stopping {
            let _ = client.flush().await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_round_trips_and_old_beats_are_not_stopping() {
        let beat = Heartbeat {
            adapter: AdapterName::Pubchem,
            instance: instance_name(),
            provenance: "pubchem 0.1.0".into(),
            started_at_ms: 1,
            forwarded: 10,
            errors: 2,
            batch_size: 64,
            concurrency: 2,
            stopping: false,
        };
        let text = serde_json::to_string(&beat).unwrap();
        assert_eq!(serde_json::from_str::<Heartbeat>(&text).unwrap(), beat);
        let old = text.replace(",\"stopping\":false", "");
        assert!(!serde_json::from_str::<Heartbeat>(&old).unwrap().stopping);
        assert!(instance_name().contains(':'));
    }
}
