//! The PAINS, Brenk and NIH columns (`Physchem::compute`, which takes them
//! from pharmforge-chem's `Molecule::filter_alerts`, our matcher over RDKit's
//! catalog patterns) equal RDKit's own `FilterCatalog::getMatches(mol).size()`
//! (`Physchem::filter_counts_rdkit`, on a parse of its own) for every
//! molecule we have: ADMET-AI's 2,845 approved drugs and the 1,082 reference
//! molecules of `shared/data/reference/`.

mod common;

use common::molecules;
use pharmforge_admet::Physchem;
use pharmforge_chem::Molecule;

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
        let p = Physchem::compute(&mol).unwrap();
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
