//! The API contract (README, API), endpoint by endpoint, over a real socket
//! against the real binaries, NATS and Postgres.

use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::Duration;

fn assert_error(status: u16, body: &Value, want_status: u16, want_in_message: &str) {
    assert_eq!(status, want_status, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error.message in {body}"));
    assert!(body["error"]["code"].is_string(), "no error.code in {body}");
    assert!(message.contains(want_in_message), "message {message:?} does not mention {want_in_message:?}");
}

async fn post_raw(stack: &Stack, body: &str, content_type: &str) -> (u16, Value) {
    let r = stack.http.post(stack.url("/api/v1/runs")).header("content-type", content_type).body(body.to_owned()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn post_runs_returns_201_with_the_pending_run_and_get_finds_it() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "CC(=O)O"], "pipeline_config": {"adapters": ["rdkit_local"]}, "user_id": "alice"})).await;
    let run_id = run["run_id"].as_str().unwrap();
    assert!(run_id.starts_with("run_") && run_id.len() == 20 && run_id[4..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{run_id}");
    assert_eq!(run["status"], "pending");
    assert_eq!(run["progress"], json!(0.0));
    assert_eq!(run["results"], Value::Null);
    assert_eq!(run["input_smiles"], json!(["CCO", "CC(=O)O"]));
    assert_eq!(run["pipeline_config"], json!({"adapters": ["rdkit_local"], "priority": "normal"}), "the route and priority as they will run");
    assert_eq!(run["priority"], "normal");
    assert_eq!(run["admission"], json!({"admitted": 0, "waiting": 2}));
    assert_eq!(run["user_id"], "alice");
    assert!(run["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["run_id"], run["run_id"]);
    assert_eq!(got["input_smiles"], json!(["CCO", "CC(=O)O"]), "a run of up to 1,000 compounds shows its input, as the seed's API does");
    let (_, with_input) = stack.get_json(&format!("/api/v1/runs/{run_id}?include=input_smiles")).await;
    assert_eq!(with_input["input_smiles"], json!(["CCO", "CC(=O)O"]));
    let (status, _) = stack.get_json(&format!("/api/v1/runs/{run_id}?include=everything")).await;
    assert_eq!(status, 400);

    let done = stack.wait_finished(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], json!(1.0));
    assert_eq!(done["compounds"], json!({"total": 2, "completed": 2, "failed": 0}));
    assert!(done["completed_at"].is_string());
    let results = &done["results"];
    assert_eq!(results["total_processed"], 2);
    assert_eq!(results["adapter_sequence"], json!(["rdkit_local"]));
    assert!(results["completed_at"].is_string());
    let compounds = results["compounds"].as_array().unwrap();
    assert_eq!(compounds.len(), 2);
    assert_eq!(compounds[0]["compound_id"], format!("{run_id}_0"));
    assert_eq!(compounds[0]["smiles"], "CCO");
    assert!((compounds[0]["properties"]["molecular_weight"].as_f64().unwrap() - 46.069).abs() < 1e-9);
    assert_eq!(done["stages"]["rdkit_local"], json!({"pending": 0, "done": 2, "failed": 0, "skipped": 0}));
    let lock = done["lockfile"]["rdkit_local"][0].as_str().unwrap();
    assert!(lock.contains("RDKit 20"), "lockfile names the RDKit release: {lock}");
    // Ranks are 1 and 2, by final score.
    let mut ranks: Vec<i64> = compounds.iter().map(|c| c["rank"].as_i64().unwrap()).collect();
    ranks.sort();
    assert_eq!(ranks, vec![1, 2]);
}

#[tokio::test]
async fn post_runs_rejects_bad_input_with_a_json_error_naming_the_problem() {
    let stack = Stack::start(&[]).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({}), 422, "or compounds (a list of {\"id\", \"smiles\"}) is required"),
        (json!({"input_smiles": []}), 422, "at least one"),
        (json!({"input_smiles": "CCO"}), 422, "must be a list"),
        (json!({"input_smiles": ["CCO", 5]}), 422, "input_smiles[1] must be a string"),
        (json!({"input_smiles": ["CCO", null]}), 422, "input_smiles[1] must be a string"),
        (json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local", "docking"]}}), 422, "unknown adapter \"docking\""),
        (json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": "rdkit_local"}}), 422, "must be a list"),
        (json!({"input_smiles": ["CCO"], "pipeline_config": []}), 422, "pipeline_config must be an object"),
        (json!({"input_smiles": ["CCO"], "user_id": 12}), 422, "user_id must be a string"),
        (json!(["CCO"]), 422, "must be a JSON object"),
    ];
    for (body, status, message) in cases {
        let r = stack.http.post(stack.url("/api/v1/runs")).json(&body).send().await.unwrap();
        let got_status = r.status().as_u16();
        let got: Value = r.json().await.unwrap();
        assert_error(got_status, &got, status, message);
    }
    let (status, body) = post_raw(&stack, "{\"input_smiles\": [\"CCO\"", "application/json").await;
    assert_error(status, &body, 400, "malformed JSON");
    let (status, body) = post_raw(&stack, "", "application/json").await;
    assert_error(status, &body, 400, "empty");
    let (status, body) = post_raw(&stack, "input_smiles=CCO", "application/x-www-form-urlencoded").await;
    assert_error(status, &body, 415, "application/json");
    // Nothing above created a run.
    let (_, list) = stack.get_json("/api/v1/runs").await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn unknown_and_malformed_run_ids_are_404_and_400() {
    let stack = Stack::start(&[]).await;
    let (status, body) = stack.get_json("/api/v1/runs/run_0123456789abcdef").await;
    assert_error(status, &body, 404, "not found");
    let (status, body) = stack.get_json("/api/v1/runs/run_0123456789abcdef/results").await;
    assert_error(status, &body, 404, "not found");
    let (status, body) = stack.get_json("/api/v1/runs/not-a-run").await;
    assert_error(status, &body, 400, "malformed run id");
    let (status, body) = stack.get_json("/api/v1/runs/run_%27%3B%20DROP%20TABLE%20pipeline_runs").await;
    assert_error(status, &body, 400, "malformed run id");
    let r = stack.http.delete(stack.url("/api/v1/runs/run_0123456789abcdef")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (status, body) = stack.get_json("/api/v1/nothing-here").await;
    assert_error(status, &body, 404, "no such endpoint");
}

/// What the router itself refuses (a path it cannot decode, a body over
/// API_MAX_BODY_BYTES) is answered in the API's error shape too.
#[tokio::test]
async fn paths_and_bodies_the_api_cannot_read_get_the_json_error_shape() {
    let stack = Stack::start_with_env(&[], &[("API_MAX_BODY_BYTES", "65536")]).await;
    let (status, body) = stack.get_json("/api/v1/runs/%ff/results").await;
    assert_error(status, &body, 400, "the path cannot be read");
    let big = format!("{{\"scoring\": \"{}\"}}", "x".repeat(70_000));
    let url = stack.url("/api/v1/runs/run_0123456789abcdef/rescore");
    let r = stack.http.post(url).header("content-type", "application/json").body(big).send().await.unwrap();
    let status = r.status().as_u16();
    assert_error(status, &r.json().await.unwrap(), 413, "larger than the limit");
}

#[tokio::test]
async fn list_runs_pages_newest_first_and_filters_by_status_and_user() {
    let stack = Stack::start(&[]).await;
    // No adapter runs: the runs stay pending, which is what the filter test needs.
    let mut ids = Vec::new();
    for i in 0..5 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let run = stack.create_run(json!({"input_smiles": ["C"], "pipeline_config": {"adapters": ["rdkit_local"]}, "user_id": user})).await;
        ids.push(run["run_id"].as_str().unwrap().to_owned());
    }
    let (status, page1) = stack.get_json("/api/v1/runs?page=1&page_size=2").await;
    assert_eq!(status, 200);
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["page"], 1);
    assert_eq!(page1["page_size"], 2);
    let got: Vec<&str> = page1["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()], "newest first");
    let (_, page3) = stack.get_json("/api/v1/runs?page=3&page_size=2").await;
    assert_eq!(page3["runs"].as_array().unwrap().len(), 1);
    let (_, alice) = stack.get_json("/api/v1/runs?user_id=alice").await;
    assert_eq!(alice["total"], 3);
    assert!(alice["runs"].as_array().unwrap().iter().all(|r| r["user_id"] == "alice"));
    let (_, pending) = stack.get_json("/api/v1/runs?status=pending").await;
    assert_eq!(pending["total"], 5);
    let (_, done) = stack.get_json("/api/v1/runs?status=completed").await;
    assert_eq!(done["total"], 0);
    for bad in ["page_size=0", "page_size=101", "page_size=-3", "page=0", "page=abc", "page_size=1e9", "status=exploded"] {
        let (status, body) = stack.get_json(&format!("/api/v1/runs?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].is_string());
    }
    let (status, _) = stack.get_json("/api/v1/runs?page_size=100").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn delete_removes_the_run_and_its_compound_results() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO", "c1ccccc1", "CC(=O)O"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    stack.wait_finished(run_id, Duration::from_secs(60)).await;
    let pool = stack.db.pool().await;
    let count = |pool: sqlx::PgPool| async move { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM compound_results").fetch_one(&pool).await.unwrap() };
    assert_eq!(count(pool.clone()).await, 3);
    let r = stack.http.delete(stack.url(&format!("/api/v1/runs/{run_id}"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(count(pool.clone()).await, 0, "compound results deleted with the run");
    let (status, _) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn results_are_paged_in_input_order_or_by_rank() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let smiles = ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "c1ccccc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CCCCCCCCCCCCCCCCCC(=O)O"];
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    stack.wait_finished(run_id, Duration::from_secs(60)).await;
    let (status, page) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?page=2&page_size=2")).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 5);
    let idx: Vec<i64> = page["results"].as_array().unwrap().iter().map(|r| r["index"].as_i64().unwrap()).collect();
    assert_eq!(idx, vec![2, 3]);
    let (_, ranked) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=rank&page_size=100")).await;
    let rows = ranked["results"].as_array().unwrap();
    let ranks: Vec<i64> = rows.iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, vec![1, 2, 3, 4, 5]);
    let scores: Vec<f64> = rows.iter().map(|r| r["final_score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let (status, body) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=sideways")).await;
    assert_error(status, &body, 400, "sort must be");
}

#[tokio::test]
async fn health_and_readiness() {
    let stack = Stack::start(&[]).await;
    let (status, body) = stack.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = stack.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"], json!({"postgres": "ok", "nats": "ok"}));
}

#[tokio::test]
async fn readyz_is_503_until_nats_is_reachable() {
    let mut stack = Stack::start(&[]).await;
    stack.nats.stop();
    let mut saw_503 = false;
    for _ in 0..100 {
        let (status, _) = stack.get_json("/readyz").await;
        if status == 503 {
            saw_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_503, "readyz kept answering 200 with NATS down");
    stack.nats.restart();
    stack.wait_ready(Duration::from_secs(30)).await;
}

/// Beyond `API_MAX_IN_FLIGHT` requests in progress the API answers 503 with
/// `Retry-After` at once (health checks excepted), and serves again as soon
/// as the requests in progress end. Two reads held up in Postgres (the runs
/// table locked by the test) hold the two slots.
#[tokio::test]
async fn beyond_its_in_flight_limit_the_api_sheds_load_with_503_and_retry_after() {
    let stack = Stack::start_with_env(&[], &[("API_MAX_IN_FLIGHT", "2")]).await;
    let (status, _) = stack.get_json("/api/v1/runs").await;
    assert_eq!(status, 200);
    let pool = stack.db.pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE pipeline_runs IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (stack.http.clone(), stack.url("/api/v1/runs"));
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    // Both are in progress once Postgres shows their reads waiting for the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%ORDER BY created_at DESC%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if waiting == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the two reads never reached Postgres ({waiting} waiting)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = stack.http.get(stack.url("/api/v1/runs?page=2")).timeout(Duration::from_secs(5)).send().await.expect("answered at once");
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    let (health, _) = stack.get_json("/healthz").await;
    assert_eq!(health, 200, "health checks are never shed");
    lock.rollback().await.unwrap();
    for h in held {
        assert_eq!(h.await.unwrap().unwrap(), 200, "the held reads complete once the table is free");
    }
    let (status, _) = stack.get_json("/api/v1/runs").await;
    assert_eq!(status, 200, "serving again once the requests in progress ended");
}

/// Slow clients hold no slot: 70 connections that send a POST's headers and
/// one byte of its body, then wait, do not stop anyone else (they used to
/// make every other request a 503); each gets 408 once `API_BODY_TIMEOUT_MS`
/// is over. A connection that never finishes its headers is closed after
/// `API_HEADER_TIMEOUT_MS`.
#[tokio::test]
async fn slow_clients_do_not_stop_other_requests_and_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start_with_env(&[], &[("API_MAX_IN_FLIGHT", "8"), ("API_BODY_TIMEOUT_MS", "3000"), ("API_HEADER_TIMEOUT_MS", "2000")]).await;
    let mut slow = Vec::new();
    for _ in 0..70 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", stack.api_port)).await.unwrap();
        s.write_all(b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").await.unwrap();
        slow.push(s);
    }
    let mut half_headers = tokio::net::TcpStream::connect(("127.0.0.1", stack.api_port)).await.unwrap();
    half_headers.write_all(b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..20 {
        let (status, _) = stack.get_json("/api/v1/runs").await;
        assert_eq!(status, 200, "another client's read while 70 slow uploads wait");
    }
    let run = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    assert_eq!(run["status"], "pending", "another client's run is accepted meanwhile");

    // The slow uploads end in 408 after the body timeout.
    let mut answered = 0;
    for mut s in slow {
        let mut buf = vec![0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408") {
                answered += 1;
            }
        }
    }
    assert_eq!(answered, 70, "every slow upload gets 408");
    // The connection that never finished its headers was closed.
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), half_headers.read(&mut buf)).await;
    assert!(closed.is_ok(), "the half-sent headers' connection is still open 5 s after the header timeout");
}

/// Query strings are read into each endpoint's own fields: a key given
/// twice is a 400 in the API's error shape (not the framework's plain
/// text), unknown keys are ignored, and a bad value names its key.
#[tokio::test]
async fn query_strings_are_read_into_typed_fields_with_json_errors() {
    let stack = Stack::start(&[]).await;
    for path in ["/api/v1/runs?page=1&page=2", "/api/v1/runs/run_00000000000000aa?include=input_smiles&include=x"] {
        let (status, body) = stack.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("duplicate field"), "{path}: {body}");
    }
    let (status, body) = stack.get_json("/api/v1/runs?page=1&utm_source=mail").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack.get_json("/api/v1/runs?page_size=many").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("page_size"), "{body}");
}
