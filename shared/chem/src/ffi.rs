//! The cxx bridge declaration: the only place where Rust meets C++.
//!
//! Everything here is crate-private; `molecule.rs`, `smarts.rs` and
//! `properties.rs` wrap it in a safe API. Functions that can reach RDKit code
//! which throws are declared `-> Result<..>` so that a C++ exception becomes a
//! `cxx::Exception` (see the `trycatch` hook in `include/bridge.h`).

#[cxx::bridge(namespace = "pharmforge")]
pub(crate) mod bridge {
    /// One atom, as RDKit sees it after sanitization.
    struct AtomData {
        atomic_num: u32,
        total_degree: u32,
        formal_charge: i32,
        chiral_tag: u32,
        total_num_hs: u32,
        hybridization: u32,
        is_aromatic: bool,
        mass: f64,
    }

    /// One bond; `bond_type` and `stereo` are RDKit's enum values.
    struct BondData {
        begin: u32,
        end: u32,
        bond_type: u32,
        is_conjugated: bool,
        in_ring: bool,
        stereo: u32,
    }

    /// The descriptors RDKit's C++ computes for us in one call.
    struct DescriptorData {
        amw: f64,
        exact_mw: f64,
        formula: String,
        logp: f64,
        mr: f64,
        tpsa: f64,
        hbd: u32,
        num_rings: u32,
        num_aromatic_rings: u32,
        num_heavy_atoms: u32,
        num_atoms_total: u32,
        fraction_csp3: f64,
        formal_charge: i32,
        stereo_centers: u32,
    }

    /// The subset of descriptors QED needs (computed on the H-stripped mol).
    struct QedData {
        amw: f64,
        logp: f64,
        hbd: u32,
        tpsa: f64,
    }

    unsafe extern "C++" {
        include!("pharmforge-chem/include/bridge.h");

        #[namespace = "RDKit"]
        type ROMol;
        /// Compiled SMARTS queries with their pre-check data.
        type QuerySet;

        fn rdkit_version() -> String;

        fn mol_from_smiles(smiles: &str) -> Result<UniquePtr<ROMol>>;
        fn smiles_atom_count(smiles: &str) -> Result<u32>;
        fn remove_hs(mol: &ROMol) -> Result<UniquePtr<ROMol>>;

        fn mol_to_smiles(mol: &ROMol) -> Result<String>;
        fn mol_to_molblock(mol: &ROMol, with_coords: bool) -> Result<String>;
        fn has_specified_stereo(mol: &ROMol) -> bool;

        fn num_atoms(mol: &ROMol) -> u32;
        fn num_bonds(mol: &ROMol) -> u32;
        fn has_hydrogen_atoms(mol: &ROMol) -> bool;
        fn atom_data(mol: &ROMol, idx: u32) -> Result<AtomData>;
        fn bond_data(mol: &ROMol, idx: u32) -> Result<BondData>;

        fn query_set_from_smarts(smarts: &[&str]) -> Result<UniquePtr<QuerySet>>;
        #[allow(dead_code)] // used by unit tests
        fn query_set_len(set: &QuerySet) -> u32;
        fn query_num_atoms(set: &QuerySet, i: u32) -> Result<u32>;
        fn count_matches(
            mol: &ROMol,
            set: &QuerySet,
            i: u32,
            uniquify: bool,
            max_matches: u32,
        ) -> Result<u32>;
        fn has_match(mol: &ROMol, set: &QuerySet, i: u32) -> Result<bool>;
        #[allow(dead_code)] // used by unit tests
        fn count_matches_unfiltered(
            mol: &ROMol,
            set: &QuerySet,
            i: u32,
            uniquify: bool,
            max_matches: u32,
        ) -> Result<u32>;
        fn count_queries_matching(mol: &ROMol, set: &QuerySet) -> Result<u32>;
        fn sum_match_counts(
            mol: &ROMol,
            set: &QuerySet,
            uniquify: bool,
            max_matches: u32,
        ) -> Result<u32>;
        fn sssr_count_after_delete(mol: &ROMol, set: &QuerySet, i: u32) -> Result<u32>;

        fn descriptors(mol: &ROMol) -> Result<DescriptorData>;
        fn qed_descriptors(mol: &ROMol) -> Result<QedData>;
    }
}

pub(crate) use bridge::*;
