//! rdkit_local's properties section and ADMET-AI's physchem columns share
//! six numbers (molecular weight, logP, H-bond acceptors and donors, TPSA,
//! QED): the admet_ai adapter takes them from the record instead of
//! computing them again. This holds them equal on every molecule we have,
//! through the JSON the record carries them in: counts exactly, floats to
//! 1e-12 relative (rdkit_local sums atom contributions in another order, so
//! the last bits of a float may differ; the golden test's tolerance for
//! physchem floats is 1e-6). The stereo centres are not shared: rdkit_local
//! counts them with RDKit's current perception, ADMET-AI with the legacy one.

mod common;

use common::molecules;
use pharmforge_admet::{Known, Physchem};
use pharmforge_chem::Molecule;

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
        let computed = Physchem::compute_with(&mol, None).unwrap();
        let reused = Physchem::compute_with(&mol, Some(known)).unwrap();
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
