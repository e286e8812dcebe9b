//! The PAINS, Brenk and NIH columns (`Physchem::compute`, which takes them
//! from pharmforge-chem's `Molecule::filter_alerts`, our matcher over RDKit's
//! catalog patterns) equal RDKit's own `FilterCatalog::getMatches(mol).size()`
//! (`Physchem::filter_counts_rdkit`, on a parse of its own) for every
//! molecule we have: ADMET-AI's 2,845 approved drugs and the 1,082 reference
//! molecules of `shared/data/reference/`.

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
fn filter_alerts_equal_rdkit_filter_catalog() {
    let stats = pharmforge_chem::filter_alert_stats().unwrap();
    let entries: u32 = stats.entries.iter().sum();
    let modelled: u32 = stats.modelled.iter().sum();
    // PAINS 480 + Brenk 105 + NIH 180 entries, nearly all matched by our
    // matcher rather than handed to RDKit (else this test would say little).
    assert!(entries > 700, "{entries} catalog entries");
    assert!(modelled * 10 > entries * 9, "only {modelled} of {entries} entries modelled");
    let mut checked = 0;
    let mut with_alert = [0usize; 3];
    let mut mismatches = Vec::new();
    for smiles in molecules() {
        let Ok(mol) = Molecule::from_smiles(&smiles) else { continue };
        let p = Physchem::compute(&smiles, &mol).unwrap();
        let ours = [p.pains, p.brenk, p.nih];
        let rdkit = Physchem::filter_counts_rdkit(&smiles).unwrap();
        if ours != rdkit {
            mismatches.push(format!("{smiles}: ours {ours:?}, FilterCatalog {rdkit:?}"));
        }
        for (n, c) in with_alert.iter_mut().zip(rdkit) {
            *n += usize::from(c > 0);
        }
        checked += 1;
    }
    println!("{checked} molecules; with a PAINS / Brenk / NIH alert: {with_alert:?}; {modelled} of {entries} entries modelled");
    assert!(checked > 3900, "only {checked} molecules parsed");
    // The comparison means something only if alerts occur in the set.
    assert!(with_alert.iter().all(|&n| n >= 50), "too few alerts to compare: {with_alert:?}");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}
