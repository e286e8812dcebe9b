//! The adapter runtime: consume → enrich → forward, with acks, redelivery and
//! shutdown in one place, so an adapter service is only its enrichment logic.
//!
//! A batch is acknowledged only after every record of it has been stored by
//! JetStream on its next subject; if the service dies before that, the batch is
//! redelivered and the re-publish is dropped by message-id de-duplication.

use crate::cancel::CancelledRuns;
use crate::config::{ConsumerSettings, NatsSettings};
use crate::consume::{consume_batches_sized, Delivery};
use crate::ids::AdapterName;
use crate::record::CompoundRecord;
use crate::shutdown::Shutdown;
use crate::topology::Topology;
use async_nats::jetstream::{self, message::PublishMessage as Publish};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often a batch still being enriched is reported in progress to JetStream.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// An enrichment step: a batch of attempts in, one outcome per attempt out,
/// in the same order. Each forwarded record has its section set
/// (`CompoundRecord::set_section`) or an error recorded (`set_error`, or
/// `set_fatal` when the compound cannot go on); a record may instead be
/// handed back for later ([`Outcome::Retry`]: NAK with that delay, so the
/// back-off happens in JetStream, not on a held message).
pub trait Adapter: Send + Sync + 'static {
    fn name(&self) -> AdapterName;
    /// What produced the section, for the run's lockfile: name, version and the
    /// engine it ran on, e.g. `rdkit_local 0.1.0 (RDKit 2022.09.3)`.
    fn provenance(&self) -> String;
    fn enrich(&self, batch: Vec<Attempt>) -> impl Future<Output = Vec<Outcome>> + Send;

    /// Records to pull for the next batch, given the configured size
    /// (`ADAPTER_BATCH_SIZE`). Adapters whose cost per record varies widely
    /// (a cache hit or a rate-limited request) may ask for more while their
    /// work is cheap; the default is the configured size.
    fn batch_size(&self, configured: usize) -> usize {
        configured
    }
}

/// A record handed to [`Adapter::enrich`], with its delivery count.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub record: CompoundRecord,
    /// 1 on the first delivery.
    pub delivered: i64,
}

impl Attempt {
    /// The records of a batch, for adapters that never retry.
    pub fn records(batch: Vec<Attempt>) -> Vec<CompoundRecord> {
        batch.into_iter().map(|a| a.record).collect()
    }
}

/// A CPU-bound adapter's `enrich`: `enrich_one` on each record, on tokio's
/// blocking pool (so that `ADAPTER_CONCURRENCY` batches in flight use every
/// core), every record forwarded. `enrich_one` catches its own panics, per
/// record; a join error then means the runtime is shutting down: nothing is
/// returned and the batch is redelivered.
pub async fn enrich_each_blocking(batch: Vec<Attempt>, enrich_one: fn(&mut CompoundRecord)) -> Vec<Outcome> {
    let handle = tokio::task::spawn_blocking(move || {
        let mut batch = Attempt::records(batch);
        batch.iter_mut().for_each(enrich_one);
        Outcome::forward_all(batch)
    });
    handle.await.unwrap_or_default()
}

/// Runs `adapter` over `records` outside the runtime (tests, benchmarks), each
/// as its last allowed attempt, so the adapter never asks for a retry: what
/// would have been retried comes back with its error.
pub async fn enrich_records<A: Adapter>(adapter: &A, records: Vec<CompoundRecord>) -> Vec<CompoundRecord> {
    let attempts = records.into_iter().map(|record| Attempt { record, delivered: i64::MAX }).collect();
    let outcomes = adapter.enrich(attempts).await;
    outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Forward(r) => r,
            Outcome::Retry(_) => panic!("{} asked to retry a record on its last attempt", adapter.name()),
        })
        .collect()
}

/// What an adapter did with one record.
// A record is moved in and out of its outcome once; boxing it would cost an
// allocation per record for the rare small variants' sake.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Enriched (or carrying its error): forward it to its next stage.
    Forward(CompoundRecord),
    /// Not done yet: hand the message back to JetStream, redelivered after this delay.
    Retry(Duration),
}

