//! The deploy files cannot be run here (no Docker engine): they are kept
//! correct by reading, and these tests check what can be checked — they parse,
//! and they start the services with the binaries and variables of DESIGN.md.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BINARIES: [&str; 6] = [
    "pharmforge-api",
    "pharmforge-rdkit-local",
    "pharmforge-admet-ai",
    "pharmforge-aggregator",
    "pharmforge-pubchem",
    "pharmforge-chembl",
];

#[test]
fn docker_compose_is_valid_yaml_with_every_service_and_its_environment() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("docker-compose.yml parses as YAML");
    let services = doc["services"].as_mapping().expect("services mapping");
    for name in ["nats", "postgres", "api", "rdkit-local", "aggregator"] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    for name in ["api", "rdkit-local", "aggregator"] {
        let svc = &services[name];
        let env = svc["environment"].as_mapping().unwrap_or_else(|| panic!("{name}: environment mapping"));
        assert!(env.contains_key("NATS_URL"), "{name}: NATS_URL");
        let command = serde_yaml::to_string(&svc["command"]).unwrap();
        assert!(BINARIES.iter().any(|b| command.contains(b)), "{name}: runs one of the service binaries: {command}");
    }
    for name in ["api", "aggregator"] {
        assert!(services[name]["environment"].as_mapping().unwrap().contains_key("DATABASE_URL"), "{name}: DATABASE_URL");
    }
    let nats_command = serde_yaml::to_string(&services["nats"]["command"]).unwrap();
    assert!(nats_command.contains("-js") || nats_command.contains("--jetstream"), "NATS runs with JetStream");
}

#[test]
fn kubernetes_manifests_parse_and_name_the_service_binaries() {
    let dir = root().join("deploy/k8s");
    let mut seen = String::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/k8s") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(value["kind"].is_string(), "{}: every document has a kind", path.display());
        }
        seen.push_str(&text);
    }
    for b in BINARIES {
        assert!(seen.contains(b), "no manifest runs {b}");
    }
}

use serde::Deserialize;

/// The Grafana dashboard (`deploy/grafana/pharmforge.json`) has the panels an
/// operator opens first, and every metric its queries use is one a service
/// records: a renamed metric fails here, not on an empty panel.
#[test]
fn the_grafana_dashboard_queries_only_metrics_the_services_record() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/pharmforge.json")).expect("the dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let titles: Vec<&str> = dash["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    for wanted in ["Throughput per adapter", "Backlog per consumer", "Error rate per adapter", "API latency"] {
        assert!(titles.contains(&wanted), "no {wanted:?} panel: {titles:?}");
    }
    // Every Rust source under shared/ and services/, where metrics are recorded.
    let mut sources = String::new();
    let mut dirs = vec![root().join("shared"), root().join("services")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut used = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("pharmforge_")) {
                let base = ["_bucket", "_count", "_sum"].iter().fold(word, |w, s| w.strip_suffix(s).unwrap_or(w));
                assert!(sources.contains(&format!("\"{base}\"")), "panel {:?} queries {word}, which no service records", panel["title"]);
                used += 1;
            }
        }
    }
    assert!(used >= 15, "the queries use {used} metrics");
}
