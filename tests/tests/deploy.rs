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
