//! End to end through the real services: the ChEMBL reference set through
//! api → rdkit-local → aggregator → Postgres, every stored property compared
//! with RDKit's own values; and runs with invalid SMILES.

use pharmforge_tests::{reference, Stack};
use serde_json::{json, Value};
use std::time::Duration;

/// InChIKeys that our InChI path (RDKit molblock → IUPAC InChI 1.07) is
/// allowed to compute differently from RDKit's built-in InChI. Kept in step
/// with pharmforge-chem's own reference test.

#[tokio::test]
async fn the_chembl_reference_set_flows_through_rdkit_local_and_matches_rdkit() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let molecules = reference::load("chembl_cmet_1017.rdkit.jsonl");
    assert_eq!(molecules.len(), 1017);
    let smiles: Vec<&str> = molecules.iter().map(|m| m["smiles"].as_str().unwrap()).collect();
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["compounds"]["total"], 1017);
    let results = stack.all_results(run_id).await;
    assert_eq!(results.len(), 1017, "one result per compound");

    let mut diffs = Vec::new();
    let mut inchikey_diffs = Vec::new();
    for (i, (want, got)) in molecules.iter().zip(&results).enumerate() {
        assert_eq!(got["index"], i as i64);
        assert_eq!(got["smiles"], want["smiles"]);
        if want["valid"] == false {
            assert_eq!(got["status"], "failed", "{got}");
            continue;
        }
        assert_eq!(got["status"], "completed", "{got}");
        let props = &got["properties"];
        for d in reference::compare(want, props) {
            diffs.push(format!("#{i} {}: {d}", want["smiles"]));
        }
        if want["inchikey"] != props["inchikey"] {
            inchikey_diffs.push(format!("#{i} {}: want {}, got {}", want["smiles"], want["inchikey"], props["inchikey"]));
        }
    }
    assert!(diffs.is_empty(), "{} property differences:\n{}", diffs.len(), diffs.join("\n"));
    assert!(inchikey_diffs.is_empty(), "InChIKey differences:\n{}", inchikey_diffs.join("\n"));
}

#[tokio::test]
async fn a_run_with_invalid_smiles_completes_with_those_compounds_carrying_the_error() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let molecules = reference::load("edge_cases.rdkit.jsonl");
    let smiles: Vec<&str> = molecules.iter().map(|m| m["smiles"].as_str().unwrap()).collect();
    let invalid = molecules.iter().filter(|m| m["valid"] == false).count();
    assert_eq!(invalid, 5);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "a few bad SMILES do not fail the run");
    assert_eq!(done["compounds"], json!({"total": 18, "completed": 13, "failed": 5}));
    assert_eq!(done["stages"]["rdkit_local"]["failed"], 5);
    let results = stack.all_results(run_id).await;
    assert_eq!(results.len(), 18);
    for (want, got) in molecules.iter().zip(&results) {
        if want["valid"] == false {
            assert_eq!(got["status"], "failed");
            let message = got["errors"]["rdkit_local"].as_str().unwrap_or_else(|| panic!("no rdkit_local error: {got}"));
            assert!(message.starts_with("invalid SMILES"), "{message}");
            assert_eq!(got["properties"], Value::Null);
            assert_eq!(got["rank"], Value::Null);
        } else {
            assert_eq!(got["status"], "completed");
            assert_eq!(got["errors"], json!({}));
            let diffs = reference::compare(want, &got["properties"]);
            assert!(diffs.is_empty(), "{}: {diffs:?}", want["smiles"]);
            assert!(got["rank"].as_i64().is_some());
        }
    }
}

#[tokio::test]
async fn a_run_of_only_invalid_smiles_fails_with_a_message() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"input_smiles": ["C1CC1(", "not_a_smiles"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let done = stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error_message"].as_str().unwrap().contains("all 2 compounds failed"));
}

