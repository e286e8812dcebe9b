//! The aggregator's batch write against a real Postgres: duplicates,
//! redelivery out of order and records of deleted runs change nothing;
//! counters move by exactly the stages a record adds.

use pharmforge_core::{AdapterName, CompoundRecord, RunId, RunStatus};
use pharmforge_store::{aggregate::apply_batch, begin_run, get_run, results_stored, InputCompound, NewRun, StageCounts};
use serde_json::json;
use sqlx::PgPool;

mod common;
use common::fresh_pool;

fn parsed(s: &str) -> RunId {
    RunId::parse(s).unwrap()
}

async fn new_run(pool: &PgPool, run_id: &str, smiles: &[&str], route: &[AdapterName]) {
    let smiles: Vec<String> = smiles.iter().map(|s| s.to_string()).collect();
    let seq: Vec<String> = route.iter().map(|a| a.as_str().to_owned()).collect();
    let mut draft = begin_run(
        pool,
        NewRun {
            run_id: &parsed(run_id),
            pipeline_config: &json!({}),
            adapter_sequence: &seq,
            user_id: None,
            priority: "normal",
            traceparent: None,
            scoring: &json!({}),
        },
    )
    .await
    .unwrap();
    draft.append(&smiles.into_iter().map(InputCompound::smiles).collect::<Vec<_>>()).await.unwrap();
    draft.commit().await.unwrap();
}

/// The record as it leaves stage `steps` of its route (the later the
/// compound, the lower its QED: ranks follow the input order).
fn record(run_id: &str, index: u32, route: &[AdapterName], steps: usize) -> CompoundRecord {
    let mut r = CompoundRecord::new(&parsed(run_id), index, "CCO".into(), route.to_vec());
    for _ in 0..steps {
        let a = r.current_adapter().unwrap();
        r.set_section(a, json!({"qed": 0.5 - index as f64 / 100.0, "lipinski_violations": 0}));
        r.provenance.insert(a.as_str().into(), format!("{a} 1.0"));
        r.advance();
    }
    r
}

#[tokio::test]
async fn applying_the_same_records_twice_changes_nothing() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, Pubchem];
    new_run(&pool, "run_00000000000000a1", &["CCO", "CCN"], &route).await;
    let batch = vec![record("run_00000000000000a1", 0, &route, 1), record("run_00000000000000a1", 1, &route, 2)];
    let first = apply_batch(&pool, batch.clone()).await.unwrap();
    assert_eq!(first.applied, 2);
    let again = apply_batch(&pool, batch).await.unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 2));
    let run = get_run(&pool, &parsed("run_00000000000000a1")).await.unwrap().unwrap();
    assert_eq!(run.steps_done, 3);
    assert_eq!(run.completed_compounds, 1);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.stage_counts.of(RdkitLocal).done, 2);
    assert_eq!(run.stage_counts.of(Pubchem).done, 1);
    assert_eq!(run.lockfile["rdkit_local"], json!(["rdkit_local 1.0"]));
}

#[tokio::test]
async fn a_stale_record_after_a_later_one_is_ignored_and_the_run_finishes_once() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, Chembl];
    new_run(&pool, "run_00000000000000b2", &["CCO"], &route).await;
    let done = apply_batch(&pool, vec![record("run_00000000000000b2", 0, &route, 2)]).await.unwrap();
    assert_eq!(done.finished_runs, vec![parsed("run_00000000000000b2")]);
    // The earlier stage's record redelivered late.
    let late = apply_batch(&pool, vec![record("run_00000000000000b2", 0, &route, 1)]).await.unwrap();
    assert_eq!((late.applied, late.duplicates), (0, 1));
    assert!(late.finished_runs.is_empty());
    let run = get_run(&pool, &parsed("run_00000000000000b2")).await.unwrap().unwrap();
    assert_eq!((run.status.as_str(), run.completed_compounds, run.steps_done), ("completed", 1, 2));
    let row: (String, i16, Option<i32>) = sqlx::query_as("SELECT status, step, rank FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(row, ("completed".to_string(), 2, Some(1)));
}

