//! Data in and out on the real stack: files uploaded as the body and as a
//! form, the user's IDs and SD data kept, a bad record failing alone, exports
//! equal to `/results` field by field, an SD export read back by RDKit,
//! live progress over Server-Sent Events, structure pictures.

use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::Duration;

const SDF: &str = "aspirin\n  test\n\n 13 13  0  0  0  0  0  0  0  0999 V2000\n    1.2990   -0.7500    0.0000 C   0  0\n    2.5981   -0.0000    0.0000 C   0  0\n    2.5981    1.5000    0.0000 O   0  0\n    3.8971   -0.7500    0.0000 O   0  0\n    5.1962    0.0000    0.0000 C   0  0\n    5.1962    1.5000    0.0000 C   0  0\n    6.4952    2.2500    0.0000 C   0  0\n    7.7942    1.5000    0.0000 C   0  0\n    7.7942    0.0000    0.0000 C   0  0\n    6.4952   -0.7500    0.0000 C   0  0\n    6.4952   -2.2500    0.0000 C   0  0\n    5.1962   -3.0000    0.0000 O   0  0\n    7.7942   -3.0000    0.0000 O   0  0\n  1  2  1  0\n  2  3  2  0\n  2  4  1  0\n  4  5  1  0\n  5  6  2  0\n  6  7  1  0\n  7  8  2  0\n  8  9  1  0\n  9 10  2  0\n 10  5  1  0\n 10 11  1  0\n 11 12  2  0\n 11 13  1  0\nM  END\n> <IC50_nM>\n1200\n\n> <vendor>\nSigma\n\n$$$$\npentavalent carbon\n  test\n\n  6  5  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\n    1.0000    0.0000    0.0000 C   0  0\n   -1.0000    0.0000    0.0000 C   0  0\n    0.0000    1.0000    0.0000 C   0  0\n    0.0000   -1.0000    0.0000 C   0  0\n    0.5000    0.5000    0.0000 C   0  0\n  1  2  1  0\n  1  3  1  0\n  1  4  1  0\n  1  5  1  0\n  1  6  1  0\nM  END\n> <IC50_nM>\n5\n\n$$$$\nethanol\n  test\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\n    1.2990    0.7500    0.0000 C   0  0\n    2.5981   -0.0000    0.0000 O   0  0\n  1  2  1  0\n  2  3  1  0\nM  END\n$$$$\n";

