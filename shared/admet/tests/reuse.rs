//! rdkit_local's properties section and ADMET-AI's physchem columns share
//! six numbers (molecular weight, logP, H-bond acceptors and donors, TPSA,
//! QED): the admet_ai adapter takes them from the record instead of
//! computing them again. This holds them equal on every molecule we have,
//! through the JSON the record carries them in: counts exactly, floats to
//! 1e-12 relative (rdkit_local sums atom contributions in another order, so
//! the last bits of a float may differ; the golden test's tolerance for
//! physchem floats is 1e-6). The stereo centres are not shared: rdkit_local
//! counts them with RDKit's current perception, ADMET-AI with the legacy one.

use pharmforge_admet::drugbank::DrugBank;
use pharmforge_admet::{Known, Physchem};
use pharmforge_chem::Molecule;
use std::path::PathBuf;

fn molecules() -> Vec<String> {
    let admet_dir =
        std::env::var_os("ADMET_AI_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.data/admet_ai"));
    let csv = admet_dir.join("data/drugbank_approved.csv");
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("{}: {e}; run scripts/lib.sh's ensure_admet_models", csv.display()));
    let mut out: Vec<String> = DrugBank::from_csv(&text).unwrap().rows.iter().map(|r| r["smiles"].clone()).collect();
    let reference = std::env::var_os("PHARMFORGE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference"));
    for entry in std::fs::read_dir(&reference).unwrap_or_else(|e| panic!("{}: {e}", reference.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                out.push(v["smiles"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(out.len() > 3900, "{} molecules", out.len());
    out
}

#[test]
fn rdkit_local_values_equal_admet_physchem() {
    let mut checked = 0;
    let mut bit_identical = 0;
    // Why the stereo centres are not reused: how often the two counts differ.
    let mut stereo_differs = 0;
    let mut mismatches: Vec<String> = Vec::new();
    for smiles in molecules() {
        let Ok(mol) = Molecule::from_smiles(&smiles) else { continue };
        let Ok(props) = mol.properties_without_inchi() else { continue };
        // As the record carries them: rdkit_local's section, as JSON text.
        let section = serde_json::to_string(&props).unwrap();
        let known = Known::from_section(&section).expect("a properties section has every value admet_ai reuses");
        let computed = Physchem::compute_with(&smiles, &mol, None).unwrap();
        let reused = Physchem::compute_with(&smiles, &mol, Some(known)).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
        let same = close(reused.molecular_weight, computed.molecular_weight)
            && close(reused.logp, computed.logp)
            && close(reused.tpsa, computed.tpsa)
            && close(reused.qed, computed.qed)
            && Physchem { molecular_weight: 0.0, logp: 0.0, tpsa: 0.0, qed: 0.0, ..reused }
                == Physchem { molecular_weight: 0.0, logp: 0.0, tpsa: 0.0, qed: 0.0, ..computed };
        bit_identical += usize::from(reused == computed);
        stereo_differs += usize::from(props.stereo_centers != computed.stereo_centers);
        if !same {
            mismatches.push(format!("{smiles}:\n  computed {computed:?}\n  reused   {reused:?}"));
        }
        checked += 1;
    }
    println!("{checked} molecules; {bit_identical} with every value bit-identical; stereo centres differ (rdkit_local's perception vs ADMET-AI's legacy one) on {stereo_differs}");
    assert!(checked > 3900, "{checked} molecules checked");
    assert!(mismatches.is_empty(), "{} of {checked} differ:\n{}", mismatches.len(), mismatches[..mismatches.len().min(10)].join("\n"));
}
