//! The chembl adapter end to end against the fake ChEMBL: batching through
//! `__in` filters, pagination of activities, flexmatch fallback, the shared
//! cache, and an outage that ends with a clear error after the retry budget.

use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::Stack;
use serde_json::json;
use std::time::Duration;

fn molecules(n: usize) -> Vec<String> {
    pharmforge_tests::distinct_molecules(n, &["c1ccccc1"])
}

#[tokio::test]
async fn bioactivity_is_batched_paginated_and_cached_and_an_outage_ends_in_a_clear_error() {
    let fake = FakeChembl::start(ChemblFaults::none()).await;
    let env = [
        ("CHEMBL_BASE_URL", fake.base_url()),
        ("CHEMBL_TIMEOUT_MS", "1000"),
        ("CHEMBL_BACKOFF_MS", "200"),
        ("CHEMBL_MAX_BACKOFF_MS", "1000"),
        ("CHEMBL_MAX_ATTEMPTS", "3"),
        ("CHEMBL_RATE_PER_SECOND", "20"),
        ("CHEMBL_RATE_PER_MINUTE", "6000"),
    ];
    let stack = Stack::start_with_env(&["rdkit_local", "chembl"], &env).await;
    let smiles = molecules(80);
    let adapters = json!(["rdkit_local", "chembl"]);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": adapters}})).await;
    let done = stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed");
    let results = stack.all_results(run["run_id"].as_str().unwrap()).await;
    let mut found = 0;
    for r in &results {
        let b = &r["bioactivity"];
        assert!(b.is_object(), "{r}");
        assert_eq!(b["cache_hit"], false);
        if b["found"] == true {
            found += 1;
            let n = b["num_activities"].as_u64().unwrap();
            assert!(b["activities"].as_array().unwrap().len() as u64 <= n.min(50));
            if let Some(best) = b["best_pchembl"].as_f64() {
                assert_eq!(b["activities"][0]["pchembl_value"].as_f64(), Some(best), "most potent first");
            }
        } else {
            assert_eq!(b["note"], "not in ChEMBL");
        }
    }
    let requests = fake.log().len();
    eprintln!("{found} of 80 found; {requests} requests ({:.2} per compound)", requests as f64 / 80.0);
    assert!(found > 50);
    assert!((requests as f64) / 80.0 <= 1.5, "batched: {requests} requests for 80 compounds");
    assert!(fake.log().all().iter().all(|r| r.path.ends_with(".json") || r.path.contains(".json")), "JSON asked for explicitly");

    // Again: all from the shared cache, no request.
    let before = fake.log().len();
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": adapters}})).await;
    stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    let again = stack.all_results(run["run_id"].as_str().unwrap()).await;
    assert!(again.iter().all(|r| r["bioactivity"]["cache_hit"] == true));
    assert_eq!(fake.log().len(), before, "a cache-warm run costs no request");

    // An outage: new compounds end with a clear error after the budget.
    fake.set_outage(true);
    let run = stack.create_run(json!({"input_smiles": ["CCCCCCCCCCCCCCCCO", "CCCCCCCCCCCCCCCCN"], "pipeline_config": {"adapters": adapters}})).await;
    stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    for r in stack.all_results(run["run_id"].as_str().unwrap()).await {
        let e = r["errors"]["chembl"].as_str().unwrap_or_else(|| panic!("an error: {r}"));
        assert!(e.contains("ChEMBL unavailable after 3 attempts") && e.contains("503"), "{e}");
    }
}

/// Errors and caps belong to the compound: in one batch, a compound whose
/// own lookup ChEMBL refuses (a 10 KB SMILES: 414) carries that error alone,
/// and when the batch's activities run past the page cap, only the
/// molecules that have more activities than the cap are marked truncated
/// (that section is cached for days under the compound's key).
#[tokio::test]
async fn one_compounds_failed_lookup_and_an_activity_cap_stay_that_compounds_own() {
    use pharmforge_chembl::{Chembl, ChemblAdapter};
    use pharmforge_core::{AdapterName, CompoundRecord};
    use pharmforge_tests::fakes::chembl::activities_of;
    use pharmforge_webclient::{WebService, WebSettings};

    // Every molecule is found (by flexmatch); 30% have 1,200 activities.
    let faults = ChemblFaults { known: 0, flexmatch_only: 1000, many_activities: 300, ..ChemblFaults::none() };
    let fake = FakeChembl::start(faults.clone()).await;
    let mut settings = WebSettings::from_env(&Chembl::INFO).unwrap();
    settings.base_url = fake.base_url().to_owned();
    let adapter = ChemblAdapter::new(Chembl::new(1, 50, true), settings, None, None); // one page: 1,000 activities

    let mut smiles = molecules(30);
    smiles.insert(11, "C".repeat(10_000));
    let records: Vec<CompoundRecord> = smiles
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut r = CompoundRecord::new(&pharmforge_core::RunId::parse("run_00000000000000cd").unwrap(), i as u32, s.clone(), vec![AdapterName::Chembl]);
            if let Ok(p) = pharmforge_chem::compute_properties(s) {
                r.set_section(AdapterName::RdkitLocal, json!({ "inchikey": p.inchikey }));
            }
            r
        })
        .collect();
    let out = pharmforge_core::adapter::enrich_records(&adapter, records).await;
    let (mut truncated, mut complete) = (0, 0);
    for (i, r) in out.iter().enumerate() {
        if i == 11 {
            let e = r.errors.get("chembl").expect("the long SMILES's own error");
            assert!(e.contains("414"), "{e}");
            assert!(r.section_value("bioactivity").is_none());
            continue;
        }
        assert!(r.errors.is_empty(), "compound {i} carries another's error: {:?}", r.errors);
        let s = r.section_value("bioactivity").unwrap();
        assert_eq!(s["found"], true, "{s}");
        let all = activities_of(s["molecule_chembl_id"].as_str().unwrap(), &faults).len();
        if all > 1_000 {
            assert_eq!((s["truncated"].clone(), s["num_activities"].as_u64()), (json!(true), Some(1_000)), "{s}");
            truncated += 1;
        } else {
            assert!(s.get("truncated").is_none(), "a molecule with {all} activities marked truncated");
            assert_eq!(s["num_activities"].as_u64(), Some(all as u64));
            complete += 1;
        }
    }
    assert!(truncated > 0 && complete > 0, "{truncated} truncated, {complete} complete: the batch must mix both");
}

