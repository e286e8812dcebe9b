//! A misbehaving adapter for the fault tests, run by the real adapter runtime
//! against real NATS: it takes the place of the adapter named by
//! `TEST_ADAPTER_AS` (default `chembl`) and, by SMILES,
//!
//! * containing `[Xe]`: never answers (a blocking call stuck for an hour, as a
//!   library caught in a pathological molecule would be);
//! * containing `[Kr]`: asks to be retried, every time;
//! * anything else: adds `{"seen": true}` as its section, after
//!   `TEST_ADAPTER_DELAY_MS` (default 0) per record, as a slow adapter would.

use pharmforge_core::config::{ConsumerSettings, NatsSettings};
use pharmforge_core::{run_adapter, Adapter, AdapterName, Attempt, Outcome, Shutdown};
use std::time::Duration;

struct Misbehaving(AdapterName, Duration);

impl Adapter for Misbehaving {
    fn name(&self) -> AdapterName {
        self.0
    }

    fn provenance(&self) -> String {
        "test-adapter (misbehaving on purpose)".into()
    }

    async fn enrich(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        let (name, delay) = (self.0, self.1);
        tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|a| {
                    let mut r = a.record;
                    if r.smiles.contains("[Kr]") {
                        return Outcome::Retry(Duration::from_millis(100));
                    }
                    if r.smiles.contains("[Xe]") {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                    std::thread::sleep(delay);
                    r.set_section(name, serde_json::json!({"seen": true}));
                    Outcome::Forward(r)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
    }
}

#[tokio::main]
async fn main() {
    pharmforge_core::telemetry::init("test-adapter");
    let name = std::env::var("TEST_ADAPTER_AS").ok().and_then(|n| AdapterName::parse(&n)).unwrap_or(AdapterName::Chembl);
    let delay = Duration::from_millis(std::env::var("TEST_ADAPTER_DELAY_MS").ok().and_then(|d| d.parse().ok()).unwrap_or(0));
    let nats = NatsSettings::from_env().expect("NATS settings");
    let consumer = ConsumerSettings::from_env(16, 2).expect("consumer settings");
    if let Err(e) = run_adapter(Misbehaving(name, delay), nats, consumer, Shutdown::on_signals()).await {
        eprintln!("test adapter stopped: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}
