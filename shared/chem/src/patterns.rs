//! Every SMARTS-based count a molecule's properties and QED need, in one call.
//!
//! Why one call: HBA, rotatable bonds and QED's acceptors, alerts and
//! aromatic-ring count are 130 patterns over the same molecule. Matched as
//! one set (`pattern_counts` in `matching.cc`), they share the matcher's
//! per-molecule work: each distinct atom query is evaluated once per atom,
//! each recursive SMARTS once per molecule, and the result crosses the bridge
//! as one plain struct.
//!
//! The set's layout, which `pattern_counts` relies on: HBA, strict rotatable
//! bond, QED's aliphatic-ring atom, QED's acceptors, QED's alerts.

use crate::ffi::PatternCounts;
use crate::molecule::Molecule;
use crate::properties::{HBA_SMARTS, ROTATABLE_STRICT_SMARTS};
use crate::qed::{ACCEPTOR_SMARTS, ALERT_SMARTS, ALIPHATIC_RING_SMARTS};
use crate::smarts::PatternSet;
use crate::ChemError;
use std::sync::LazyLock;

static SET: LazyLock<PatternSet> = LazyLock::new(|| {
    let mut smarts = vec![HBA_SMARTS, ROTATABLE_STRICT_SMARTS, ALIPHATIC_RING_SMARTS];
    smarts.extend(ACCEPTOR_SMARTS);
    smarts.extend(ALERT_SMARTS);
    PatternSet::constant(&smarts)
});

/// The counts for `mol` as it is (QED strips explicit Hs first, then calls
/// this on the stripped copy).
pub(crate) fn counts(mol: &Molecule) -> Result<PatternCounts, ChemError> {
    SET.counts(mol, ACCEPTOR_SMARTS.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi;
    use crate::molecule::RDKIT_MAX_MATCHES;

    /// Each count equals what RDKit's own calls give (SubstructMatch for the
    /// counts, deleteSubstructs + findSSSR for AROM), on every reference
    /// molecule and a few with explicit H, charges and fused aliphatic rings.
    #[test]
    fn counts_equal_rdkit() {
        let mut smiles = crate::smarts::tests::reference_smiles();
        smiles.extend(
            [
                "[H]C([H])([H])c1ccccc1",
                "C1CC2CCC1CC2c1ccc2ccccc2c1",
                "O=C1CCC(=O)N1c1ccccc1C1CC1",
                "c1ccc2c(c1)CCc1ccccc1-2",
                "C1=CC2=CC=CC2=C1",
                "C[N+](C)(C)CC(=O)[O-]",
            ]
            .map(String::from),
        );
        // large enough for RDKit's 1000-embedding limit (we then ask RDKit)
        smiles.push("C".repeat(600));
        smiles.push("c1ccc2ccccc2c1C1CCCCC1".repeat(20));
        let n_acc = ACCEPTOR_SMARTS.len();
        let rdkit = |m: &Molecule, i: usize, max: u32| ffi::count_matches_unfiltered(m.romol(), SET.set_for_tests(), i as u32, true, max).unwrap();
        for s in smiles {
            let Ok(m) = Molecule::from_smiles(&s) else {
                continue;
            };
            let c = counts(&m).unwrap();
            assert_eq!(c.hba, rdkit(&m, 0, RDKIT_MAX_MATCHES), "hba {s}");
            assert_eq!(c.rotb, rdkit(&m, 1, RDKIT_MAX_MATCHES), "rotb {s}");
            let hba: u32 = (3..3 + n_acc).map(|i| rdkit(&m, i, RDKIT_MAX_MATCHES)).sum();
            assert_eq!(c.qed_hba, hba, "qed hba {s}");
            let alerts = (3 + n_acc..3 + n_acc + ALERT_SMARTS.len()).filter(|&i| rdkit(&m, i, 1) > 0).count() as u32;
            assert_eq!(c.qed_alerts, alerts, "alerts {s}");
            let arom = ffi::sssr_count_after_delete(m.romol(), SET.set_for_tests(), 2).unwrap();
            assert_eq!(c.qed_arom, arom, "arom {s}");
        }
    }

    #[test]
    fn all_builtin_smarts_compile() {
        assert_eq!(super::SET.len(), 3 + super::ACCEPTOR_SMARTS.len() + super::ALERT_SMARTS.len());
    }
}
