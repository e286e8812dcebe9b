//! Fan-out: turning an accepted run into one compound record per SMILES on
//! the pipeline, outside the request.
//!
//! `POST /runs` stores the run and publishes one `runs.created` event. A
//! worker (in every API replica, sharing one durable consumer) takes the
//! event, reads the run's SMILES from Postgres and publishes the records in
//! chunks from a cursor kept in the run row, acknowledging the event only when
//! all are stored. If the process dies part-way, the event is redelivered and
//! the worker resumes at the cursor; records re-published inside the chunk that
//! was in flight are dropped by JetStream's message-id de-duplication (and the
//! aggregator is idempotent beyond that window). A sweep re-announces runs
//! whose event never made it (a crash between the insert and the publish, or
//! NATS down at that moment).

use crate::AppState;
use async_nats::jetstream::{self, message::PublishMessage};
use pharmforge_core::adapter::publish_record;
use pharmforge_core::config::{env_millis, env_parse, ConsumerSettings, NatsSettings};
use pharmforge_core::consume::{consume_batches, Delivery};
use pharmforge_core::{AdapterName, CompoundRecord, RunId, Shutdown};
use pharmforge_store as store;
use std::time::Duration;

/// Records published before the cursor is saved and the event's ack deadline
/// extended.
const CHUNK: usize = 2_000;

/// Publishes the `runs.created` event of a stored run. Failure is logged, not
/// returned: the sweep will announce the run again.
pub async fn announce(state: &AppState, run_id: &RunId) {
    let Some(js) = state.jetstream.get() else {
        tracing::warn!(run_id = %run_id, "NATS not connected yet; the fan-out sweep will pick this run up");
        return;
    };
    let publish = async {
        let msg = PublishMessage::build().payload(run_id.as_str().to_owned().into()).message_id(format!("created.{run_id}"));
        js.send_publish(state.topology.run_created_subject(), msg).await?.await?;
        Ok::<_, async_nats::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(2), publish).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(run_id = %run_id, error = %e, "run event not published; the fan-out sweep will retry"),
        Err(_) => tracing::warn!(run_id = %run_id, "run event publish timed out; the fan-out sweep will retry"),
    }
}

/// Tells every adapter replica that a run is cancelled. A failure is logged:
/// the run is cancelled in Postgres regardless, and the fan-out stops at its
/// next chunk; only compounds already on the pipeline would still be enriched.
pub async fn announce_cancel(state: &AppState, run_id: &RunId) {
    let Some(js) = state.jetstream.get() else {
        tracing::warn!(run_id = %run_id, "NATS not connected; adapters will not hear of this cancellation");
        return;
    };
    if let Err(e) = pharmforge_core::cancel::announce(js, &state.topology, run_id.as_str()).await {
        tracing::warn!(run_id = %run_id, error = %e, "cancellation not announced to the adapters");
    }
}

/// Connects to NATS (retrying), sets up the topology, then runs the fan-out
/// worker and the sweep until shutdown.
pub async fn start(state: AppState, nats: NatsSettings, shutdown: Shutdown) {
    let Some(client) = pharmforge_core::nats::connect(&nats, "api", &shutdown).await else {
        return;
    };
    let js = jetstream::new(client);
    if !state.topology.ensure_with_retry(&js, &shutdown).await {
        return;
    }
    let _ = state.jetstream.set(js.clone());
    tokio::spawn(sweep(state.clone(), shutdown.clone()));
    let consumer = loop {
        let consumer = async {
            js.get_stream(state.topology.runs_stream()).await?.get_consumer(&state.topology.fanout_consumer()).await
        };
        match consumer.await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "fan-out consumer unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait() => return,
                }
            }
        }
    };
    let settings = ConsumerSettings {
        batch_size: 1,
        concurrency: 2,
        shutdown_grace: Duration::from_secs(10),
        call_timeout: Duration::MAX,
        max_deliveries: i64::MAX,
    };
    let stopping = shutdown.clone();
    let client = js.client();
    let result = consume_batches(consumer, &settings, shutdown, move |batch| {
        let (state, js, stopping) = (state.clone(), js.clone(), stopping.clone());
        async move {
            for delivery in batch {
                fan_out(&state, &js, delivery, &stopping).await;
            }
        }
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "fan-out worker stopped");
    }
    // Send the last acks and hand-backs before the process exits.
    client.flush().await.ok();
}

