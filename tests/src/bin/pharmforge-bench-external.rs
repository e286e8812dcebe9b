//! The benchmark of the pubchem and chembl adapters against the local fakes
//! (nothing reaches the internet); prints one JSON object.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench-external
//! ```
//!
//! * cold run: `BENCH_EXTERNAL_COMPOUNDS` (200) new compounds through
//!   rdkit_local → pubchem → chembl at the default policy limits (PubChem 5/s
//!   and 400/min, ChEMBL 5/s), one replica each, no faults: requests per
//!   compound for each service (from the fakes' logs) and compounds/s;
//! * warm run, end to end: the same compounds repeated
//!   `BENCH_EXTERNAL_WARM_REPEAT` (50) times in one run, 10,000 compounds by
//!   default (every one cached): compounds/s from POST to completed, and the
//!   requests it cost. A run long enough that the figure is a rate rather
//!   than the few hundred milliseconds of start and finish; and the CPU
//!   seconds each process spent on it;
//! * warm, in process: the adapters' `enrich` over the cached compounds with
//!   the shared cache (JetStream KV) and no rate limiter in the way: compounds/s.

use pharmforge_chembl::Chembl;
use pharmforge_core::adapter::enrich_records;
use pharmforge_core::{Adapter, AdapterName, CompoundRecord};
use pharmforge_pubchem::Pubchem;
use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::Stack;
use pharmforge_webclient::{cache_bucket, SharedCache, WebService, WebSettings};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn molecules(n: usize) -> Vec<String> {
    pharmforge_tests::distinct_molecules(n, &["", "c1ccccc1", "C1CCCCC1", "c1ccncc1", "c1ccc2ccccc2c1"])
}

async fn run(stack: &Stack, smiles: &[String]) -> (f64, Vec<Value>) {
    let start = Instant::now();
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem", "chembl"]}})).await;
    let id = run["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished_polling(&id, Duration::from_secs(1800), Duration::from_millis(50)).await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(done["status"], "completed", "{done}");
    (secs, stack.all_results(&id).await)
}

async fn in_process<A: Adapter>(adapter: &A, records: &[CompoundRecord]) -> f64 {
    // Warm-up, then timed rounds, batches of 64 with 8 in flight (as the runtime would).
    let _ = enrich_records(adapter, records.iter().take(64).cloned().collect()).await;
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        let batches: Vec<Vec<CompoundRecord>> = records.chunks(64).map(|c| c.to_vec()).collect();
        let mut out = futures_lite(batches.into_iter().map(|b| enrich_records(adapter, b))).await;
        assert!(out.iter_mut().flatten().all(|r| r.errors.is_empty()));
    }
    (rounds * records.len()) as f64 / start.elapsed().as_secs_f64()
}

/// Backends publish their table statistics when idle, up to 10 s late
/// (PostgreSQL 15's idle flush interval): waited out, untimed, around the
/// warm run so the row counts are its own and complete.
async fn stats_settle() {
    tokio::time::sleep(Duration::from_secs(11)).await
}

/// Rows inserted, updated and updated in place (HOT) in `compound_results`
/// so far: what the aggregator's writes cost Postgres.
async fn row_writes(db: &sqlx::PgPool) -> Vec<i64> {
    let row: (i64, i64, i64) = sqlx::query_as("SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'compound_results'")
        .fetch_one(db)
        .await
        .expect("table statistics");
    vec![row.0, row.1, row.2]
}

