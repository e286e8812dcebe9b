//! The consume loop shared by every JetStream consumer of PharmForge: pull
//! messages continuously, hand them to a handler in batches (whatever is ready,
//! up to the batch size), with a bounded number of batches in flight; on
//! shutdown stop pulling and wait for the batches in flight.
//!
//! Every message is wrapped in a [`Delivery`] that must be settled (ack, nak or
//! term); one dropped unsettled is NAKed so it is redelivered at once instead
//! of silently waiting for its ack timeout.

use crate::config::ConsumerSettings;
use crate::shutdown::Shutdown;
use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Delivery {
    msg: Option<jetstream::Message>,
}

impl Delivery {
    pub fn new(msg: jetstream::Message) -> Self {
        Delivery { msg: Some(msg) }
    }

    fn msg(&self) -> &jetstream::Message {
        self.msg.as_ref().expect("a delivery is only read before it is settled")
    }

    pub fn payload(&self) -> &[u8] {
        &self.msg().payload
    }

    pub fn subject(&self) -> &str {
        self.msg().subject.as_str()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.msg().headers.as_ref()?.get(name).map(|v| v.as_str())
    }

    /// The trace context the message carries (its `traceparent`).
    pub fn trace_context(&self) -> opentelemetry::Context {
        crate::telemetry::extract(self.msg().headers.as_ref())
    }

    /// How long the message waited in its stream before this delivery
    /// (from JetStream's timestamp of when it was stored).
    pub fn waited(&self) -> Option<Duration> {
        let info = self.msg().info().ok()?;
        let stored_ns = info.published.unix_timestamp_nanos();
        let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i128;
        u64::try_from(now_ns - stored_ns).ok().map(Duration::from_nanos)
    }

    /// How many times this message has been delivered, this time included.
    pub fn delivered(&self) -> i64 {
        self.msg().info().map(|i| i.delivered).unwrap_or(1)
    }

    async fn settle(mut self, kind: AckKind) {
        if let Some(msg) = self.msg.take() {
            if let Err(e) = msg.ack_with(kind).await {
                // The server redelivers after the ack wait; every step is idempotent.
                tracing::warn!(error = %e, "acknowledgement not sent; the message will be redelivered");
            }
        }
    }

    pub async fn ack(self) {
        self.settle(AckKind::Ack).await
    }

    pub async fn nak(self, delay: Option<Duration>) {
        self.settle(AckKind::Nak(delay)).await
    }

    /// Acknowledges every delivery of a batch.
    pub async fn ack_all(held: impl IntoIterator<Item = Delivery>) {
        for d in held {
            d.ack().await;
        }
    }

    /// Hands every delivery of a batch back, redelivered after `delay`
    /// (at once with `None`).
    pub async fn nak_all(held: impl IntoIterator<Item = Delivery>, delay: Option<Duration>) {
        for d in held {
            d.nak(delay).await;
        }
    }

    /// Tells the server the message is still being worked on (resets its ack wait).
    pub async fn progress(&self) {
        if let Some(msg) = &self.msg {
            let _ = msg.ack_with(AckKind::Progress).await;
        }
    }

    /// Stops redelivery for good: for messages that can never be processed.
    pub async fn term(self) {
        self.settle(AckKind::Term).await
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(msg) = self.msg.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                });
            }
        }
    }
}

/// How long one pull request stays open on the server when fewer messages
/// than asked for are available. It is also how long messages received
/// beyond the free slots, and the last messages of a run, can wait before
/// they are dispatched: short, so a pull works as a linger (batches fill up
/// under load, the tail never waits long). With 2 s the aggregator sat up to
/// 2 s on a run's last records (10k-compound runs: 1,263 compounds/s).
const PULL_EXPIRES: Duration = Duration::from_millis(100);

