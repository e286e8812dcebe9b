//! Records of compounds still on their way, held back briefly so that one
//! write stores several stages of a compound.
//!
//! Every stage of every compound reaches the aggregator (`pipeline.>`). When
//! a compound passes its stages quickly, as on a cache-warm run, writing each
//! stage's record makes Postgres insert the row and then update it at every
//! later stage. A record that has not finished its route waits here (unacked)
//! for up to `max_age`: if a later record of the same compound arrives
//! meanwhile, only the later one is written and both messages are acked after
//! its commit. What ages out is written as before, so progress lags by at
//! most `max_age`; a finished record is never held.
//!
//! Generic over the delivery (`D`) so the bookkeeping is tested without a
//! NATS server.

use pharmforge_core::{CompoundRecord, RunId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A record to write and every message it answers for.
pub struct Pending<D> {
    pub record: CompoundRecord,
    pub deliveries: Vec<D>,
}

struct Entry<D> {
    pending: Pending<D>,
    since: Instant,
    bytes: usize,
}

pub struct Hold<D> {
    max_age: Duration,
    max_bytes: usize,
    inner: Mutex<Inner<D>>,
}

struct Inner<D> {
    entries: HashMap<(RunId, u32), Entry<D>>,
    bytes: usize,
}

impl<D> Hold<D> {
    /// Holds records up to `max_age`, and at most `max_bytes` of payload
    /// (past that everything held is written at once).
    pub fn new(max_age: Duration, max_bytes: usize) -> Self {
        Hold { max_age, max_bytes, inner: Mutex::new(Inner { entries: HashMap::new(), bytes: 0 }) }
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Takes one batch's records (with the size of each one's payload) and
    /// returns what must be written now: finished records (with any held
    /// earlier record of the same compound), and whatever has aged out or
    /// no longer fits.
    pub fn admit(&self, batch: Vec<(CompoundRecord, D, usize)>, now: Instant) -> Vec<Pending<D>> {
        let mut out = Vec::new();
        let mut guard = self.inner.lock().expect("hold lock");
        let inner = &mut *guard;
        for (record, delivery, bytes) in batch {
            let key = (record.run_id.clone(), record.index);
            if record.is_done() {
                let mut deliveries = vec![delivery];
                if let Some(held) = inner.entries.remove(&key) {
                    inner.bytes -= held.bytes;
                    deliveries.extend(held.pending.deliveries);
                }
                out.push(Pending { record, deliveries });
                continue;
            }
            match inner.entries.get_mut(&key) {
                Some(held) => {
                    held.pending.deliveries.push(delivery);
                    if record.step > held.pending.record.step {
                        inner.bytes = inner.bytes - held.bytes + bytes;
                        held.pending.record = record;
                        held.bytes = bytes;
                    }
                }
                None => {
                    inner.bytes += bytes;
                    inner.entries.insert(key, Entry { pending: Pending { record, deliveries: vec![delivery] }, since: now, bytes });
                }
            }
        }
        if inner.bytes > self.max_bytes {
            out.extend(drain(inner, |_| true));
        } else {
            out.extend(drain(inner, |e| now.saturating_duration_since(e.since) >= self.max_age));
        }
        out
    }

    /// What has been held for `max_age` or longer.
    pub fn take_aged(&self, now: Instant) -> Vec<Pending<D>> {
        let mut inner = self.inner.lock().expect("hold lock");
        drain(&mut inner, |e| now.saturating_duration_since(e.since) >= self.max_age)
    }

    /// Everything held (at shutdown).
    pub fn take_all(&self) -> Vec<Pending<D>> {
        drain(&mut self.inner.lock().expect("hold lock"), |_| true)
    }
}

fn drain<D>(inner: &mut Inner<D>, pick: impl Fn(&Entry<D>) -> bool) -> Vec<Pending<D>> {
    let keys: Vec<(RunId, u32)> = inner.entries.iter().filter(|(_, e)| pick(e)).map(|(k, _)| k.clone()).collect();
    keys.into_iter()
        .filter_map(|k| inner.entries.remove(&k))
        .map(|e| {
            inner.bytes -= e.bytes;
            e.pending
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmforge_core::AdapterName;

    fn record(index: u32, step: u16) -> CompoundRecord {
        let route = vec![AdapterName::RdkitLocal, AdapterName::Pubchem, AdapterName::Chembl];
        let mut r = CompoundRecord::new(&RunId::parse("run_0123456789abcdef").unwrap(), index, "CCO".into(), route);
        r.step = step;
        r
    }

    #[test]
    fn a_later_stage_replaces_the_held_one_and_answers_for_both_messages() {
        let hold = Hold::new(Duration::from_millis(500), 1 << 20);
        let t0 = Instant::now();
        assert!(hold.admit(vec![(record(0, 1), "a", 10)], t0).is_empty());
        assert!(hold.admit(vec![(record(0, 2), "b", 10)], t0).is_empty());
        let out = hold.admit(vec![(record(0, 3), "c", 10)], t0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].record.step, 3);
        let mut d = out[0].deliveries.clone();
        d.sort();
        assert_eq!(d, ["a", "b", "c"]);
        assert!(hold.take_all().is_empty());
    }

    #[test]
    fn an_older_redelivery_does_not_replace_the_held_record() {
        let hold = Hold::new(Duration::from_millis(500), 1 << 20);
        let t0 = Instant::now();
        hold.admit(vec![(record(1, 2), "new", 10), (record(1, 1), "old", 10)], t0);
        let out = hold.take_all();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].record.step, 2);
        assert_eq!(out[0].deliveries, ["new", "old"]);
    }

    #[test]
    fn held_records_age_out_to_be_written() {
        let hold = Hold::new(Duration::from_millis(500), 1 << 20);
        let t0 = Instant::now();
        hold.admit(vec![(record(0, 1), 0, 10)], t0);
        hold.admit(vec![(record(1, 1), 1, 10)], t0 + Duration::from_millis(300));
        assert!(hold.take_aged(t0 + Duration::from_millis(499)).is_empty());
        let aged = hold.take_aged(t0 + Duration::from_millis(500));
        assert_eq!(aged.iter().map(|p| p.record.index).collect::<Vec<_>>(), [0]);
        // A batch also carries out what aged meanwhile.
        let out = hold.admit(vec![(record(2, 1), 2, 10)], t0 + Duration::from_millis(900));
        assert_eq!(out.iter().map(|p| p.record.index).collect::<Vec<_>>(), [1]);
        assert_eq!(hold.take_all().len(), 1);
    }

    #[test]
    fn past_the_byte_limit_everything_held_is_written() {
        let hold = Hold::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert!(hold.admit(vec![(record(0, 1), 0, 60)], t0).is_empty());
        // Replacing a held record counts its new size, not both.
        assert!(hold.admit(vec![(record(0, 2), 0, 70)], t0).is_empty());
        let out = hold.admit(vec![(record(1, 1), 1, 40)], t0);
        assert_eq!(out.len(), 2);
        assert!(hold.take_all().is_empty());
        assert!(hold.admit(vec![(record(2, 1), 2, 10)], t0).is_empty(), "the byte count went back to zero");
    }

    #[test]
    fn finished_and_failed_records_are_never_held() {
        let hold = Hold::new(Duration::from_secs(60), 1 << 20);
        // Invalid SMILES: rdkit_local ends the compound's journey at step 1 of 3.
        let mut fatal = record(5, 0);
        fatal.set_fatal(AdapterName::RdkitLocal, "invalid SMILES: x");
        fatal.advance();
        let out = hold.admit(vec![(record(4, 3), 4, 10), (fatal, 5, 10), (record(6, 1), 6, 10)], Instant::now());
        let mut written: Vec<u32> = out.iter().map(|p| p.record.index).collect();
        written.sort();
        assert_eq!(written, [4, 5]);
    }
}
