//! The scaffolds adapter end to end (README, "Adding an adapter"): a run
//! that names it in `pipeline_config.adapters` gets each compound's
//! `scaffolds` section in its results and its exports; a run that names no
//! adapters takes the default route, which does not go through it.

use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::Duration;

async fn get_text(stack: &Stack, path: &str) -> (u16, String) {
    let r = stack.http.get(stack.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_run_that_names_scaffolds_gets_them_in_results_and_exports_and_a_default_run_does_not_go_through_it() {
    let stack = Stack::start(&["rdkit_local", "scaffolds"]).await;
    let smiles = ["Cc1cc(Oc2nccc(CCC)c2)ccc1", "CCO", "C1CC1(", "O=C1CCCC1=O", "c1ccc2ccccc2c1CCC1CC1"];
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "scaffolds"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["pipeline_config"]["adapters"], json!(["rdkit_local", "scaffolds"]));
    assert_eq!(done["stages"]["scaffolds"]["done"], 4, "{done}");
    assert!(done["lockfile"]["scaffolds"].to_string().contains("RDKit"), "the adapter's provenance: {}", done["lockfile"]);

    let results = stack.all_results(run_id).await;
    let scaffolds: Vec<&Value> = results.iter().map(|r| &r["scaffolds"]).collect();
    assert_eq!(scaffolds[0], &json!({"scaffold": "c1ccc(Oc2ccccn2)cc1", "generic_scaffold": "C1CCC(CC2CCCCC2)CC1", "ring_systems": 2}));
    assert_eq!(scaffolds[1], &json!({"scaffold": "", "generic_scaffold": "", "ring_systems": 0}), "acyclic: RDKit's empty scaffold");
    assert_eq!((results[2]["status"].as_str(), scaffolds[2]), (Some("failed"), &Value::Null), "the invalid SMILES stops at rdkit_local");
    assert_eq!(scaffolds[3]["scaffold"], "O=C1CCCC1=O");
    assert_eq!(scaffolds[4]["ring_systems"], 2);
    let (status, one) = stack.get_json(&format!("/api/v1/runs/{run_id}/results/0")).await;
    assert_eq!((status, &one["scaffolds"]), (200, scaffolds[0]));

    // The exports carry the section: its keys as columns, its object per line.
    let (status, csv) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv")).await;
    assert_eq!(status, 200, "{csv}");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for column in ["scaffolds.scaffold", "scaffolds.generic_scaffold", "scaffolds.ring_systems"] {
        assert!(header.contains(&column), "no column {column} in {header:?}");
    }
    // Just the section's columns (no cell of them holds a comma).
    let (_, some) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv&columns=index,scaffolds.*")).await;
    let rows: Vec<&str> = some.lines().collect();
    assert_eq!(rows[0], "index,scaffolds.generic_scaffold,scaffolds.ring_systems,scaffolds.scaffold", "{some}");
    assert_eq!(rows[1], "0,C1CCC(CC2CCCCC2)CC1,2,c1ccc(Oc2ccccn2)cc1", "{some}");
    assert_eq!(rows[2], "1,,0,", "acyclic: empty scaffolds\n{some}");
    let (_, jsonl) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=jsonl")).await;
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(&first["scaffolds"], scaffolds[0]);

    // A run naming no adapters takes the default route, without scaffolds:
    // its compounds wait at admet_ai (not running here) after rdkit_local,
    // and none reaches the scaffolds consumer.
    let run = stack.create_run(json!({"input_smiles": ["c1ccccc1CC1CC1", "CCN"]})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run["pipeline_config"]["adapters"], json!(["rdkit_local", "admet_ai", "pubchem", "chembl"]), "{run}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        if got["stages"]["rdkit_local"]["done"] == 2 {
            assert_eq!(got["stages"]["admet_ai"]["pending"], 2, "{got}");
            assert!(got["stages"].get("scaffolds").is_none(), "not on the route: {}", got["stages"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rdkit_local stage never finished: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, pipeline) = stack.get_json("/api/v1/pipeline").await;
    let consumer = pipeline["adapters"].as_array().unwrap().iter().find(|a| a["name"] == "scaffolds").expect("scaffolds in /pipeline");
    assert_eq!((consumer["pending"].as_u64(), consumer["in_flight"].as_u64()), (Some(0), Some(0)), "{consumer}");
    for r in stack.all_results(&run_id).await {
        assert_eq!(r["scaffolds"], Value::Null, "{r}");
    }
}
