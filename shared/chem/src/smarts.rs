//! [`SmartsPattern`]: a SMARTS query compiled once and shared across threads.
//!
//! Why it is `Sync`: after construction the query molecule is only ever
//! passed to RDKit's `SubstructMatch` as a `const ROMol&`. Matching does not
//! modify a query, with one exception: recursive SMARTS (`$(...)`) keep the
//! atoms they matched inside the query object. RDKit builds with
//! `RDK_BUILD_THREADSAFE_SSS` (Debian's does; `bridge.cc` refuses to compile
//! otherwise) lock a mutex in each recursive query for the whole match, so
//! concurrent matches of one pattern against *different* molecules are safe
//! (they just take turns on patterns that contain `$(...)`).
//! tests/threads.rs exercises this from many threads.

use crate::ffi;
use crate::ChemError;
use cxx::UniquePtr;

/// A compiled SMARTS query.
pub struct SmartsPattern {
    query: UniquePtr<ffi::Query>,
    smarts: String,
}

// SAFETY: see the module docs: the query is immutable after construction and
// RDKit serialises the only state matching mutates (recursive-query caches).
unsafe impl Send for SmartsPattern {}
unsafe impl Sync for SmartsPattern {}

impl SmartsPattern {
    /// Compiles `smarts` (`Chem.MolFromSmarts`); the error carries RDKit's
    /// parse message.
    pub fn new(smarts: &str) -> Result<Self, ChemError> {
        if smarts.contains('\0') {
            return Err(ChemError::Rdkit("SMARTS contains a NUL byte".into()));
        }
        if smarts.trim().is_empty() {
            return Err(ChemError::Rdkit("empty SMARTS".into()));
        }
        if smarts.len() > crate::MAX_SMILES_LEN {
            return Err(ChemError::Rdkit("SMARTS too long".into()));
        }
        let query = ffi::query_from_smarts(smarts).map_err(ChemError::rdkit)?;
        if query.is_null() {
            return Err(ChemError::Rdkit(format!("SMARTS Parse Error: {smarts}")));
        }
        Ok(SmartsPattern { query, smarts: smarts.to_owned() })
    }

    /// The SMARTS this pattern was compiled from.
    pub fn as_str(&self) -> &str {
        &self.smarts
    }

    /// Atoms in the query.
    pub fn num_atoms(&self) -> usize {
        ffi::query_num_atoms(&self.query) as usize
    }

    pub(crate) fn query(&self) -> &ffi::Query {
        &self.query
    }

    /// Compiles a SMARTS that is a constant of this crate.
    pub(crate) fn constant(smarts: &str) -> Self {
        Self::new(smarts).unwrap_or_else(|e| panic!("built-in SMARTS {smarts:?} failed: {e}"))
    }
}

impl std::fmt::Debug for SmartsPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SmartsPattern").field(&self.smarts).finish()
    }
}