impl Outcome {
    /// Every record forwarded, for adapters that never retry.
    pub fn forward_all(records: Vec<CompoundRecord>) -> Vec<Outcome> {
        records.into_iter().map(Outcome::Forward).collect()
    }
}

/// Publishes a record to the subject of its current step, with its message id
/// and the trace context of `cx` (the hop that publishes it); resolves once
/// JetStream has stored it.
pub async fn publish_record(
    js: &jetstream::Context,
    topology: &Topology,
    record: &CompoundRecord,
    cx: &opentelemetry::Context,
) -> Result<(), async_nats::Error> {
    let payload = serde_json::to_vec(record)?;
    let ack = js.send_publish(topology.subject_for(record), Publish::build().payload(payload.into()).headers(record.headers_in(cx))).await?;
    ack.await?;
    Ok(())
}

/// Runs an adapter service until shutdown.
pub async fn run_adapter<A: Adapter>(adapter: A, nats: NatsSettings, settings: ConsumerSettings, shutdown: Shutdown) -> Result<(), async_nats::Error> {
    run_adapter_built(adapter.name(), nats, settings, shutdown, |_| async move { Some(adapter) }).await
}

/// [`run_adapter`] for an adapter built on the service's NATS connection
/// (the web adapters' shared rate limit and cache): `build` gets the one
/// connection the process uses, once the JetStream topology is ready;
/// `None` from it (shutdown came while it set up) ends the service.
pub async fn run_adapter_built<A, F, Fut>(
    name: AdapterName,
    nats: NatsSettings,
    settings: ConsumerSettings,
    shutdown: Shutdown,
    build: F,
) -> Result<(), async_nats::Error>
where
    A: Adapter,
    F: FnOnce(async_nats::Client) -> Fut,
    Fut: std::future::Future<Output = Option<A>>,
{
    // Probes and metrics first: alive while connecting, ready once consuming.
    let health = crate::metrics::Health::start(&shutdown);
    match crate::config::apply_nice_from_env() {
        Ok(0) => {}
        Ok(nice) => tracing::info!(adapter = %name, nice, "running at lowered CPU priority"),
        Err(e) => tracing::warn!(adapter = %name, error = %e, "CPU priority unchanged"),
    }
    let Some(client) = crate::nats::connect(&nats, name.as_str(), &shutdown).await else {
        return Ok(());
    };
    let js = jetstream::new(client.clone());
    let topology = Topology::for_settings(&nats);
    if !topology.wait_ready(&js, &shutdown, name.as_str()).await {
        return Ok(());
    }
    let Some(adapter) = build(client.clone()).await else {
        return Ok(());
    };
    assert_eq!(adapter.name(), name, "the adapter built is the one named");
    let consumer = js.get_stream(topology.pipeline_stream()).await?.get_consumer(&topology.adapter_consumer(name)).await?;
    tracing::info!(
        adapter = %name,
        provenance = %adapter.provenance(),
        batch = settings.batch_size,
        concurrency = settings.concurrency,
        time_limit_ms = settings.call_timeout.as_millis() as u64,
        max_deliveries = settings.max_deliveries,
        "adapter consuming"
    );
    let cancelled = CancelledRuns::watch(js.clone(), topology.clone(), shutdown.clone()).await;
    let counters = Arc::new(crate::heartbeat::Counters::default());
    let beats = {
        let (counters, provenance, started_at_ms) = (counters.clone(), adapter.provenance(), crate::now_ms());
        let (instance, batch_size, concurrency) = (crate::heartbeat::instance_name(), settings.batch_size, settings.concurrency);
        let make = move || crate::heartbeat::Heartbeat {
            adapter: name,
            instance: instance.clone(),
            provenance: provenance.clone(),
            started_at_ms,
            forwarded: counters.forwarded.load(std::sync::atomic::Ordering::Relaxed),
            errors: counters.errors.load(std::sync::atomic::Ordering::Relaxed),
            batch_size,
            concurrency,
            stopping: false,
        };
        tokio::spawn(crate::heartbeat::beat(client.clone(), topology.heartbeat_subject(name), make, shutdown.clone()))
    };
    let ctx = Arc::new(AdapterContext { adapter, js, topology, cancelled, settings: settings.clone(), counters });
    let sizer = ctx.clone();
    let configured = settings.batch_size;
    health.set_ready(true);
    let consumed = consume_batches_sized(
        consumer,
        &settings,
        move || sizer.adapter.batch_size(configured),
        shutdown,
        move |batch| {
            let ctx = ctx.clone();
            async move { ctx.process(batch).await }
        },
    )
    .await;
    health.ended(&consumed);
    consumed?;
    let _ = beats.await;
    client.flush().await.ok();
    tracing::info!(adapter = %name, "adapter stopped");
    Ok(())
}

