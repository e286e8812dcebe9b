//! What the admet tests share: where the models are, and every molecule we
//! have. (Each test binary uses part of it.)
#![allow(dead_code)]

use pharmforge_admet::drugbank::DrugBank;
use std::path::PathBuf;

/// The unpacked admet-ai resources: `ADMET_AI_MODELS_DIR`, default
/// `<workspace>/.data/admet_ai` (`scripts/lib.sh ensure_admet_models`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("ADMET_AI_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.data/admet_ai"))
}

/// ADMET-AI's 2,845 approved drugs, then the 1,082 reference molecules of
/// `shared/data/reference/` (their SMILES as written there).
pub fn molecules() -> Vec<String> {
    let csv = models_dir().join("data/drugbank_approved.csv");
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("{}: {e}; run scripts/lib.sh's ensure_admet_models", csv.display()));
    let drugbank = DrugBank::from_csv(&text).unwrap();
    let mut out: Vec<String> = drugbank.rows.iter().map(|r| r["smiles"].clone()).collect();
    assert_eq!(out.len(), 2845);
    let reference = std::env::var_os("PHARMFORGE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference"));
    let mut n_reference = 0;
    for entry in std::fs::read_dir(&reference).unwrap_or_else(|e| panic!("{}: {e}", reference.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                out.push(v["smiles"].as_str().unwrap().to_owned());
                n_reference += 1;
            }
        }
    }
    assert_eq!(n_reference, 1082, "reference molecules in {}", reference.display());
    out
}