#[tokio::test]
async fn within_one_batch_the_furthest_record_of_a_compound_wins() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, AdmetAi, Chembl];
    new_run(&pool, "run_00000000000000c3", &["CCO"], &route).await;
    let out = apply_batch(&pool, vec![record("run_00000000000000c3", 0, &route, 2), record("run_00000000000000c3", 0, &route, 1)]).await.unwrap();
    assert_eq!((out.applied, out.duplicates), (1, 1));
    let run = get_run(&pool, &parsed("run_00000000000000c3")).await.unwrap().unwrap();
    assert_eq!(run.steps_done, 2, "both stages counted once, from the furthest record");
}

#[tokio::test]
async fn records_of_a_deleted_run_are_dropped() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let out = apply_batch(&pool, vec![record("run_00000000000000d4", 0, &[RdkitLocal], 1)]).await.unwrap();
    assert_eq!(out.orphans, 1);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_fatal_error_counts_the_skipped_stages_and_fails_the_compound() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, AdmetAi, Pubchem];
    new_run(&pool, "run_00000000000000e5", &["C1CC", "CCO"], &route).await;
    let mut bad = CompoundRecord::new(&parsed("run_00000000000000e5"), 0, "C1CC".into(), route.to_vec());
    bad.set_fatal(RdkitLocal, "invalid SMILES: unclosed ring");
    bad.advance();
    let good = record("run_00000000000000e5", 1, &route, 3);
    let out = apply_batch(&pool, vec![bad, good]).await.unwrap();
    assert_eq!(out.finished_runs.len(), 1);
    let run = get_run(&pool, &parsed("run_00000000000000e5")).await.unwrap().unwrap();
    assert_eq!((run.completed_compounds, run.failed_compounds), (1, 1));
    assert_eq!(run.stage_counts.of(RdkitLocal), StageCounts { done: 1, failed: 1, skipped: 0 });
    assert_eq!(run.stage_counts.of(AdmetAi), StageCounts { done: 1, failed: 0, skipped: 1 });
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.results.unwrap()["failed"], 1);
}

/// The API reads a run's number of stored results from its first stage's
/// counts instead of counting rows: they agree after every kind of batch
/// (first stage, later stages, duplicates, a fatal error, a cancellation).
#[tokio::test]
async fn stored_results_equal_the_first_stage_counts_after_every_batch() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, AdmetAi, Pubchem];
    let id = "run_00000000000000a7";
    new_run(&pool, id, &["C"; 8], &route).await;
    let mut fatal = record(id, 5, &route, 0);
    fatal.set_fatal(RdkitLocal, "invalid SMILES");
    fatal.advance();
    let mut cancelled = record(id, 6, &route, 1);
    cancelled.cancel();
    let batches = vec![
        vec![record(id, 0, &route, 1), record(id, 1, &route, 1)],
        vec![record(id, 0, &route, 2), record(id, 2, &route, 3), record(id, 1, &route, 1)],
        vec![fatal, record(id, 3, &route, 0), cancelled],
        vec![record(id, 4, &route, 3), record(id, 2, &route, 3)],
    ];
    for batch in batches {
        apply_batch(&pool, batch).await.unwrap();
        let run = get_run(&pool, &parsed(id)).await.unwrap().unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results c JOIN pipeline_runs r ON r.id = c.run_pk WHERE r.run_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(results_stored(&run), rows, "{:?}", run.stage_counts);
    }
    assert_eq!(results_stored(&get_run(&pool, &parsed(id)).await.unwrap().unwrap()), 6);
}

