//! A run's results browsed as a table on a real Postgres: any column in
//! either direction with missing values last, failed only, search by ID or
//! SMILES (a `%` or `_` searched for is a character, not a wildcard), pages
//! read back in the browse's order, and the table view's cut-down sections.

mod common;
use common::fresh_pool;
use pharmforge_core::{AdapterName, CompoundRecord, RunId};
use pharmforge_store::browse::{ordered_indexes, results_at, Browse, Detail, SortKey};
use pharmforge_store::{aggregate::apply_batch, begin_run, InputCompound, NewRun};
use serde_json::{json, Value};

fn browse(sort: &str, descending: bool) -> Browse {
    Browse { sort: SortKey::parse(sort).unwrap(), descending, failed_only: false, search: None }
}

#[tokio::test]
async fn results_sort_by_any_field_filter_and_search_and_come_back_in_that_order() {
    let pool = fresh_pool().await;
    let run_id = &RunId::parse("run_00000000000b0a5e").unwrap();
    let route = vec!["rdkit_local".to_owned(), "admet_ai".to_owned()];
    let config = json!({});
    let mut draft = begin_run(
        &pool,
        NewRun { run_id, pipeline_config: &config, adapter_sequence: &route, user_id: None, priority: "normal", traceparent: None, scoring: &json!({}) },
    )
    .await
    .unwrap();
    let inputs = [("PF-1", "CCO"), ("pf-10", "c1ccccc1O"), ("100%_pure", "CCN"), ("PF-3", "c1ccccc1N")];
    draft.append(&inputs.map(|(id, smiles)| InputCompound { given_id: Some(id.into()), ..InputCompound::smiles(smiles) })).await.unwrap();
    let run = draft.commit().await.unwrap();

    // logP 0.5, 1.5, none (rdkit_local failed), -0.2; hERG under admet's properties.
    let logp = [Some(0.5), Some(1.5), None, Some(-0.2)];
    let herg = [0.9, 0.1, 0.5, 0.3];
    let records: Vec<CompoundRecord> = inputs
        .iter()
        .enumerate()
        .map(|(i, (_, smiles))| {
            let mut r = CompoundRecord::new(run_id, i as u32, smiles.to_string(), vec![AdapterName::RdkitLocal, AdapterName::AdmetAi]);
            match logp[i] {
                Some(v) => r.set_section(AdapterName::RdkitLocal, json!({"logp": v, "molecular_weight": 100.0 + i as f64})),
                None => r.set_error(AdapterName::RdkitLocal, "RDKit failed on this molecule"),
            }
            r.advance();
            let big: serde_json::Map<String, Value> = (0..60).map(|k| (format!("endpoint_{k}"), json!(k as f64 / 60.0))).collect();
            let mut props = big.clone();
            props.insert("hERG".into(), json!(herg[i]));
            r.set_section(
                AdapterName::AdmetAi,
                json!({"properties": props, "percentiles": {"hERG_drugbank_approved_percentile": herg[i] * 100.0}, "model": "m"}),
            );
            r.advance();
            r
        })
        .collect();
    apply_batch(&pool, records).await.unwrap();

    let order = |b: Browse| {
        let pool = pool.clone();
        async move { ordered_indexes(&pool, run.id, &b).await.unwrap() }
    };
    // Numbers as numbers, the missing one last in both directions.
    assert_eq!(order(browse("logp", false)).await, vec![3, 0, 1, 2]);
    assert_eq!(order(browse("logp", true)).await, vec![1, 0, 3, 2]);
    assert_eq!(order(browse("herg", true)).await, vec![0, 2, 3, 1]);
    assert_eq!(order(browse("admet.hERG_drugbank_approved_percentile", false)).await, vec![1, 3, 2, 0]);
    assert_eq!(order(browse("id", false)).await[0], 2, "IDs sort as text (the rest by the database's collation)");
    // Failed only: the compound with an adapter's error.
    assert_eq!(order(Browse { failed_only: true, ..browse("index", false) }).await, vec![2]);
    // Search: IDs in any case, SMILES as given; % and _ are characters.
    let search = |q: &str| Browse { search: Some(q.into()), ..browse("index", false) };
    assert_eq!(order(search("pf-1")).await, vec![0, 1]);
    assert_eq!(order(search("c1ccccc1")).await, vec![1, 3]);
    assert_eq!(order(search("%")).await, vec![2]);
    // (Every compound_id has a "_": run_…_index.)
    assert_eq!(order(search("0%_p")).await, vec![2]);
    assert_eq!(order(search("f_1")).await, Vec::<i32>::new(), "_ as a wildcard would find PF-1 and pf-10");
    assert_eq!(order(search("_")).await.len(), 4);
    assert_eq!(order(search("nothing like it")).await, Vec::<i32>::new());

    // A page comes back in the browse's order; the table view keeps only
    // what a table shows of the ADMET section.
    let rows = results_at(&pool, run.id, &[1, 3, 0], Detail::Table).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.idx).collect::<Vec<_>>(), vec![1, 3, 0]);
    let admet: Value = serde_json::from_str(rows[0].admet.as_ref().unwrap().0.get()).unwrap();
    assert_eq!(admet, json!({"properties": {"hERG": 0.1}, "percentiles": {"hERG_drugbank_approved_percentile": 10.0}}));
    assert_eq!(rows[0].given_id.as_deref(), Some("pf-10"));
    let full = results_at(&pool, run.id, &[1], Detail::Full).await.unwrap();
    let admet: Value = serde_json::from_str(full[0].admet.as_ref().unwrap().0.get()).unwrap();
    assert_eq!(admet["properties"].as_object().unwrap().len(), 61);
    assert!(results_at(&pool, run.id, &[99], Detail::Full).await.unwrap().is_empty());
}
