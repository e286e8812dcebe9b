//! Live progress: `GET /runs/{id}/events`, Server-Sent Events.
//!
//! Whoever changes a run says so on NATS (`events.run.<id>`: the aggregator
//! after each commit, an API replica on a cancel), so a listener on any
//! replica hears of it. Each replica keeps one feed per run someone listens
//! to: a task that re-reads the run from Postgres when told it changed (at
//! most every 200 ms, and every second regardless, so a lost note costs a
//! second) and hands the summary to every listener through a `watch`
//! channel. A thousand listeners on one run cost one read, not a thousand.
//! The feed ends when its last listener leaves or the run ends.

use crate::views;
use crate::AppState;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use pharmforge_core::{RunId, Shutdown};
use pharmforge_store as store;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The least time between two reads of a run for its listeners.
const MIN_REFRESH: Duration = Duration::from_millis(200);
/// The most: a run is re-read this often even when no note comes.
const MAX_REFRESH: Duration = Duration::from_secs(1);
/// A comment line this often keeps proxies from closing a quiet stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// A run's state as its listeners get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The event's id: changes whenever the summary does.
    pub id: String,
    /// `progress`, or the terminal status the run ended in (or `deleted`).
    pub event: &'static str,
    /// The run's summary, as JSON.
    pub data: String,
}

impl Snapshot {
    pub fn of(run: &store::RunRow) -> Snapshot {
        // A finished run's event is named after its status.
        let event = if run.status.is_finished() { run.status.as_str() } else { "progress" };
        let data = serde_json::to_string(&views::summary(run)).expect("a run summary serializes");
        let id = format!("{}.{}.{}.{}", run.steps_done, run.completed_compounds, run.failed_compounds, run.status);
        Snapshot { id, event, data }
    }

    fn deleted(run_id: &RunId) -> Snapshot {
        Snapshot { id: "deleted".into(), event: "deleted", data: serde_json::json!({"run_id": run_id, "status": "deleted"}).to_string() }
    }

    pub fn is_final(&self) -> bool {
        self.event != "progress"
    }

    fn frame(&self) -> Bytes {
        Bytes::from(format!("event: {}\nid: {}\ndata: {}\n\n", self.event, self.id, self.data))
    }
}

type Feed = (watch::Sender<Arc<Snapshot>>, Arc<Notify>);

/// This replica's feeds, by run id.
#[derive(Clone, Default)]
pub struct Feeds {
    feeds: Arc<Mutex<HashMap<RunId, Feed>>>,
}

impl Feeds {
    /// Listens to a run, whose current state is `now`.
    pub fn subscribe(&self, pool: &PgPool, run_id: &RunId, now: Snapshot) -> watch::Receiver<Arc<Snapshot>> {
        let mut feeds = self.feeds.lock().unwrap();
        if let Some((tx, _)) = feeds.get(run_id) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(Arc::new(now));
        let changed = Arc::new(Notify::new());
        feeds.insert(run_id.clone(), (tx.clone(), changed.clone()));
        tokio::spawn(refresh(self.clone(), pool.clone(), run_id.clone(), tx, changed));
        rx
    }

    /// A note that the run changed: its feed (if any) re-reads it.
    pub fn changed(&self, run_id: &RunId) {
        if let Some((_, changed)) = self.feeds.lock().unwrap().get(run_id) {
            changed.notify_one();
        }
    }