async fn fan_out(state: &AppState, js: &jetstream::Context, event: Delivery, stopping: &Shutdown) {
    let Ok(run_id) = std::str::from_utf8(event.payload()).map_err(|_| ()).and_then(|s| RunId::parse(s.trim()).map_err(|_| ())) else {
        tracing::error!("malformed run event; dropping it");
        return event.term().await;
    };
    match publish_compounds(state, js, &run_id, &event, stopping).await {
        Ok(()) => event.ack().await,
        Err(e) => {
            tracing::warn!(run_id = %run_id, error = %e, "fan-out interrupted; it will resume from its cursor");
            event.nak(Some(Duration::from_secs(1))).await;
        }
    }
}

async fn publish_compounds(
    state: &AppState,
    js: &jetstream::Context,
    run_id: &RunId,
    event: &Delivery,
    stopping: &Shutdown,
) -> Result<(), async_nats::Error> {
    let Some(run) = store::fanout_state(&state.pool, run_id.as_str()).await? else {
        tracing::info!(run_id = %run_id, "run deleted before its fan-out");
        return Ok(());
    };
    if run.completed || run.status == "cancelled" {
        return Ok(());
    }
    let route: Vec<AdapterName> = run.adapter_sequence.iter().filter_map(|a| AdapterName::parse(a)).collect();
    let start = run.published.max(0) as usize;
    tracing::info!(run_id = %run_id, compounds = run.input_smiles.len(), from = start, "fanning out");
    let mut published = start;
    for chunk in run.input_smiles[start..].chunks(CHUNK) {
        let publishes = chunk.iter().enumerate().map(|(i, smiles)| {
            let record = CompoundRecord::new(run_id.as_str(), (published + i) as u32, smiles.clone(), route.clone());
            async move { publish_record(js, &state.topology, &record).await }
        });
        for result in futures::future::join_all(publishes).await {
            result?;
        }
        published += chunk.len();
        if !store::record_fanout_progress(&state.pool, run_id.as_str(), published as i32, false).await? {
            tracing::info!(run_id = %run_id, published, "run deleted or cancelled during its fan-out; stopping");
            return Ok(());
        }
        event.progress().await;
        if stopping.is_triggered() && published < run.input_smiles.len() {
            // Hand the event back: a replica (or this one restarted) resumes here.
            return Err(format!("stopping after {published} compounds").into());
        }
    }
    store::record_fanout_progress(&state.pool, run_id.as_str(), published as i32, true).await?;
    tracing::info!(run_id = %run_id, compounds = published, "fan-out complete");
    Ok(())
}

/// Every `FANOUT_SWEEP_MS`, announces again the runs accepted more than
/// `FANOUT_SWEEP_AGE_MS` ago whose fan-out has not finished, provided no run
/// event is waiting in the stream (one that is, is being handled).
async fn sweep(state: AppState, shutdown: Shutdown) {
    let every = env_millis("FANOUT_SWEEP_MS", 5_000).unwrap_or(Duration::from_secs(5));
    let age = env_parse("FANOUT_SWEEP_AGE_MS", 10_000u64).unwrap_or(10_000) as f64 / 1000.0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
        let Some(js) = state.jetstream.get() else { continue };
        let waiting = match js.get_stream(state.topology.runs_stream()).await {
            Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(1),
            Err(_) => 1,
        };
        if waiting > 0 {
            continue;
        }
        match store::runs_awaiting_fanout(&state.pool, age).await {
            Ok(runs) => {
                for raw in runs {
                    if let Ok(run_id) = RunId::parse(&raw) {
                        tracing::warn!(run_id = %run_id, "run without a pending fan-out event; announcing it again");
                        let msg = PublishMessage::build().payload(raw.clone().into());
                        if let Err(e) = async { js.send_publish(state.topology.run_created_subject(), msg).await?.await }.await {
                            tracing::warn!(run_id = %run_id, error = %e, "re-announce failed");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "fan-out sweep cannot read Postgres"),
        }
    }
}