/// A molecule twice in one batch (a library's duplicate, or the same
/// compound in two runs at once) has its activities in both sections: one
/// of them had none, and either might be the one cached for days.
#[tokio::test]
async fn a_molecule_twice_in_a_batch_has_its_activities_in_both_sections() {
    use pharmforge_chembl::{Chembl, ChemblAdapter};
    use pharmforge_core::{AdapterName, CompoundRecord};
    use pharmforge_tests::fakes::chembl::activities_of;
    use pharmforge_webclient::{WebService, WebSettings};

    let faults = ChemblFaults { known: 1000, ..ChemblFaults::none() };
    let fake = FakeChembl::start(faults.clone()).await;
    let mut settings = WebSettings::from_env(&Chembl::INFO).unwrap();
    settings.base_url = fake.base_url().to_owned();
    let adapter = ChemblAdapter::new(Chembl::new(10, 50, true), settings, None, None);
    let smiles = molecules(6);
    let records: Vec<CompoundRecord> = smiles
        .iter()
        .chain(&smiles)
        .enumerate()
        .map(|(i, s)| {
            let mut r = CompoundRecord::new(&pharmforge_core::RunId::parse("run_00000000000000ce").unwrap(), i as u32, s.clone(), vec![AdapterName::Chembl]);
            r.set_section(AdapterName::RdkitLocal, json!({ "inchikey": pharmforge_chem::compute_properties(s).unwrap().inchikey }));
            r
        })
        .collect();
    let out = pharmforge_core::adapter::enrich_records(&adapter, records).await;
    let sections: Vec<serde_json::Value> = out.iter().map(|r| r.section_value("bioactivity").expect("a section")).collect();
    for (first, again) in sections[..6].iter().zip(&sections[6..]) {
        let all = activities_of(first["molecule_chembl_id"].as_str().unwrap(), &faults).len();
        assert_eq!(first["num_activities"].as_u64(), Some(all as u64), "{first}");
        assert_eq!(first, again, "the same molecule, the same section");
    }
    assert!(sections.iter().any(|s| s["num_activities"].as_u64() > Some(0)), "some molecule has activities");
}

/// An upstream answer past the size cap is refused (a permanent error for
/// that request), whether it announces its length or streams without one:
/// read whole, a runaway answer could exhaust the service.
#[tokio::test]
async fn an_upstream_answer_past_the_size_cap_is_refused_not_read_whole() {
    use axum::body::Body;
    use pharmforge_webclient::{read_body, FetchError, MAX_RESPONSE_BYTES};
    let big = MAX_RESPONSE_BYTES + 1024;
    let app = axum::Router::new()
        .route("/sized", axum::routing::get(move || async move { "x".repeat(big) }))
        .route(
            "/streamed",
            axum::routing::get(move || async move {
                let chunks = futures::stream::iter((0..big / 65_536 + 1).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 65_536])));
                Body::from_stream(chunks)
            }),
        )
        .route("/small", axum::routing::get(|| async { "{\"ok\": true}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    for path in ["/sized", "/streamed"] {
        let resp = http.get(format!("http://{addr}{path}")).send().await.unwrap();
        match read_body("ChEMBL", resp, MAX_RESPONSE_BYTES).await {
            Err(FetchError::Permanent(m)) => assert!(m.contains("larger than"), "{m}"),
            other => panic!("{path}: {:?}", other.map(|b| b.len())),
        }
    }
    let resp = http.get(format!("http://{addr}/small")).send().await.unwrap();
    assert_eq!(read_body("ChEMBL", resp, MAX_RESPONSE_BYTES).await.unwrap(), "{\"ok\": true}");
}
