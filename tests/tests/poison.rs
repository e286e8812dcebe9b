//! Poison messages end after a bounded number of deliveries, on the
//! dead-letter subject with the reason, and their compound is recorded with
//! the adapter's error, so the run still finishes; an adapter call that
//! overruns its time limit is abandoned and recorded as that section's error.
//! Real NATS and Postgres; the misbehaving adapter is the real adapter runtime
//! (`pharmforge-test-adapter`) standing in for chembl.

use async_nats::jetstream;
use pharmforge_core::adapter::dead_letter_headers as dl;
use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FAST_REDELIVERY: [(&str, &str); 1] = [("PHARMFORGE_ACK_WAIT_MS", "3000")];

async fn dead_letters(stack: &Stack) -> Vec<async_nats::jetstream::message::StreamMessage> {
    let client = async_nats::connect(stack.nats.url()).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream(format!("{}DEADLETTER", stack.prefix)).await.unwrap();
    let info = stream.info().await.unwrap();
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(m);
        }
    }
    out
}

fn header<'a>(m: &'a async_nats::jetstream::message::StreamMessage, name: &str) -> Option<&'a str> {
    m.headers.get(name).map(|v| v.as_str())
}

#[tokio::test]
async fn an_adapter_that_hangs_or_asks_to_retry_forever_is_bounded_and_the_run_finishes() {
    let mut stack = Stack::start_with_env(&["rdkit_local"], &FAST_REDELIVERY).await;
    stack.spawn("pharmforge-test-adapter", &[("ADAPTER_TIMEOUT_MS", "1500"), ("ADAPTER_MAX_DELIVERIES", "4")]);
    let mut smiles: Vec<String> = (1..=40).map(|n| "C".repeat(n)).collect();
    smiles.insert(7, "CC[Xe]".into()); // never answers
    smiles.insert(20, "C[Kr]C".into()); // asks to be retried every time
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "chembl"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let done = stack.wait_finished(&run_id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": 42, "completed": 42, "failed": 0}));
    assert_eq!(done["stages"]["chembl"], json!({"pending": 0, "done": 40, "failed": 2, "skipped": 0}));
    assert!(started.elapsed() < Duration::from_secs(60), "bounded: {:?}", started.elapsed());

    let results = stack.all_results(&run_id).await;
    assert_eq!(results.len(), 42);
    for r in &results {
        let s = r["smiles"].as_str().unwrap();
        assert!(r["properties"].is_object(), "rdkit_local still ran: {r}");
        match s {
            "CC[Xe]" => {
                let e = r["errors"]["chembl"].as_str().unwrap();
                assert!(e.contains("time limit of 1500 ms"), "{e}");
                assert!(r["bioactivity"].is_null());
            }
            "C[Kr]C" => {
                let e = r["errors"]["chembl"].as_str().unwrap();
                assert!(e.contains("gave up on this compound after 4 deliveries"), "{e}");
            }
            _ => {
                assert_eq!(r["bioactivity"], json!({"seen": true}), "{r}");
                assert_eq!(r["errors"], json!({}), "{r}");
            }
        }
    }

    // The retried-forever record is kept on the dead-letter subject, as it was, with why.
    let letters = dead_letters(&stack).await;
    assert_eq!(letters.len(), 1, "one dead letter");
    let letter = &letters[0];
    assert_eq!(letter.subject.as_str(), format!("{}deadletter.chembl", stack.prefix));
    assert_eq!(header(letter, dl::ADAPTER), Some("chembl"));
    assert_eq!(header(letter, dl::DELIVERIES), Some("5"));
    assert!(header(letter, dl::REASON).unwrap().contains("gave up"));
    assert!(header(letter, dl::LOST_COMPOUND).is_none(), "the record itself went on");
    let kept: Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(kept["smiles"], "C[Kr]C");

    let pool = stack.db.pool().await;
    let (rows, distinct): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT idx) FROM compound_results").fetch_one(&pool).await.unwrap();
    assert_eq!((rows, distinct), (42, 42));
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_and_its_compound_recorded_as_failed() {
    // No adapter running yet: the fan-out's records wait in the stream.
    let mut stack = Stack::start_with_env(&[], &FAST_REDELIVERY).await;
    let smiles: Vec<String> = (1..=20).map(|n| "C".repeat(n)).collect();
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    let client = async_nats::connect(stack.nats.url()).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream(format!("{}PIPELINE", stack.prefix)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream.info().await.unwrap().state.messages < 20 {
        assert!(Instant::now() < deadline, "fan-out never published the 20 records");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Compound 3's record is corrupted in transit: replace it with garbage
    // that still carries its message id.
    let info = stream.info().await.unwrap();
    let mut replaced = false;
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let Ok(m) = stream.get_raw_message(seq).await else { continue };
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        if v["index"] == 3 {
            stream.delete_message(seq).await.unwrap();
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("{run_id}.3.0-corrupted").as_str());
            js.publish_with_headers(format!("{}pipeline.rdkit_local", stack.prefix), headers, "{\"run_id\": tru".into()).await.unwrap().await.unwrap();
            replaced = true;
        }
    }
    assert!(replaced);

    stack.spawn("pharmforge-rdkit-local", &[]);
    let done = stack.wait_finished(&run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": 20, "completed": 19, "failed": 1}));
    let results = stack.all_results(&run_id).await;
    assert_eq!(results.len(), 20);
    let lost = &results[3];
    assert_eq!(lost["status"], "failed");
    assert_eq!(lost["smiles"], "CCCC", "rebuilt from the run's input");
    assert!(lost["errors"]["rdkit_local"].as_str().unwrap().starts_with("undecodable record"), "{lost}");
    assert!(results.iter().filter(|r| r["index"] != 3).all(|r| r["status"] == "completed" && r["properties"].is_object()));

    let letters = dead_letters(&stack).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(header(&letters[0], dl::LOST_COMPOUND), Some(format!("{run_id}/3").as_str()));
    assert_eq!(letters[0].payload.as_ref(), b"{\"run_id\": tru", "kept as it was");
}

#[tokio::test]
async fn a_record_postgres_refuses_for_good_is_recorded_as_failed_and_holds_up_no_one() {
    // Compound 1's record carries a value Postgres will never store (a
    // number past numeric's range, which JSON allows): it arrives in the
    // same batch as its neighbours'. The others must be stored, it must be recorded as failed,
    // and the run must finish, instead of the batch being retried forever.
    let stack = Stack::start_with_env(&[], &FAST_REDELIVERY).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "CCN", "CCC"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let js = jetstream::new(async_nats::connect(stack.nats.url()).await.unwrap());
    let acks = ["CCO", "CCN", "CCC"].iter().enumerate().map(|(index, smiles)| {
        let mut record = pharmforge_core::CompoundRecord::new(
            &pharmforge_core::RunId::parse(&run_id).unwrap(),
            index as u32,
            smiles.to_string(),
            vec![pharmforge_core::AdapterName::RdkitLocal],
        );
        record.set_section(pharmforge_core::AdapterName::RdkitLocal, json!({"qed": 0.4}));
        record.advance();
        let mut payload = serde_json::to_string(&record).unwrap();
        if index == 1 {
            payload = payload.replace("\"qed\":0.4", "\"qed\":1e1000000");
            assert!(payload.contains("1e1000000"));
        }
        let js = js.clone();
        let subject = format!("{}pipeline.done", stack.prefix);
        async move {
            let msg = jetstream::message::PublishMessage::build().payload(payload.into_bytes().into()).headers(record.headers());
            js.send_publish(subject, msg).await.unwrap().await.unwrap();
        }
    });
    futures_join(acks).await;
    let done = stack.wait_finished(&run_id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": 3, "completed": 2, "failed": 1}));
    let results = stack.all_results(&run_id).await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["status"], "failed");
    assert!(results[1]["errors"]["rdkit_local"].as_str().unwrap().contains("could not be stored"), "{}", results[1]);
    assert!(results[0]["properties"].is_object() && results[2]["properties"].is_object());
    assert!(stack.all_logs().contains("Postgres refuses this compound's result"), "the refusal path was taken");
}

async fn futures_join<F: std::future::Future<Output = ()>>(all: impl Iterator<Item = F>) {
    for f in all.collect::<Vec<_>>() {
        f.await;
    }
}
