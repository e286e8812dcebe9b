//! The admet_ai adapter end to end: a run through ["rdkit_local", "admet_ai"]
//! stores both sections for every compound, with ADMET-AI's predictions; and
//! the service refuses to start without its model files, saying which file.
//!
//! Needs the unpacked admet-ai resources (`ADMET_AI_MODELS_DIR`, default
//! `<workspace>/.data/admet_ai`; scripts/lib.sh `ensure_admet_models`).

use pharmforge_tests::{binary, Stack};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

fn models_dir() -> PathBuf {
    std::env::var_os("ADMET_AI_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.data/admet_ai")))
}

/// (smiles, the package's own row) for the first `n` approved drugs.
fn drugbank_rows(n: usize) -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(models_dir().join("data/drugbank_approved.csv")).expect("admet-ai resources present");
    let rows = pharmforge_admet::drugbank::parse_csv(&text);
    let header = &rows[0];
    rows[1..=n].iter().map(|r| (r[0].clone(), header.iter().cloned().zip(r.iter().cloned()).collect())).collect()
}

#[tokio::test]
async fn a_run_through_rdkit_local_and_admet_ai_stores_both_sections_with_admet_ai_predictions() {
    let stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    let drugs = drugbank_rows(40);
    let mut smiles: Vec<&str> = drugs.iter().map(|(s, _)| s.as_str()).collect();
    smiles.push("C1CC1(");
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "admet_ai"]}})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let done = stack.wait_finished(run_id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["compounds"], json!({"total": 41, "completed": 40, "failed": 1}));
    let results = stack.all_results(run_id).await;
    assert_eq!(results.len(), 41);
    for ((smi, row), got) in drugs.iter().zip(&results) {
        assert_eq!(got["smiles"], smi.as_str());
        assert_eq!(got["status"], "completed", "{got}");
        assert_eq!(got["errors"], json!({}));
        assert!(got["properties"]["molecular_weight"].is_number(), "rdkit_local section: {got}");
        let admet = &got["admet"];
        assert_eq!(admet["model"], "admet-ai 2.0.1");
        let props = admet["properties"].as_object().unwrap_or_else(|| panic!("no admet section: {got}"));
        let pct = admet["percentiles"].as_object().unwrap();
        assert_eq!(props.len(), 52, "11 physchem columns + 41 endpoints");
        assert_eq!(pct.len(), 52);
        for (name, want) in row.iter().skip(8) {
            let want: f64 = want.parse().unwrap();
            let ours = props[name].as_f64().unwrap_or_else(|| panic!("{name} missing"));
            assert!((ours - want).abs() <= 1e-3 * want.abs().max(1.0), "{smi} {name}: ours {ours}, package {want}");
            let p = pct[&format!("{name}_drugbank_approved_percentile")].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&p));
        }
    }
    let bad = &results[40];
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["admet"], Value::Null);
}

#[test]
fn the_service_refuses_to_start_without_its_model_files_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("pharmforge-admet-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(binary("pharmforge-admet-ai"))
        .env("ADMET_AI_MODELS_DIR", &dir)
        .env("NATS_URL", "nats://127.0.0.1:1")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admet_classification/model_0.pt"), "{stderr}");

    // A corrupt checkpoint: the message says which file and why.
    let ens = dir.join("models/admet_classification");
    std::fs::create_dir_all(&ens).unwrap();
    std::fs::write(ens.join("model_0.pt"), b"not a zip").unwrap();
    let out = std::process::Command::new(binary("pharmforge-admet-ai"))
        .env("ADMET_AI_MODELS_DIR", &dir)
        .env("NATS_URL", "nats://127.0.0.1:1")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model_0.pt") && stderr.contains("not a zip archive"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The scoring profiles' catalogue of ADMET values
/// (`pharmforge_core::profile::ADMET_FIELDS`, what a profile may name) is
/// exactly what the models write into a compound's section, each with its
/// DrugBank percentile: a model release that renames an endpoint fails here.
#[test]
fn the_scoring_catalogue_names_exactly_the_admet_values_a_section_carries() {
    use pharmforge_core::profile::{locate, lookup, ADMET_FIELDS, PERCENTILE_SUFFIX};
    let models = pharmforge_admet::AdmetModels::load(&models_dir()).expect("admet-ai resources present");
    let prediction = models.predict(&["CC(=O)Oc1ccccc1C(=O)O"]).remove(0).expect("aspirin predicts");
    let section = models.section(&prediction);
    let mut written: Vec<&str> = section["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut listed: Vec<&str> = ADMET_FIELDS.to_vec();
    written.sort_unstable();
    listed.sort_unstable();
    assert_eq!(written, listed);
    let sections = json!({"admet": section});
    for name in ADMET_FIELDS {
        for path in [format!("admet.{name}"), format!("admet.{name}{PERCENTILE_SUFFIX}")] {
            assert!(locate(&path).is_some(), "{path}");
            assert!(lookup(sections.as_object().unwrap(), &path).is_some_and(|v| v.is_number()), "{path} has no number");
        }
    }
}
