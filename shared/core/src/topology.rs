//! JetStream names and set-up: the streams and durable consumers every service
//! relies on. One service owns them: the aggregator creates or updates them
//! at start (so a changed configuration takes effect when it restarts), and
//! the others wait until they are there ([`Topology::wait_ready`]) instead of
//! writing them too, so two services started with different settings never
//! overwrite each other's.
//!
//! * `PIPELINE` (interest retention): `pipeline.<adapter>` carries records to an
//!   adapter, `pipeline.done` carries finished records. Every adapter's durable
//!   consumer filters its own subject; the aggregator's consumer sees all of
//!   `pipeline.>`. Under interest retention a message stays until every consumer
//!   interested in it has acked it, so the aggregator observes each stage
//!   transition without any extra publish. All adapters' consumers are created
//!   up front, so a record addressed to an adapter with no running replica waits
//!   for it instead of being dropped for lack of interest.
//! * Compounds enter `pipeline.<route[0]>` through the API's admission
//!   scheduler, a window at a time (its state is in Postgres; see
//!   `pharmforge-api`'s `scheduler`).
//! * `DEADLETTER` (limits retention, kept 30 days): `deadletter.<adapter>`
//!   holds every message an adapter gave up on (undecodable, or never
//!   completed within its deliveries), the original payload with the reason in
//!   headers, for whoever investigates. The aggregator reads it too, to record
//!   a compound whose record was lost as failed, so its run still finishes.

use crate::ids::{AdapterName, RunId};
use async_nats::jetstream::{self, consumer, stream};
use std::time::Duration;

/// How long a published message id is remembered for de-duplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(20 * 60);
/// How long an unacknowledged message may stay in the pipeline stream.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long dead letters are kept for inspection.
pub const DEAD_LETTER_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    /// How long a delivered, unacknowledged message waits before redelivery.
    pub ack_wait: Duration,
    /// Deliveries before an adapter gives a message up (a poison message).
    /// The aggregator's consumers never give up: their
    /// failures are outages (Postgres, NATS), not bad messages.
    pub max_deliver: i64,
    /// Servers keeping each stream and bucket (`PHARMFORGE_STREAM_REPLICAS`).
    pub replicas: usize,
}

impl Topology {
    /// Names under `prefix`, with the default ack wait (30 s) and one
    /// replica: for naming things; a service takes [`Topology::for_settings`].
    pub fn new(prefix: impl Into<String>) -> Self {
        Topology { prefix: prefix.into(), ack_wait: Duration::from_secs(30), max_deliver: 20, replicas: 1 }
    }

    /// The topology a service's settings describe: their prefix, replicas
    /// and ack wait (`PHARMFORGE_ACK_WAIT_MS`, read with the settings, so a
    /// bad value stops the service at start instead of falling back).
    pub fn for_settings(nats: &crate::config::NatsSettings) -> Self {
        Topology { replicas: nats.stream_replicas, ack_wait: nats.ack_wait, ..Topology::new(nats.prefix.clone()) }
    }

