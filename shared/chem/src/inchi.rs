//! InChI and InChIKey through the vendored IUPAC library (`inchi` crate).
//!
//! Why not RDKit: Debian builds RDKit without its InChI API. RDKit's own
//! `MolToInchi` fills the InChI input structure directly from the molecule
//! (no coordinates, stereo as 0D parities); we instead hand the library
//! RDKit's molblock. A molecule with specified stereo gets RDKit's 2D
//! coordinates and wedges so the library can read that stereo; any other
//! molecule gets a molblock without coordinates, read as 0D like RDKit's
//! input (and without the cost of a 2D layout). All 1,077 valid reference
//! molecules get RDKit's InChIKey (tests/reference.rs lists known differences).
//!
//! The IUPAC library keeps global state, so the `inchi` crate serialises
//! calls behind one lock: InChI generation does not run in parallel.

use crate::ChemError;

/// Largest molecule (graph atoms) the IUPAC library handles without its
/// "large molecules" mode, which standard InChI (and RDKit) do not use.
pub(crate) const INCHI_MAX_ATOMS: usize = 1024;

/// A standard InChI and its InChIKey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InchiResult {
    pub inchi: String,
    pub inchikey: String,
}

pub(crate) fn from_molblock(molblock: &str) -> Result<InchiResult, ChemError> {
    let options = inchi::Options::new().aux_info(false);
    let out =
        inchi::from_molfile(molblock, options).map_err(|e| ChemError::Inchi(e.to_string()))?;
    let inchikey = inchi::inchikey(out.inchi()).map_err(|e| ChemError::Inchi(e.to_string()))?;
    Ok(InchiResult {
        inchi: out.into_inchi(),
        inchikey,
    })
}
