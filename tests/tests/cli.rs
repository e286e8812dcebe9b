//! The `pharmforge` command-line client against the real stack: a file
//! submitted, watched to the end and exported; the list, the results table,
//! a JSON-lines export equal to `/results`; a cancelled run's exit status; an
//! API error shown as its message; scoring profiles named and rescored.

use pharmforge_tests::{binary, distinct_molecules, Stack};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Runs `pharmforge` against the stack's API, in `dir`, with piped output
/// (so no terminal: events come as JSON lines).
async fn pharmforge(stack: &Stack, dir: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(binary("pharmforge"));
    command
        .args(args)
        .current_dir(dir)
        .env("PHARMFORGE_URL", stack.url(""))
        .env_remove("PHARMFORGE_TOKEN")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(120), command.output()).await {
        Ok(output) => output.expect("run pharmforge"),
        Err(_) => panic!("pharmforge {args:?} did not finish in 120 s\n{}", stack.all_logs()),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// The fields of one CSV record (RFC 4180 quoting; no newlines in fields here).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[tokio::test]
async fn the_cli_submits_a_file_watches_it_to_the_end_and_exports_every_compound() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mols.smi"), "CCO ethanol\nCC(=O)O acetic_acid\nc1ccccc1 benzene\n").unwrap();

    let out = pharmforge(&stack, dir.path(), &["submit", "mols.smi", "--adapters", "rdkit_local", "--watch", "-o", "out.csv"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let run_id = lines.next().unwrap_or_default().to_owned();
    assert!(run_id.starts_with("run_"), "the first line is the run id: {}", describe(&out));
    let events: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let last = events.last().unwrap_or_else(|| panic!("no events\n{}", describe(&out)));
    assert_eq!(last["event"], "completed", "{}", describe(&out));
    assert_eq!(last["data"]["run_id"], run_id.as_str());
    assert_eq!(last["data"]["compounds"]["completed"], 3);

    let csv = std::fs::read_to_string(dir.path().join("out.csv")).expect("out.csv written");
    assert!(!dir.path().join("out.csv.part").exists());
    let mut rows = csv.lines();
    let header = csv_fields(rows.next().expect("a header"));
    let id_at = header.iter().position(|h| h == "id").unwrap_or_else(|| panic!("no id column in {header:?}"));
    let rows: Vec<Vec<String>> = rows.map(csv_fields).collect();
    assert_eq!(rows.len(), 3, "one row per compound:\n{csv}");
    let ids: Vec<&str> = rows.iter().map(|r| r[id_at].as_str()).collect();
    assert_eq!(ids, ["ethanol", "acetic_acid", "benzene"]);

    let out = pharmforge(&stack, dir.path(), &["list", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&out)));
    assert!(list["runs"].as_array().unwrap().iter().any(|r| r["run_id"] == run_id.as_str()), "{list}");

    let out = pharmforge(&stack, dir.path(), &["export", &run_id, "-o", "x.jsonl"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!text(&out.stderr).contains("warning"), "a finished run's export has no warning: {}", describe(&out));
    let exported: Vec<Value> = std::fs::read_to_string(dir.path().join("x.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported, stack.all_results(&run_id).await, "the JSON-lines export equals /results");

    let out = pharmforge(&stack, dir.path(), &["results", &run_id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let table = text(&out.stdout);
    for word in ["INDEX", "SMILES", "MW", "ethanol", "benzene", "3 of 3 results"] {
        assert!(table.contains(word), "{word:?} missing from the results table:\n{table}");
    }

    // A finished run's stream gives its final event at once.
    let out = pharmforge(&stack, dir.path(), &["watch", &run_id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap_or_default()).unwrap();
    assert_eq!(last["event"], "completed");
}

#[tokio::test]
async fn watching_a_cancelled_run_exits_with_status_2() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut file = distinct_molecules(20_000, &["", "c1ccccc1"]).join("\n");
    file.push('\n');
    std::fs::write(dir.path().join("many.smi"), file).unwrap();

    let out = pharmforge(&stack, dir.path(), &["submit", "many.smi", "--adapters", "rdkit_local"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run_id = text(&out.stdout).trim().to_owned();
    let out = pharmforge(&stack, dir.path(), &["cancel", &run_id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = pharmforge(&stack, dir.path(), &["watch", &run_id]).await;
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap_or_default()).unwrap();
    assert_eq!(last["event"], "cancelled");
}

#[tokio::test]
async fn an_api_error_is_shown_as_its_message_with_a_non_zero_exit() {
    let stack = Stack::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = "run_0123456789abcdef";
    for args in [vec!["show", missing], vec!["watch", missing], vec!["export", missing, "-o", "x.csv"]] {
        let out = pharmforge(&stack, dir.path(), &args).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.trim_end(), format!("error: run {missing} not found (HTTP 404)"), "{args:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
    }
    assert!(!dir.path().join("x.csv").exists() && !dir.path().join("x.csv.part").exists());

    // Nothing listening: the message names the URL.
    let out = pharmforge(&stack, dir.path(), &["--url", "http://127.0.0.1:9", "list"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(text(&out.stderr).starts_with("error: cannot connect to the PharmForge API at http://127.0.0.1:9: "), "{}", describe(&out));
}

#[tokio::test]
async fn the_cli_submits_with_a_built_in_profile_then_rescores_from_a_profile_file() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let dir = tempfile::tempdir().unwrap();
    let smiles = distinct_molecules(12, &["c1ccccc1"]);
    std::fs::write(dir.path().join("mols.smi"), smiles.join("\n")).unwrap();
    let out = pharmforge(&stack, dir.path(), &["submit", "mols.smi", "--adapters", "rdkit_local", "--scoring", "lead_like", "--watch"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let run_id = text(&out.stdout).lines().next().unwrap_or_default().to_owned();
    let out = pharmforge(&stack, dir.path(), &["show", &run_id]).await;
    assert!(text(&out.stdout).contains("scoring    lead_like\n"), "{}", describe(&out));

    // A profile of one objective: the ranks follow the heaviest molecule.
    std::fs::write(
        dir.path().join("heavy.json"),
        r#"{"objectives": [{"name": "mw", "value": "properties.molecular_weight", "transform": {"type": "sigmoid", "low": 50, "high": 400, "k": 0.5}}]}"#,
    )
    .unwrap();
    let out = pharmforge(&stack, dir.path(), &["rescore", &run_id, "heavy.json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text(&out.stdout).contains("12 of 12 compounds ranked"), "{}", describe(&out));
    let results = stack.all_results(&run_id).await;
    let heaviest = results
        .iter()
        .max_by(|a, b| a["properties"]["molecular_weight"].as_f64().unwrap().total_cmp(&b["properties"]["molecular_weight"].as_f64().unwrap()))
        .unwrap();
    assert_eq!(heaviest["rank"], 1, "{heaviest}");
    let out = pharmforge(&stack, dir.path(), &["show", &run_id]).await;
    assert!(text(&out.stdout).contains("scoring    weighted_mean of 1 objectives (rescored 1 times)"), "{}", describe(&out));

    // A name that is neither a built-in nor a file: the API's message, exit 3.
    let out = pharmforge(&stack, dir.path(), &["rescore", &run_id, "nonesuch"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(text(&out.stderr).contains("no built-in profile \"nonesuch\""), "{}", describe(&out));
    let out = pharmforge(&stack, dir.path(), &["profiles"]).await;
    assert!(text(&out.stdout).contains("default (default)\n") && text(&out.stdout).contains("cns\n"), "{}", describe(&out));
}