/// Consumes `consumer` until shutdown, calling `handler` with batches of
/// deliveries. Returns once the batches in flight are finished (or the grace
/// period has passed).
///
/// Pulls are bounded requests (`batch`), sized to the free handler slots, and
/// each one is read to its end: every message the server sent is either given
/// to a handler or, on shutdown, handed back (NAK). A continuous pull stream
/// would leave, at shutdown, messages already received but never started,
/// which the server would only redeliver after their ack wait.
pub async fn consume_batches<F, Fut>(consumer: PullConsumer, settings: &ConsumerSettings, shutdown: Shutdown, handler: F) -> Result<(), async_nats::Error>
where
    F: Fn(Vec<Delivery>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let size = settings.batch_size;
    consume_batches_sized(consumer, settings, move || size, shutdown, handler).await
}

/// [`consume_batches`] with the batch size asked of `batch_size` before each
/// pull (at least 1), for consumers whose cost per message varies.
pub async fn consume_batches_sized<S, F, Fut>(
    consumer: PullConsumer,
    settings: &ConsumerSettings,
    batch_size: S,
    shutdown: Shutdown,
    handler: F,
) -> Result<(), async_nats::Error>
where
    S: Fn() -> usize,
    F: Fn(Vec<Delivery>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    let in_flight = Arc::new(Semaphore::new(settings.concurrency));
    let dispatch = |batch: Vec<Delivery>, permit: tokio::sync::OwnedSemaphorePermit| {
        let handler = handler.clone();
        tokio::spawn(async move {
            handler(batch).await;
            drop(permit);
        });
    };
    while !shutdown.is_triggered() {
        // Wait for a free slot, then take every free one: the pull asks for
        // exactly what the free slots can take.
        let first = tokio::select! {
            p = in_flight.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.wait() => break,
        };
        let mut permits = vec![first];
        while let Ok(p) = in_flight.clone().try_acquire_owned() {
            permits.push(p);
        }
        let size = batch_size().max(1);
        let want = permits.len() * size;
        let messages = match consumer.batch().max_messages(want).expires(PULL_EXPIRES).messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull from JetStream; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.wait() => break,
                }
            }
        };
        let mut chunks = messages.ready_chunks(size);
        // Read the pull to its end without ever waiting on a handler: chunks
        // go out while slots are held, the rest waits here (bounded by `want`).
        let mut waiting: Vec<Delivery> = Vec::new();
        let mut stopping = false;
        while let Some(chunk) = chunks.next().await {
            let batch: Vec<Delivery> =
                chunk.into_iter().filter_map(|item| item.map_err(|e| tracing::warn!(error = %e, "pull error (transient)")).ok()).map(Delivery::new).collect();
            if batch.is_empty() {
                continue;
            }
            stopping = stopping || shutdown.is_triggered();
            match permits.pop() {
                Some(permit) if !stopping => dispatch(batch, permit),
                _ => waiting.extend(batch),
            }
        }
        drop(permits);
        if stopping || shutdown.is_triggered() {
            let handed_back = waiting.len();
            Delivery::nak_all(waiting, None).await;
            if handed_back > 0 {
                tracing::info!(handed_back, "stopping: messages received but not started handed back");
            }
            break;
        }
        // What arrived in more pieces than there were slots: dispatch as
        // slots free up (no pull is open now, so nothing waits on us).
        while !waiting.is_empty() {
            let permit = tokio::select! {
                p = in_flight.clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = shutdown.wait() => {
                    Delivery::nak_all(waiting.drain(..), None).await;
                    break;
                }
            };
            let rest = waiting.split_off(waiting.len().min(size));
            dispatch(std::mem::replace(&mut waiting, rest), permit);
        }
    }
    // Stop pulling, then wait for every batch in flight to be settled.
    let all = settings.concurrency as u32;
    match tokio::time::timeout(settings.shutdown_grace, in_flight.acquire_many(all)).await {
        Ok(_) => tracing::info!("all work in flight finished"),
        Err(_) => tracing::warn!("shutdown grace period over with work in flight; it will be redelivered"),
    }
    Ok(())
}
