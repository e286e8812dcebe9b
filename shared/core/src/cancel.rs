//! Cancelled runs, shared by every service through a JetStream key-value
//! bucket: the API puts a run id there when a run is cancelled; each adapter
//! replica watches the bucket (history included, so a replica started later
//! knows too) and skips the compounds of cancelled runs without calling its
//! adapter.

use crate::ids::RunId;
use crate::shutdown::Shutdown;
use crate::topology::Topology;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct CancelledRuns {
    runs: Arc<RwLock<HashSet<RunId>>>,
}

/// A bucket key as a run id. Only the API writes keys, from run ids; a key
/// that is not one could name no record (records' run ids are checked as
/// they are read), so it is passed over.
fn run_of(key: String) -> Option<RunId> {
    RunId::try_from(key).map_err(|e| tracing::warn!(error = %e, "a key of the cancelled runs that is no run id; ignored")).ok()
}

impl CancelledRuns {
    pub fn contains(&self, run_id: &RunId) -> bool {
        self.runs.read().map(|s| s.contains(run_id)).unwrap_or(false)
    }

    /// Loads the runs cancelled so far, then watches the bucket in the
    /// background (re-watching after errors) until shutdown. Loading first
    /// means a replica that starts after a cancellation never processes that
    /// run's waiting compounds.
    pub async fn watch(js: jetstream::Context, topology: Topology, shutdown: Shutdown) -> Self {
        let this = CancelledRuns::default();
        let initial = async {
            let store = js.get_key_value(topology.cancelled_bucket()).await?;
            let keys: Vec<String> = store.keys().await?.filter_map(|k| async move { k.ok() }).collect().await;
            Ok::<_, async_nats::Error>(keys)
        };
        match initial.await {
            Ok(keys) => {
                if let Ok(mut set) = this.runs.write() {
                    set.extend(keys.into_iter().filter_map(run_of));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot load cancelled runs; relying on the watch"),
        }
        let runs = this.runs.clone();
        tokio::spawn(async move {
            while !shutdown.is_triggered() {
                let watched = async {
                    let store = js.get_key_value(topology.cancelled_bucket()).await?;
                    let mut watch = store.watch_with_history(">").await?;
                    while let Some(entry) = watch.next().await {
                        let entry = entry?;
                        let Some(run) = run_of(entry.key) else { continue };
                        if let Ok(mut set) = runs.write() {
                            match entry.operation {
                                kv::Operation::Put => set.insert(run),
                                _ => set.remove(&run),
                            };
                        }
                    }
                    Ok::<_, async_nats::Error>(())
                };
                tokio::select! {
                    result = watched => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "watching cancelled runs failed; retrying");
                        }
                    }
                    _ = shutdown.wait() => return,
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        this
    }
}

/// Records a run as cancelled for every service.
pub async fn announce(js: &jetstream::Context, topology: &Topology, run_id: &RunId) -> Result<(), async_nats::Error> {
    let store = js.get_key_value(topology.cancelled_bucket()).await?;
    store.put(run_id.as_str(), "cancelled".into()).await?;
    Ok(())
}
