//! Admission: compounds enter the pipeline a window at a time, shared fairly
//! between users and runs, instead of a whole run at once.
//!
//! Every API replica runs this loop; the one holding a Postgres advisory lock
//! (on a connection of its own) admits, the others stand by and take over
//! when its connection goes. Each round it reads the active runs (their
//! admission cursors and per-stage counts, as the aggregator keeps them),
//! works out how much room each stage has, lets `fair` pick which waiting
//! compounds get it, publishes their records to the first stage of their
//! route and only then moves the cursors (over the lock's connection). A
//! crash between the publish and the cursor move re-publishes the same
//! records, which JetStream drops by message id: nothing is lost or doubled.
//!
//! **Per-stage windows.** A compound occupies every stage of its route from
//! admission until the aggregator has recorded it past that stage, so the
//! compounds ahead of a newly admitted one at any stage are at most that
//! stage's window. Each window adapts so that its stage's own queue (records
//! waiting in its JetStream consumer) holds about `SCHEDULER_QUEUE_MS` of the
//! stage's measured throughput: enough that the adapter never idles while
//! work waits, little enough that a newcomer waits well under a second or
//! two at each stage. A slow stage (PubChem at 5 requests/s) thus gets a
//! small window, and a run using it is admitted at that stage's pace without
//! holding back runs that do not use it. A cancelled or deleted run is no
//! longer active, so its compounds leave every window at once.

use crate::fair::{Demand, FairQueue};
use crate::AppState;
use async_nats::jetstream;
use pharmforge_core::adapter::publish_record;
use pharmforge_core::config::{env_millis, env_parse, ConfigError, NatsSettings};
use pharmforge_core::{AdapterName, CompoundRecord, Priority, RunId, Shutdown};
use pharmforge_store::inputs::{input_slice, AdmittedInput};
use pharmforge_store::schedule::{self as store, ActiveRun};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Compounds admitted per pick of the fair queue.
const QUANTUM: u32 = 16;
/// SMILES read from a run's stored input at once.
const READ_AHEAD: i32 = 2_048;
/// A round that takes longer gives up the lead (its connection may be gone).
const ROUND_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Settings {
    /// `SCHEDULER_TICK_MS` (50): how often the admitting scheduler looks.
    pub tick: Duration,
    /// `SCHEDULER_QUEUE_MS` (500): the work each stage's own queue should hold.
    pub queue: Duration,
    /// `SCHEDULER_MIN_QUEUE` (16): the smallest queue kept at a stage,
    /// whatever its throughput (at least an adapter's batch).
    pub min_queue: i64,
    /// `SCHEDULER_INITIAL_WINDOW` (32): each stage's window at start. Small,
    /// so that a slow stage (PubChem) is not handed a long backlog before its
    /// pace is known; a fast one doubles its way up in a few rounds.
    pub initial_window: i64,
    /// `SCHEDULER_MAX_WINDOW` (50,000): the most compounds in flight at one
    /// stage, and in the whole pipeline.
    pub max_window: i64,
    /// `SCHEDULER_MAX_IN_FLIGHT_PER_USER` (unset: no cap).
    pub max_per_user: Option<i64>,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_window: i64 = env_parse("SCHEDULER_MAX_WINDOW", 50_000)?;
        let per_user: i64 = env_parse("SCHEDULER_MAX_IN_FLIGHT_PER_USER", 0)?;
        Ok(Settings {
            tick: env_millis("SCHEDULER_TICK_MS", 50)?.max(Duration::from_millis(10)),
            queue: env_millis("SCHEDULER_QUEUE_MS", 500)?,
            min_queue: env_parse("SCHEDULER_MIN_QUEUE", 16i64)?.clamp(1, max_window.max(1)),
            initial_window: env_parse("SCHEDULER_INITIAL_WINDOW", 32i64)?.clamp(1, max_window.max(1)),
            max_window: max_window.max(1),
            max_per_user: (per_user > 0).then_some(per_user),
        })
    }
}

/// One stage's window and what it is sized from.
#[derive(Debug)]
struct Stage {
    window: i64,
    /// Compounds per second passing the stage (smoothed over about a second).
    rate: f64,
    /// Whether its window held back waiting compounds last round.
    blocked: bool,
    /// When it last passed a compound, or had none in flight.
    progress_at: Instant,
    /// Records waiting at it, smoothed over about half a second: a replica's
    /// pull empties the queue at once and it refills until the next one, so
    /// one reading says little.
    waiting: f64,
}

