//! `pharmforge-chem`: PharmForge's chemistry, on the system RDKit C++ library.
//!
//! Why a bridge of our own: the adapters need a handful of RDKit operations
//! (parse, canonical SMILES, molblock, descriptors, SMARTS matching) and must
//! reproduce what RDKit's *Python* API reports, because that is what chemists
//! compare against (`shared/data/reference/`). A small `cxx` bridge
//! (`src/ffi.rs` + `src/bridge.cc`) exposes exactly those operations; the
//! chemistry that exists only in RDKit's Python layer (QED, the Lipinski
//! definitions that changed after Debian's RDKit 2022.09) is written here in
//! Rust on top of the bridge's SMARTS matching.
//!
//! * [`Molecule`] owns one RDKit molecule (Send, not Sync: RDKit updates
//!   caches inside "const" molecules, so one thread at a time).
//! * [`SmartsPattern`] is a compiled SMARTS query (Send + Sync: compile once,
//!   match from any thread; see `smarts.rs` for why that is sound).
//! * [`Properties`] / [`compute_properties`] give the `rdkit_local` adapter's
//!   `properties` section; [`Molecule::inchi`] gives InChI and InChIKey
//!   through the vendored IUPAC library (Debian's RDKit has no InChI), fed
//!   the input RDKit's own `MolToInchi` would build.
//! * [`Molecule::filter_alerts`] counts RDKit's PAINS, Brenk and NIH filter
//!   catalog alerts (ADMET-AI's alert columns) on our own matcher.
//! * [`read_sd_record`], [`sd_record_2d`] and [`sd_records`] read and write
//!   SD files for upload and export; [`depict_svg`] draws a structure with
//!   RDKit's MolDraw2DSVG. Records and pictures share the depictor's 2D
//!   coordinates.
//!
//! Nothing here writes to stderr: RDKit's logs are silenced, and the error
//! log is captured per call to become the [`ChemError`] message.
//!
//! Build needs a C++17 compiler and RDKit's headers and libraries (Debian:
//! `librdkit-dev`, which pulls in the Boost headers); `RDKIT_INCLUDE_DIR` and
//! `RDKIT_LIB_DIR` point the build elsewhere (see `build.rs`).
//!
//! Layout: `ffi.rs` (the cxx bridge), `bridge.cc` (parse, write, atoms,
//! descriptors), `include/matcher.h` + `matching.cc` (SMARTS sets and our
//! exact substructure matcher), `crippen.cc` (Crippen logP/MR on it),
//! `inchi_input.cc` (the InChI library's input from a molecule),
//! `filters.cc` + `filters.rs` (PAINS, Brenk and NIH alerts on the matcher),
//! `depict.cc` (2D coordinates, molblocks, SVG), `molecule.rs`, `smarts.rs`,
//! `patterns.rs` (all per-molecule SMARTS counts in one call),
//! `properties.rs` (which RDKit function backs which reference field),
//! `qed.rs`, `inchi.rs`, `sdf.rs` (SD records), `depict.rs` (pictures).
//!
//! Speed: `examples/bench.rs` times the full properties of the 1,017 ChEMBL
//! reference molecules. What made it fast, each checked against RDKit itself
//! by a test: InChI input built from the molecule instead of a molblock
//! (`inchi.rs`); one matcher pass for all SMARTS counts with answers shared
//! across patterns (`include/matcher.h`, `patterns.rs`); Crippen typing on
//! that matcher (`crippen.cc`); findPotentialStereo skipped when no atom can
//! be a tetrahedral centre (`bridge.cc`).
//!
//! ```
//! use pharmforge_chem::{compute_properties, Molecule, SmartsPattern};
//! let p = compute_properties("CC(=O)Oc1ccccc1C(=O)O").unwrap();
//! assert_eq!(p.formula, "C9H8O4");
//! assert_eq!(p.inchikey.as_deref(), Some("BSYNRYMUTXBXSQ-UHFFFAOYSA-N"));
//! let acid = SmartsPattern::new("C(=O)[OH]").unwrap();
//! assert!(Molecule::from_smiles("CC(=O)O").unwrap().has_substruct_match(&acid));
//! ```
//!
//! A `Molecule` cannot be shared between threads:
//!
//! ```compile_fail
//! fn needs_sync<T: Sync>() {}
//! needs_sync::<pharmforge_chem::Molecule>();
//! ```

mod depict;
mod ffi;
mod filters;
mod inchi;
mod molecule;
mod patterns;
mod properties;
mod qed;
mod scaffold;
mod sdf;
mod smarts;

pub use crate::inchi::InchiResult;
pub use depict::{depict_svg, SVG_SIZE_RANGE};
pub use filters::{filter_alert_stats, AlertCounts, FilterAlertStats};
pub use molecule::{AtomInfo, BondInfo, BondType, Hybridization, Molecule, MAX_ATOMS, MAX_SMILES_LEN};
pub use properties::{compute_properties, Properties};
pub use scaffold::MurckoScaffold;
pub use sdf::{read_sd_record, sd_record_2d, sd_record_without_molecule, sd_records, SdRecord, MOLBLOCK_HEADER_LINE};
pub use smarts::SmartsPattern;

/// RDKit's molecule type, for another crate's own cxx bridge to take a
/// [`Molecule`]'s parse (`type ROMol = pharmforge_chem::rdkit::ROMol;`, and
/// [`Molecule::romol`]) instead of parsing the SMILES again.
pub mod rdkit {
    pub use crate::ffi::bridge::ROMol;
}

/// Errors from the chemistry layer. Messages are RDKit's own where RDKit
/// produced one.
#[derive(Debug, thiserror::Error)]
pub enum ChemError {
    /// RDKit could not parse or sanitize the SMILES.
    #[error("invalid SMILES: {0}")]
    InvalidSmiles(String),
    /// Any other RDKit failure (bad SMARTS, an exception while computing),
    /// or an argument RDKit is not asked about (a picture size out of range).
    #[error("{0}")]
    Rdkit(String),
    /// The InChI library could not produce an InChI for the molecule.
    #[error("InChI generation failed: {0}")]
    Inchi(String),
}

impl ChemError {
    pub(crate) fn rdkit(e: cxx::Exception) -> Self {
        ChemError::Rdkit(e.what().to_owned())
    }
}

/// The RDKit release this crate is linked against (RDKit's `rdkitVersion`),
/// e.g. `"2022.09.3"`; recorded in a run's lockfile.
pub fn rdkit_version() -> String {
    ffi::rdkit_version()
}
