//! The adapter runtime: consume → enrich → forward, with acks, redelivery and
//! shutdown in one place, so an adapter service is only its enrichment logic.
//!
//! A batch is acknowledged only after every record of it has been stored by
//! JetStream on its next subject; if the service dies before that, the batch is
//! redelivered and the re-publish is dropped by message-id de-duplication.

use crate::config::{ConsumerSettings, NatsSettings};
use crate::consume::{consume_batches, Delivery};
use crate::ids::AdapterName;
use crate::record::CompoundRecord;
use crate::shutdown::Shutdown;
use crate::topology::Topology;
use async_nats::jetstream::{self, message::PublishMessage as Publish};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An enrichment step. `enrich` receives a batch of records addressed to this
/// adapter and returns them in the same order, each with its section set
/// (`CompoundRecord::set_section`) or an error recorded (`set_error`, or
/// `set_fatal` when the compound cannot go on).
pub trait Adapter: Send + Sync + 'static {
    fn name(&self) -> AdapterName;
    /// What produced the section, for the run's lockfile: name, version and the
    /// engine it ran on, e.g. `rdkit_local 0.1.0 (RDKit 2022.09.3)`.
    fn provenance(&self) -> String;
    fn enrich(&self, batch: Vec<CompoundRecord>) -> impl Future<Output = Vec<CompoundRecord>> + Send;
}

/// Publishes a record to the subject of its current step, with its message id
/// and trace headers; resolves once JetStream has stored it.
pub async fn publish_record(
    js: &jetstream::Context,
    topology: &Topology,
    record: &CompoundRecord,
) -> Result<(), async_nats::Error> {
    let payload = serde_json::to_vec(record)?;
    let ack = js
        .send_publish(topology.subject_for(record), Publish::build().payload(payload.into()).headers(record.headers()))
        .await?;
    ack.await?;
    Ok(())
}

/// Runs an adapter service until shutdown.
pub async fn run_adapter<A: Adapter>(
    adapter: A,
    nats: NatsSettings,
    settings: ConsumerSettings,
    shutdown: Shutdown,
) -> Result<(), async_nats::Error> {
    let name = adapter.name();
    let Some(client) = crate::nats::connect(&nats, name.as_str(), &shutdown).await else {
        return Ok(());
    };
    let js = jetstream::new(client.clone());
    let topology = Topology::new(nats.prefix.clone());
    if !topology.ensure_with_retry(&js, &shutdown).await {
        return Ok(());
    }
    let consumer = js
        .get_stream(topology.pipeline_stream())
        .await?
        .get_consumer(&topology.adapter_consumer(name))
        .await?;
    tracing::info!(adapter = %name, provenance = %adapter.provenance(), batch = settings.batch_size, concurrency = settings.concurrency, "adapter consuming");
    let ctx = Arc::new(AdapterContext { adapter, js, topology });
    consume_batches(consumer, &settings, shutdown, move |batch| {
        let ctx = ctx.clone();
        async move { ctx.process(batch).await }
    })
    .await?;
    client.flush().await.ok();
    tracing::info!(adapter = %name, "adapter stopped");
    Ok(())
}

struct AdapterContext<A> {
    adapter: A,
    js: jetstream::Context,
    topology: Topology,
}

impl<A: Adapter> AdapterContext<A> {
    async fn process(&self, batch: Vec<Delivery>) {
        let name = self.adapter.name();
        let mut records = Vec::with_capacity(batch.len());
        let mut held = Vec::with_capacity(batch.len());
        for delivery in batch {
            match serde_json::from_slice::<CompoundRecord>(delivery.payload()) {
                Ok(r) if r.current_adapter() == Some(name) => {
                    records.push(r);
                    held.push(delivery);
                }
                Ok(r) => {
                    tracing::error!(compound_id = %r.compound_id(), step = r.step, "record not addressed to {name}; dropping it");
                    delivery.term().await;
                }
                Err(e) => {
                    tracing::error!(subject = delivery.subject(), error = %e, "undecodable record; dropping it");
                    delivery.term().await;
                }
            }
        }
        if records.is_empty() {
            return;
        }
        let expected = records.len();
        let mut enriched = self.adapter.enrich(records).await;
        if enriched.len() != expected {
            tracing::error!(adapter = %name, expected, got = enriched.len(), "adapter returned a different number of records; redelivering the batch");
            for d in held {
                d.nak(Some(Duration::from_secs(5))).await;
            }
            return;
        }
        let provenance = self.adapter.provenance();
        let publishes = enriched.iter_mut().map(|record| {
            record.provenance.insert(name.as_str().to_owned(), provenance.clone());
            record.advance();
            tracing::debug!(trace_id = %record.trace_id, compound_id = %record.compound_id(), step = record.step, "forwarding");
            publish_record(&self.js, &self.topology, record)
        });
        let results = futures::future::join_all(publishes).await;
        for (delivery, result) in held.into_iter().zip(results) {
            match result {
                Ok(()) => delivery.ack().await,
                Err(e) => {
                    tracing::warn!(adapter = %name, error = %e, "forwarding failed; the record will be redelivered");
                    delivery.nak(Some(Duration::from_secs(1))).await;
                }
            }
        }
    }
}
