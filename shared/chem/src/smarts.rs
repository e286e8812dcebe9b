//! [`SmartsPattern`]: a SMARTS query compiled once and shared across threads,
//! and the crate-internal `PatternSet` that QED uses for its pattern lists.
//!
//! Why it is `Sync`: after construction the query is only read. Matching
//! calls const methods of the query molecule (`Atom::Match`, `Bond::Match`)
//! and RDKit's `SubstructMatch`, which mutates one thing inside a query: the
//! match cache of recursive SMARTS (`$(...)`). RDKit builds with
//! `RDK_BUILD_THREADSAFE_SSS` (Debian's does; `matching.cc` refuses to
//! compile otherwise) hold a mutex in each recursive query for the whole
//! match, so concurrent matches of one pattern against *different* molecules
//! are safe; they just take turns on patterns that contain `$(...)`.
//! tests/threads.rs exercises this from many threads.
//!
//! Matching runs a cheap, exact-in-effect pre-check before RDKit's full
//! search (see `src/matching.cc`), so counts are RDKit's.

use crate::ffi;
use crate::molecule::Molecule;
use crate::ChemError;
use cxx::UniquePtr;

fn compile(smarts: &[&str]) -> Result<UniquePtr<ffi::QuerySet>, ChemError> {
    for s in smarts {
        if s.contains('\0') {
            return Err(ChemError::Rdkit("SMARTS contains a NUL byte".into()));
        }
        if s.trim().is_empty() {
            return Err(ChemError::Rdkit("empty SMARTS".into()));
        }
        if s.len() > crate::MAX_SMILES_LEN {
            return Err(ChemError::Rdkit(format!(
                "SMARTS is {} bytes long; at most {} are accepted",
                s.len(),
                crate::MAX_SMILES_LEN
            )));
        }
    }
    let set = ffi::query_set_from_smarts(smarts).map_err(ChemError::rdkit)?;
    if set.is_null() {
        return Err(ChemError::Rdkit("RDKit returned no query".into()));
    }
    Ok(set)
}

/// A compiled SMARTS query (`Chem.MolFromSmarts`).
pub struct SmartsPattern {
    set: UniquePtr<ffi::QuerySet>,
    smarts: String,
}

// SAFETY: see the module docs: the query is immutable after construction and
// RDKit serialises the only state matching mutates (recursive-query caches).
unsafe impl Send for SmartsPattern {}
unsafe impl Sync for SmartsPattern {}

impl SmartsPattern {
    /// Compiles `smarts`; the error carries RDKit's parse message, e.g.
    /// `SMARTS Parse Error: syntax error while parsing: [C`.
    pub fn new(smarts: &str) -> Result<Self, ChemError> {
        Ok(SmartsPattern {
            set: compile(&[smarts])?,
            smarts: smarts.to_owned(),
        })
    }

    /// The SMARTS this pattern was compiled from.
    pub fn as_str(&self) -> &str {
        &self.smarts
    }

    /// Atoms in the query.
    pub fn num_atoms(&self) -> usize {
        ffi::query_num_atoms(&self.set, 0).unwrap_or(0) as usize
    }

    pub(crate) fn set(&self) -> &ffi::QuerySet {
        &self.set
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

/// Several SMARTS matched together against one molecule, sharing the
/// pre-check work (QED's acceptor and alert lists).
pub(crate) struct PatternSet {
    set: UniquePtr<ffi::QuerySet>,
}

// SAFETY: as for SmartsPattern.
unsafe impl Send for PatternSet {}
unsafe impl Sync for PatternSet {}

impl PatternSet {
    /// Compiles SMARTS constants of this crate.
    pub(crate) fn constant(smarts: &[&str]) -> Self {
        let set = compile(smarts).unwrap_or_else(|e| panic!("built-in SMARTS list failed: {e}"));
        PatternSet { set }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        ffi::query_set_len(&self.set) as usize
    }

    /// How many of the patterns match `mol` at least once.
    pub(crate) fn count_matching(&self, mol: &Molecule) -> Result<u32, ChemError> {
        ffi::count_queries_matching(mol.romol(), &self.set).map_err(ChemError::rdkit)
    }

    /// Sum over the patterns of their number of matches in `mol`.
    pub(crate) fn sum_match_counts(
        &self,
        mol: &Molecule,
        unique: bool,
        max_matches: u32,
    ) -> Result<u32, ChemError> {
        ffi::sum_match_counts(mol.romol(), &self.set, unique, max_matches).map_err(ChemError::rdkit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::molecule::RDKIT_MAX_MATCHES;

    fn reference_smiles() -> Vec<String> {
        let default =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference");
        let dir = match std::env::var_os("PHARMFORGE_REFERENCE_DIR") {
            Some(d) if !default.is_dir() => std::path::PathBuf::from(d),
            _ => default,
        };
        let mut out = Vec::new();
        for name in [
            "chembl_cmet_1017.rdkit.jsonl",
            "cdk2_47.rdkit.jsonl",
            "edge_cases.rdkit.jsonl",
        ] {
            let text = std::fs::read_to_string(dir.join(name)).expect("reference file");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                out.push(v["smiles"].as_str().expect("smiles").to_owned());
            }
        }
        out
    }

    /// The pre-check may only skip searches that find nothing: over every
    /// reference molecule and a spread of patterns (QED's lists, recursive,
    /// disconnected, ring and charge queries), counts with and without it
    /// are identical.
    #[test]
    fn precheck_never_changes_a_count() {
        let mut smarts: Vec<&str> = crate::qed::ALERT_SMARTS.to_vec();
        smarts.extend(crate::qed::ACCEPTOR_SMARTS);
        smarts.extend([
            crate::properties::HBA_SMARTS,
            crate::properties::ROTATABLE_STRICT_SMARTS,
            "[$([A;R][!a])]",
            "c",
            "[#6]~[#7]",
            "[R2]",
            "C(=O)[OH].[#7]",
            "[!#6;!#1]",
            "*~*~*~*",
            "[C;H2;!R]",
            "[n;H1]",
            "[$(c[F,Cl]),$(C=O)]",
        ]);
        let set = PatternSet::constant(&smarts);
        let mut checked = 0;
        for s in reference_smiles() {
            let Ok(m) = Molecule::from_smiles(&s) else {
                continue;
            };
            for (i, pattern) in smarts.iter().enumerate() {
                for unique in [true, false] {
                    let i = i as u32;
                    let fast =
                        ffi::count_matches(m.romol(), &set.set, i, unique, RDKIT_MAX_MATCHES)
                            .unwrap();
                    let raw = ffi::count_matches_unfiltered(
                        m.romol(),
                        &set.set,
                        i,
                        unique,
                        RDKIT_MAX_MATCHES,
                    )
                    .unwrap();
                    assert_eq!(fast, raw, "{pattern} on {s} (unique={unique})");
                    checked += 1;
                }
            }
        }
        assert!(checked > 250_000, "{checked}");
    }
}
