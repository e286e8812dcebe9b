//! The aggregator: the only writer of progress and results. It consumes every
//! record on `pipeline.>` (each one marks a compound passing a stage), applies
//! them to Postgres in batches (one transaction each, idempotent; see
//! `pharmforge_store::aggregate`) and acknowledges them only once committed. It
//! also runs the database migrations at start. A record of a compound still
//! on its way is held back briefly (`hold`), so that a compound passing its
//! stages quickly is written once, not once per stage.

pub mod hold;

use hold::{Hold, Pending};
use pharmforge_core::config::{ConfigError, ConsumerSettings, NatsSettings};
use pharmforge_core::consume::{consume_batches, Delivery};
use pharmforge_core::record::headers;
use pharmforge_core::{CompoundRecord, RunId, Shutdown, Topology};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tells the API replicas which runs a commit changed (core NATS, at most
/// once: a listener also re-reads its run every second, so a lost note
/// only delays an event).
#[derive(Clone)]
struct RunEvents {
    client: async_nats::Client,
    topology: Topology,
}

impl RunEvents {
    async fn changed<'a>(&self, run_ids: impl IntoIterator<Item = &'a RunId>) {
        let mut seen = std::collections::HashSet::new();
        for run_id in run_ids.into_iter().filter(|r| seen.insert(*r)) {
            if let Err(e) = self.client.publish(self.topology.run_events_subject(run_id), bytes::Bytes::new()).await {
                tracing::debug!(error = %e, "could not announce a run's progress");
            }
        }
    }
}

/// Payload bytes of held records past which all of them are written at once.
const HOLD_MAX_BYTES: usize = 32 << 20;

#[derive(Debug, Clone)]
pub struct Settings {
    pub nats: NatsSettings,
    pub database_url: String,
    pub consumer: ConsumerSettings,
    /// `AGGREGATOR_HOLD_MS` (500; 0 writes every stage as it comes): how
    /// long a record of an unfinished compound may wait for the compound's
    /// next stage before it is written. Kept under a quarter of the ack wait.
    pub hold: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Settings {
            nats: NatsSettings::from_env()?,
            database_url: pharmforge_store::database_url(),
            // 500 records a transaction, two transactions in flight: about
            // 100 MB of records with ADMET sections held at most (1,000 took
            // the aggregator past 200 MB in the load benchmark).
            // Its own names: ADAPTER_BATCH_SIZE, set for the adapters (a
            // shared ConfigMap), must not resize the aggregator's transactions.
            consumer: ConsumerSettings::from_env_vars("AGGREGATOR_BATCH_SIZE", "AGGREGATOR_CONCURRENCY", 500, 2)?,
            hold: pharmforge_core::config::env_millis("AGGREGATOR_HOLD_MS", 500)?,
        })
    }

    /// Every variable [`Settings::from_env`] reads, for `--help`.
    pub fn vars() -> Vec<pharmforge_core::config::EnvVar> {
        use pharmforge_core::config::{consumer_vars, service_vars, EnvVar};
        let mut vars = service_vars();
        vars.push(EnvVar::new("DATABASE_URL", pharmforge_store::DEFAULT_DATABASE_URL, "Postgres"));
        vars.extend(consumer_vars("AGGREGATOR_BATCH_SIZE", "AGGREGATOR_CONCURRENCY", 500, "2"));
        vars.push(EnvVar::new(
            "AGGREGATOR_HOLD_MS",
            500,
            "how long the record of a compound still on its way may be held for its next stage, so it is written once (0: every stage)",
        ));
        vars
    }
}

