//! The pubchem adapter end to end against the fake PubChem: rdkit_local →
//! pubchem with faults injected (503 HTML + Retry-After, 503/504 faults, slow
//! answers past the timeout, CID 0, missing properties, a compound PubChem
//! never answers), two replicas sharing the 5/s rate limit, then the same
//! compounds again answered from the shared cache with no request.

use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::Duration;

fn molecules(n: usize) -> Vec<String> {
    pharmforge_tests::distinct_molecules(n, &["", "c1ccccc1", "C1CCCCC1", "c1ccncc1"])
}

fn env(fake: &FakePubchem) -> Vec<(&'static str, String)> {
    vec![
        ("PUBCHEM_BASE_URL", fake.base_url().to_owned()),
        ("PUBCHEM_TIMEOUT_MS", "1000".into()),
        ("PUBCHEM_BACKOFF_MS", "300".into()),
        ("PUBCHEM_MAX_BACKOFF_MS", "2000".into()),
        ("PUBCHEM_MAX_ATTEMPTS", "4".into()),
    ]
}

#[tokio::test]
async fn sixty_compounds_with_faults_through_two_replicas_under_the_shared_rate_limit_then_from_the_cache() {
    let fake = FakePubchem::start(PubchemFaults::mixed()).await;
    let env = env(&fake);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut stack = Stack::start_with_env(&["rdkit_local", "pubchem"], &env_ref).await;
    stack.spawn("pharmforge-pubchem", &[]);
    let smiles = molecules(60);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished(&run_id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let results = stack.all_results(&run_id).await;
    assert_eq!(results.len(), 60);
    let (mut found, mut not_found, mut errors, mut missing) = (0, 0, 0, 0);
    for r in &results {
        let section = &r["pubchem"];
        let error = r["errors"]["pubchem"].as_str();
        match (section.is_object(), error) {
            (true, None) => {
                assert_eq!(section["source"], "pubchem");
                assert!(section["retrieved_at"].is_string());
                assert_eq!(section["cache_hit"], false);
                if section["found"] == true {
                    found += 1;
                    assert!(section["cid"].as_i64().unwrap() > 0);
                    assert!(section["molecular_weight"].is_f64(), "weight parsed from its string: {section}");
                    assert_eq!(section["inchikey"], r["properties"]["inchikey"]);
                    if section["xlogp"].is_null() {
                        missing += 1;
                    }
                } else {
                    not_found += 1;
                    assert_eq!(section["cid"], Value::Null);
                }
            }
            (false, Some(e)) => {
                errors += 1;
                assert!(e.contains("PubChem unavailable after 4 attempts"), "{e}");
            }
            other => panic!("compound has neither a section nor an error: {other:?} {r}"),
        }
    }
    eprintln!("found {found}, not found {not_found}, errors {errors}, missing properties {missing}; {} requests", fake.log().len());
    assert!(found > 30 && not_found > 0 && missing > 0, "the fault mix was exercised");
    assert!(errors >= 1, "a compound PubChem never answers ends with an error");
    // Retries happened (more requests than compounds), the rate limit held
    // across both replicas, and both replicas did work.
    let log = fake.log();
    assert!(log.len() > 60, "faults were retried");
    assert!(log.max_in_window(1000) <= 5, "at most 5 requests in any second: {}", log.max_in_window(1000));
    for s in stack.services.iter().filter(|s| s.name == "pharmforge-pubchem") {
        assert!(s.log_text().contains("pubchem client ready"), "{}", s.log_text());
    }

    // The same compounds again: every one from the shared cache, no request.
    let before = fake.log().len();
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished(&run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed");
    let again = stack.all_results(&run_id).await;
    let hits = again.iter().filter(|r| r["pubchem"]["cache_hit"] == true).count();
    assert_eq!(hits, found + not_found, "every answered compound comes from the cache");
    assert_eq!(fake.log().len() - before, errors * 4, "only the compounds that had no answer are asked again (4 attempts each)");
}

#[tokio::test]
async fn a_black_throttling_status_pauses_requests() {
    let fake = FakePubchem::start(PubchemFaults::none()).await;
    let mut env = env(&fake);
    env.push(("PUBCHEM_BLACK_PAUSE_MS", "3000".into()));
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stack = Stack::start_with_env(&["rdkit_local", "pubchem"], &env_ref).await;
    fake.set_throttle("Request Count status: Black (100%), Request Time status: Green (0%), Service status: Green (20%)");
    let smiles = molecules(4);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem"]}})).await;
    let done = stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed");
    let mut t: Vec<u64> = fake.log().all().iter().map(|r| r.at_ms).collect();
    t.sort_unstable();
    assert_eq!(t.len(), 4);
    assert!(t[1] - t[0] >= 2900, "after a Black status every request waits for the pause: {t:?}");
}