/// A stage with compounds in flight that has passed none for this long is
/// stalled (its adapter retrying, the aggregator down): its window does not grow.
const STALLED_AFTER: Duration = Duration::from_secs(2);

/// A stage's consumer as JetStream reports it.
#[derive(Debug, Clone, Copy)]
struct Queue {
    /// Records waiting, not yet delivered.
    waiting: u64,
    /// Records delivered to a replica and not yet acknowledged.
    in_hand: usize,
}

/// Index of the pseudo-stage that bounds the whole pipeline's in-flight compounds.
const TOTAL: usize = AdapterName::ALL.len();

fn stage_index(adapter: AdapterName) -> usize {
    AdapterName::ALL.iter().position(|a| *a == adapter).expect("every adapter is in ALL")
}

/// The stage indices of a run's route, in order.
fn route_stages(run: &ActiveRun) -> impl Iterator<Item = usize> + '_ {
    run.adapter_sequence.iter().filter_map(|a| AdapterName::parse(a)).map(stage_index)
}

/// Compounds in flight at each stage (admitted, not yet recorded past it),
/// and in the whole pipeline (admitted, not yet finished) at `TOTAL`.
fn in_flight(runs: &[ActiveRun]) -> [i64; TOTAL + 1] {
    let mut n = [0i64; TOTAL + 1];
    for run in runs {
        for (i, passed) in route_stages(run).zip(&run.passed) {
            n[i] += (run.admitted as i64 - passed).max(0);
        }
        n[TOTAL] += (run.admitted - run.finished).max(0) as i64;
    }
    n
}

/// What the admitting scheduler keeps between rounds. All of it is soft:
/// a new leader starts afresh and converges within seconds.
struct Admission {
    settings: Settings,
    stages: Vec<Stage>,
    fair: FairQueue,
    /// Per run: what it had passed at each stage of its route last round.
    passed: HashMap<i64, Vec<i64>>,
    /// Per run: SMILES read ahead, from admission index `.0`.
    inputs: HashMap<i64, (i32, std::collections::VecDeque<AdmittedInput>)>,
    last: Instant,
}

impl Admission {
    fn new(settings: Settings) -> Self {
        let now = Instant::now();
        let stages = (0..=TOTAL).map(|_| Stage { window: settings.initial_window, rate: 0.0, blocked: false, progress_at: now, waiting: 0.0 }).collect();
        Admission { settings, stages, fair: FairQueue::default(), passed: HashMap::new(), inputs: HashMap::new(), last: Instant::now() }
    }

    /// Updates each stage's throughput from how far runs moved since last
    /// round; returns the seconds since then.
    fn observe(&mut self, runs: &[ActiveRun]) -> f64 {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64().max(1e-3);
        self.last = now;
        let mut moved = [0i64; TOTAL];
        let mut seen = HashMap::with_capacity(runs.len());
        for run in runs {
            if let Some(before) = self.passed.get(&run.pk) {
                for ((i, passed), then) in route_stages(run).zip(&run.passed).zip(before) {
                    moved[i] += (passed - then).max(0);
                }
            }
            seen.insert(run.pk, run.passed.clone());
        }
        self.passed = seen;
        // Smoothed over about a second, whatever the tick.
        let alpha = 1.0 - (-dt).exp();
        for ((stage, n), flying) in self.stages.iter_mut().zip(moved).zip(in_flight(runs)) {
            stage.rate += alpha * (n as f64 / dt - stage.rate);
            if n > 0 || flying == 0 {
                stage.progress_at = now;
            }
        }
        dt
    }