pub async fn run(settings: Settings, shutdown: Shutdown) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Writing results is background work: on a shared host it may yield to
    // the API's reads, like the adapters.
    // Probes and metrics first: alive while connecting, ready once consuming.
    let health = pharmforge_core::metrics::Health::start(&shutdown);
    match pharmforge_core::config::apply_nice_from_env() {
        Ok(0) => {}
        Ok(nice) => tracing::info!(nice, "running at lowered CPU priority"),
        Err(e) => tracing::warn!(error = %e, "CPU priority unchanged"),
    }
    let Some(pool) = pharmforge_store::connect(&settings.database_url, 8, &shutdown).await? else {
        return Ok(());
    };
    migrate_with_retry(&pool, &shutdown).await;
    let Some(client) = pharmforge_core::nats::connect(&settings.nats, "aggregator", &shutdown).await else {
        return Ok(());
    };
    let js = async_nats::jetstream::new(client.clone());
    let topology = Topology::for_settings(&settings.nats);
    if !topology.ensure_with_retry(&js, &shutdown).await {
        return Ok(());
    }
    let consumer = js.get_stream(topology.pipeline_stream()).await?.get_consumer(&topology.aggregator_consumer()).await?;
    let dead_letters = js.get_stream(topology.dead_letter_stream()).await?.get_consumer(&topology.aggregator_dead_letter_consumer()).await?;
    tracing::info!("aggregator consuming");
    let pool = Arc::new(pool);
    let events = RunEvents { client: client.clone(), topology: topology.clone() };
    let lost = {
        let (pool, events) = (pool.clone(), events.clone());
        let settings = settings.consumer.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume_batches(dead_letters, &settings, shutdown, move |batch| {
                let (pool, events) = (pool.clone(), events.clone());
                async move { record_lost(&pool, &events, batch).await }
            })
            .await
        })
    };
    let hold = Arc::new(Hold::new(settings.hold.min(topology.ack_wait / 4), HOLD_MAX_BYTES));
    let flusher = {
        let (pool, hold, shutdown, events) = (pool.clone(), hold.clone(), shutdown.clone(), events.clone());
        tokio::spawn(async move {
            let tick = (hold.max_age() / 2).max(Duration::from_millis(10));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(tick) => write(&pool, &events, hold.take_aged(Instant::now())).await,
                    _ = shutdown.wait() => break,
                }
            }
        })
    };
    {
        let (pool, hold, events) = (pool.clone(), hold.clone(), events.clone());
        health.set_ready(true);
        let consumed = consume_batches(consumer, &settings.consumer, shutdown, move |batch| {
            let (pool, hold, events) = (pool.clone(), hold.clone(), events.clone());
            async move { apply(&pool, &events, &hold, batch).await }
        })
        .await;
        health.ended(&consumed);
        consumed?;
    }
    // What was still held is written before stopping (or handed back).
    let _ = flusher.await;
    write(&pool, &events, hold.take_all()).await;
    if let Ok(Err(e)) = lost.await {
        tracing::warn!(error = %e, "dead-letter consumer stopped on an error");
    }
    // The last acks and hand-backs are only queued on the connection: send
    // them before exiting, or the server would redeliver after the ack wait.
    client.flush().await.ok();
    tracing::info!("aggregator stopped");
    Ok(())
}

/// The deploy step: waits for Postgres (`DATABASE_URL`), applies the
/// migrations not yet applied, once, and returns. A failure is the caller's
/// to report (a Job retries it); another migrator at the same moment waits
/// on sqlx's advisory lock.
pub async fn migrate(settings: &Settings, shutdown: Shutdown) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(pool) = pharmforge_store::connect(&settings.database_url, 1, &shutdown).await? else {
        return Err("stopped before Postgres answered".into());
    };
    pharmforge_store::MIGRATOR.run(&pool).await?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await?;
    tracing::info!(applied, "database migrated");
    Ok(())
}

async fn migrate_with_retry(pool: &PgPool, shutdown: &Shutdown) {
    shutdown.retry("migrations failed", || pharmforge_store::MIGRATOR.run(pool)).await;
}

/// Decodes one batch and writes what the hold lets through.
async fn apply(pool: &PgPool, events: &RunEvents, hold: &Hold<Delivery>, batch: Vec<Delivery>) {
    let mut admitted = Vec::with_capacity(batch.len());
    for delivery in batch {
        // A record at step 0 has passed no stage yet: nothing to record.
        if delivery.header(headers::STEP) == Some("0") {
            delivery.ack().await;
            continue;
        }
        match CompoundRecord::decode(delivery.payload()) {
            Ok(r) if r.step > 0 => {
                tracing::debug!(trace_id = %r.trace_id, compound_id = %r.compound_id(), step = r.step, "recording");
                let bytes = delivery.payload().len();
                admitted.push((r, delivery, bytes));
            }
            Ok(_) => delivery.ack().await,
            Err(e) => {
                tracing::error!(subject = delivery.subject(), error = %e, "undecodable record; dropping it");
                delivery.term().await;
            }
        }
    }
    if !admitted.is_empty() {
        write(pool, events, hold.admit(admitted, Instant::now())).await;
    }
}

