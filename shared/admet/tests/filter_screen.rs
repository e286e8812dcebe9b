//! The fingerprint screen in front of RDKit's FilterCatalog changes no count:
//! for every molecule we have (ADMET-AI's 2,845 approved drugs and the 1,082
//! reference molecules of `shared/data/reference/`), the PAINS, Brenk and NIH
//! counts with the screen equal `FilterCatalog::getMatches(mol).size()`.

use pharmforge_admet::drugbank::DrugBank;
use pharmforge_admet::Physchem;
use pharmforge_chem::Molecule;
use std::path::PathBuf;

fn molecules() -> Vec<String> {
    let admet_dir =
        std::env::var_os("ADMET_AI_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.data/admet_ai"));
    let csv = admet_dir.join("data/drugbank_approved.csv");
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

#[test]
fn screened_filter_counts_equal_rdkit_filter_catalog() {
    let (entries, screened) = Physchem::filter_screen_stats();
    // PAINS 481 + Brenk 105 + NIH 180 entries, nearly all behind the screen
    // (a screen that never engaged would make this test prove nothing).
    assert!(entries > 700, "{entries} catalog entries");
    assert!(screened * 10 > entries * 9, "only {screened} of {entries} entries screened");
    let mut checked = 0;
    let mut with_alert = [0usize; 3];
    let mut mismatches = Vec::new();
    for smiles in molecules() {
        let Ok(mol) = Molecule::from_smiles(&smiles) else { continue };
        let p = Physchem::compute(&smiles, &mol).unwrap();
        let screened = [p.pains, p.brenk, p.nih];
        let full = Physchem::filter_counts_unscreened(&smiles).unwrap();
        if screened != full {
            mismatches.push(format!("{smiles}: screened {screened:?}, FilterCatalog {full:?}"));
        }
        for (n, c) in with_alert.iter_mut().zip(full) {
            *n += usize::from(c > 0);
        }
        checked += 1;
    }
    println!("{checked} molecules; with a PAINS / Brenk / NIH alert: {with_alert:?}; {screened} of {entries} entries screened");
    assert!(checked > 3900, "only {checked} molecules parsed");
    // The comparison means something only if alerts occur in the set.
    assert!(with_alert.iter().all(|&n| n >= 50), "too few alerts to compare: {with_alert:?}");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}