async fn post_file(stack: &Stack, query: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = stack.http.post(stack.url(&format!("/api/v1/runs{query}"))).header("content-type", content_type).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get_text(stack: &Stack, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = stack.http.get(stack.url(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// A CSV cell as the export writes a JSON value of a result.
fn as_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits simple CSV text (the exporter quotes only cells with commas,
/// quotes or line breaks) into rows of cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let (mut row, mut cell, mut quoted, mut chars) = (vec![], String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn a_csv_upload_keeps_the_users_ids_and_its_exports_equal_the_results() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let csv = "compound,SMILES,pIC50\nPF-001,CCO,5.5\nPF-002,,6.0\nPF-003,\"c1ccccc1O\",7.25\nPF-004,not a smiles,1\n";
    let (status, run) = post_file(&stack, "?adapters=rdkit_local&priority=high&id_column=compound", "text/csv", csv).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["compounds"]["total"], 4);
    assert_eq!(run["priority"], "high");
    assert_eq!(run["input_smiles"], json!(["CCO", "", "c1ccccc1O", "not a smiles"]));
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["compounds"], json!({"total": 4, "completed": 2, "failed": 2}), "{done}");

    let results = stack.all_results(run_id).await;
    let ids: Vec<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["PF-001", "PF-002", "PF-003", "PF-004"]);
    assert_eq!(results[0]["input_properties"], json!({"pIC50": "5.5"}));
    assert_eq!(results[1]["status"], "failed");
    assert_eq!(results[1]["errors"]["rdkit_local"], "input: line 3: the SMILES is empty");
    assert!(results[3]["errors"]["rdkit_local"].as_str().unwrap().contains("SMILES"), "{}", results[3]);

    // JSON lines: each line is the result as /results returns it.
    let (status, headers, jsonl) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=jsonl")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-run-status"], "completed");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, results);

    // CSV: one row per compound, every scalar of every section in its column.
    let (status, headers, csv_out) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv")).await;
    assert_eq!(status, 200);
    assert!(headers["content-disposition"].to_str().unwrap().contains(&format!("{run_id}.csv")));
    let rows = parse_csv(&csv_out);
    let header = &rows[0];
    assert_eq!(&header[..5], ["id", "index", "compound_id", "smiles", "status"]);
    assert!(header.contains(&"properties.logp".to_owned()) && header.contains(&"errors.rdkit_local".to_owned()) && header.contains(&"input.pIC50".to_owned()));
    assert_eq!(rows.len(), 5, "a header and one row per compound");
    for (row, result) in rows[1..].iter().zip(&results) {
        for (name, cell) in header.iter().zip(row) {
            let want = match name.split_once('.') {
                Some(("input", key)) => as_cell(&result["input_properties"][key]),
                Some((section, key)) => as_cell(&result[section][key]),
                None => as_cell(&result[name.as_str()]),
            };
            // Numbers are exported as stored; serde_json's own float
            // parsing may land one ulp off, so they are compared as numbers.
            match (cell.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(b)) => assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "column {name} of {}: {cell} vs {want}", result["id"]),
                _ => assert_eq!(cell, &want, "column {name} of {}", result["id"]),
            }
        }
    }
    // Finished: the same bytes every time.
    assert_eq!(get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv")).await.2, csv_out);
    let (_, _, some) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv&columns=id,properties.*,rank")).await;
    let first = &parse_csv(&some)[0];
    assert_eq!(first.first().map(String::as_str), Some("id"));
    assert!(first[1..first.len() - 1].iter().all(|c| c.starts_with("properties.")) && first.last().unwrap() == "rank", "{first:?}");
    let (status, _, body) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv&columns=nope")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=xlsx")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_sd_upload_keeps_titles_and_data_and_a_record_rdkit_cannot_read_fails_alone() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let (status, run) = post_file(&stack, "?adapters=rdkit_local", "chemical/x-mdl-sdfile", SDF).await;
    assert_eq!(status, 201, "{run}");
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["compounds"], json!({"total": 3, "completed": 2, "failed": 1}), "{done}");
    let results = stack.all_results(run_id).await;
    assert_eq!(results[0]["id"], "aspirin");
    assert_eq!(results[0]["smiles"], "CC(=O)Oc1ccccc1C(=O)O");
    assert_eq!(results[0]["input_properties"], json!({"IC50_nM": "1200", "vendor": "Sigma"}));
    assert_eq!(results[1]["id"], "pentavalent carbon");
    assert_eq!(results[1]["status"], "failed");
    let error = results[1]["errors"]["rdkit_local"].as_str().unwrap();
    assert!(error.starts_with("input: record 2 (line 39): RDKit cannot read the molecule: Explicit valence"), "{error}");
    assert_eq!((results[2]["id"].as_str(), results[2]["smiles"].as_str()), (Some("ethanol"), Some("CCO")));

    // The SD export: every compound, titled with its ID, its values as
    // tags, each molecule the same one RDKit reads back.
    let (status, headers, sdf) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=sdf")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "chemical/x-mdl-sdfile");
    let records: Vec<_> = pharmforge_chem::sd_records(&sdf).map(pharmforge_chem::read_sd_record).collect();
    assert_eq!(records.len(), 3);
    for (record, result) in records.iter().zip(&results) {
        assert_eq!(record.title, result["id"].as_str().unwrap());
        let tag = |name: &str| record.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(tag("status"), result["status"].as_str().map(str::to_owned));
        assert_eq!(tag("index"), Some(result["index"].to_string()));
        if result["status"] == "completed" {
            assert_eq!(record.smiles.as_deref(), result["smiles"].as_str(), "the same molecule, read back by RDKit");
            assert_eq!(tag("properties.qed"), Some(result["properties"]["qed"].to_string()));
            assert!(!record.properties.iter().any(|(k, _)| k == "smiles"), "the molecule is the structure; no SMILES tag");
        }
    }
    assert_eq!(records[0].properties.iter().find(|(k, _)| k == "input.vendor").map(|(_, v)| v.as_str()), Some("Sigma"));
    assert_eq!(get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=sdf")).await.2, sdf, "the same bytes every time");
}