    /// Resizes the windows of the stages in use from their queues (records
    /// waiting for the stage, not yet delivered, smoothed): the queue a stage
    /// needs is `SCHEDULER_QUEUE_MS` of its throughput, and never less than
    /// what its replicas hold in hand (their batches), so that each pull
    /// finds a full batch waiting (an ADMET batch of 45 instead of 64 cost
    /// 8% more CPU per compound). A stage whose window held work back grows
    /// by half what its queue lacks, or doubles while it has nothing at all
    /// to do (a large run reaches full speed within a few rounds from a
    /// small start); one with a longer queue than it needs shrinks by half
    /// the excess. Halves both ways: growing by a whole deficit each round
    /// while the queue was refilling between two pulls made windows creep
    /// up to a thousand, and newcomers waited ten seconds behind them. A
    /// stalled stage (its adapter retrying, the aggregator down) is given
    /// nothing more.
    fn resize(&mut self, queues: &HashMap<usize, Queue>, dt: f64) {
        let s = &self.settings;
        let now = Instant::now();
        let alpha = 1.0 - (-dt / 0.5).exp();
        for (i, stage) in self.stages.iter_mut().enumerate().take(TOTAL) {
            let Some(queue) = queues.get(&i) else { continue };
            stage.waiting += alpha * (queue.waiting as f64 - stage.waiting);
            let target = ((stage.rate * s.queue.as_secs_f64()) as i64).max(queue.in_hand as i64).max(s.min_queue);
            let queued = stage.waiting.round() as i64;
            let stalled = now.duration_since(stage.progress_at) > STALLED_AFTER;
            let idle = queue.waiting == 0 && queue.in_hand == 0;
            if stage.blocked && !stalled && idle {
                stage.window *= 2;
            } else if stage.blocked && !stalled && queued < target {
                stage.window += ((target - queued) / 2).max(1);
            } else if queued > target {
                stage.window -= (queued - target) / 2;
            }
            stage.window = stage.window.clamp(s.min_queue, s.max_window);
        }
        self.stages[TOTAL].window = s.max_window;
    }

    /// Picks what to admit this round: `(run, count)` pairs.
    fn plan(&mut self, runs: &[ActiveRun]) -> Vec<(i64, u32)> {
        let mut per_user: HashMap<String, i64> = HashMap::new();
        let mut demands = Vec::new();
        for run in runs {
            let user = run.user_id.clone().unwrap_or_default();
            let stages: Vec<usize> = route_stages(run).chain([TOTAL]).collect();
            *per_user.entry(user.clone()).or_default() += (run.admitted - run.finished).max(0) as i64;
            let waiting = (run.total - run.admitted).max(0) as u32;
            demands.push(Demand { run: run.pk, user, weight: Priority::parse(&run.priority).unwrap_or_default().weight(), waiting, stages });
        }
        let mut room: Vec<i64> = self.stages.iter().zip(in_flight(runs)).map(|(s, n)| s.window - n).collect();
        let mut user_room: HashMap<String, i64> = match self.settings.max_per_user {
            Some(cap) => per_user.into_iter().map(|(u, n)| (u, cap - n)).collect(),
            None => HashMap::new(),
        };
        if let Some(cap) = self.settings.max_per_user {
            for d in &demands {
                user_room.entry(d.user.clone()).or_insert(cap);
            }
        }
        let granted = self.fair.select(&demands, &mut room, &mut user_room, QUANTUM);
        // A stage held work back if it is full while a run using it still waits.
        for (i, stage) in self.stages.iter_mut().enumerate() {
            stage.blocked = room[i] <= 0
                && demands.iter().any(|d| {
                    let admitted = granted.iter().find(|(r, _)| *r == d.run).map_or(0, |(_, n)| *n);
                    d.waiting > admitted && d.stages.contains(&i)
                });
        }
        granted
    }

    /// Compounds `from..from + n` of a run, from its read-ahead.
    async fn take_inputs(&mut self, conn: &mut PgConnection, run: &ActiveRun, from: i32, n: u32) -> Result<Vec<AdmittedInput>, sqlx::Error> {
        let buffered = self.inputs.get(&run.pk).is_some_and(|(start, buf)| *start == from && buf.len() >= n as usize);
        if !buffered {
            let to = (from + (n as i32).max(READ_AHEAD)).min(run.total);
            let slice = input_slice(conn, run.pk, from, to).await?;
            self.inputs.insert(run.pk, (from, slice.into()));
        }
        let (start, buf) = self.inputs.get_mut(&run.pk).expect("filled above");
        let take = (n as usize).min(buf.len());
        *start += take as i32;
        Ok(buf.drain(..take).collect())
    }
}