/// A later record writes only its new stages' sections; what earlier stages
/// stored stays, even when the later record does not carry it (a compound
/// whose record was lost and rebuilt from the run's input for its error).
#[tokio::test]
async fn earlier_sections_stay_when_a_later_record_does_not_carry_them() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal, AdmetAi, Pubchem];
    let id = "run_00000000000000a8";
    new_run(&pool, id, &["CCO"], &route).await;
    apply_batch(&pool, vec![record(id, 0, &route, 2)]).await.unwrap();
    let mut lost = CompoundRecord::new(&parsed(id), 0, "CCO".into(), route.to_vec());
    lost.step = 2;
    lost.set_fatal(Pubchem, "dead-lettered: undecodable");
    lost.advance();
    apply_batch(&pool, vec![lost]).await.unwrap();
    let (properties, admet, pubchem, errors, status): (
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        serde_json::Value,
        String,
    ) = sqlx::query_as("SELECT properties, admet, pubchem, errors, status FROM compound_results WHERE compound_id = $1")
        .bind(format!("{id}_0"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(properties, Some(json!({"qed": 0.5, "lipinski_violations": 0})));
    assert_eq!(admet, Some(json!({"qed": 0.5, "lipinski_violations": 0})));
    assert_eq!(pubchem, None);
    assert_eq!(errors, json!({"pubchem": "dead-lettered: undecodable"}));
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn input_order_pages_are_index_ranges_that_fill_up_without_shifting() {
    use pharmforge_store::{list_results, ResultOrder};
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal];
    let run_id = "run_00000000000000a9";
    new_run(&pool, run_id, &["C"; 7], &route).await;
    let pk = get_run(&pool, &parsed(run_id)).await.unwrap().unwrap().id;
    let page = |p: i64| {
        let pool = pool.clone();
        async move { list_results(&pool, pk, ResultOrder::Input, p, 3).await.unwrap().iter().map(|r| r.idx).collect::<Vec<i32>>() }
    };
    // Compounds 5 and 1 are in first: each on the page of its index.
    apply_batch(&pool, vec![record(run_id, 5, &route, 1), record(run_id, 1, &route, 1)]).await.unwrap();
    assert_eq!((page(1).await, page(2).await, page(3).await), (vec![1], vec![5], vec![]));
    // The rest: pages fill up in place, and are what skipping rows would give.
    apply_batch(&pool, [0, 2, 3, 4, 6].iter().map(|&i| record(run_id, i, &route, 1)).collect()).await.unwrap();
    assert_eq!((page(1).await, page(2).await, page(3).await, page(4).await), (vec![0, 1, 2], vec![3, 4, 5], vec![6], vec![]));
    // Pages far beyond the run, and the largest page number, are empty.
    assert!(page(1_000_000).await.is_empty());
    let ranked = list_results(&pool, pk, ResultOrder::Rank, 2, 3).await.unwrap();
    assert_eq!(ranked.iter().map(|r| r.rank).collect::<Vec<_>>(), vec![Some(4), Some(5), Some(6)]);
}

#[tokio::test]
async fn a_record_holding_nul_from_upstream_is_stored_without_it_instead_of_refused() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [Pubchem, Chembl];
    let run_id = "run_00000000000000aa";
    new_run(&pool, run_id, &["CCO", "CCN"], &route).await;
    // Compound 0: a PubChem name and a ChEMBL error with U+0000 (as an
    // upstream service may send); compound 1 is clean, in the same batch.
    let mut dirty = CompoundRecord::new(&parsed(run_id), 0, "CCO".into(), route.to_vec());
    dirty.set_section(Pubchem, json!({"cid": 702, "iupac_name": "eth\u{0}anol", "synonyms": ["alcohol\u{0}"]}));
    dirty.advance();
    dirty.set_error(Chembl, "ChEMBL answered 500: \u{0}oops");
    dirty.advance();
    let clean = record(run_id, 1, &route, 2);
    let outcome = apply_batch(&pool, vec![dirty, clean]).await.expect("the batch is stored, not refused");
    assert_eq!(outcome.applied, 2);
    let (pubchem, errors): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT pubchem, errors FROM compound_results WHERE idx = 0").fetch_one(&pool).await.unwrap();
    assert_eq!(pubchem, json!({"cid": 702, "iupac_name": "ethanol", "synonyms": ["alcohol"]}));
    assert_eq!(errors, json!({"chembl": "ChEMBL answered 500: oops"}));
    let run = get_run(&pool, &parsed(run_id)).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_record_that_does_not_fit_its_run_counts_nothing() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let run_id = "run_00000000000000ab";
    new_run(&pool, run_id, &["CCO", "CCN"], &[RdkitLocal]).await;
    // Another route than the run's (two stages, so it would count two), and
    // an index past the run's two compounds.
    let other_route = record(run_id, 0, &[RdkitLocal, AdmetAi], 2);
    let past_the_end = record(run_id, 7, &[RdkitLocal], 1);
    let outcome = apply_batch(&pool, vec![other_route, past_the_end]).await.unwrap();
    assert_eq!((outcome.applied, outcome.misfits), (0, 2));
    let run = get_run(&pool, &parsed(run_id)).await.unwrap().unwrap();
    assert_eq!((run.steps_done, run.completed_compounds, run.status.as_str()), (0, 0, "pending"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 0);
    // The run's own records still count.
    let outcome = apply_batch(&pool, vec![record(run_id, 0, &[RdkitLocal], 1), record(run_id, 1, &[RdkitLocal], 1)]).await.unwrap();
    assert_eq!(outcome.applied, 2);
    assert_eq!(get_run(&pool, &parsed(run_id)).await.unwrap().unwrap().status, RunStatus::Completed);
}

/// A finished run of seven compounds through rdkit_local, of which 1 and 4
/// failed (no score, no rank) and the other five are ranked 1..=5; its key.
async fn finished_with_two_unranked(pool: &PgPool, run_id: &str) -> i64 {
    use AdapterName::*;
    let route = [RdkitLocal];
    new_run(pool, run_id, &["C"; 7], &route).await;
    let pk = get_run(pool, &parsed(run_id)).await.unwrap().unwrap().id;
    let records = (0..7u32)
        .map(|i| {
            if i == 1 || i == 4 {
                let mut r = CompoundRecord::new(&parsed(run_id), i, "C".into(), route.to_vec());
                r.set_fatal(RdkitLocal, "invalid SMILES");
                r.advance();
                r
            } else {
                record(run_id, i, &route, 1)
            }
        })
        .collect();
    apply_batch(pool, records).await.unwrap();
    pk
}

#[tokio::test]
async fn rank_pages_are_ranges_of_the_ranks_then_the_unranked_in_input_order() {
    use pharmforge_store::{list_results, ResultOrder};
    let pool = fresh_pool().await;
    let pk = finished_with_two_unranked(&pool, "run_00000000000000ac").await;
    let page = |p: i64| {
        let pool = pool.clone();
        async move { list_results(&pool, pk, ResultOrder::Rank, p, 3).await.unwrap().iter().map(|r| (r.rank, r.idx)).collect::<Vec<_>>() }
    };
    let first = page(1).await;
    assert_eq!(first.iter().map(|(rank, _)| *rank).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(3)]);
    let second = page(2).await;
    assert_eq!(second.iter().map(|(rank, _)| *rank).collect::<Vec<_>>(), vec![Some(4), Some(5), None]);
    assert_eq!(second[2].1, 1, "the unranked follow in input order");
    assert_eq!(page(3).await, vec![(None, 4)]);
    assert!(page(4).await.is_empty());
    assert!(page(1_000_000).await.is_empty());
}

