//! The deploy files cannot be run here (no Docker engine): they are kept
//! correct by reading, and these tests check what can be checked — they parse,
//! and they start the services with the binaries and variables the README lists.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BINARIES: [&str; 6] =
    ["pharmforge-api", "pharmforge-rdkit-local", "pharmforge-admet-ai", "pharmforge-aggregator", "pharmforge-pubchem", "pharmforge-chembl"];

/// README, "Adding an adapter": an adapter is a variant of `AdapterName`, a
/// crate under `services/` and its deploy entries (a docker-compose service,
/// a Kubernetes Deployment listed in the base, a KEDA ScaledObject on its
/// consumer). Everything else (streams, consumers, validation, the scripts,
/// the image, the test stack, the dashboard) follows the registry. This
/// holds every registered adapter to that path, and every crate under
/// `services/` but the API and the aggregator to being a registered adapter.
#[test]
fn every_adapter_is_a_registry_variant_a_crate_and_its_deploy_entries() {
    use pharmforge_core::AdapterName;
    let compose: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(root().join("docker-compose.yml")).unwrap()).unwrap();
    let base = std::fs::read_to_string(root().join("deploy/k8s/base/kustomization.yaml")).unwrap();
    let keda = std::fs::read_to_string(root().join("deploy/k8s/components/keda/scaledobjects.yaml")).unwrap();
    let mut problems = Vec::new();
    for adapter in AdapterName::ALL {
        let (service, binary) = (adapter.service(), adapter.binary());
        let manifest = std::fs::read_to_string(root().join("services").join(&service).join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains(&format!("name = \"{binary}\"")) {
            problems.push(format!("{adapter}: services/{service}/Cargo.toml builds no binary {binary}"));
        }
        pharmforge_tests::binary(&binary); // built with the workspace
        let command = serde_yaml::to_string(&compose["services"][service.as_str()]["command"]).unwrap();
        if !command.contains(&binary) {
            problems.push(format!("{adapter}: docker-compose.yml has no service {service} running {binary}"));
        }
        let deployment = std::fs::read_to_string(root().join("deploy/k8s/base").join(format!("{service}.yaml"))).unwrap_or_default();
        if !deployment.contains(&format!("name: {binary}")) || !deployment.contains(&binary) || !base.contains(&format!("- {service}.yaml")) {
            problems.push(format!("{adapter}: deploy/k8s/base/{service}.yaml (a Deployment {binary}, listed in the base) is missing"));
        }
        if !keda.contains(&format!("scaleTargetRef: {{name: {binary}}}")) || !keda.contains(&format!("consumer: {adapter}")) {
            problems.push(format!("{adapter}: no KEDA ScaledObject scales {binary} on its consumer {adapter}"));
        }
    }
    for entry in std::fs::read_dir(root().join("services")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !["api", "aggregator"].contains(&name.as_str()) && !AdapterName::ALL.iter().any(|a| a.service() == name) {
            problems.push(format!("services/{name} is not a registered adapter (AdapterName in shared/core/src/ids.rs)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

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

/// Every YAML file under `deploy/k8s` (base, components, overlays).
fn manifest_files() -> Vec<PathBuf> {
    pharmforge_tests::files_under(&root().join("deploy/k8s"), "yaml")
}

#[test]
fn kubernetes_manifests_parse_and_name_the_service_binaries() {
    let mut seen = String::new();
    for path in manifest_files() {
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

/// `scripts/validate_manifests.py` on every overlay as `kubectl kustomize`
/// renders it: the Kubernetes schemas (strict), KEDA's ScaledObject, the
/// restricted Pod Security profile and the project's own rules. Then its
/// self-test: each of sixteen breakages of the prod overlay must be refused,
/// so the validator cannot pass everything.
#[test]
fn rendered_manifests_pass_the_kubernetes_schemas_and_the_restricted_profile() {
    let script = root().join("scripts/validate_manifests.py");
    for args in [&[][..], &["--self-test"][..]] {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .output()
            .expect("python3 runs (scripts/lib.sh installs kubernetes-validate; kubectl must be on PATH)");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        println!("{text}");
        assert!(out.status.success(), "validate_manifests.py {args:?} failed:\n{text}");
        if args.is_empty() {
            for overlay in ["dev", "prod"] {
                assert!(text.contains(&format!("{overlay}: ")) && !text.contains("ERROR"), "{overlay} not validated:\n{text}");
            }
        } else {
            assert!(text.contains("self-test: 16/16 breakages refused"), "{text}");
        }
    }
}

/// The migration Job's command is one the aggregator answers: `migrate`
/// applies the schema and exits, an unknown argument is refused.
#[test]
fn the_aggregator_refuses_an_unknown_argument() {
    let bin = pharmforge_tests::binary("pharmforge-aggregator");
    let out = std::process::Command::new(&bin).arg("migrat").output().expect("the aggregator binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown argument \"migrat\"") && err.contains("pharmforge-aggregator migrate"), "{err}");
}

/// `pharmforge-aggregator migrate` (the Kubernetes Job) applies every
/// migration to an empty database and exits 0, without NATS; run again, it
/// finds nothing to do.
#[tokio::test]
async fn the_migration_job_migrates_an_empty_database_and_exits() {
    let db = pharmforge_tests::TestDatabase::create().await;
    let bin = pharmforge_tests::binary("pharmforge-aggregator");
    for attempt in 0..2 {
        let out = std::process::Command::new(&bin)
            .arg("migrate")
            .env("DATABASE_URL", db.url())
            // Nothing listens here: migrate must not need NATS.
            .env("NATS_URL", format!("nats://127.0.0.1:{}", pharmforge_tests::free_port()))
            .output()
            .expect("the aggregator binary runs");
        assert!(out.status.success(), "attempt {attempt}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let pool = db.pool().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    let files = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".sql") && !n.ends_with(".down.sql")))
        .count();
    assert_eq!(applied as usize, files, "every migration applied once");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM pipeline_runs").fetch_one(&pool).await.unwrap();
    assert_eq!(runs, 0, "the schema is there");
}

#[test]
fn docker_compose_binds_the_api_to_this_host_and_gives_admet_ai_its_models() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let ports = serde_yaml::to_string(&doc["services"]["api"]["ports"]).unwrap();
    assert!(ports.contains("${PHARMFORGE_API_BIND:-127.0.0.1}:8000:8000"), "{ports}");
    let admet = &doc["services"]["admet-ai"];
    assert_eq!(
        admet["depends_on"]["admet-models"]["condition"].as_str(),
        Some("service_completed_successfully"),
        "admet-ai starts only once the models are there"
    );
    let fetch = serde_yaml::to_string(&doc["services"]["admet-models"]["command"]).unwrap();
    assert!(fetch.contains("admet-ai==2.0.1") && fetch.contains("admet_ai/resources/"), "{fetch}");
    let mounts = serde_yaml::to_string(&admet["volumes"]).unwrap();
    assert!(mounts.contains("admet-models:/models:ro"), "{mounts}");
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
    let sources: String = ["shared", "services"]
        .iter()
        .flat_map(|d| pharmforge_tests::files_under(&root().join(d), "rs"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
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