    /// What every name starts with (one stack's names apart from another's).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn pipeline_stream(&self) -> String {
        format!("{}PIPELINE", self.prefix)
    }
    pub fn adapter_subject(&self, adapter: AdapterName) -> String {
        format!("{}pipeline.{}", self.prefix, adapter.as_str())
    }
    pub fn done_subject(&self) -> String {
        format!("{}pipeline.done", self.prefix)
    }
    /// Where a record goes next: its current adapter's subject, or done.
    pub fn subject_for(&self, record: &crate::CompoundRecord) -> String {
        match record.current_adapter() {
            Some(a) => self.adapter_subject(a),
            None => self.done_subject(),
        }
    }
    pub fn dead_letter_stream(&self) -> String {
        format!("{}DEADLETTER", self.prefix)
    }
    /// Where `adapter` puts the messages it gave up on.
    pub fn dead_letter_subject(&self, adapter: AdapterName) -> String {
        format!("{}deadletter.{}", self.prefix, adapter.as_str())
    }
    /// Every adapter's dead letters.
    pub fn dead_letter_wildcard(&self) -> String {
        format!("{}deadletter.>", self.prefix)
    }
    /// The adapter that gave up the dead letter stored under `subject`.
    pub fn dead_letter_adapter<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject.strip_prefix(self.prefix.as_str())?.strip_prefix("deadletter.")
    }
    pub fn aggregator_dead_letter_consumer(&self) -> String {
        format!("{}aggregator_deadletter", self.prefix)
    }
    pub fn adapter_consumer(&self, adapter: AdapterName) -> String {
        format!("{}{}", self.prefix, adapter.as_str())
    }
    pub fn aggregator_consumer(&self) -> String {
        format!("{}aggregator", self.prefix)
    }
    /// Core NATS (no stream): "this run changed", published by whoever
    /// changed it (the aggregator after each commit, the API on a cancel), so
    /// that every API replica can push the run's progress to its listeners.
    pub fn run_events_subject(&self, run_id: &RunId) -> String {
        format!("{}events.run.{run_id}", self.prefix)
    }
    pub fn run_events_wildcard(&self) -> String {
        format!("{}events.run.*", self.prefix)
    }
    /// Core NATS (no stream): each adapter replica's heartbeat (see `heartbeat`).
    pub fn heartbeat_subject(&self, adapter: AdapterName) -> String {
        format!("{}heartbeat.{}", self.prefix, adapter.as_str())
    }
    pub fn heartbeat_wildcard(&self) -> String {
        format!("{}heartbeat.*", self.prefix)
    }
    /// Key-value bucket of cancelled run ids.
    pub fn cancelled_bucket(&self) -> String {
        format!("{}cancelled_runs", self.prefix)
    }

    fn durable(&self, name: String, filter: String, max_ack_pending: i64, max_deliver: i64) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(name),
            filter_subject: filter,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver,
            max_ack_pending,
            ..Default::default()
        }
    }

    /// Creates or updates every stream and durable consumer.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<(), async_nats::Error> {
        let pipeline = js
            .create_or_update_stream(self.stream_config(
                self.pipeline_stream(),
                format!("{}pipeline.>", self.prefix),
                stream::RetentionPolicy::Interest,
                MAX_AGE,
            ))
            .await?;
        let pipeline = js.get_stream(&pipeline.config.name).await?;
        for adapter in AdapterName::ALL {
            pipeline.create_consumer(self.durable(self.adapter_consumer(adapter), self.adapter_subject(adapter), 20_000, self.max_deliver)).await?;
        }
        pipeline.create_consumer(self.durable(self.aggregator_consumer(), format!("{}pipeline.>", self.prefix), 50_000, -1)).await?;

        let dead = js
            .create_or_update_stream(self.stream_config(
                self.dead_letter_stream(),
                self.dead_letter_wildcard(),
                stream::RetentionPolicy::Limits,
                DEAD_LETTER_MAX_AGE,
            ))
            .await?;
        let dead = js.get_stream(&dead.config.name).await?;
        dead.create_consumer(self.durable(self.aggregator_dead_letter_consumer(), self.dead_letter_wildcard(), 1_000, -1)).await?;

        ensure_bucket(
            js,
            jetstream::kv::Config {
                bucket: self.cancelled_bucket(),
                description: "run ids of cancelled runs".into(),
                history: 1,
                max_age: MAX_AGE,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            false,
        )
        .await?;
        Ok(())
    }

    /// A file-backed stream with the shared de-duplication window and this
    /// topology's replicas: the streams differ only in name, subjects,
    /// retention and age.
    fn stream_config(&self, name: String, subjects: String, retention: stream::RetentionPolicy, max_age: Duration) -> stream::Config {
        stream::Config {
            name,
            subjects: vec![subjects],
            retention,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            max_age,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }

    /// `ensure`, retried with backoff while JetStream is unreachable.
    pub async fn ensure_with_retry(&self, js: &jetstream::Context, shutdown: &crate::Shutdown) -> bool {
        shutdown.retry("JetStream set-up failed", || self.ensure(js)).await.is_some()
    }

    /// Waits until everything [`Topology::ensure`] makes is there (the
    /// aggregator makes it), saying so every 10 s; false if shutdown comes
    /// first.
    pub async fn wait_ready(&self, js: &jetstream::Context, shutdown: &crate::Shutdown, service: &str) -> bool {
        let mut said: Option<std::time::Instant> = None;
        loop {
            if self.is_ready(js).await {
                if said.is_some() {
                    tracing::info!(service, "JetStream topology in place");
                }
                return true;
            }
            if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                tracing::info!(service, stream = %self.pipeline_stream(), "waiting for the JetStream topology: the aggregator sets it up");
                said = Some(std::time::Instant::now());
            }
            tokio::select! {
                _ = shutdown.wait() => return false,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Whether every stream, consumer and bucket of [`Topology::ensure`] exists.
    async fn is_ready(&self, js: &jetstream::Context) -> bool {
        let Ok(pipeline) = js.get_stream(self.pipeline_stream()).await else { return false };
        for consumer in AdapterName::ALL.map(|a| self.adapter_consumer(a)).into_iter().chain([self.aggregator_consumer()]) {
            if pipeline.consumer_info(consumer).await.is_err() {
                return false;
            }
        }
        let Ok(dead) = js.get_stream(self.dead_letter_stream()).await else { return false };
        dead.consumer_info(self.aggregator_dead_letter_consumer()).await.is_ok() && js.get_key_value(self.cancelled_bucket()).await.is_ok()
    }
}

/// A key-value bucket as `config` says, created when missing, and brought to
/// `config`'s replicas and byte limit when it exists with others (a stack
/// moved from one server to a cluster). With `evict_oldest`, a bucket at its
/// byte limit drops its oldest entries to take a new one (a cache); without,
/// it refuses the write (KV's default, which keeps what it holds).
pub async fn ensure_bucket(js: &jetstream::Context, config: jetstream::kv::Config, evict_oldest: bool) -> Result<jetstream::kv::Store, async_nats::Error> {
    let kv = match js.get_key_value(&config.bucket).await {
        Ok(kv) => kv,
        Err(_) => match js.create_key_value(config.clone()).await {
            Ok(kv) => kv,
            // Another service created it at the same moment.
            Err(e) => js.get_key_value(&config.bucket).await.map_err(|_| e)?,
        },
    };
    let current = js.get_stream(format!("KV_{}", config.bucket)).await?.cached_info().config.clone();
    let discard = if evict_oldest { stream::DiscardPolicy::Old } else { current.discard };
    let max_bytes = if config.max_bytes > 0 { config.max_bytes } else { current.max_bytes };
    if current.num_replicas != config.num_replicas.max(1) || current.max_bytes != max_bytes || current.discard != discard {
        js.update_stream(stream::Config { num_replicas: config.num_replicas.max(1), max_bytes, discard, ..current }).await?;
    }
    Ok(kv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        let t = Topology::new("t1_");
        assert_eq!(t.pipeline_stream(), "t1_PIPELINE");
        assert_eq!(t.adapter_subject(AdapterName::AdmetAi), "t1_pipeline.admet_ai");
        assert_eq!(t.adapter_consumer(AdapterName::Chembl), "t1_chembl");
        assert_eq!(t.done_subject(), "t1_pipeline.done");
        assert_eq!(t.dead_letter_subject(AdapterName::Pubchem), "t1_deadletter.pubchem");
        assert_eq!(t.dead_letter_adapter(&t.dead_letter_subject(AdapterName::Pubchem)), Some("pubchem"));
        assert_eq!(t.dead_letter_adapter("t2_deadletter.pubchem"), None);
    }
}
