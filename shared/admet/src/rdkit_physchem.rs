//! The cxx bridge to `src/physchem.cc`.

#[cxx::bridge]
pub(crate) mod ffi {
    /// What admet_ai/physchem.py computes with RDKit, but for QED (Python-only
    /// in RDKit) and the PAINS, Brenk and NIH alert counts, which come from
    /// pharmforge-chem (`Molecule::qed`, `Molecule::filter_alerts`).
    #[derive(Debug, Clone, Copy)]
    struct PhyschemData {
        molecular_weight: f64,
        logp: f64,
        hba: u32,
        hbd: u32,
        tpsa: f64,
        stereo_centers: u32,
    }

    /// PAINS, Brenk and NIH counts by RDKit's `FilterCatalog::getMatches`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct FilterCounts {
        pains: u32,
        brenk: u32,
        nih: u32,
    }

    unsafe extern "C++" {
        include!("pharmforge-admet/include/physchem.h");
        /// pharmforge-chem's parse of the SMILES (`Molecule::romol`).
        #[namespace = "RDKit"]
        type ROMol = pharmforge_chem::rdkit::ROMol;
        /// The stereo centres, and with `descriptors` the other columns.
        fn admet_physchem(mol: &ROMol, descriptors: bool) -> Result<PhyschemData>;
        fn admet_filter_counts_rdkit(smiles: &str) -> Result<FilterCounts>;
    }
}