/// Writes records in one transaction; acks every message they answer for
/// only after it committed, NAKs them (for redelivery) when Postgres is
/// unavailable. When Postgres refuses the batch for a reason that would not
/// change on a retry (a value it cannot store), the records are written one
/// by one, so the others go through and only the culprit is dealt with.
async fn write(pool: &PgPool, events: &RunEvents, ready: Vec<Pending<Delivery>>) {
    if ready.is_empty() {
        return;
    }
    let (records, groups): (Vec<CompoundRecord>, Vec<Vec<Delivery>>) = ready.into_iter().map(|p| (p.record, p.deliveries)).unzip();
    let run_ids: Vec<RunId> = records.iter().map(|r| r.run_id.clone()).collect();
    write_records(pool, records, groups).await;
    events.changed(&run_ids).await;
}

async fn write_records(pool: &PgPool, records: Vec<CompoundRecord>, groups: Vec<Vec<Delivery>>) {
    let (rows, started) = (records.len() as u64, Instant::now());
    // The write of each message (a stage of a compound) is a span of the
    // compound's trace, a child of the hop that published it; the commit
    // has a span of its own, linked to them.
    let hops: Vec<opentelemetry::Context> = groups
        .iter()
        .flatten()
        .map(|d| pharmforge_core::trace_hop::start("aggregator", &d.trace_context(), opentelemetry::trace::SpanKind::Consumer, Vec::new()))
        .collect();
    let commit = pharmforge_core::trace_hop::start_batch("aggregator commit", &hops, vec![opentelemetry::KeyValue::new("pharmforge.rows", rows as i64)]);
    let applied = pharmforge_store::aggregate::apply_batch(pool, records).await;
    metrics::histogram!("pharmforge_aggregator_commit_duration_seconds").record(started.elapsed().as_secs_f64());
    let failure = applied.as_ref().err().map(ToString::to_string);
    for cx in hops.iter().chain([&commit]) {
        if let Some(why) = &failure {
            pharmforge_core::trace_hop::fail(cx, why);
        }
        pharmforge_core::trace_hop::end(cx);
    }
    match applied {
        Ok(outcome) => {
            metrics::counter!("pharmforge_aggregator_rows_total").increment(rows);
            for run_id in &outcome.finished_runs {
                tracing::info!(run_id = %run_id, "run finished");
            }
            if outcome.duplicates > 0 || outcome.orphans > 0 {
                tracing::debug!(duplicates = outcome.duplicates, orphans = outcome.orphans, "batch had records already applied or of deleted runs");
            }
            Delivery::ack_all(groups.into_iter().flatten()).await;
        }
        Err(e) if refused_for_good(&e) => {
            tracing::warn!(error = %e, records = groups.len(), "Postgres refused the batch for a reason a retry would not change; writing its records one by one");
            for deliveries in groups {
                write_alone(pool, deliveries).await;
            }
        }
        Err(e) => {
            // Back off with the number of attempts, up to 30 s: Postgres is
            // down or restarting, and the records wait in JetStream meanwhile.
            let held: Vec<Delivery> = groups.into_iter().flatten().collect();
            let attempts = held.iter().map(Delivery::delivered).max().unwrap_or(1).clamp(1, 30) as u64;
            tracing::warn!(error = %e, records = held.len(), retry_in_s = attempts, "cannot write to Postgres; the batch will be redelivered");
            Delivery::nak_all(held, Some(Duration::from_secs(attempts))).await;
        }
    }
}

/// A data exception (class 22: a value too long, out of range, an
/// unsupported character) or an integrity violation (class 23): the same
/// records would be refused again, however often they came.
fn refused_for_good(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        _ => false,
    }
}