#[tokio::test]
async fn uploads_come_as_forms_gzipped_and_bad_files_are_refused_with_their_line() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let smi = "CCO ethanol\nc1ccccc1 benzene\n";
    let form = reqwest::multipart::Form::new()
        .text("options", json!({"adapters": ["rdkit_local"], "pipeline_config": {"project": "p1"}}).to_string())
        .part("file", reqwest::multipart::Part::bytes(smi.as_bytes().to_vec()).file_name("hits.smi"));
    let r = stack.http.post(stack.url("/api/v1/runs")).multipart(form).send().await.unwrap();
    let status = r.status().as_u16();
    let run: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["pipeline_config"], json!({"adapters": ["rdkit_local"], "priority": "normal", "project": "p1"}));
    assert_eq!(run["input_smiles"], json!(["CCO", "c1ccccc1"]));

    let gz = {
        use std::io::Write;
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(b"smiles,id\nCCN,amine\n").unwrap();
        w.finish().unwrap()
    };
    let r = stack
        .http
        .post(stack.url("/api/v1/runs?adapters=rdkit_local"))
        .header("content-type", "text/csv")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let run: Value = r.json().await.unwrap();
    let done = stack.wait_finished(run["run_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(done["compounds"]["completed"], 1, "{done}");

    let (status, body) = post_file(&stack, "", "text/csv", "id,name\n1,x\n").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("line 1: no SMILES column"), "{body}");
    let (status, body) = post_file(&stack, "", "text/csv", "smiles,id\nCCO,1\nCCN,2,extra\n").await;
    assert_eq!((status, body["error"]["message"].as_str()), (422, Some("line 3: 3 fields where the header has 2")));
    let (status, body) = post_file(&stack, "?adapter=rdkit_local", "text/csv", "smiles\nC\n").await;
    assert_eq!(status, 400, "a misspelt option is not ignored: {body}");
    let (status, body) = post_file(&stack, "", "application/pdf", "%PDF").await;
    assert_eq!(status, 415, "{body}");
    let (status, _) = post_file(&stack, "?format=smi", "application/octet-stream", "CCO\n").await;
    assert_eq!(status, 201, "format= reads any body");
    // Nothing of the refused files was kept.
    let (_, list) = stack.get_json("/api/v1/runs").await;
    assert_eq!(list["total"], 3, "{list}");
}