async fn futures_lite<F: std::future::Future>(it: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in it {
        out.push(f.await);
    }
    out
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_EXTERNAL_COMPOUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let pubchem = FakePubchem::start(PubchemFaults { unknown: 100, missing_properties: 100, ..PubchemFaults::none() }).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    let mut env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, None);
    env.push(("RUST_LOG", "warn".into()));
    // For comparisons: the aggregator's hold (0 writes every stage).
    if let Ok(hold) = std::env::var("AGGREGATOR_HOLD_MS") {
        env.push(("AGGREGATOR_HOLD_MS", hold));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let stack = Stack::start_with_env(&["rdkit_local", "pubchem", "chembl"], &env).await;
    let smiles = molecules(n);

    let (cold_secs, results) = run(&stack, &smiles).await;
    let cold_pubchem = pubchem.log().len();
    let cold_chembl = chembl.log().len();
    let errors = results.iter().filter(|r| r["errors"].as_object().is_some_and(|e| !e.is_empty())).count();

    let repeat: usize = std::env::var("BENCH_EXTERNAL_WARM_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(50).max(1);
    let warm_input: Vec<String> = smiles.iter().cycle().take(n * repeat).cloned().collect();
    let db = stack.db.pool().await;
    // The cold run's last writes (its rank update) counted before, not in the warm run.
    stats_settle().await;
    let writes_before = row_writes(&db).await;
    let cpu_before = stack.cpu_snapshot();
    let (warm_secs, warm_results) = run(&stack, &warm_input).await;
    let warm_cpu = pharmforge_tests::cpu_delta(&cpu_before, &stack.cpu_snapshot());
    stats_settle().await;
    let warm_writes: Vec<i64> = row_writes(&db).await.iter().zip(&writes_before).map(|(a, b)| a - b).collect();
    let warm_hits = warm_results.iter().filter(|r| r["pubchem"]["cache_hit"] == true && r["bioactivity"]["cache_hit"] == true).count();

    // In process, against the same caches.
    let client = async_nats::connect(stack.nats.url()).await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let ttl = Duration::from_secs(7 * 24 * 3600);
    let pc_cache = SharedCache::open(&js, &cache_bucket("", AdapterName::Pubchem), ttl).await.unwrap();
    let ch_cache = SharedCache::open(&js, &cache_bucket("", AdapterName::Chembl), ttl).await.unwrap();
    let records = |adapter: AdapterName| -> Vec<CompoundRecord> {
        results
            .iter()
            .cycle()
            .take(2000)
            .enumerate()
            .map(|(i, r)| {
                let mut rec = CompoundRecord::new(
                    &pharmforge_core::RunId::parse("run_00000000000000bb").unwrap(),
                    i as u32,
                    r["smiles"].as_str().unwrap().to_owned(),
                    vec![adapter],
                );
                rec.set_section(AdapterName::RdkitLocal, json!({"inchikey": r["properties"]["inchikey"]}));
                rec
            })
            .collect()
    };
    let (pubchem_settings, chembl_settings) = (WebSettings::from_env(&Pubchem::INFO).unwrap(), WebSettings::from_env(&Chembl::INFO).unwrap());
    let pc = pharmforge_pubchem::PubchemAdapter::new(Pubchem::from_env().unwrap(), pubchem_settings, None, Some(pc_cache));
    let ch = pharmforge_chembl::ChemblAdapter::new(Chembl::from_env().unwrap(), chembl_settings, None, Some(ch_cache));
    let before = (pubchem.log().len(), chembl.log().len());
    let pc_rate = in_process(&pc, &records(AdapterName::Pubchem)).await;
    let ch_rate = in_process(&ch, &records(AdapterName::Chembl)).await;
    assert_eq!(before, (pubchem.log().len(), chembl.log().len()), "in-process warm runs made no request");

    let out = json!({
        "compounds": n,
        "cold_run": {
            "seconds": cold_secs,
            "compounds_per_s": n as f64 / cold_secs,
            "pubchem_requests": cold_pubchem,
            "pubchem_requests_per_compound": cold_pubchem as f64 / n as f64,
            "pubchem_max_requests_in_any_second": pubchem.log().max_in_window(1000),
            "chembl_requests": cold_chembl,
            "chembl_requests_per_compound": cold_chembl as f64 / n as f64,
            "chembl_max_requests_in_any_second": chembl.log().max_in_window(1000),
            "compounds_with_errors": errors,
        },
        "warm_run_end_to_end": {
            "compounds": warm_input.len(),
            "seconds": warm_secs,
            "compounds_per_s": warm_input.len() as f64 / warm_secs,
            "pubchem_requests": pubchem.log().len() - cold_pubchem,
            "chembl_requests": chembl.log().len() - cold_chembl,
            "compounds_all_cache_hits": warm_hits,
            "cpu_seconds": warm_cpu,
            "compound_results_rows": {"inserted": warm_writes[0], "updated": warm_writes[1], "hot_updated": warm_writes[2]},
        },
        "warm_in_process_compounds_per_s": {"pubchem": pc_rate, "chembl": ch_rate},
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
