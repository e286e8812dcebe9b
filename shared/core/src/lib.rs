//! The library every PharmForge service shares: the compound record that travels
//! between services, subject and stream names, configuration, telemetry,
//! JetStream set-up and the consume loop that turns an adapter's enrichment
//! logic into a service.
//!
//! The message flow, in one place (see `topology` for the names):
//!
//! ```text
//! api ── admission (api) ──────────────────── pipeline.<route[0]> ──▶ adapter ── pipeline.<route[1]> ──▶ … ── pipeline.done
//!                                               │                                   │                          │
//!                                               └────────────── aggregator sees every one of them ────────────┘
//! ```
//!
//! Every record carries its own route and the index (`step`) of the stage it is
//! addressed to, so any subset and order of adapters works without the services
//! knowing about each other.

pub mod adapter;
pub mod cancel;
pub mod config;
pub mod consume;
pub mod heartbeat;
pub mod ids;
pub mod metrics;
pub mod nats;
pub mod profile;
pub mod record;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod topology;
pub mod trace_hop;

pub use adapter::{run_adapter, Adapter, Attempt, Outcome};
pub use ids::{AdapterName, Priority, RunId, RunStatus, Section};
pub use record::CompoundRecord;
pub use shutdown::Shutdown;
pub use topology::Topology;

/// Milliseconds since the Unix epoch (wall clock: shared by replicas and hosts).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
