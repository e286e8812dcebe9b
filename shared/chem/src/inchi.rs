//! InChI and InChIKey through the vendored IUPAC library (`inchi` crate).
//!
//! Why not RDKit: Debian builds RDKit without its InChI API. RDKit's own
//! `MolToInchi` fills the InChI input structure directly from the molecule;
//! we instead hand the library RDKit's molblock (2D coordinates + wedges),
//! which gives the same standard InChI for all but a handful of molecules
//! (see tests/reference.rs for the known differences and why).
//!
//! The IUPAC library keeps global state, so the `inchi` crate serialises
//! calls behind one lock: InChI generation does not run in parallel.

use crate::ChemError;

/// A standard InChI and its InChIKey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InchiResult {
    pub inchi: String,
    pub inchikey: String,
}

pub(crate) fn from_molblock(molblock: &str) -> Result<InchiResult, ChemError> {
    let options = inchi::Options::new().aux_info(false);
    let out = inchi::from_molfile(molblock, options).map_err(|e| ChemError::Inchi(e.to_string()))?;
    let inchikey = inchi::inchikey(out.inchi()).map_err(|e| ChemError::Inchi(e.to_string()))?;
    Ok(InchiResult { inchi: out.into_inchi(), inchikey })
}