/// An export's pages (ranges read two at a time by the API) cover every
/// result once, in input order, or in rank order then the unranked in input
/// order, whatever the page size, including pages with nothing in them.
#[tokio::test]
async fn export_pages_cover_every_result_once_in_order() {
    use pharmforge_store::{export_page, export_pages, ResultOrder};
    use AdapterName::*;
    let pool = fresh_pool().await;
    let pk = finished_with_two_unranked(&pool, "run_00000000000000ad").await;
    let route = [RdkitLocal];
    for size in [1, 2, 3, 500] {
        let read = |order| {
            let pool = pool.clone();
            async move {
                let mut rows = Vec::new();
                for page in export_pages(&pool, pk, order, size).await.unwrap() {
                    rows.extend(export_page(&pool, pk, page, true).await.unwrap().iter().map(|r| (r.rank, r.idx)));
                }
                rows
            }
        };
        assert_eq!(read(ResultOrder::Input).await.iter().map(|(_, i)| *i).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6], "page size {size}");
        let ranked = read(ResultOrder::Rank).await;
        assert_eq!(ranked.iter().map(|(r, _)| *r).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(3), Some(4), Some(5), None, None], "page size {size}");
        assert_eq!(ranked[5..].iter().map(|(_, i)| *i).collect::<Vec<_>>(), vec![1, 4], "the unranked follow in input order (page size {size})");
    }
    // A run with no results has no pages.
    let empty = "run_00000000000000ae";
    new_run(&pool, empty, &["C"], &route).await;
    let empty_pk = get_run(&pool, &parsed(empty)).await.unwrap().unwrap().id;
    assert!(export_pages(&pool, empty_pk, ResultOrder::Rank, 500).await.unwrap().is_empty());
}

