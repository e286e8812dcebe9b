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

/// The pubchem adapter in process against `fake`, with its shared cache on
/// a private nats-server (kept alive by the returned handle).
async fn adapter_in_process(fake: &FakePubchem, synonyms: usize, bucket: &str) -> (pharmforge_pubchem::PubchemAdapter, pharmforge_tests::NatsServer) {
    use pharmforge_core::AdapterName;
    use pharmforge_pubchem::{Pubchem, PubchemAdapter};
    use pharmforge_webclient::{cache_bucket, WebService, WebSettings};
    let nats = pharmforge_tests::NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let cache = pharmforge_webclient::SharedCache::open(&js, &cache_bucket(bucket, AdapterName::Pubchem), Duration::from_secs(3600)).await.unwrap();
    let mut settings = WebSettings::from_env(&Pubchem::INFO).unwrap();
    settings.base_url = fake.base_url().to_owned();
    (PubchemAdapter::new(Pubchem { synonyms }, settings, None, Some(cache)), nats)
}

/// `n` compounds addressed to pubchem, each with the InChIKey rdkit_local computes.
fn pubchem_records(n: usize, run_id: &str) -> Vec<pharmforge_core::CompoundRecord> {
    use pharmforge_core::{AdapterName, CompoundRecord};
    molecules(n)
        .into_iter()
        .enumerate()
        .map(|(i, smiles)| {
            let inchikey = pharmforge_chem::compute_properties(&smiles).unwrap().inchikey;
            let mut r = CompoundRecord::new(&pharmforge_core::RunId::parse(run_id).unwrap(), i as u32, smiles, vec![AdapterName::Pubchem]);
            r.set_section(AdapterName::RdkitLocal, json!({ "inchikey": inchikey }));
            r
        })
        .collect()
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
        assert!(s.log_text().contains("web client ready adapter=pubchem"), "{}", s.log_text());
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

/// With `PUBCHEM_SYNONYMS` set, a found compound gets that many synonyms (a
/// second request); a CID PubChem has no synonyms for gets an empty list; a
/// synonyms request that fails keeps the compound's properties, says why the
/// synonyms are missing, and is not cached, so the next run asks again.
#[tokio::test]
async fn synonyms_when_configured_and_a_failed_synonyms_request_keeps_the_properties_uncached() {
    use pharmforge_core::CompoundRecord;
    use pharmforge_tests::fakes::pubchem::synonyms_behaviour;

    let faults = PubchemFaults { no_synonyms: 250, synonyms_503: 250, ..PubchemFaults::none() };
    let fake = FakePubchem::start(faults.clone()).await;
    let (adapter, _nats) = adapter_in_process(&fake, 2, "synonyms_test_").await;
    let records = pubchem_records(40, "run_00000000000000cc");
    let first = pharmforge_core::adapter::enrich_records(&adapter, records.clone()).await;
    let mut seen = [0usize; 3];
    let mut failed_cids = Vec::new();
    for r in &first {
        let s = &r.section_value("pubchem").unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(s["found"], true, "{s}");
        assert!(s["inchikey"].is_string() && s["molecular_weight"].is_number(), "properties kept: {s}");
        let cid = s["cid"].as_u64().unwrap();
        match synonyms_behaviour(&faults, cid) {
            200 => {
                assert_eq!(s["synonyms"], json!([format!("fake-{cid}"), format!("FAKE{cid}")]), "{s}");
                seen[0] += 1;
            }
            404 => {
                assert_eq!(s["synonyms"], json!([]), "{s}");
                seen[1] += 1;
            }
            _ => {
                assert_eq!(s["synonyms"], Value::Null, "{s}");
                let why = s["synonyms_error"].as_str().unwrap();
                assert!(why.contains("synonyms not retrieved") && why.contains("503"), "{why}");
                failed_cids.push(cid);
                seen[2] += 1;
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every behaviour occurs among 40 compounds: {seen:?}");
    // One properties request and one synonyms request per compound.
    assert_eq!(fake.log().len(), 80);

    // Again: the complete sections come from the cache; the others ask again.
    let second = pharmforge_core::adapter::enrich_records(&adapter, records).await;
    let pubchem = |r: &CompoundRecord| r.section_value("pubchem").unwrap();
    let hits = second.iter().filter(|r| pubchem(r)["cache_hit"] == true).count();
    assert_eq!(hits, seen[0] + seen[1]);
    assert_eq!(fake.log().len(), 80 + 2 * seen[2], "only the {} compounds without synonyms were asked for again", seen[2]);
    for r in second.iter().filter(|r| pubchem(r)["cache_hit"] == false) {
        assert!(failed_cids.contains(&pubchem(r)["cid"].as_u64().unwrap()));
    }
}

/// PubChem standardizes a SMILES before it answers, and may answer for
/// another structure (another tautomer) than the one RDKit read. Such an
/// answer is kept for the compound but flagged, and never cached under
/// RDKit's InChIKey, where it would answer for the wrong structure for days.
#[tokio::test]
async fn an_answer_for_another_structure_than_rdkits_is_flagged_and_never_cached() {
    let fake = FakePubchem::start(PubchemFaults { restandardized: 300, ..PubchemFaults::none() }).await;
    let (adapter, _nats) = adapter_in_process(&fake, 0, "restandardized_").await;
    let records = pubchem_records(40, "run_00000000000000ce");
    let first = pharmforge_core::adapter::enrich_records(&adapter, records.clone()).await;
    let mut other = 0;
    for r in &first {
        let s = r.section_value("pubchem").unwrap();
        let ours = r.inchikey().unwrap();
        if s["inchikey"] == ours.as_str() {
            assert!(s.get("structure_match").is_none(), "{s}");
        } else {
            assert_eq!(s["structure_match"], false, "{s}");
            assert!(s["note"].as_str().unwrap().contains(&ours), "{s}");
            other += 1;
        }
    }
    assert!(other > 0 && other < 40, "{other} of 40 read as another structure: the fault must hit some, not all");

    let before = fake.log().len();
    let second = pharmforge_core::adapter::enrich_records(&adapter, records).await;
    assert_eq!(fake.log().len() - before, other, "only the flagged compounds are asked again: they were not cached");
    for r in &second {
        let s = r.section_value("pubchem").unwrap();
        assert_eq!(s["cache_hit"], s.get("structure_match").is_none(), "{s}");
    }
}
