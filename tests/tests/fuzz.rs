//! Bad input, however wrong, never gets a 5xx nor crashes the API: random
//! requests generated from the API's own OpenAPI description (and mutations of
//! them) against a live stack, a body of each type an operation declares.
//! Every response must be one the description declares for that operation,
//! every error must have the JSON error shape, and every JSON answer must fit
//! the schema declared for it. The seed is printed; `FUZZ_SEED` replays a run.

use pharmforge_tests::Stack;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const NASTY: [&str; 14] = [
    "",
    "0",
    "-1",
    "99999999999999999999999",
    "1e9",
    "abc",
    "'; DROP TABLE pipeline_runs; --",
    "$(rm -rf /)",
    "run_0123456789abcdef",
    "run_ZZZZ",
    "\u{0}",
    "é中文🧪",
    "%ff%fe",
    "../../etc/passwd",
];

fn random_string(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => NASTY[rng.random_range(0..NASTY.len())].to_owned(),
        1 => "C".repeat(rng.random_range(1..20_000)),
        2 => (0..rng.random_range(0..40)).map(|_| char::from_u32(rng.random_range(0..0x3000)).unwrap_or('x')).collect(),
        3 => ["CCO", "c1ccccc1", "C1CC1(", "[Na+].[Cl-]", "not_a_smiles"][rng.random_range(0..5)].to_owned(),
        4 => format!("run_{:016x}", rng.random::<u64>()),
        _ => (0..rng.random_range(1..12)).map(|_| rng.random_range(b'a'..=b'z') as char).collect(),
    }
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random_range(-1e12..1e12)),
        3 => json!(random_string(rng)),
        4 => Value::Array((0..rng.random_range(0..5)).map(|_| random_json(rng, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(random_string(rng), random_json(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A run request: mostly well-formed with one part mutated.
fn run_body(rng: &mut StdRng) -> Vec<u8> {
    let mut body = json!({
        "input_smiles": (0..rng.random_range(1..5)).map(|_| random_string(rng)).collect::<Vec<_>>(),
        "pipeline_config": {"adapters": ["rdkit_local"]},
    });
    match rng.random_range(0..8) {
        0 => body["input_smiles"] = random_json(rng, 0),
        1 => body["pipeline_config"] = random_json(rng, 0),
        2 => body["pipeline_config"]["adapters"] = random_json(rng, 0),
        3 => body["user_id"] = random_json(rng, 0),
        4 => body[random_string(rng)] = random_json(rng, 0),
        5 => body = random_json(rng, 0),
        6 => {
            let mut bytes = serde_json::to_vec(&body).unwrap();
            let cut = rng.random_range(0..bytes.len());
            bytes.truncate(cut);
            return bytes;
        }
        _ => {
            let mut bytes = serde_json::to_vec(&body).unwrap();
            let at = rng.random_range(0..bytes.len());
            bytes[at] = [0xff, 0xc3, 0x00, b'"'][rng.random_range(0..4)];
            return bytes;
        }
    }
    serde_json::to_vec(&body).unwrap()
}

/// A file upload's body: a small file of that type, mostly well-formed, sometimes mangled.
fn file_body(rng: &mut StdRng, content_type: &str) -> Vec<u8> {
    let smiles: Vec<String> = (0..rng.random_range(0..4)).map(|_| random_string(rng).replace(['\n', '\r'], "")).collect();
    let text = match content_type {
        "text/csv" => format!("id,smiles\n{}", smiles.iter().enumerate().map(|(i, s)| format!("c{i},{s}\n")).collect::<String>()),
        "text/tab-separated-values" => format!("smiles\tname\n{}", smiles.iter().map(|s| format!("{s}\tx\n")).collect::<String>()),
        "chemical/x-mdl-sdfile" => {
            ["", "x\n  RDKit\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n", "not an SD file\n$$$$\n"][rng.random_range(0..3)].to_owned()
        }
        _ => smiles.join("\n"),
    };
    let mut bytes = text.into_bytes();
    if rng.random_bool(0.3) && !bytes.is_empty() {
        let at = rng.random_range(0..bytes.len());
        bytes[at] = [0xff, 0x00, b',', b'\t', b'"'][rng.random_range(0..5)];
    }
    bytes
}

/// A form of an options part (sometimes) and a file part.
fn form_body(rng: &mut StdRng) -> (String, Vec<u8>) {
    let boundary = "fuzzboundary";
    let mut body = String::new();
    if rng.random_bool(0.5) {
        let options = if rng.random_bool(0.5) { json!({"adapters": ["rdkit_local"]}) } else { random_json(rng, 0) };
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n{options}\r\n"));
    }
    let name = ["x.csv", "x.smi", "x.sdf", "x.txt", ""][rng.random_range(0..5)];
    let file = String::from_utf8_lossy(&file_body(rng, "text/csv")).into_owned();
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n{file}\r\n--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(doc, r.trim_start_matches("#/").split('/').fold(doc, |node, key| &node[key])),
        None => schema,
    }
}

/// What `value` breaks of `schema` (a JSON Schema as OpenAPI 3.1 writes it:
/// `$ref`, `type` lists, `enum`, `required`, `properties`,
/// `additionalProperties`, `items`, `oneOf`, `allOf`), each with where. An
/// object schema that lists its properties and says nothing of others is
/// taken as closed: a field the document does not name is an error.
fn schema_errors(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(all) = schema["allOf"].as_array() {
        // One object described in parts (a flattened struct): checked as their union.
        let mut merged = json!({"type": "object", "properties": {}, "required": []});
        for part in all.iter().map(|p| resolve(doc, p)) {
            for (name, field) in part["properties"].as_object().into_iter().flatten() {
                merged["properties"][name] = field.clone();
            }
            for name in part["required"].as_array().into_iter().flatten() {
                merged["required"].as_array_mut().unwrap().push(name.clone());
            }
        }
        return schema_errors(doc, &merged, value, at, errors);
    }
    if let Some(any) = schema["oneOf"].as_array() {
        let fits = any.iter().any(|s| {
            let mut e = Vec::new();
            schema_errors(doc, s, value, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of {}", Value::Array(any.clone())));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty() || types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
    if !fits {
        errors.push(format!("{at}: {kind} where the schema says {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(fields) => {
            for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    errors.push(format!("{at}: no {name:?}, which the schema requires"));
                }
            }
            let declared = schema["properties"].as_object();
            for (name, field) in fields {
                match (declared.and_then(|d| d.get(name)), &schema["additionalProperties"]) {
                    (Some(s), _) => schema_errors(doc, s, field, &format!("{at}.{name}"), errors),
                    (None, extra @ Value::Object(_)) => schema_errors(doc, extra, field, &format!("{at}.{name}"), errors),
                    (None, Value::Bool(true)) => {}
                    (None, _) if declared.is_some() => errors.push(format!("{at}.{name}: not in the schema")),
                    (None, _) => {}
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter().enumerate() {
                schema_errors(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn query(rng: &mut StdRng, params: &[Value]) -> String {
    let mut parts = Vec::new();
    for p in params {
        if p["in"] != "query" || rng.random_bool(0.4) {
            continue;
        }
        let name = p["name"].as_str().unwrap();
        let mut value = if rng.random_bool(0.5) {
            match p["schema"]["type"].as_str() {
                Some("integer") => rng.random_range(-5..150).to_string(),
                _ => p["schema"]["enum"].as_array().and_then(|e| e.first()).and_then(Value::as_str).unwrap_or("x").to_owned(),
            }
        } else {
            random_string(rng)
        };
        // Keep URLs under what HTTP clients accept; long values still reach the API.
        value = value.chars().take(1_000).collect();
        let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
        parts.push(format!("{name}={encoded}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[tokio::test]
async fn the_api_answers_random_and_malformed_requests_as_its_openapi_description_says() {
    let stack = Stack::start_with_env(&[], &[("API_MAX_BODY_BYTES", "65536"), ("API_RUNS_BURST", "100000")]).await;
    let (status, spec) = stack.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    // The schema check itself finds a wrong type, a missing field and one the document does not name.
    let mut errors = Vec::new();
    schema_errors(&spec, &json!({"$ref": "#/components/schemas/Run"}), &json!({"run_id": 5, "surprise": true}), "run", &mut errors);
    let found = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(found("run.run_id: integer") && found("no \"status\"") && found("run.surprise: not in the schema"), "{errors:#?}");
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    // One real run, so that some generated ids exist.
    let real = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let real_id = real["run_id"].as_str().unwrap().to_owned();

    let mut requests = 0;
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let mut params: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
            params.extend(op["parameters"].as_array().cloned().unwrap_or_default());
            let declared: Vec<u16> = op["responses"].as_object().unwrap().keys().filter_map(|k| k.parse().ok()).collect();
            let body_types: Vec<&String> = op["requestBody"]["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
            for _ in 0..60 {
                let id = match rng.random_range(0..3) {
                    // The real run must survive: no DELETE of it.
                    0 if method != "delete" => real_id.clone(),
                    0 => format!("run_{:016x}", rng.random::<u64>()),
                    1 => format!("run_{:016x}", rng.random::<u64>()),
                    _ => random_string(&mut rng).bytes().map(|b| format!("%{b:02X}")).collect(),
                };
                let index = ["0", "1", "-1", "x", "99999999999"][rng.random_range(0..5)];
                let url = format!("{}{}", path.replace("{run_id}", &id).replace("{index}", index), query(&mut rng, &params));
                let mut req = stack.http.request(method.to_uppercase().parse().unwrap(), stack.url(&url));
                if !body_types.is_empty() {
                    // Mostly JSON: the other types are file uploads, each a run when it is well-formed.
                    let content_type = match rng.random_bool(0.7) {
                        true => "application/json",
                        false => body_types[rng.random_range(0..body_types.len())].as_str(),
                    };
                    let (content_type, body) = match content_type {
                        "application/json" => (content_type.to_owned(), run_body(&mut rng)),
                        "multipart/form-data" => form_body(&mut rng),
                        other => (other.to_owned(), file_body(&mut rng, other)),
                    };
                    req = req.header("content-type", content_type).body(body);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                // An event stream lasts as long as its run: its status and
                // headers are the answer; the body is not waited for.
                if r.headers().get("content-type").is_some_and(|t| t == "text/event-stream") {
                    assert!(declared.contains(&status), "{method} {url} → {status} not declared ({declared:?})");
                    requests += 1;
                    continue;
                }
                let content_type = r.headers().get("content-type").and_then(|t| t.to_str().ok()).unwrap_or("").to_owned();
                let text = r.text().await.unwrap();
                requests += 1;
                assert!(status < 500, "{method} {url} → {status}: {text}");
                // A path that is not a run id at all may not reach the route (404 from the router).
                let allowed = declared.contains(&status) || status == 404 || status == 405;
                assert!(allowed, "{method} {url} → {status} not declared ({declared:?}): {text}");
                if status >= 400 {
                    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {url} → {status}, not JSON: {text}"));
                    assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{method} {url}: {text}");
                }
                // A JSON answer fits the schema declared for it.
                let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
                if content_type.starts_with("application/json") && schema.is_object() {
                    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {url} → {status}, not JSON: {text}"));
                    let mut errors = Vec::new();
                    schema_errors(&spec, schema, &v, "body", &mut errors);
                    assert!(errors.is_empty(), "{method} {url} → {status}: the answer does not fit its schema: {errors:#?}\n{text}");
                    checked += 1;
                }
            }
        }
    }
    // A body over the limit: 413 with the JSON error shape.
    let big = format!("{{\"input_smiles\": [\"{}\"]}}", "C".repeat(70_000));
    let r = stack.http.post(stack.url("/api/v1/runs")).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "payload_too_large");
    // The API is still healthy and the real run is intact.
    assert_eq!(stack.get_json("/healthz").await.0, 200);
    assert_eq!(stack.get_json(&format!("/api/v1/runs/{real_id}")).await.0, 200);
    eprintln!("{requests} requests, {checked} JSON answers checked against their schemas");
    assert!(checked > requests / 4, "too few answers were checked: {checked} of {requests}");
}