/// A run written after the table's statistics were taken (Postgres then
/// estimates "1 row" for it) is placed when it finishes, and rescored, in
/// one pass over its rows: planned as a join with the values, each write
/// became a loop over the run's rows rescanning them (minutes for 20,000
/// compounds; hours for 100,000).
#[tokio::test]
async fn a_run_written_after_the_statistics_were_taken_is_placed_and_rescored_in_one_pass() {
    use pharmforge_core::profile;
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal];
    let small = "run_00000000000000b0";
    new_run(&pool, small, &["C"; 20], &route).await;
    apply_batch(&pool, (0..20).map(|i| record(small, i, &route, 1)).collect()).await.unwrap();
    sqlx::query("ANALYZE compound_results").execute(&pool).await.unwrap();

    const N: u32 = 20_000;
    let big = "run_00000000000000b1";
    new_run(&pool, big, &vec!["C"; N as usize], &route).await;
    let records: Vec<CompoundRecord> = (0..N)
        .map(|i| {
            let mut r = CompoundRecord::new(&parsed(big), i, "CCO".into(), route.to_vec());
            r.set_section(RdkitLocal, json!({"qed": f64::from(i % 997) / 997.0, "lipinski_violations": i % 3, "logp": f64::from(i % 101) / 10.0}));
            r.advance();
            r
        })
        .collect();
    let mut chunks = records.chunks(5_000).peekable();
    while let Some(chunk) = chunks.next() {
        let started = std::time::Instant::now();
        let outcome = apply_batch(&pool, chunk.to_vec()).await.unwrap();
        if chunks.peek().is_none() {
            assert_eq!(outcome.finished_runs, vec![parsed(big)]);
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "placing took {:?}", started.elapsed());
        }
    }
    let places: (i64, i64, i64) =
        sqlx::query_as("SELECT count(DISTINCT rank_order), max(rank_order)::bigint, count(rank) FROM compound_results c JOIN pipeline_runs p ON p.id = c.run_pk WHERE p.run_id = $1")
            .bind(big)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(places, (i64::from(N), i64::from(N), i64::from(N)));

    let (_, pareto) = profile::resolve(&json!({"method": "pareto", "objectives": [
        {"name": "qed", "value": "properties.qed", "transform": {"type": "identity"}},
        {"name": "logp", "value": "properties.logp", "transform": {"type": "reverse_sigmoid", "low": 2, "high": 6, "k": 0.5}},
    ]}))
    .unwrap();
    let started = std::time::Instant::now();
    let done = pharmforge_store::scores::rescore(&pool, &parsed(big), &pareto, None).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "rescoring took {:?}", started.elapsed());
    assert_eq!((done.compounds, done.ranked), (N as usize, N as usize));
    let front_1: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results WHERE pareto_front = 1").fetch_one(&pool).await.unwrap();
    assert!(front_1 > 0);
}