    /// Runs with a feed on this replica.
    pub fn len(&self) -> usize {
        self.feeds.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A run's feed: re-reads the run when told or every second, until it ends
/// or no one listens.
async fn refresh(feeds: Feeds, pool: PgPool, run_id: RunId, tx: watch::Sender<Arc<Snapshot>>, changed: Arc<Notify>) {
    loop {
        let _ = tokio::time::timeout(MAX_REFRESH, changed.notified()).await;
        {
            // Under the lock: a listener cannot join a feed that is leaving.
            let mut map = feeds.feeds.lock().unwrap();
            if tx.receiver_count() == 0 {
                map.remove(&run_id);
                return;
            }
        }
        let next = match store::get_run(&pool, &run_id).await {
            Ok(Some(run)) => Snapshot::of(&run),
            Ok(None) => Snapshot::deleted(&run_id),
            Err(e) => {
                tracing::debug!(error = %e, run_id = %run_id, "could not read a run for its listeners");
                continue;
            }
        };
        let last = next.is_final();
        tx.send_if_modified(|current| {
            let new = current.id != next.id;
            if new {
                *current = Arc::new(next);
            }
            new
        });
        if last {
            feeds.feeds.lock().unwrap().remove(&run_id);
            return;
        }
        tokio::time::sleep(MIN_REFRESH).await;
    }
}

/// Listens to every run's notes on NATS once the API is connected, and
/// passes them to this replica's feeds, until shutdown.
pub async fn listen(state: AppState, shutdown: Shutdown) {
    let Some(js) = jetstream_when_connected(&state, &shutdown).await else {
        return;
    };
    let subject = state.topology.run_events_wildcard();
    let prefix = subject.trim_end_matches('*').to_owned();
    let Some(mut notes) = subscribe_until(&js, subject, &shutdown).await else {
        return;
    };
    loop {
        tokio::select! {
            note = notes.next() => match note {
                Some(note) => {
                    // A subject naming no run id could name no feed.
                    if let Some(run_id) = note.subject.as_str().strip_prefix(&prefix).and_then(|r| RunId::parse(r).ok()) {
                        state.feeds.changed(&run_id);
                    }
                }
                None => return,
            },
            _ = shutdown.wait() => return,
        }
    }
}

/// The JetStream context once NATS is connected; `None` at shutdown.
pub async fn jetstream_when_connected(state: &AppState, shutdown: &Shutdown) -> Option<async_nats::jetstream::Context> {
    loop {
        if let Some(js) = state.jetstream.get() {
            return Some(js.clone());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.wait() => return None,
        }
    }
}

/// A core NATS subscription to `subject`, retried every second until it
/// works; `None` at shutdown.
pub async fn subscribe_until(js: &async_nats::jetstream::Context, subject: String, shutdown: &Shutdown) -> Option<async_nats::Subscriber> {
    loop {
        match js.client().subscribe(subject.clone()).await {
            Ok(s) => return Some(s),
            Err(e) => {
                tracing::warn!(error = %e, %subject, "cannot subscribe; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait() => return None,
                }
            }
        }
    }
}

/// Tells every replica's listeners that a run changed (best effort: each
/// feed re-reads its run every second anyway).
pub async fn announce(state: &AppState, run_id: &RunId) {
    state.feeds.changed(run_id);
    if let Some(js) = state.jetstream.get() {
        if let Err(e) = js.client().publish(state.topology.run_events_subject(run_id), Bytes::new()).await {
            tracing::debug!(error = %e, "could not announce a run's change");
        }
    }
}

/// The event stream of one listener: the run's state now (unless
/// `last_event_id` says the listener has it already), each change, a final
/// event when the run ends, and heartbeats meanwhile.
pub fn stream(
    first: Snapshot,
    rx: watch::Receiver<Arc<Snapshot>>,
    last_event_id: Option<String>,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    struct Listener {
        pending: Option<Arc<Snapshot>>,
        sent: Option<String>,
        done: bool,
        rx: watch::Receiver<Arc<Snapshot>>,
        shutdown: Shutdown,
    }
    let skip_first = last_event_id.as_deref() == Some(first.id.as_str()) && !first.is_final();
    let sent = Some(first.id.clone());
    let pending = (!skip_first).then(|| Arc::new(first));
    let opening = futures::stream::iter([Ok(Bytes::from_static(b"retry: 2000\n\n"))]);
    let events = futures::stream::unfold(Listener { pending, sent, done: false, rx, shutdown }, |mut l| async move {
        if l.done {
            return None;
        }
        if let Some(snapshot) = l.pending.take() {
            l.done = snapshot.is_final();
            return Some((Ok(snapshot.frame()), l));
        }
        loop {
            tokio::select! {
                changed = l.rx.changed() => {
                    if changed.is_err() {
                        // The feed ended without a final state (this replica
                        // is stopping): the client reconnects elsewhere.
                        return None;
                    }
                    let snapshot = l.rx.borrow_and_update().clone();
                    if l.sent.as_deref() == Some(snapshot.id.as_str()) {
                        continue;
                    }
                    l.sent = Some(snapshot.id.clone());
                    l.done = snapshot.is_final();
                    return Some((Ok(snapshot.frame()), l));
                }
                _ = tokio::time::sleep(HEARTBEAT) => return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), l)),
                // This replica is stopping: the client reconnects (with its
                // Last-Event-ID) to another, or to this one restarted.
                _ = l.shutdown.wait() => return None,
            }
        }
    });
    opening.chain(events)
}