struct AdapterContext<A> {
    adapter: A,
    js: jetstream::Context,
    topology: Topology,
    cancelled: CancelledRuns,
    settings: ConsumerSettings,
    /// What the heartbeat reports.
    counters: Arc<crate::heartbeat::Counters>,
}

/// Headers of a dead letter.
pub mod dead_letter_headers {
    /// Why the adapter gave the message up.
    pub const REASON: &str = "Pharmforge-Reason";
    pub const ADAPTER: &str = "Pharmforge-Adapter";
    pub const DELIVERIES: &str = "Pharmforge-Deliveries";
    /// `run_id/index` of a compound whose record was lost with the message
    /// (undecodable): the aggregator records that compound as failed.
    pub const LOST_COMPOUND: &str = "Pharmforge-Lost-Compound";
}

/// The run id and compound index a message id (`run.index.step`) names.
pub fn compound_of_message_id(id: &str) -> Option<(crate::ids::RunId, u32)> {
    let mut parts = id.split('.');
    let run = crate::ids::RunId::parse(parts.next()?).ok()?;
    let index = parts.next()?.parse().ok()?;
    Some((run, index))
}

impl<A: Adapter> AdapterContext<A> {
    async fn process(&self, batch: Vec<Delivery>) {
        let name = self.adapter.name();
        let mut fresh = Vec::with_capacity(batch.len());
        let mut again = Vec::new();
        let waited = ::metrics::histogram!("pharmforge_record_wait_seconds", "adapter" => name.as_str());
        for delivery in batch {
            if let Some(w) = delivery.waited() {
                waited.record(w.as_secs_f64());
            }
            match CompoundRecord::decode(delivery.payload()) {
                Ok(mut r) if r.current_adapter() == Some(name) && self.cancelled.contains(&r.run_id) => {
                    // The run was cancelled: skip the adapter, record the compound as cancelled.
                    r.cancel();
                    match publish_record(&self.js, &self.topology, &r, &delivery.trace_context()).await {
                        Ok(()) => delivery.ack().await,
                        Err(_) => delivery.nak(Some(Duration::from_secs(1))).await,
                    }
                }
                Ok(mut r) if r.current_adapter() == Some(name) && delivery.delivered() > self.settings.max_deliveries => {
                    let reason = format!(
                        "{name} gave up on this compound after {} deliveries: it crashed, overran its time limit or asked to retry every time",
                        delivery.delivered() - 1
                    );
                    tracing::error!(adapter = %name, compound_id = %r.compound_id(), trace_id = %r.trace_id, "{reason}; dead-lettered");
                    if self.dead_letter(&delivery, &reason, None).await.is_err() {
                        delivery.nak(Some(Duration::from_secs(5))).await;
                        continue;
                    }
                    r.set_error(name, reason.clone());
                    let hop = self.hop(&delivery, &r);
                    crate::trace_hop::fail(&hop, &reason);
                    self.forward(vec![(delivery, r, hop)]).await;
                }
                Ok(r) if r.current_adapter() == Some(name) => {
                    let attempt = Attempt { record: r, delivered: delivery.delivered() };
                    if attempt.delivered > 1 {
                        again.push((delivery, attempt));
                    } else {
                        fresh.push((delivery, attempt));
                    }
                }
                Ok(r) => {
                    tracing::error!(compound_id = %r.compound_id(), step = r.step, "record not addressed to {name}; dropping it");
                    delivery.term().await;
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::error!(adapter = %name, subject = delivery.subject(), error = %e, "undecodable record; dead-lettered");
                    let lost = delivery.header(crate::record::headers::MSG_ID).and_then(compound_of_message_id);
                    match self.dead_letter(&delivery, &reason, lost).await {
                        Ok(()) => delivery.term().await,
                        Err(_) => delivery.nak(Some(Duration::from_secs(5))).await,
                    }
                }
            }
        }
        // Records delivered before may be what broke the last attempt (a
        // crash or an overrun): each goes alone, so it cannot sink others.
        let solo = again.into_iter().map(|one| self.call(vec![one]));
        let batch = async {
            if !fresh.is_empty() {
                self.call(fresh).await;
            }
        };
        futures::future::join(batch, futures::future::join_all(solo)).await;
    }

