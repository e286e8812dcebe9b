//! What the chem examples share.

use std::path::PathBuf;

/// The SMILES of the 1,017 ChEMBL c-Met reference molecules
/// (`PHARMFORGE_REFERENCE_DIR`, or the shared data folder beside the project).
pub fn reference_smiles() -> Vec<String> {
    let dir = std::env::var_os("PHARMFORGE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference"));
    let path = dir.join("chembl_cmet_1017.rdkit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("reference line is JSON");
            v["smiles"].as_str().expect("smiles field").to_owned()
        })
        .collect()
}
