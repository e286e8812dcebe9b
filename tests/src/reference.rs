//! The reference data of `shared/data/reference/`: RDKit (Python) properties
//! for 1,082 molecules, and the comparison rules of its README (1e-6 relative
//! for numbers, 1e-4 for QED, counts and formula exact).

use serde_json::Value;
use std::path::PathBuf;

pub fn reference_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PHARMFORGE_REFERENCE_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reference")
}

/// One reference file's molecules.
pub fn load(file: &str) -> Vec<Value> {
    let path = reference_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("reference JSON")).collect()
}

/// (reference field, our field, tolerance): `None` means exact.
pub const FIELDS: [(&str, &str, Option<f64>); 19] = [
    ("molecular_weight", "molecular_weight", Some(1e-6)),
    ("exact_mass", "exact_mass", Some(1e-6)),
    ("logp", "logp", Some(1e-6)),
    ("molar_refractivity", "molar_refractivity", Some(1e-6)),
    ("tpsa", "tpsa", Some(1e-6)),
    ("fraction_csp3", "fraction_csp3", Some(1e-6)),
    ("qed", "qed", Some(1e-4)),
    ("hbd", "h_bond_donors", None),
    ("hba", "h_bond_acceptors", None),
    ("rotatable_bonds", "rotatable_bonds", None),
    ("rings", "num_rings", None),
    ("aromatic_rings", "num_aromatic_rings", None),
    ("heavy_atoms", "num_heavy_atoms", None),
    ("formal_charge", "formal_charge", None),
    ("stereo_centers", "stereo_centers", None),
    ("lipinski_violations", "lipinski_violations", None),
    ("formula", "formula", None),
    ("inchikey", "inchikey", None),
    ("smiles", "smiles", None),
];

/// Differences between a stored `properties` section and the reference.
/// `smiles` is compared against the compound, not the section, so it is
/// skipped here; `inchikey` is reported separately by the caller.
pub fn compare(reference: &Value, properties: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    for (ref_field, our_field, tol) in FIELDS {
        if ref_field == "smiles" || ref_field == "inchikey" {
            continue;
        }
        let (want, got) = (&reference[ref_field], &properties[our_field]);
        let ok = match (tol, want.as_f64(), got.as_f64()) {
            (Some(tol), Some(w), Some(g)) => {
                let scale = if ref_field == "qed" { 1.0 } else { w.abs().max(1.0) };
                (w - g).abs() <= tol * scale
            }
            _ => want == got || (want.as_f64().is_some() && want.as_f64() == got.as_f64()),
        };
        if !ok {
            diffs.push(format!("{our_field}: want {want}, got {got}"));
        }
    }
    diffs
}