/// Connects to NATS (retrying), waits for the topology, then admits whenever
/// this replica holds the scheduler's lock, until shutdown.
pub async fn start(state: AppState, nats: NatsSettings, settings: Settings, shutdown: Shutdown) {
    let Some(client) = pharmforge_core::nats::connect(&nats, "api", &shutdown).await else {
        return;
    };
    let js = jetstream::new(client.clone());
    if !state.topology.wait_ready(&js, &shutdown, "api").await {
        return;
    }
    let _ = state.jetstream.set(js.clone());
    tracing::info!(
        tick_ms = settings.tick.as_millis() as u64,
        queue_ms = settings.queue.as_millis() as u64,
        max_window = settings.max_window,
        max_per_user = ?settings.max_per_user,
        "admission scheduler started"
    );
    // Windows, rates and virtual times outlive a lost connection: a hiccup
    // must not reset what admission has learnt.
    let mut admission = Admission::new(settings.clone());
    while !shutdown.is_triggered() {
        match lead(&state, &js, &settings, &mut admission, &shutdown).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "admission interrupted; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait() => {}
        }
    }
    client.flush().await.ok();
}

/// Takes the lock if free and admits until shutdown or an error. Returns
/// `Ok` without admitting when another replica holds the lock.
async fn lead(state: &AppState, js: &jetstream::Context, settings: &Settings, admission: &mut Admission, shutdown: &Shutdown) -> Result<(), async_nats::Error> {
    // A connection of its own: the lock lives as long as it does, and every
    // cursor move goes over it, so a replica that lost it cannot admit.
    let mut conn = state.pool.acquire().await?.detach();
    if !store::try_lock_scheduler(&mut conn).await? {
        return Ok(());
    }
    // A leader cut off from Postgres (not killed) would keep the lock until
    // TCP gave up on it, hours later: the server ends the session once it
    // has been idle this long instead (PostgreSQL 14 and later).
    if let Err(e) = sqlx::query("SET idle_session_timeout = '15s'").execute(&mut conn).await {
        tracing::debug!(error = %e, "idle_session_timeout not available; a partitioned leader keeps the lock until TCP notices");
    }
    let stream = js.get_stream(state.topology.pipeline_stream()).await?;
    let mut first = true;
    loop {
        let started = Instant::now();
        match tokio::time::timeout(ROUND_LIMIT, round(state, js, &stream, &mut conn, admission)).await {
            Ok(result) => result?,
            Err(_) => return Err(format!("an admission round took over {} s", ROUND_LIMIT.as_secs()).into()),
        }
        if std::mem::take(&mut first) {
            tracing::info!("this replica admits compounds now");
        }
        let rest = settings.tick.saturating_sub(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(rest) => {}
            _ = state.admission_wake.notified() => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
}

async fn round(
    state: &AppState,
    js: &jetstream::Context,
    stream: &jetstream::stream::Stream,
    conn: &mut PgConnection,
    admission: &mut Admission,
) -> Result<(), async_nats::Error> {
    let mut runs = store::active_runs(conn).await?;
    // A run whose id or route this version cannot read (a row written by
    // another version) would wait forever: it fails, saying why.
    let unreadable: Vec<(i64, String)> = runs
        .iter()
        .filter_map(|r| {
            if RunId::parse(&r.run_id).is_err() {
                Some((r.pk, format!("this run's id {:?} is not one this version can read", r.run_id)))
            } else if r.adapter_sequence.is_empty() || r.adapter_sequence.iter().any(|a| AdapterName::parse(a).is_none()) {
                Some((r.pk, format!("this run's route {:?} names an adapter this version does not know ({})", r.adapter_sequence, AdapterName::known_names())))
            } else {
                None
            }
        })
        .collect();
    for (pk, why) in &unreadable {
        tracing::error!(run_pk = pk, "{why}; failing the run");
        store::fail_run(conn, *pk, why).await?;
    }
    runs.retain(|r| !unreadable.iter().any(|(pk, _)| *pk == r.pk));
    let dt = admission.observe(&runs);
    admission.inputs.retain(|pk, _| runs.iter().any(|r| r.pk == *pk && r.admitted < r.total));
    if runs.is_empty() {
        return Ok(());
    }
    // How much waits at each stage in use, and how much its replicas hold.
    let used: Vec<usize> = {
        let mut v: Vec<usize> = runs.iter().flat_map(route_stages).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let infos = futures::future::join_all(used.iter().map(|&i| {
        let name = state.topology.adapter_consumer(AdapterName::ALL[i]);
        async move { (i, stream.consumer_info(name).await) }
    }))
    .await;
    let mut queues = HashMap::new();
    for (i, info) in infos {
        let info = info?;
        queues.insert(i, Queue { waiting: info.num_pending, in_hand: info.num_ack_pending });
    }
    admission.resize(&queues, dt);
    let plan = admission.plan(&runs);
    if plan.is_empty() {
        return Ok(());
    }

    // Each run's records, in index order from its cursor.
    let mut batches: Vec<(&ActiveRun, Vec<CompoundRecord>, opentelemetry::Context)> = Vec::with_capacity(plan.len());
    for &(pk, n) in &plan {
        let run = runs.iter().find(|r| r.pk == pk).expect("planned runs are active");
        let Ok(run_id) = RunId::parse(&run.run_id) else { continue };
        let route: Vec<AdapterName> = run.adapter_sequence.iter().filter_map(|a| AdapterName::parse(a)).collect();
        let inputs = admission.take_inputs(conn, run, run.admitted, n).await?;
        // Every compound of a run belongs to the run's trace.
        let run_cx = run.traceparent.as_deref().map(pharmforge_core::telemetry::context_of).unwrap_or_default();
        let run_trace = pharmforge_core::telemetry::traceparent_of(&run_cx).and_then(|tp| pharmforge_core::record::trace_id_of(&tp).map(str::to_owned));
        let records = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                let mut record = CompoundRecord::new(&run_id, run.admitted as u32 + i as u32, input.smiles, route.clone());
                if let Some(trace) = &run_trace {
                    record.trace_id.clone_from(trace);
                }
                // A record of the user's file that could not be read fails
                // at once, with why, and goes straight to the aggregator.
                if let (Some(error), Some(&first)) = (input.input_error, route.first()) {
                    record.set_fatal(first, format!("input: {error}"));
                    record.advance();
                }
                record
            })
            .collect();
        batches.push((run, records, run_cx));
    }
    // Each compound's admission is a span of its run's trace; the record
    // carries it to the first adapter.
    let hops: Vec<Vec<opentelemetry::Context>> = batches
        .iter()
        .map(|(_, records, run_cx)| {
            records
                .iter()
                .map(|r| {
                    pharmforge_core::trace_hop::start(
                        "admit",
                        run_cx,
                        opentelemetry::trace::SpanKind::Producer,
                        vec![opentelemetry::KeyValue::new("pharmforge.compound_index", i64::from(r.index))],
                    )
                })
                .collect()
        })
        .collect();
    let publishes =
        batches.iter().zip(&hops).flat_map(|((_, records, _), hops)| records.iter().zip(hops).map(|(r, cx)| publish_record(js, &state.topology, r, cx)));
    let mut results = futures::future::join_all(publishes).await.into_iter();
    for cx in hops.iter().flatten() {
        pharmforge_core::trace_hop::end(cx);
    }
    // A run's cursor moves past the records stored without a gap from it;
    // any after a failed one are published again next round.
    let mut moves = Vec::with_capacity(batches.len());
    let mut failed = None;
    for (run, records, _) in &batches {
        let (mut stored, mut gap) = (0, false);
        for result in results.by_ref().take(records.len()) {
            match result {
                Ok(()) if !gap => stored += 1,
                Ok(()) => {}
                Err(e) => {
                    gap = true;
                    failed.get_or_insert(e);
                }
            }
        }
        moves.push((run.pk, run.admitted + stored));
    }
    store::record_admissions(conn, &moves).await?;
    tracing::debug!(runs = moves.len(), compounds = batches.iter().map(|(_, r, _)| r.len()).sum::<usize>(), "admitted");
    // A read-ahead that moved past records not stored no longer starts at
    // its run's cursor, so `take_inputs` reads it again.
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Tells every adapter replica that a run is cancelled (or deleted), so they
/// skip its records. A failure is logged: the run is already no longer
/// active, so no more of its compounds are admitted; only those in flight
/// would still be enriched.
pub async fn announce_cancel(state: &AppState, run_id: &RunId) {
    let Some(js) = state.jetstream.get() else {
        tracing::warn!(run_id = %run_id, "NATS not connected; adapters will not hear of this cancellation");
        return;
    };
    if let Err(e) = pharmforge_core::cancel::announce(js, &state.topology, run_id).await {
        tracing::warn!(run_id = %run_id, error = %e, "cancellation not announced to the adapters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            tick: Duration::from_millis(100),
            queue: Duration::from_millis(500),
            min_queue: 16,
            initial_window: 100,
            max_window: 10_000,
            max_per_user: None,
        }
    }

    fn run(pk: i64, user: &str, route: &[&str], total: i32, admitted: i32, passed: &[i64]) -> ActiveRun {
        ActiveRun {
            pk,
            run_id: format!("run_{pk:016x}"),
            user_id: Some(user.into()),
            priority: "normal".into(),
            adapter_sequence: route.iter().map(|s| s.to_string()).collect(),
            total,
            admitted,
            finished: *passed.iter().min().unwrap_or(&0) as i32,
            passed: passed.to_vec(),
            traceparent: None,
        }
    }

    #[test]
    fn a_window_holds_a_run_to_its_size_at_every_stage_of_its_route() {
        let mut a = Admission::new(settings());
        // 60 admitted, 10 past rdkit_local and 0 past pubchem: pubchem's window (100) has 40 left.
        let plan = a.plan(&[run(1, "a", &["rdkit_local", "pubchem"], 10_000, 60, &[10, 0])]);
        assert_eq!(plan, vec![(1, 40)]);
        assert!(a.stages[stage_index(AdapterName::Pubchem)].blocked);
        assert!(!a.stages[stage_index(AdapterName::RdkitLocal)].blocked, "rdkit_local still had room");
    }

    #[test]
    fn a_blocked_stage_with_a_short_queue_grows_and_one_with_a_long_queue_shrinks() {
        let mut a = Admission::new(settings());
        let i = stage_index(AdapterName::AdmetAi);
        let q = |waiting, in_hand| HashMap::from([(i, Queue { waiting, in_hand })]);
        // A long gap between rounds: the smoothed queue is the reading.
        let dt = 10.0;
        a.stages[i].rate = 200.0; // target queue: 100
        a.stages[i].blocked = true;
        a.resize(&q(0, 0), dt);
        assert_eq!(a.stages[i].window, 200, "nothing to do at all: doubled");
        a.resize(&q(20, 300), dt);
        assert_eq!(a.stages[i].window, 340, "short of a batch in hand (300) waiting: grown by half of 280");
        a.resize(&q(500, 0), dt);
        assert_eq!(a.stages[i].window, 140, "shrunk by half the excess over 100");
        a.stages[i].blocked = false;
        a.resize(&q(0, 10), dt);
        assert_eq!(a.stages[i].window, 140, "not grown when it held nothing back");
        a.stages[i].blocked = true;
        a.stages[i].progress_at = Instant::now() - Duration::from_secs(3);
        a.resize(&q(0, 0), dt);
        assert_eq!(a.stages[i].window, 140, "not grown while the stage is stalled (retrying, aggregator down)");
    }

    #[test]
    fn one_empty_reading_right_after_a_pull_does_not_grow_a_window() {
        let mut a = Admission::new(settings());
        let i = stage_index(AdapterName::AdmetAi);
        a.stages[i].rate = 200.0;
        a.stages[i].blocked = true;
        a.stages[i].waiting = 100.0; // at its target
        a.resize(&HashMap::from([(i, Queue { waiting: 0, in_hand: 64 })]), 0.05);
        let w = a.stages[i].window;
        assert!((100..=110).contains(&w), "the smoothed queue is still about its target: {w}, not 200");
    }

    #[test]
    fn a_stage_with_compounds_in_flight_that_passes_none_is_stalled() {
        let mut a = Admission::new(settings());
        let i = stage_index(AdapterName::RdkitLocal);
        a.observe(&[run(1, "a", &["rdkit_local"], 1_000, 500, &[0])]);
        let before = a.stages[i].progress_at;
        std::thread::sleep(Duration::from_millis(20));
        a.observe(&[run(1, "a", &["rdkit_local"], 1_000, 500, &[0])]);
        assert_eq!(a.stages[i].progress_at, before, "nothing passed: no progress");
        a.observe(&[run(1, "a", &["rdkit_local"], 1_000, 500, &[3])]);
        assert!(a.stages[i].progress_at > before, "three passed");
    }

    #[test]
    fn throughput_is_measured_from_what_runs_passed_between_rounds() {
        let mut a = Admission::new(settings());
        a.observe(&[run(1, "a", &["rdkit_local"], 1_000, 500, &[0])]);
        std::thread::sleep(Duration::from_millis(100));
        a.observe(&[run(1, "a", &["rdkit_local"], 1_000, 500, &[100])]);
        let rate = a.stages[stage_index(AdapterName::RdkitLocal)].rate;
        // 100 in ~0.1 s, smoothed with weight ~0.1: roughly 100/s.
        assert!((50.0..150.0).contains(&rate), "{rate}");
        assert_eq!(a.stages[stage_index(AdapterName::Pubchem)].rate, 0.0);
    }
}
