//! The inline compounds of finished runs, rendered once.
//!
//! `GET /runs/{id}` of a finished run carries its first compounds with every
//! section (`API_INLINE_RESULTS`, 100: ~0.6 MB of JSON with ADMET sections).
//! Rendering that from Postgres cost ~5 ms of CPU per request, and clients
//! poll a run until it is finished, then read it again: in the load
//! benchmark the moment a 10,000-compound run finished, the API's p99
//! jumped from ~90 ms to over 500 ms and it shed requests.
//!
//! Those compounds change once the run has finished only when it is
//! rescored (its status, scores and ranks are written in the transaction
//! that finishes it; a rescore rewrites scores and ranks and appends to its
//! scoring history), so they are rendered once per run and scoring and
//! kept, a few runs' worth. The cache is keyed by the run's row id, which
//! is never reused, and the length of its scoring history: a deleted run is
//! not found by the handler before it gets here, and a rescored one has a
//! new key, so nothing stale is served, whichever API replica changed it.

use pharmforge_store as store;
use serde_json::value::RawValue;
use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A finished run's first compounds, as JSON text, and whether there are more.
pub struct InlineResults {
    pub compounds: Box<RawValue>,
    pub truncated: bool,
}

type Slot = Arc<OnceCell<Arc<InlineResults>>>;
/// A run's row id and the length of its scoring history.
type Key = (i64, i32);

/// Rendered inline results of the most recently read finished runs, at
/// most `max_bytes` of JSON (and always the latest one).
#[derive(Clone)]
pub struct FinishedRuns {
    slots: Arc<Mutex<VecDeque<(Key, Slot)>>>,
    max_bytes: usize,
}

impl FinishedRuns {
    pub fn new(max_bytes: usize) -> Self {
        FinishedRuns { slots: Arc::new(Mutex::new(VecDeque::new())), max_bytes }
    }

    /// The inline results of the finished run `run_pk`: from the cache, or
    /// read and rendered once (concurrent readers of the same run wait for
    /// that one read instead of each making their own).
    pub async fn get(&self, pool: &PgPool, run: &store::RunRow, limit: i64) -> Result<Arc<InlineResults>, sqlx::Error> {
        let (run_pk, total) = (run.id, run.total_compounds as i64);
        let key: Key = (run.id, run.scoring_version);
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            match slots.iter().position(|(k, _)| *k == key) {
                Some(i) => {
                    // Most recently used last.
                    let entry = slots.remove(i).expect("position is in range");
                    let slot = entry.1.clone();
                    slots.push_back(entry);
                    slot
                }
                None => {
                    let slot: Slot = Arc::new(OnceCell::new());
                    slots.push_back((key, slot.clone()));
                    slot
                }
            }
        };
        let loaded = slot
            .get_or_try_init(|| async {
                let rows = store::first_results(pool, run_pk, limit).await?;
                let profile = run.scoring();
                let views: Vec<crate::views::CompoundView> = rows.iter().map(|r| crate::views::compound(r, Some(&profile))).collect();
                let text = serde_json::to_string(&views).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let compounds = RawValue::from_string(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok::<_, sqlx::Error>(Arc::new(InlineResults { compounds, truncated: total > limit }))
            })
            .await;
        match loaded {
            Ok(results) => {
                self.evict();
                Ok(results.clone())
            }
            Err(e) => {
                // Nothing cached for a failed read: the next request tries again.
                self.slots.lock().unwrap().retain(|(k, s)| *k != key || s.initialized());
                Err(e)
            }
        }
    }

    /// Drops the least recently used runs beyond `max_bytes`, keeping at
    /// least the most recent one.
    fn evict(&self) {
        let mut slots = self.slots.lock().unwrap();
        let size = |s: &Slot| s.get().map_or(0, |r| r.compounds.get().len());
        let mut total: usize = slots.iter().map(|(_, s)| size(s)).sum();
        while total > self.max_bytes && slots.len() > 1 {
            if let Some((_, s)) = slots.pop_front() {
                total -= size(&s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pk: i64, bytes: usize) -> (Key, Slot) {
        let text = format!("[\"{}\"]", "x".repeat(bytes - 4));
        let slot: Slot = Arc::new(OnceCell::new_with(Some(Arc::new(InlineResults { compounds: RawValue::from_string(text).unwrap(), truncated: false }))));
        ((pk, 1), slot)
    }

    #[test]
    fn the_least_recently_used_runs_go_first_and_the_latest_always_stays() {
        let cache = FinishedRuns::new(250);
        cache.slots.lock().unwrap().extend([filled(1, 100), filled(2, 100), filled(3, 100)]);
        cache.evict();
        let kept: Vec<i64> = cache.slots.lock().unwrap().iter().map(|(k, _)| k.0).collect();
        assert_eq!(kept, vec![2, 3]);
        cache.slots.lock().unwrap().push_back(filled(4, 1000));
        cache.evict();
        let kept: Vec<i64> = cache.slots.lock().unwrap().iter().map(|(k, _)| k.0).collect();
        assert_eq!(kept, vec![4], "a run bigger than the budget is still kept while it is the latest");
    }
}
