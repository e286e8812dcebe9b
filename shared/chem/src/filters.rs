//! [`Molecule::filter_alerts`]: how many entries of RDKit's PAINS, Brenk and
//! NIH filter catalogs match a molecule, as ADMET-AI reports them
//! (`len(FilterCatalog(params).GetMatches(mol))` per catalog).
//!
//! Why here and on our matcher: counted through RDKit's FilterCatalog that is
//! ~770 separate substructure searches per molecule. `filters.cc` parses the
//! same built-in rows the same way (SMARTS with merged Hs, the same minimum
//! counts) once per process and matches them as one query set
//! (`include/matcher.h`), which asks RDKit itself wherever its answer could
//! depend on the order it enumerates embeddings in. The counts are RDKit's
//! exactly: the tests below compare them with
//! [`Molecule::filter_alerts_rdkit`] (RDKit's own `getMatches`), as does
//! pharmforge-admet's `filter_screen` test over every molecule we have.

use crate::ffi;
use crate::molecule::Molecule;
use crate::ChemError;

/// Matching entries per catalog: PAINS (A, B and C together), Brenk and
/// NIH, as `FilterCatalog::getMatches(mol).size()` in RDKit 2022.09.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AlertCounts {
    pub pains: u32,
    pub brenk: u32,
    pub nih: u32,
}

impl AlertCounts {
    /// `[pains, brenk, nih]`.
    pub fn to_array(self) -> [u32; 3] {
        [self.pains, self.brenk, self.nih]
    }
}

impl From<ffi::FilterAlertCounts> for AlertCounts {
    fn from(c: ffi::FilterAlertCounts) -> Self {
        AlertCounts { pains: c.pains, brenk: c.brenk, nih: c.nih }
    }
}

/// The catalogs behind [`Molecule::filter_alerts`], each `[pains, brenk,
/// nih]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterAlertStats {
    /// Entries (RDKit 2022.09: 480, 105, 180).
    pub entries: [u32; 3],
    /// Entries whose query our matcher evaluates itself (it still asks RDKit
    /// when a search reaches RDKit's 1000-embedding limit); the others are
    /// always matched by RDKit.
    pub modelled: [u32; 3],
    /// Entries that need more than one match (none in these catalogs).
    pub counted: [u32; 3],
}

/// The sizes of the three catalogs, after checking that our entries are
/// RDKit's own, in order and by name (builds RDKit's catalogs: slow, once).
pub fn filter_alert_stats() -> Result<FilterAlertStats, ChemError> {
    let s = ffi::filter_alert_stats().map_err(ChemError::rdkit)?;
    Ok(FilterAlertStats { entries: s.entries, modelled: s.modelled, counted: s.counted })
}

impl Molecule {
    /// PAINS, Brenk and NIH alert counts, equal to RDKit's
    /// `FilterCatalog::getMatches(mol).size()` per catalog. The catalogs are
    /// compiled on first use (about 60 ms) and shared by all threads.
    pub fn filter_alerts(&self) -> Result<AlertCounts, ChemError> {
        ffi::filter_alerts(self.romol()).map(AlertCounts::from).map_err(ChemError::rdkit)
    }

    /// The same counts by RDKit's own `FilterCatalog::getMatches` (several
    /// times slower; for checking [`filter_alerts`](Self::filter_alerts)).
    pub fn filter_alerts_rdkit(&self) -> Result<AlertCounts, ChemError> {
        ffi::filter_alerts_rdkit(self.romol()).map(AlertCounts::from).map_err(ChemError::rdkit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_are_rdkits() {
        let s = filter_alert_stats().unwrap();
        assert_eq!(s.entries, [480, 105, 180]);
        assert_eq!(s.counted, [0, 0, 0]);
        // Nearly all are ours to decide, or the comparisons below would say
        // little about our matcher.
        for (m, e) in s.modelled.iter().zip(s.entries) {
            assert!(m * 10 >= e * 9, "{:?}", s);
        }
    }

    /// Equal to RDKit's getMatches on every reference molecule and on
    /// molecules that reach RDKit's 1000-embedding limits (long chains, many
    /// fused rings), carry explicit H, isotopes, charges or metals, or are
    /// made to hit particular alerts.
    #[test]
    fn counts_equal_rdkit_filter_catalog() {
        let mut smiles = crate::smarts::tests::reference_smiles();
        smiles.extend(
            [
                "[H]C([H])([H])c1ccccc1O[H]",
                "[2H]c1ccc(O)c(O)c1",
                "C[N+](C)(C)CC(=O)[O-]",
                "O=C1C=CC(=O)C=C1",
                "Oc1ccc(O)cc1",
                "N#CC(O)c1ccccc1",
                "CCCCCCCCCCCCCCCC(=O)OC",
                "[Fe+2].[Cl-].[Cl-]",
                "C[Hg]C",
                "O=[N+]([O-])c1ccc(N=Nc2ccccc2)cc1",
                "S=C=Nc1ccccc1",
                "C=CC(=O)Nc1ccccc1",
                "Nc1ccc(-c2ccc(N)cc2)cc1",
                "O=C(O)c1ccccc1SSc1ccccc1C(=O)O",
                "CC(C)=NNC(N)=S",
                "c1ccc2c(c1)ccc1ccc3ccccc3c12",
                "O=c1ccc2ccccc2o1",
                "OP(=O)(O)OP(=O)(O)O",
                "C1CCCCCCC1",
                "[O-][n+]1ccccc1",
                // PAINS (rare among the reference molecules)
                "S=C1SC(=Cc2ccccc2)C(=O)N1",
                "O=C1NC(=S)SC1=Cc1ccc(O)cc1",
                "CN(C)c1ccc(N=Nc2ccccc2)cc1",
                "Oc1ccccc1C=NNc1ccccc1",
                "Oc1ccc(O)c(CN2CCCC2)c1",
                "CCN(CC)c1ccc(C=C2C(=O)NC(=O)NC2=O)cc1",
                "O=C1C(=Cc2ccco2)SC(=S)N1CC(=O)O",
                "Nc1ccc2cc3ccccc3cc2c1",
                "CC1=CC(=O)C(=O)c2ccccc12",
                "Cc1cc(C)n(-c2ccccc2)c1C=C1C(=O)NC(=O)NC1=O",
                "N#CC(C#N)=Cc1ccc(O)c(O)c1",
                "CN(C)c1ccc(C=Cc2cc[n+](C)cc2)cc1",
            ]
            .map(String::from),
        );
        smiles.push("C".repeat(600));
        smiles.push("CO".repeat(300));
        smiles.push("c1ccc2ccccc2c1C1CCCCC1".repeat(20));
        smiles.push("Oc1ccc(N=Nc2ccccc2)cc1".repeat(30));
        let mut checked = 0;
        let mut with_alert = [0usize; 3];
        for s in &smiles {
            let Ok(m) = Molecule::from_smiles(s) else {
                continue;
            };
            let ours = m.filter_alerts().unwrap();
            let rdkit = m.filter_alerts_rdkit().unwrap();
            assert_eq!(ours, rdkit, "{s}");
            for (n, c) in with_alert.iter_mut().zip(rdkit.to_array()) {
                *n += usize::from(c > 0);
            }
            checked += 1;
        }
        assert!(checked > 1000, "{checked}");
        assert!(with_alert.iter().all(|&n| n >= 15), "too few alerts to compare: {with_alert:?}");
    }
}
