//! The cxx bridge declaration: the only place where Rust meets C++.
//!
//! Everything here is crate-private; `molecule.rs`, `smarts.rs` and
//! `properties.rs` wrap it in a safe API. Functions that can reach RDKit code
//! which throws are declared `-> Result<..>` so that a C++ exception becomes a
//! `cxx::Exception` (see the `trycatch` hook in `include/bridge.h`).

#[cxx::bridge(namespace = "pharmforge")]
pub mod bridge {
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

    /// Every SMARTS-based count of a molecule's properties and QED, from one
    /// pass of our matcher (see `patterns.rs` for the pattern set's layout).
    #[derive(Clone, Copy, Debug)]
    struct PatternCounts {
        /// Lipinski `NumHAcceptors` (unique matches of the HBA SMARTS).
        hba: u32,
        /// Strict rotatable bonds.
        rotb: u32,
        /// QED's HBA: unique matches of its acceptor SMARTS, summed.
        qed_hba: u32,
        /// QED's ALERTS: how many alert SMARTS match.
        qed_alerts: u32,
        /// QED's AROM: SSSR count after deleting `[$([A;R][!a])]` atoms.
        qed_arom: u32,
    }

    /// How many entries of RDKit's PAINS, Brenk and NIH filter catalogs
    /// match a molecule (`filters.cc`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct FilterAlertCounts {
        pains: u32,
        brenk: u32,
        nih: u32,
    }

    /// Per catalog (PAINS, Brenk, NIH): its entries, how many of them our
    /// matcher models (the others always go to RDKit), and how many have a
    /// match count limit (the rest need one match).
    #[derive(Clone, Copy, Debug)]
    struct FilterAlertStats {
        entries: [u32; 3],
        modelled: [u32; 3],
        counted: [u32; 3],
    }

    /// Crippen logP and MR.
    struct LogpMr {
        logp: f64,
        mr: f64,
    }

    /// One atom of the InChI library's input (see `inchi_input.cc`).
    struct InchiAtom {
        symbol: String,
        /// 0, or `ISOTOPIC_SHIFT_FLAG + isotope - round(average mass)`.
        isotopic_mass: i32,
        charge: i32,
        /// -1: the library adds implicit H by its own valence rules.
        implicit_h: i32,
    }

    /// One bond; `order` is RDKit's bond type after kekulization.
    struct InchiBond {
        begin: u32,
        end: u32,
        order: u8,
    }

    /// One 0D stereo element: a tetrahedral centre or a double bond.
    struct InchiStereo {
        double_bond: bool,
        /// -1 for double bonds.
        central_atom: i32,
        neighbors: [u32; 4],
        /// 1 odd, 2 even, 3 unknown (the library's codes).
        parity: u8,
    }

    /// What RDKit's own SDMolSupplier makes of one SD record, for tests:
    /// `error` is empty when it returned a molecule; `tags`/`values` are
    /// its data items in property order.
    struct SdSupplierRead {
        smiles: String,
        error: String,
        title: String,
        tags: Vec<String>,
        values: Vec<String>,
    }

    /// The InChI library's input for one molecule, as RDKit's MolToInchi
    /// builds it; `expressible` is false when the `inchi` crate cannot pass
    /// it on (see `inchi_input.cc`).
    struct InchiInput {
        atoms: Vec<InchiAtom>,
        bonds: Vec<InchiBond>,
        stereo: Vec<InchiStereo>,
        expressible: bool,
    }

    unsafe extern "C++" {
        include!("pharmforge-chem/include/bridge.h");

        #[namespace = "RDKit"]
        type ROMol;
        /// Compiled SMARTS queries with their search plans (`include/matcher.h`).
        type QuerySet;

        fn rdkit_version() -> String;

        fn mol_from_smiles(smiles: &str) -> Result<UniquePtr<ROMol>>;
        fn smiles_atom_count(smiles: &str) -> Result<u32>;
        fn remove_hs(mol: &ROMol) -> Result<UniquePtr<ROMol>>;
        /// MolBlockToMol with SDMolSupplier's defaults (sanitize, remove Hs,
        /// strict); RDKit's message when it throws or returns nothing.
        fn mol_from_molblock(molblock: &str) -> Result<UniquePtr<ROMol>>;

        fn mol_to_smiles(mol: &ROMol) -> Result<String>;
        fn mol_to_molblock(mol: &ROMol, with_coords: bool) -> Result<String>;
        fn has_specified_stereo(mol: &ROMol) -> bool;
        fn inchi_input(mol: &ROMol) -> Result<InchiInput>;

        /// A molblock with the depictor's 2D coordinates (`depict.cc`).
        fn molblock_2d(mol: &ROMol, title: &str, header_line: &str) -> Result<String>;
        /// MolDraw2DSVG's picture of the molecule, its lines written faster
        /// (`depict.cc`).
        fn svg_2d(mol: &ROMol, width: u32, height: u32) -> Result<String>;
        /// The same picture by MolDraw2DSVG itself, for tests (`depict.cc`).
        #[allow(dead_code)]
        fn svg_2d_rdkit(mol: &ROMol, width: u32, height: u32) -> Result<String>;
        /// SDWriter::getText of the molblock_2d molecule (with RDKit's own
        /// header line 2) with these string properties, for tests (`depict.cc`).
        #[allow(dead_code)]
        fn sd_writer_text(mol: &ROMol, title: &str, tags: &[&str], values: &[&str]) -> Result<String>;
        /// One record through SDMolSupplier, for tests (`depict.cc`).
        #[allow(dead_code)]
        fn sd_supplier_read(record: &str) -> SdSupplierRead;

        fn num_atoms(mol: &ROMol) -> u32;
        fn num_bonds(mol: &ROMol) -> u32;
        fn has_hydrogen_atoms(mol: &ROMol) -> bool;
        fn atom_data(mol: &ROMol, idx: u32) -> Result<AtomData>;
        fn bond_data(mol: &ROMol, idx: u32) -> Result<BondData>;

        fn query_set_from_smarts(smarts: &[&str]) -> Result<UniquePtr<QuerySet>>;
        #[allow(dead_code)] // used by unit tests
        fn query_set_len(set: &QuerySet) -> u32;
        fn query_num_atoms(set: &QuerySet, i: u32) -> Result<u32>;
        fn count_matches(mol: &ROMol, set: &QuerySet, i: u32, uniquify: bool, max_matches: u32) -> Result<u32>;
        fn has_match(mol: &ROMol, set: &QuerySet, i: u32) -> Result<bool>;
        #[allow(dead_code)] // used by unit tests
        fn count_matches_unfiltered(mol: &ROMol, set: &QuerySet, i: u32, uniquify: bool, max_matches: u32) -> Result<u32>;
        fn pattern_counts(mol: &ROMol, set: &QuerySet, n_acceptors: u32) -> Result<PatternCounts>;
        /// QED's AROM the way RDKit computes it, for tests.
        #[allow(dead_code)]
        fn sssr_count_after_delete(mol: &ROMol, set: &QuerySet, i: u32) -> Result<u32>;

        /// PAINS, Brenk and NIH alert counts on our matcher (`filters.cc`).
        fn filter_alerts(mol: &ROMol) -> Result<FilterAlertCounts>;
        /// The same counts by RDKit's `FilterCatalog::getMatches`, for tests.
        fn filter_alerts_rdkit(mol: &ROMol) -> Result<FilterAlertCounts>;
        /// The catalogs' sizes, checked entry by entry against RDKit's own.
        fn filter_alert_stats() -> Result<FilterAlertStats>;

        fn descriptors(mol: &ROMol) -> Result<DescriptorData>;
        fn qed_descriptors(mol: &ROMol) -> Result<QedData>;
        /// findPotentialStereo's tetrahedral entries, always run (for tests).
        #[allow(dead_code)]
        fn stereo_centers_rdkit(mol: &ROMol) -> u32;
        /// Ours (`crippen.cc`) and RDKit's `calcCrippenDescriptors`, for tests.
        #[allow(dead_code)]
        fn crippen_ours(mol: &ROMol) -> Result<LogpMr>;
        #[allow(dead_code)]
        fn crippen_rdkit(mol: &ROMol) -> Result<LogpMr>;
    }
}

pub(crate) use bridge::*;