/// Writes one compound's record (the furthest of its messages). If Postgres
/// refuses even that, the compound is recorded as failed at the stage it
/// came from, without the sections it brought, with why; so its run still
/// finishes and nothing else waits on it.
async fn write_alone(pool: &PgPool, deliveries: Vec<Delivery>) {
    let record = deliveries.iter().filter_map(|d| serde_json::from_slice::<CompoundRecord>(d.payload()).ok()).max_by_key(|r| r.step);
    let Some(record) = record else {
        return Delivery::ack_all(deliveries).await;
    };
    let refusal = match pharmforge_store::aggregate::apply_batch(pool, vec![record.clone()]).await {
        Ok(_) => return Delivery::ack_all(deliveries).await,
        Err(e) if refused_for_good(&e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "cannot write to Postgres; the record will be redelivered");
            return Delivery::nak_all(deliveries, Some(Duration::from_secs(5))).await;
        }
    };
    let Some(stage) = record.step.checked_sub(1).and_then(|s| record.route.get(s as usize)).copied() else {
        tracing::error!(compound_id = %record.compound_id(), error = %refusal, "a record Postgres refuses, at no stage; dropping it");
        return Delivery::ack_all(deliveries).await;
    };
    tracing::error!(compound_id = %record.compound_id(), trace_id = %record.trace_id, stage = %stage, error = %refusal, "Postgres refuses this compound's result; recording it as failed");
    let mut failed = CompoundRecord::new(&record.run_id, record.index, record.smiles.clone(), record.route.clone());
    // At the stage it came from, failed there: advancing skips the rest.
    failed.step = record.step - 1;
    failed.errors = record.errors.clone();
    failed.trace_id = record.trace_id.chars().filter(char::is_ascii_hexdigit).take(32).collect();
    failed.set_fatal(stage, format!("the {stage} result could not be stored: {refusal}"));
    failed.advance();
    match pharmforge_store::aggregate::apply_batch(pool, vec![failed]).await {
        Ok(_) => Delivery::ack_all(deliveries).await,
        Err(e) if refused_for_good(&e) => {
            tracing::error!(compound_id = %record.compound_id(), error = %e, "even the failure record is refused; dropping the compound's record");
            Delivery::ack_all(deliveries).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot write to Postgres; the record will be redelivered");
            Delivery::nak_all(deliveries, Some(Duration::from_secs(5))).await
        }
    }
}

/// Dead letters whose record was lost (undecodable): the compound is
/// recorded as failed at that adapter, so its run still finishes. Other dead
/// letters carry a record that was forwarded with its error; nothing to do.
async fn record_lost(pool: &PgPool, events: &RunEvents, batch: Vec<Delivery>) {
    use pharmforge_core::adapter::dead_letter_headers as h;
    let mut records = Vec::new();
    let mut held = Vec::new();
    for delivery in batch {
        let lost = delivery.header(h::LOST_COMPOUND).and_then(|v| {
            let (run, index) = v.split_once('/')?;
            Some((RunId::parse(run).ok()?, index.parse::<u32>().ok()?))
        });
        let adapter = delivery.header(h::ADAPTER).and_then(pharmforge_core::AdapterName::parse);
        let (Some((run_id, index)), Some(adapter)) = (lost, adapter) else {
            delivery.ack().await;
            continue;
        };
        let reason = delivery.header(h::REASON).unwrap_or("dead-lettered").to_owned();
        match pharmforge_store::runs::lost_compound_record(pool, &run_id, index, adapter, &reason).await {
            Ok(Some(record)) => {
                tracing::warn!(run_id = %run_id, index, adapter = %adapter, reason = %reason, "recording a compound whose record was lost as failed");
                records.push(record);
                held.push(delivery);
            }
            Ok(None) => delivery.ack().await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the run of a dead letter; retrying");
                delivery.nak(Some(Duration::from_secs(5))).await;
            }
        }
    }
    if records.is_empty() {
        return;
    }
    let run_ids: Vec<RunId> = records.iter().map(|r| r.run_id.clone()).collect();
    match pharmforge_store::aggregate::apply_batch(pool, records).await {
        Ok(_) => {
            Delivery::ack_all(held).await;
            events.changed(&run_ids).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot write to Postgres; the dead letters will be redelivered");
            Delivery::nak_all(held, Some(Duration::from_secs(5))).await;
        }
    }
}