#[tokio::test]
async fn compounds_wait_at_the_stage_whose_adapter_is_not_running() {
    // The default route names four adapters; only rdkit_local runs here, so
    // every compound must be shown waiting at admet_ai — never dropped.
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "CCN"]})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        if got["stages"]["rdkit_local"]["done"] == 2 {
            assert_eq!(got["status"], "running");
            assert_eq!(got["stages"]["admet_ai"]["pending"], 2);
            assert_eq!(got["progress"], json!(0.25));
            let (_, results) = stack.get_json(&format!("/api/v1/runs/{run_id}/results")).await;
            assert!(results["results"][0]["properties"]["qed"].is_number(), "partial results are visible: {results}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rdkit_local stage never finished: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn redelivered_and_duplicate_records_change_nothing() {
    // The finished records of a run arrive a second time, past JetStream's
    // de-duplication (as after a redelivery beyond its window): the
    // aggregator must not double any count or row.
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "CCC", "CCCC"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    stack.wait_finished(run_id, Duration::from_secs(60)).await;
    let pool = stack.db.pool().await;
    let updated_before: String =
        sqlx::query_scalar("SELECT updated_at::text FROM pipeline_runs WHERE run_id = $1").bind(run_id).fetch_one(&pool).await.unwrap();

    let client = async_nats::connect(stack.nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let topology = pharmforge_core::Topology::new(stack.prefix.clone());
    for (index, smiles) in ["CCO", "CCC", "CCCC"].iter().enumerate() {
        let mut record = pharmforge_core::CompoundRecord::new(
            &pharmforge_core::RunId::parse(run_id).unwrap(),
            index as u32,
            smiles.to_string(),
            vec![pharmforge_core::AdapterName::RdkitLocal],
        );
        record.set_section(pharmforge_core::AdapterName::RdkitLocal, json!({"qed": 0.5}));
        record.advance();
        let mut headers = record.headers();
        headers.insert("Nats-Msg-Id", format!("duplicate-{index}").as_str());
        js.send_publish(
            topology.done_subject(),
            async_nats::jetstream::message::PublishMessage::build().payload(serde_json::to_vec(&record).unwrap().into()).headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    // The aggregator has taken them when nothing is left on the stream for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut stream = js.get_stream(topology.pipeline_stream()).await.unwrap();
        let info = stream.info().await.unwrap();
        if info.state.messages == 0 && info.state.last_sequence >= 6 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the aggregator never took the duplicates: {:?}", info.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(got["compounds"], json!({"total": 3, "completed": 3, "failed": 0}));
    assert_eq!(got["stages"]["rdkit_local"]["done"], 3);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 3);
    let qed_kept: i64 = sqlx::query_scalar("SELECT count(*) FROM compound_results WHERE (properties->>'qed')::float8 <> 0.5").fetch_one(&pool).await.unwrap();
    assert_eq!(qed_kept, 3, "the stored sections are not overwritten by a duplicate");
    let updated_after: String = sqlx::query_scalar("SELECT updated_at::text FROM pipeline_runs WHERE run_id = $1").bind(run_id).fetch_one(&pool).await.unwrap();
    assert_eq!(updated_before, updated_after, "the run row was not written again");
}

#[tokio::test]
async fn one_compound_can_be_followed_through_every_service_by_its_trace_id() {
    let stack =
        Stack::start_with_env(&["rdkit_local"], &[("RUST_LOG", "info,pharmforge_core=debug,pharmforge_aggregator=debug"), ("LOG_FORMAT", "json")]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    stack.wait_finished(run_id, Duration::from_secs(60)).await;
    let results = stack.all_results(run_id).await;
    let trace_id = results[0]["trace_id"].as_str().expect("each compound result names its trace id");
    assert_eq!(trace_id.len(), 32);
    for service in ["pharmforge-rdkit-local", "pharmforge-aggregator"] {
        let log = stack.services.iter().find(|s| s.name == service).unwrap().log_text();
        let line = log.lines().find(|l| l.contains(trace_id)).unwrap_or_else(|| panic!("{service} never logged trace {trace_id}:\n{log}"));
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{service} log line is not JSON ({e}): {line}"));
        assert_eq!(parsed["trace_id"], trace_id);
    }
}

#[tokio::test]
async fn a_cancelled_run_skips_its_remaining_compounds_and_a_finished_run_cannot_be_cancelled() {
    // No adapter runs at first: every compound is still waiting when the run is cancelled.
    let mut stack = Stack::start(&[]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "CCN", "CCC"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    // Admitted (on the pipeline, waiting for rdkit_local) before it is cancelled.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stack.get_json(&format!("/api/v1/runs/{run_id}")).await.1["admission"]["admitted"] != 3 {
        assert!(std::time::Instant::now() < deadline, "the run's compounds were never admitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (http, base) = (stack.http.clone(), stack.url(""));
    let cancel = |id: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1/runs/{id}/cancel");
        async move {
            let r = http.post(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = cancel(run_id.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(cancel(run_id.clone()).await.0, 200, "cancelling twice is harmless");
    assert_eq!(cancel("run_0123456789abcdef".into()).await.0, 404);
    stack.spawn("pharmforge-rdkit-local", &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        assert_eq!(got["status"], "cancelled");
        if got["stages"]["rdkit_local"]["skipped"] == 3 {
            assert_eq!(got["stages"]["rdkit_local"]["done"], 0, "no compound of a cancelled run reaches the adapter");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "cancelled compounds never skipped: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let results = stack.all_results(&run_id).await;
    assert!(results.iter().all(|r| r["status"] == "cancelled" && r["properties"].is_null()), "{results:?}");

    let done = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let done_id = done["run_id"].as_str().unwrap().to_owned();
    stack.wait_finished(&done_id, Duration::from_secs(60)).await;
    let (status, body) = cancel(done_id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
}