#[tokio::test]
async fn json_compounds_keep_their_ids_and_small_runs_show_their_input() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let run = stack.create_run(json!({"compounds": [{"id": "a-1", "smiles": "CCO"}, {"smiles": "N"}], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    stack.wait_finished(run_id, Duration::from_secs(60)).await;
    let results = stack.all_results(run_id).await;
    assert_eq!((results[0]["id"].clone(), results[1]["id"].clone()), (json!("a-1"), Value::Null));
    let (_, got) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(got["input_smiles"], json!(["CCO", "N"]));

    let many: Vec<String> = (0..1001).map(|i| "C".repeat(i % 7 + 1)).collect();
    let big = stack.create_run(json!({"input_smiles": many, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    assert!(big.get("input_smiles").is_none());
    assert_eq!(big["input_smiles_omitted"], 1001);
    let (_, all) = stack.get_json(&format!("/api/v1/runs/{}?include=input_smiles", big["run_id"].as_str().unwrap())).await;
    assert_eq!(all["input_smiles"].as_array().unwrap().len(), 1001);
}

/// Reads Server-Sent Events until the stream closes: `(event, id, data)`.
async fn read_events(stack: &Stack, path: &str, last_event_id: Option<&str>) -> Vec<(String, String, Value)> {
    let mut request = stack.http.get(stack.url(path)).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(90), r.text()).await.expect("the stream closes after the final event").unwrap();
    text.split("\n\n")
        .filter_map(|frame| {
            let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
            Some((field("event: ")?, field("id: ").unwrap_or_default(), serde_json::from_str(&field("data: ")?).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn server_sent_events_follow_a_run_to_its_final_event_and_then_close() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let smiles: Vec<String> = pharmforge_tests::distinct_molecules(1500, &["c1ccccc1", "C1CCNCC1"]);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let events = read_events(&stack, &format!("/api/v1/runs/{run_id}/events"), None).await;
    let (last, rest) = events.split_last().unwrap();
    assert_eq!(last.0, "completed");
    assert_eq!(last.2["status"], "completed");
    assert_eq!(last.2["compounds"], json!({"total": 1500, "completed": 1500, "failed": 0}));
    assert_eq!(last.2["stages"]["rdkit_local"]["done"], 1500);
    assert!(rest.iter().all(|e| e.0 == "progress"), "{rest:?}");
    assert!(rest.len() >= 2, "progress while it ran: {rest:?}");
    let done: Vec<i64> = rest.iter().map(|e| e.2["stages"]["rdkit_local"]["done"].as_i64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {done:?}");

    // Connecting after the end: the final event at once, then the close.
    let again = read_events(&stack, &format!("/api/v1/runs/{run_id}/events"), Some(&rest[0].1)).await;
    assert_eq!(again.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["completed"]);
    let (status, _) = stack.get_json("/api/v1/runs/run_0123456789abcdef/events").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cancelled_run_ends_its_event_stream_with_cancelled() {
    let stack = Stack::start(&[]).await;
    let run = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/runs/{run_id}/events");
    let listener = {
        let url = stack.url(&path);
        let http = stack.http.clone();
        tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = stack.http.post(stack.url(&format!("/api/v1/runs/{run_id}/cancel"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(10), listener).await.expect("closed after the cancel").unwrap();
    assert!(
        text.contains("event: progress") && text.trim_end().ends_with("\"error_message\":\"cancelled by request\"}") && text.contains("event: cancelled"),
        "{text}"
    );
}

#[tokio::test]
async fn structures_are_drawn_as_svg_and_bad_smiles_get_422() {
    let stack = Stack::start(&[]).await;
    let (status, headers, svg) = get_text(&stack, "/api/v1/depict?smiles=c1ccccc1O&width=240&height=180").await;
    assert_eq!(status, 200, "{svg}");
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age"));
    assert!(svg.starts_with("<?xml") && svg.contains("width='240px'") && svg.contains("height='180px'"), "{}", &svg[..svg.len().min(300)]);
    // Kept by canonical SMILES: another spelling of phenol is the same picture.
    assert_eq!(get_text(&stack, "/api/v1/depict?smiles=Oc1ccccc1&width=240&height=180").await.2, svg);
    let (status, _, body) = get_text(&stack, "/api/v1/depict?smiles=C1CC").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("RDKit cannot read this SMILES"), "{body}");
    let (status, _, _) = get_text(&stack, "/api/v1/depict?smiles=CCO&width=5000").await;
    assert_eq!(status, 422);
    let (status, _, _) = get_text(&stack, "/api/v1/depict").await;
    assert_eq!(status, 422);

    let run = stack.create_run(json!({"compounds": [{"id": "x", "smiles": "CC(=O)Oc1ccccc1C(=O)O"}], "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let (status, headers, picture) = get_text(&stack, &format!("/api/v1/runs/{run_id}/results/0/depiction.svg")).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (200, "image/svg+xml"));
    assert!(picture.starts_with("<?xml") && picture != svg);
    assert_eq!(get_text(&stack, &format!("/api/v1/runs/{run_id}/results/1/depiction.svg")).await.0, 404);
}

/// ADMET's predictions and percentiles are flat columns of a CSV export
/// (`admet.hERG`, `admet.hERG_drugbank_approved_percentile`, `admet.model`),
/// read from the numbers the aggregator stores beside the section, which
/// equal the section's values (and the migration's SQL layout of them), and
/// sorting and rescoring by an ADMET value read the same numbers.
#[tokio::test]
async fn admet_values_are_flat_export_columns_and_sort_and_rescore_keys() {
    let stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    let smiles = ["CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "not a smiles", "c1ccc2c(c1)cccc2N", "CCCCCCCCCCCCCCCC(=O)O"];
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "admet_ai"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    stack.wait_finished(&run_id, Duration::from_secs(120)).await;
    let results = stack.all_results(&run_id).await;
    let with_admet = results.iter().filter(|r| r["admet"]["properties"].is_object()).count();
    assert_eq!(with_admet, 4, "{results:?}");

    // What the aggregator stored is the section's numbers, as the
    // migration's SQL function lays them out.
    let pool = stack.db.pool().await;
    let (arrays, differing): (i64, i64) = sqlx::query_as(
        "SELECT count(admet_values), count(*) FILTER (WHERE admet_values IS DISTINCT FROM pf_admet_values(admet) OR admet_model IS DISTINCT FROM admet ->> 'model') \
         FROM compound_results c JOIN pipeline_runs p ON p.id = c.run_pk WHERE p.run_id = $1",
    )
    .bind(&run_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((arrays, differing), (4, 0));

    let (status, _, csv_out) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv")).await;
    assert_eq!(status, 200);
    let rows = parse_csv(&csv_out);
    let header = &rows[0];
    let admet_columns: Vec<&str> = header.iter().filter_map(|h| h.strip_prefix("admet.")).collect();
    let mut expected: Vec<String> = vec!["model".into()];
    for r in &results {
        for part in ["properties", "percentiles"] {
            expected.extend(r["admet"][part].as_object().into_iter().flat_map(|o| o.keys().cloned()));
        }
    }
    expected.sort();
    expected.dedup();
    assert_eq!(admet_columns, expected, "one column per prediction and percentile, in byte order");
    assert!(admet_columns.contains(&"hERG") && admet_columns.contains(&"hERG_drugbank_approved_percentile"));
    for (row, result) in rows[1..].iter().zip(&results) {
        for (name, cell) in header.iter().zip(row) {
            let Some(key) = name.strip_prefix("admet.") else { continue };
            let want = match key {
                "model" => result["admet"]["model"].clone(),
                k if k.ends_with("_drugbank_approved_percentile") => result["admet"]["percentiles"][k].clone(),
                k => result["admet"]["properties"][k].clone(),
            };
            match want.as_f64() {
                Some(b) => {
                    let a: f64 = cell.parse().unwrap_or_else(|_| panic!("column {name} of {}: {cell:?}", result["smiles"]));
                    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "column {name} of {}: {cell} vs {b}", result["smiles"]);
                }
                None => assert_eq!(cell, &as_cell(&want), "column {name} of {}", result["smiles"]),
            }
        }
    }
    // Asked for alone, and in an SD file, the same cells.
    let (_, _, some) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=csv&columns=admet.hERG,admet.model,smiles")).await;
    let some = parse_csv(&some);
    let herg = header.iter().position(|h| h == "admet.hERG").unwrap();
    let model = header.iter().position(|h| h == "admet.model").unwrap();
    for (picked, full) in some[1..].iter().zip(&rows[1..]) {
        assert_eq!(picked, &[full[herg].clone(), full[model].clone(), full[3].clone()]);
    }
    let (_, _, sdf) = get_text(&stack, &format!("/api/v1/runs/{run_id}/export?format=sdf")).await;
    let records: Vec<_> = pharmforge_chem::sd_records(&sdf).map(pharmforge_chem::read_sd_record).collect();
    assert_eq!(records.len(), rows.len() - 1);
    for (record, row) in records.iter().zip(&rows[1..]) {
        let tag = |name: &str| record.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(tag("admet.hERG").unwrap_or(""), row[herg], "{record:?}");
        assert_eq!(tag("admet.model").unwrap_or(""), row[model], "{record:?}");
    }

    // Sorted by hERG, descending: the compounds with a value in its order,
    // then the one without.
    let (_, sorted) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=herg&order=desc&page_size=100")).await;
    let order: Vec<&str> = sorted["results"].as_array().unwrap().iter().map(|r| r["smiles"].as_str().unwrap()).collect();
    let mut want: Vec<(&str, Option<f64>)> = results.iter().map(|r| (r["smiles"].as_str().unwrap(), r["admet"]["properties"]["hERG"].as_f64())).collect();
    want.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => y.partial_cmp(&x).unwrap(),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    assert_eq!(order, want.iter().map(|w| w.0).collect::<Vec<_>>());

    // Rescored by an ADMET value and a percentile: each score is the value.
    let profile = json!({"method": "weighted_mean", "objectives": [
        {"name": "herg", "value": "admet.hERG", "transform": {"type": "identity"}},
        {"name": "ames_pct", "value": "admet.AMES_drugbank_approved_percentile", "transform": {"type": "sigmoid", "low": 0, "high": 100, "k": 0.5}},
    ]});
    let (status, rescored) = stack.post_json(&format!("/api/v1/runs/{run_id}/rescore"), json!({"scoring": profile})).await;
    assert_eq!(status, 200, "{rescored}");
    for r in stack.all_results(&run_id).await {
        let Some(herg) = r["admet"]["properties"]["hERG"].as_f64() else { continue };
        let pct = r["admet"]["percentiles"]["AMES_drugbank_approved_percentile"].as_f64().unwrap();
        assert_eq!(r["scores"]["herg"].as_f64(), Some(herg.clamp(0.0, 1.0)), "{r}");
        // REINVENT's sigmoid: κ = 10·k/(high − low), x = v − (low + high)/2.
        let want = 1.0 / (1.0 + 10f64.powf(-0.05 * (pct - 50.0)));
        assert!((r["scores"]["ames_pct"].as_f64().unwrap() - want).abs() < 1e-12, "{r}");
    }
}
