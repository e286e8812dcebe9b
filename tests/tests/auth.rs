//! Access control: bearer tokens (HS256 here), runs scoped to the token's
//! subject, the per-user rate limit on run creation, and the refusal to start
//! with authentication on but no key.

use jsonwebtoken::{encode, EncodingKey, Header};
use pharmforge_tests::{binary, Stack};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256!";

fn token(sub: &str, secret: &str, expires_in: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    encode(&Header::default(), &json!({"sub": sub, "exp": now + expires_in}), &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn call(stack: &Stack, method: reqwest::Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = stack.http.request(method, stack.url(path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

fn secured() -> Vec<(&'static str, &'static str)> {
    vec![("API_AUTH", "jwt"), ("API_JWT_HS256_SECRET", SECRET), ("API_RUNS_PER_MINUTE", "60"), ("API_RUNS_BURST", "5")]
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let stack = Stack::start_with_env(&[], &secured()).await;
    let body = Some(json!({"input_smiles": ["CCO"]}));
    let (status, err, headers) = call(&stack, reqwest::Method::POST, "/api/v1/runs", None, body.clone()).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    assert!(err["error"]["message"].as_str().unwrap().contains("Bearer"));
    let forged = token("alice", "another-secret-that-is-long-enough-for-hs256", 600);
    let (status, _, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some(&forged), None).await;
    assert_eq!(status, 401);
    let expired = token("alice", SECRET, -3600);
    let (status, err, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some(&expired), None).await;
    assert_eq!(status, 401);
    assert!(err["error"]["message"].as_str().unwrap().contains("invalid token"));
    let (status, _, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some("not.a.jwt"), None).await;
    assert_eq!(status, 401);
    // Not valid yet: its nbf is an hour away.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let early =
        encode(&Header::default(), &json!({"sub": "alice", "exp": now + 7200, "nbf": now + 3600}), &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    let (status, err, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some(&early), None).await;
    assert_eq!(status, 401, "a token before its nbf: {err}");
    // Without issuer and audience configured the API says so at start.
    let api_log = stack.services.iter().find(|s| s.name == "pharmforge-api").unwrap().log_text();
    assert!(api_log.contains("API_JWT_ISSUER is not set") && api_log.contains("API_JWT_AUDIENCE is not set"), "{api_log}");
    // Health endpoints stay open for probes.
    assert_eq!(stack.get_json("/healthz").await.0, 200);
}

#[tokio::test]
async fn users_see_only_their_own_runs() {
    let stack = Stack::start_with_env(&[], &secured()).await;
    let (alice, bob) = (token("alice", SECRET, 600), token("bob", SECRET, 600));
    let (status, run, _) = call(&stack, reqwest::Method::POST, "/api/v1/runs", Some(&alice), Some(json!({"input_smiles": ["CCO"]}))).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["user_id"], "alice", "runs belong to the token's subject");
    let id = run["run_id"].as_str().unwrap();
    let (status, _, _) = call(&stack, reqwest::Method::POST, "/api/v1/runs", Some(&alice), Some(json!({"input_smiles": ["CCO"], "user_id": "bob"}))).await;
    assert_eq!(status, 403, "a user cannot create runs for someone else");

    for path in [format!("/api/v1/runs/{id}"), format!("/api/v1/runs/{id}/results")] {
        assert_eq!(call(&stack, reqwest::Method::GET, &path, Some(&bob), None).await.0, 404, "{path}");
        assert_eq!(call(&stack, reqwest::Method::GET, &path, Some(&alice), None).await.0, 200, "{path}");
    }
    assert_eq!(call(&stack, reqwest::Method::POST, &format!("/api/v1/runs/{id}/cancel"), Some(&bob), None).await.0, 404);
    assert_eq!(call(&stack, reqwest::Method::DELETE, &format!("/api/v1/runs/{id}"), Some(&bob), None).await.0, 404);
    let (_, list, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some(&bob), None).await;
    assert_eq!(list["total"], 0);
    let (_, list, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs?user_id=alice", Some(&bob), None).await;
    assert_eq!(list["total"], 0, "asking for another user's runs shows nothing");
    let (_, list, _) = call(&stack, reqwest::Method::GET, "/api/v1/runs", Some(&alice), None).await;
    assert_eq!(list["total"], 1);
    assert_eq!(call(&stack, reqwest::Method::DELETE, &format!("/api/v1/runs/{id}"), Some(&alice), None).await.0, 204);
}

#[tokio::test]
async fn run_creation_is_rate_limited_per_user_with_retry_after() {
    let stack = Stack::start_with_env(&[], &secured()).await;
    let (alice, bob) = (token("alice", SECRET, 600), token("bob", SECRET, 600));
    let body = json!({"input_smiles": ["C"], "pipeline_config": {"adapters": ["rdkit_local"]}});
    for _ in 0..5 {
        assert_eq!(call(&stack, reqwest::Method::POST, "/api/v1/runs", Some(&alice), Some(body.clone())).await.0, 201);
    }
    let (status, err, headers) = call(&stack, reqwest::Method::POST, "/api/v1/runs", Some(&alice), Some(body.clone())).await;
    assert_eq!(status, 429, "{err}");
    let retry: u64 = headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(call(&stack, reqwest::Method::POST, "/api/v1/runs", Some(&bob), Some(body)).await.0, 201, "another user is not limited");
}

#[test]
fn the_api_refuses_to_start_with_authentication_on_and_no_key() {
    let out = std::process::Command::new(binary("pharmforge-api")).env_clear().env("API_ADDR", "127.0.0.1:0").env("NO_COLOR", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("API_JWT_HS256_SECRET") && log.contains("API_AUTH=off"), "{log}");
    let _ = Duration::ZERO;
}

#[test]
fn the_api_refuses_to_start_with_the_example_secret() {
    let out = std::process::Command::new(binary("pharmforge-api"))
        .env_clear()
        .env("API_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .env("API_JWT_HS256_SECRET", "change-me-to-at-least-32-random-bytes-of-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("example secret"), "{log}");
    // No manifest under deploy/k8s (base, components, overlays) ships a key.
    let manifests = pharmforge_tests::files_under(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s")), "yaml");
    for path in &manifests {
        let shipped = std::fs::read_to_string(path).unwrap();
        assert!(!shipped.contains("API_JWT_HS256_SECRET:"), "{} ships a key", path.display());
    }
    let read = manifests.len();
    assert!(read >= 10, "the manifests were read ({read} files)");
}
