//! A run's inputs on a real Postgres: written a batch at a time in the
//! run's own transaction (invisible until committed, gone if abandoned),
//! numbered on across batches, read back by slices, and joined to the
//! results with the user's IDs and properties.

use pharmforge_core::{AdapterName, CompoundRecord, RunId};
use pharmforge_store::inputs::{input_slice, input_smiles, AdmittedInput};
use pharmforge_store::{aggregate::apply_batch, begin_run, get_run, list_results, InputCompound, NewRun, ResultOrder};
use serde_json::json;

mod common;
use common::fresh_pool;

fn new_run(run_id: &RunId) -> NewRun<'_> {
    static SEQ: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let seq = SEQ.get_or_init(|| vec!["rdkit_local".to_owned()]);
    static CONFIG: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    NewRun {
        run_id,
        pipeline_config: CONFIG.get_or_init(|| json!({})),
        adapter_sequence: seq,
        user_id: None,
        priority: "normal",
        traceparent: None,
        scoring: CONFIG.get_or_init(|| json!({})),
    }
}

#[tokio::test]
async fn inputs_are_numbered_across_batches_and_read_back_by_slices() {
    let pool = fresh_pool().await;
    let run_id = &RunId::parse("run_0190f1a200000001").unwrap();
    let mut draft = begin_run(&pool, new_run(run_id)).await.unwrap();
    let first: Vec<InputCompound> = (0..3).map(|i| InputCompound { given_id: Some(format!("PF-{i}")), ..InputCompound::smiles("C".repeat(i + 1)) }).collect();
    draft.append(&first).await.unwrap();
    let bad = InputCompound { input_error: Some("record 4 (line 30): RDKit cannot read the molecule".into()), ..Default::default() };
    let props = json!({"IC50_nM": "12.5", "series": "A"}).as_object().cloned();
    draft.append(&[bad, InputCompound { properties: props, ..InputCompound::smiles("N") }]).await.unwrap();
    // Not visible before the commit: admission must not see half a run.
    assert!(get_run(&pool, run_id).await.unwrap().is_none());
    let row = draft.commit().await.unwrap();
    assert_eq!(row.total_compounds, 5);

    let mut conn = pool.acquire().await.unwrap();
    let slice = input_slice(&mut conn, row.id, 2, 4).await.unwrap();
    assert_eq!(
        slice,
        vec![
            AdmittedInput { smiles: "CCC".into(), input_error: None },
            AdmittedInput { smiles: String::new(), input_error: Some("record 4 (line 30): RDKit cannot read the molecule".into()) },
        ]
    );
    assert_eq!(input_slice(&mut conn, row.id, 4, 10).await.unwrap().len(), 1);
    assert_eq!(input_smiles(&pool, row.id, 2).await.unwrap(), vec!["C", "CC"]);

    // A result carries the user's ID and properties from its input.
    let route = vec![AdapterName::RdkitLocal];
    let mut done = CompoundRecord::new(run_id, 4, "N".into(), route.clone());
    done.set_section(AdapterName::RdkitLocal, json!({"qed": 0.3}));
    done.advance();
    let mut named = CompoundRecord::new(run_id, 1, "CC".into(), route);
    named.set_section(AdapterName::RdkitLocal, json!({"qed": 0.4}));
    named.advance();
    apply_batch(&pool, vec![done, named]).await.unwrap();
    let rows = list_results(&pool, row.id, ResultOrder::Input, 1, 10).await.unwrap();
    let got: Vec<(i32, Option<&str>, Option<String>)> =
        rows.iter().map(|r| (r.idx, r.given_id.as_deref(), r.input_properties.as_ref().map(|p| p.0.get().to_owned()))).collect();
    assert_eq!(got, vec![(1, Some("PF-1"), None), (4, None, Some(r#"{"series": "A", "IC50_nM": "12.5"}"#.into()))]);

    // The export's columns: each section's keys over the run, kept as
    // results are written, not found by reading them all again.
    let keys = pharmforge_store::section_keys(&pool, row.id).await.unwrap();
    let sections: Vec<&str> = keys.iter().map(|(s, _)| s.name()).collect();
    assert_eq!(sections, ["properties", "scores", "input"]);
    assert_eq!(keys[0].1, ["qed"]);
    assert_eq!(keys[2].1, ["IC50_nM", "series"]);
    let mut failed = CompoundRecord::new(run_id, 0, "C".into(), vec![AdapterName::RdkitLocal]);
    failed.set_fatal(AdapterName::RdkitLocal, "invalid SMILES");
    failed.advance();
    let mut more = CompoundRecord::new(run_id, 2, "CCC".into(), vec![AdapterName::RdkitLocal]);
    more.set_section(AdapterName::RdkitLocal, json!({"qed": 0.1, "logp": 1.0}));
    more.advance();
    apply_batch(&pool, vec![failed, more]).await.unwrap();
    let keys = pharmforge_store::section_keys(&pool, row.id).await.unwrap();
    assert_eq!(keys[0].1, ["logp", "qed"]);
    assert_eq!(keys.iter().find(|(s, _)| s.name() == "errors").map(|(_, k)| k.clone()), Some(vec!["rdkit_local".to_owned()]));
}

#[tokio::test]
async fn an_abandoned_draft_leaves_nothing_behind() {
    let pool = fresh_pool().await;
    let run_id = &RunId::parse("run_0190f1a200000002").unwrap();
    let mut draft = begin_run(&pool, new_run(run_id)).await.unwrap();
    draft.append(&[InputCompound::smiles("CCO")]).await.unwrap();
    drop(draft);
    assert!(get_run(&pool, run_id).await.unwrap().is_none());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM run_inputs").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0);
}