/// Counts stored before they were typed read back: an entry with only some
/// counts, and an adapter this version does not know (a row of another
/// version), which is shown and written back as it was, never dropped.
#[tokio::test]
async fn stored_stage_counts_of_an_unknown_adapter_read_back_and_survive_a_write() {
    use AdapterName::*;
    let pool = fresh_pool().await;
    let route = [RdkitLocal];
    let id = "run_00000000000000ad";
    new_run(&pool, id, &["CCO", "CCN"], &route).await;
    sqlx::query("UPDATE pipeline_runs SET stage_counts = '{\"vina\": {\"done\": 4, \"failed\": 1}, \"rdkit_local\": {\"done\": 1}}' WHERE run_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let run = get_run(&pool, &parsed(id)).await.unwrap().unwrap();
    assert_eq!(run.stage_counts.named("vina"), StageCounts { done: 4, failed: 1, skipped: 0 });
    assert_eq!(run.stage_counts.of(RdkitLocal), StageCounts { done: 1, failed: 0, skipped: 0 });
    assert_eq!(results_stored(&run), 1);

    apply_batch(&pool, vec![record(id, 1, &route, 1)]).await.unwrap();
    let stored: serde_json::Value = sqlx::query_scalar("SELECT stage_counts FROM pipeline_runs WHERE run_id = $1").bind(id).fetch_one(&pool).await.unwrap();
    assert_eq!(stored, json!({"vina": {"done": 4, "failed": 1, "skipped": 0}, "rdkit_local": {"done": 2, "failed": 0, "skipped": 0}}));
}

/// A page of an export looks each result's input up by its key, whatever
/// the statistics say: planned as a join while the statistics were taken
/// when the run was small, Postgres read the run's whole input for every
/// page and compared every pair (0.4-0.7 s a page at 20,000 compounds).
#[tokio::test]
async fn an_export_page_looks_each_input_up_by_its_key_even_with_stale_statistics() {
    use pharmforge_store::{export_page_query, ExportPage};
    let pool = fresh_pool().await;
    let pk: i64 = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (run_id, status, input_smiles, pipeline_config, adapter_sequence, total_compounds) \
         VALUES ('run_00000000000000be', 'completed', '[]', '{}', '{rdkit_local}', 20010) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let add = |from: i32, to: i32| {
        let pool = pool.clone();
        async move {
            let inputs = "INSERT INTO run_inputs (run_pk, idx, smiles, given_id) SELECT $1, g, 'C', 'id-' || g FROM generate_series($2::int, $3::int - 1) g";
            let results = "INSERT INTO compound_results (run_pk, idx, compound_id, smiles, status, step, rank_order) \
                 SELECT $1, g, 'c' || g, 'C', 'completed', 1, CASE WHEN g % 2 = 0 THEN g / 2 + 1 END FROM generate_series($2::int, $3::int - 1) g";
            for sql in [inputs, results] {
                sqlx::query(sql).bind(pk).bind(from).bind(to).execute(&pool).await.unwrap();
            }
        }
    };
    add(0, 10).await;
    sqlx::query("ANALYZE run_inputs, compound_results").execute(&pool).await.unwrap();
    add(10, 20_010).await;
    for page in [ExportPage::Input { from: 0, to: 500 }, ExportPage::Ranked { from: 1, to: 501 }, ExportPage::Unranked { from: 0, to: 500 }] {
        let (sql, from, to) = export_page_query(page, false);
        let plan: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN {sql}")).bind(pk).bind(from).bind(to).bind(i64::from(to - from)).fetch_all(&pool).await.unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("Index Cond: ((run_pk = c.run_pk) AND (idx = c.idx))") && !plan.contains("Materialize"), "{page:?}:\n{plan}");
    }
}