    /// This adapter's span for one record: a child of the hop before it.
    fn hop(&self, delivery: &Delivery, record: &CompoundRecord) -> opentelemetry::Context {
        use opentelemetry::trace::TraceContextExt;
        let cx = crate::trace_hop::start(self.adapter.name().as_str(), &delivery.trace_context(), opentelemetry::trace::SpanKind::Consumer, Vec::new());
        let span = cx.span();
        if span.is_recording() {
            span.set_attribute(opentelemetry::KeyValue::new("pharmforge.run_id", record.run_id.to_string()));
            span.set_attribute(opentelemetry::KeyValue::new("pharmforge.compound_index", i64::from(record.index)));
            span.set_attribute(opentelemetry::KeyValue::new("pharmforge.delivery", delivery.delivered()));
        }
        cx
    }

    /// One adapter call over `work`, within the time limit, then forwarding.
    async fn call(&self, work: Vec<(Delivery, Attempt)>) {
        let name = self.adapter.name();
        let (held, records): (Vec<Delivery>, Vec<Attempt>) = work.into_iter().unzip();
        let expected = records.len();
        // A span per record (its trace) and one for the batch, linked to them.
        let hops: Vec<opentelemetry::Context> = held.iter().zip(&records).map(|(d, a)| self.hop(d, &a.record)).collect();
        let batch_span = crate::trace_hop::start_batch(
            format!("{} batch", name.as_str()),
            &hops,
            vec![opentelemetry::KeyValue::new("pharmforge.batch_size", expected as i64)],
        );
        let settle_spans = |why: Option<&str>| {
            for hop in &hops {
                if let Some(why) = why {
                    crate::trace_hop::fail(hop, why);
                }
                crate::trace_hop::end(hop);
            }
            crate::trace_hop::end(&batch_span);
        };
        let solo_record = (expected == 1).then(|| records[0].record.clone());
        let limit = self.settings.call_timeout;
        // Slow adapters (rate-limited web clients) may hold a batch longer than
        // the consumer's ack wait: tell JetStream the work is in progress.
        let started = std::time::Instant::now();
        let outcomes = {
            let work = tokio::time::timeout(limit, self.adapter.enrich(records));
            tokio::pin!(work);
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    out = &mut work => break out,
                    _ = tick.tick() => {
                        for d in &held {
                            d.progress().await;
                        }
                    }
                }
            }
        };
        ::metrics::histogram!("pharmforge_batch_duration_seconds", "adapter" => name.as_str()).record(started.elapsed().as_secs_f64());
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(_) if expected > 1 => {
                // One of them may be the slow one: hand the batch back, its
                // records come again and go one by one.
                tracing::warn!(adapter = %name, records = expected, limit_ms = limit.as_millis() as u64, "batch overran the time limit; retrying its records one by one");
                settle_spans(Some("the batch overran its time limit; retried one by one"));
                Delivery::nak_all(held, None).await;
                return;
            }
            Err(_) => {
                let mut record = solo_record.expect("a call of one record");
                let message = format!("{name} abandoned: no answer within its time limit of {} ms", limit.as_millis());
                tracing::warn!(adapter = %name, compound_id = %record.compound_id(), trace_id = %record.trace_id, "{message}");
                crate::trace_hop::fail(&hops[0], &message);
                record.set_error(name, message);
                vec![Outcome::Forward(record)]
            }
        };
        if outcomes.len() != expected {
            tracing::error!(adapter = %name, expected, got = outcomes.len(), "adapter returned a different number of records; redelivering the batch");
            settle_spans(Some("the adapter returned a different number of records"));
            Delivery::nak_all(held, Some(Duration::from_secs(5))).await;
            return;
        }
        let mut forward = Vec::with_capacity(expected);
        for ((delivery, outcome), hop) in held.into_iter().zip(outcomes).zip(hops) {
            match outcome {
                Outcome::Forward(record) => {
                    if let Some(e) = record.errors.get(name.as_str()) {
                        crate::trace_hop::fail(&hop, e);
                    }
                    forward.push((delivery, record, hop))
                }
                Outcome::Retry(delay) => {
                    crate::trace_hop::fail(&hop, &format!("retried in {} ms", delay.as_millis()));
                    crate::trace_hop::end(&hop);
                    delivery.nak(Some(delay)).await
                }
            }
        }
        self.forward(forward).await;
        crate::trace_hop::end(&batch_span);
    }

    /// Publishes each record to its next stage (its trace context that of
    /// its hop here, whose span then ends), then acks its delivery.
    async fn forward(&self, work: Vec<(Delivery, CompoundRecord, opentelemetry::Context)>) {
        let name = self.adapter.name();
        let provenance = self.adapter.provenance();
        let mut held = Vec::with_capacity(work.len());
        let mut enriched = Vec::with_capacity(work.len());
        let mut hops = Vec::with_capacity(work.len());
        for (d, r, h) in work {
            held.push(d);
            enriched.push(r);
            hops.push(h);
        }
        let publishes = enriched.iter_mut().zip(&hops).map(|(record, hop)| {
            record.provenance.insert(name.as_str().to_owned(), provenance.clone());
            record.advance();
            tracing::debug!(trace_id = %record.trace_id, compound_id = %record.compound_id(), step = record.step, "forwarding");
            publish_record(&self.js, &self.topology, record, hop)
        });
        let results = futures::future::join_all(publishes).await;
        for (((delivery, result), record), hop) in held.into_iter().zip(results).zip(&enriched).zip(&hops) {
            match result {
                Ok(()) => {
                    let with_error = record.errors.contains_key(name.as_str());
                    self.counters.record(with_error);
                    records_total(name, if with_error { "error" } else { "ok" });
                    delivery.ack().await
                }
                Err(e) => {
                    tracing::warn!(adapter = %name, error = %e, "forwarding failed; the record will be redelivered");
                    crate::trace_hop::fail(hop, &format!("forwarding failed: {e}"));
                    delivery.nak(Some(Duration::from_secs(1))).await;
                }
            }
            crate::trace_hop::end(hop);
        }
    }

    /// Keeps the message on the dead-letter subject, with why; resolves once stored.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str, lost: Option<(crate::ids::RunId, u32)>) -> Result<(), async_nats::Error> {
        use dead_letter_headers as h;
        let name = self.adapter.name();
        let mut headers = async_nats::HeaderMap::new();
        // One dead letter per message and attempt count, whatever redelivery does.
        let original = delivery.header(crate::record::headers::MSG_ID).unwrap_or("no-id").to_owned();
        headers.insert(crate::record::headers::MSG_ID, format!("{}:{original}:{}", name.as_str(), delivery.delivered()).as_str());
        headers.insert(h::REASON, reason.replace(['\r', '\n'], " ").as_str());
        headers.insert(h::ADAPTER, name.as_str());
        headers.insert(h::DELIVERIES, delivery.delivered().to_string().as_str());
        if let Some(tp) = delivery.header(crate::record::headers::TRACEPARENT) {
            headers.insert(crate::record::headers::TRACEPARENT, tp);
        }
        if let Some((run, index)) = lost {
            headers.insert(h::LOST_COMPOUND, format!("{run}/{index}").as_str());
        }
        let ack = self
            .js
            .send_publish(self.topology.dead_letter_subject(name), Publish::build().payload(bytes::Bytes::copy_from_slice(delivery.payload())).headers(headers))
            .await?;
        ack.await?;
        records_total(name, "dead_lettered");
        Ok(())
    }
}

/// `pharmforge_records_total{adapter, outcome}`: `ok`, `error` (forwarded
/// with this adapter's error) or `dead_lettered`.
fn records_total(adapter: AdapterName, outcome: &'static str) {
    ::metrics::counter!("pharmforge_records_total", "adapter" => adapter.as_str(), "outcome" => outcome).increment(1);
}
