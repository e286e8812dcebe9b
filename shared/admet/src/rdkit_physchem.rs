//! The cxx bridge to `src/physchem.cc`.

#[cxx::bridge]
pub(crate) mod ffi {
    /// What admet_ai/physchem.py computes with RDKit (QED aside, which is
    /// Python-only in RDKit and comes from pharmforge-chem).
    #[derive(Debug, Clone, Copy)]
    struct PhyschemData {
        molecular_weight: f64,
        logp: f64,
        hba: u32,
        hbd: u32,
        tpsa: f64,
        stereo_centers: u32,
        pains: u32,
        brenk: u32,
        nih: u32,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct FilterCounts {
        pains: u32,
        brenk: u32,
        nih: u32,
    }

    #[derive(Debug, Clone, Copy)]
    struct FilterScreenStats {
        entries: u32,
        screened: u32,
    }

    unsafe extern "C++" {
        include!("pharmforge-admet/include/physchem.h");
        fn admet_physchem(smiles: &str) -> Result<PhyschemData>;
        fn admet_filter_counts_unscreened(smiles: &str) -> Result<FilterCounts>;
        fn admet_filter_screen_stats() -> FilterScreenStats;
    }
}
