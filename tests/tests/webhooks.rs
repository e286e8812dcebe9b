//! Webhooks on the real stack: a receiver in the test checks each delivery's
//! Standard Webhooks signature (its own HMAC, not the API's code) and answers
//! as scripted; the run's `webhook.deliveries` must tell the same story.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use pharmforge_tests::Stack;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env() -> [(&'static str, &'static str); 2] {
    [("WEBHOOK_SECRET", SECRET), ("WEBHOOK_ALLOW_PRIVATE", "true")]
}

/// A delivery as the receiver got it.
#[derive(Debug, Clone)]
struct Delivery {
    webhook_id: String,
    timestamp: i64,
    signature_valid: bool,
    body: Value,
}

/// A webhook receiver on a local port: answers each delivery with the next
/// scripted status (200 once the script runs out) and keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Delivery>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (id, timestamp, signatures) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let key = BASE64.decode(SECRET.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    // The header is a space-separated list of signatures; one must match.
    let signature_valid = signatures.split(' ').any(|s| s == expected);
    state.got.lock().unwrap().push(Delivery {
        webhook_id: id,
        timestamp: timestamp.parse().unwrap_or(0),
        signature_valid,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState { got: got.clone(), script: Arc::new(Mutex::new(script.iter().copied().collect())) };
        let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { url: format!("http://{addr}/hook"), got, task }
    }

    fn got(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries have arrived.
    async fn wait_for(&self, n: usize, timeout: Duration, stack: &Stack) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} deliveries after {timeout:?}: {got:?}\n{}", got.len(), stack.all_logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The run's `webhook` once it shows `n` delivery attempts.
async fn deliveries_shown(stack: &Stack, run_id: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, run) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
        assert_eq!(status, 200, "{run}");
        if run["webhook"]["deliveries"].as_array().map_or(0, Vec::len) >= n {
            return run["webhook"].clone();
        }
        assert!(Instant::now() < deadline, "run {run_id} shows no {n} deliveries: {}", run["webhook"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_completed_run_is_delivered_signed_and_sent_again_after_a_500() {
    let receiver = Receiver::start(&[500]).await;
    let stack = Stack::start_with_env(&["rdkit_local"], &env()).await;
    let run = stack
        .create_run(json!({
            "input_smiles": ["CCO", "c1ccccc1"],
            "pipeline_config": {"adapters": ["rdkit_local"], "webhook": {"url": receiver.url, "events": ["completed"]}},
            "user_id": "alice",
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap();
    assert_eq!(run["pipeline_config"]["webhook"], json!({"url": receiver.url, "events": ["completed"]}));

    // The first retry comes within 30 s of the 500.
    let got = receiver.wait_for(2, Duration::from_secs(90), &stack).await;
    assert!(got.iter().all(|d| d.signature_valid), "every delivery verifies: {got:?}");
    assert!(got.iter().all(|d| (d.timestamp - now()).abs() < 60), "timestamps are the attempts' own: {got:?}");
    assert_eq!(got[0].webhook_id, got[1].webhook_id, "a retry keeps its webhook-id");
    assert!(got[0].webhook_id.starts_with("msg_"), "{}", got[0].webhook_id);
    assert_eq!(got[0].body, got[1].body, "a retry sends the same event");
    let event = &got[0].body;
    assert_eq!(event["type"], "run.completed", "{event}");
    assert!(event["timestamp"].as_str().unwrap().ends_with('Z'), "{event}");
    let data = &event["data"];
    assert_eq!(data["run_id"], run_id);
    assert_eq!(data["status"], "completed");
    assert_eq!(data["user_id"], "alice");
    assert_eq!(data["progress"], json!(1.0));
    assert_eq!(data["compounds"], json!({"total": 2, "completed": 2, "failed": 0}));
    assert_eq!(data["stages"], json!({"rdkit_local": {"pending": 0, "done": 2, "failed": 0, "skipped": 0}}));

    let hook = deliveries_shown(&stack, run_id, 2).await;
    assert_eq!(hook["url"], receiver.url.as_str());
    assert_eq!(hook["deliveries_total"], 2);
    let shown: Vec<(Value, Value, Value, Value)> = hook["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["webhook_id"].clone(), d["event"].clone(), d["attempt"].clone(), d["status_code"].clone()))
        .collect();
    let id = json!(got[0].webhook_id);
    assert_eq!(shown, vec![(id.clone(), json!("completed"), json!(1), json!(500)), (id, json!("completed"), json!(2), json!(200))]);
    assert!(hook["deliveries"][1]["at"].as_str().unwrap().ends_with('Z'));

    // Delivered: nothing more comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.got().len(), 2);
}

#[tokio::test]
async fn a_private_webhook_url_is_refused_with_400_unless_allowed() {
    let stack = Stack::start_with_env(&[], &[("WEBHOOK_SECRET", SECRET)]).await;
    for (url, says) in [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://localhost:9/hook", "localhost resolves to"),
    ] {
        let r = stack
            .http
            .post(stack.url("/api/v1/runs"))
            .json(&json!({"input_smiles": ["CCO"], "pipeline_config": {"webhook": {"url": url}}}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says) && message.contains("WEBHOOK_ALLOW_PRIVATE"), "{url}: {message}");
    }
    let (_, runs) = stack.get_json("/api/v1/runs").await;
    assert_eq!(runs["total"], 0, "nothing was stored: {runs}");
}

#[tokio::test]
async fn a_cancelled_run_delivers_its_cancelled_event() {
    let receiver = Receiver::start(&[]).await;
    // No adapter replica: the run waits until it is cancelled.
    let stack = Stack::start_with_env(&[], &env()).await;
    let run = stack
        .create_run(json!({
            "input_smiles": ["CCO", "CCN", "CCC"],
            "pipeline_config": {"adapters": ["rdkit_local"], "webhook": {"url": receiver.url, "events": ["cancelled"]}},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap();
    let r = stack.http.post(stack.url(&format!("/api/v1/runs/{run_id}/cancel"))).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let got = receiver.wait_for(1, Duration::from_secs(30), &stack).await;
    assert!(got[0].signature_valid);
    assert_eq!(got[0].body["type"], "run.cancelled", "{:?}", got[0]);
    assert_eq!(got[0].body["data"]["run_id"], run_id);
    assert_eq!(got[0].body["data"]["status"], "cancelled");
    assert_eq!(got[0].body["data"]["compounds"]["total"], 3);
    let hook = deliveries_shown(&stack, run_id, 1).await;
    assert_eq!(hook["deliveries"][0]["event"], "cancelled");
    assert_eq!(hook["deliveries"][0]["status_code"], 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.got().len(), 1, "one event per transition");
}

#[tokio::test]
async fn a_retry_due_when_the_api_is_killed_is_made_by_the_next_one() {
    let receiver = Receiver::start(&[503]).await;
    let mut stack = Stack::start_with_env(&["rdkit_local"], &env()).await;
    let run = stack
        .create_run(json!({
            "input_smiles": ["CCO"],
            "pipeline_config": {"adapters": ["rdkit_local"], "webhook": {"url": receiver.url}},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    receiver.wait_for(1, Duration::from_secs(60), &stack).await;
    // The failure is stored and its retry scheduled; the process that
    // scheduled it goes away before it is due (the first retry waits 5 s at least).
    deliveries_shown(&stack, &run_id, 1).await;
    stack.kill_and_restart("pharmforge-api");
    stack.wait_ready(Duration::from_secs(30)).await;

    let got = receiver.wait_for(2, Duration::from_secs(60), &stack).await;
    assert_eq!(got[0].webhook_id, got[1].webhook_id);
    assert!(got[1].signature_valid);
    assert_eq!(got[1].body["type"], "run.completed");
    let hook = deliveries_shown(&stack, &run_id, 2).await;
    let codes: Vec<&Value> = hook["deliveries"].as_array().unwrap().iter().map(|d| &d["status_code"]).collect();
    assert_eq!(codes, [&json!(503), &json!(200)]);
}

#[tokio::test]
async fn a_running_run_sends_progress_while_it_moves_and_no_more_when_it_stands_still() {
    let receiver = Receiver::start(&[]).await;
    let mut extra = env().to_vec();
    extra.push(("WEBHOOK_PROGRESS_INTERVAL_MS", "500"));
    // No pubchem replica: the run passes rdkit_local and then waits, running.
    let stack = Stack::start_with_env(&["rdkit_local"], &extra).await;
    let run = stack
        .create_run(json!({
            "input_smiles": ["CCO", "CCN"],
            "pipeline_config": {"adapters": ["rdkit_local", "pubchem"], "webhook": {"url": receiver.url, "events": ["progress"]}},
        }))
        .await;
    let run_id = run["run_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let halfway = loop {
        let got = receiver.got();
        if let Some(d) = got.iter().find(|d| d.body["data"]["stages"]["rdkit_local"]["done"] == 2) {
            break d.clone();
        }
        assert!(Instant::now() < deadline, "no progress event with rdkit_local done: {got:?}\n{}", stack.all_logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(halfway.signature_valid);
    assert_eq!(halfway.body["type"], "run.progress");
    assert_eq!(halfway.body["data"]["run_id"], run_id);
    assert_eq!(halfway.body["data"]["status"], "running");
    assert_eq!(halfway.body["data"]["progress"], json!(0.5));
    assert_eq!(halfway.body["data"]["stages"]["pubchem"], json!({"pending": 2, "done": 0, "failed": 0, "skipped": 0}));
    let got = receiver.got();
    let ids: std::collections::HashSet<&str> = got.iter().map(|d| d.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "each progress event is an event of its own");

    // The run stands still: no more progress, however often the dispatchers look.
    let before = receiver.got().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.got().len(), before, "{:?}", receiver.got());
    // Not subscribed to cancelled: cancelling sends nothing.
    let r = stack.http.post(stack.url(&format!("/api/v1/runs/{run_id}/cancel"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.got().iter().all(|d| d.body["type"] == "run.progress"), "{:?}", receiver.got());
}
