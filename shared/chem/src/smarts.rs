//! [`SmartsPattern`]: a SMARTS query compiled once and shared across threads,
//! and the crate-internal `PatternSet` that `patterns.rs` uses.
//!
//! Why it is `Sync`: after construction the query is only read. Our matcher
//! calls const methods of the query molecule (`Atom::Match`, `Bond::Match`)
//! and keeps all per-molecule state (including recursive SMARTS results) to
//! itself. When it falls back to RDKit's `SubstructMatch`, that mutates one
//! thing inside a query: the match cache of recursive SMARTS (`$(...)`);
//! RDKit builds with `RDK_BUILD_THREADSAFE_SSS` (Debian's does; `matching.cc`
//! refuses to compile otherwise) hold a mutex in each recursive query for the
//! whole match, so concurrent matches of one pattern against *different*
//! molecules are safe. tests/threads.rs exercises this from many threads.
//!
//! Matching runs on our own exact matcher (`include/matcher.h`), which asks
//! RDKit's SubstructMatch whenever RDKit's answer could depend on the order
//! it enumerates in; `matcher_counts_equal_rdkit` below checks the counts.

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
            return Err(ChemError::Rdkit(format!("SMARTS is {} bytes long; at most {} are accepted", s.len(), crate::MAX_SMILES_LEN)));
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
        Ok(SmartsPattern { set: compile(&[smarts])?, smarts: smarts.to_owned() })
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
}

impl std::fmt::Debug for SmartsPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SmartsPattern").field(&self.smarts).finish()
    }
}

/// Several SMARTS matched together against one molecule, sharing the
/// matcher's per-molecule work (`patterns.rs`).
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

    #[cfg(test)]
    pub(crate) fn set_for_tests(&self) -> &ffi::QuerySet {
        &self.set
    }

    /// The counts of `patterns.rs`, for a set laid out as it says.
    pub(crate) fn counts(&self, mol: &Molecule, n_acceptors: u32) -> Result<ffi::PatternCounts, ChemError> {
        ffi::pattern_counts(mol.romol(), &self.set, n_acceptors).map_err(ChemError::rdkit)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::molecule::RDKIT_MAX_MATCHES;

    pub(crate) fn reference_smiles() -> Vec<String> {
        let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference");
        let dir = match std::env::var_os("PHARMFORGE_REFERENCE_DIR") {
            Some(d) if !default.is_dir() => std::path::PathBuf::from(d),
            _ => default,
        };
        let mut out = Vec::new();
        for name in ["chembl_cmet_1017.rdkit.jsonl", "cdk2_47.rdkit.jsonl", "edge_cases.rdkit.jsonl"] {
            let text = std::fs::read_to_string(dir.join(name)).expect("reference file");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                out.push(v["smiles"].as_str().expect("smiles").to_owned());
            }
        }
        out
    }

    /// Our matcher (`include/matcher.h`) counts what RDKit's SubstructMatch
    /// counts: over every reference molecule and a spread of patterns (QED's
    /// lists, HBA, rotatable bonds, recursive, nested recursive, disconnected,
    /// ring and charge queries), unique and not.
    #[test]
    fn matcher_counts_equal_rdkit() {
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
            "[$([#6]-[$([#7,#8]);!$(*=*)])]~*",
            "[!$([#6]=[#8])&!$(*#*)]-&!@[R]",
            "[#6]1~[#6]~[#6]~[#6]~[#6]~[#6]~1",
            "*@*",
            "[a]:[a]",
            "[D3,D4;!R]",
            "O.O",
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
                    let fast = ffi::count_matches(m.romol(), &set.set, i, unique, RDKIT_MAX_MATCHES).unwrap();
                    let raw = ffi::count_matches_unfiltered(m.romol(), &set.set, i, unique, RDKIT_MAX_MATCHES).unwrap();
                    assert_eq!(fast, raw, "{pattern} on {s} (unique={unique})");
                    checked += 1;
                }
            }
        }
        assert!(checked > 250_000, "{checked}");
    }

    /// Where RDKit stops at 1000 embeddings (a top-level pattern, a
    /// recursive SMARTS or a Crippen type on a large molecule) its answer
    /// depends on its search order, so we ask RDKit: counts still agree.
    #[test]
    fn embedding_limits_fall_back_to_rdkit() {
        let mut smarts: Vec<&str> = crate::qed::ALERT_SMARTS.to_vec();
        smarts.extend(crate::qed::ACCEPTOR_SMARTS);
        smarts.extend([crate::properties::HBA_SMARTS, crate::properties::ROTATABLE_STRICT_SMARTS, "CC", "[$(CC)]", "C~C~C"]);
        let set = PatternSet::constant(&smarts);
        let chain = "C".repeat(600);
        let rings = "c1ccc2ccccc2c1C".repeat(40);
        for s in [chain.as_str(), rings.as_str()] {
            let m = Molecule::from_smiles(s).unwrap();
            for i in 0..smarts.len() as u32 {
                for (unique, max) in [(true, 1), (true, RDKIT_MAX_MATCHES), (false, RDKIT_MAX_MATCHES)] {
                    let fast = ffi::count_matches(m.romol(), &set.set, i, unique, max).unwrap();
                    let raw = ffi::count_matches_unfiltered(m.romol(), &set.set, i, unique, max).unwrap();
                    assert_eq!(fast, raw, "{} (unique={unique}, max={max})", smarts[i as usize]);
                }
            }
            let ours = ffi::crippen_ours(m.romol()).unwrap();
            let rdkit = ffi::crippen_rdkit(m.romol()).unwrap();
            assert_eq!((ours.logp, ours.mr), (rdkit.logp, rdkit.mr));
        }
    }

    /// Crippen logP and MR (`crippen.cc`) equal RDKit's
    /// `calcCrippenDescriptors` exactly, on every reference molecule and on
    /// molecules with the rarer atom types (charged N, S oxides, metals,
    /// halide ions, isotopes, explicit H).
    #[test]
    fn crippen_matches_rdkit() {
        let mut smiles = reference_smiles();
        smiles.extend(
            [
                "C[N+](C)(C)C",
                "[O-][N+](=O)c1ccccc1",
                "CS(C)=O",
                "CS(=O)(=O)[O-].[Na+]",
                "[Cl-].[K+]",
                "C[Se]C",
                "B(O)(O)c1ccccc1",
                "[2H]C([2H])([2H])O",
                "[H]OC([H])([H])[H]",
                "N=[N+]=[N-]",
                "C#N",
                "O=C=O",
                "[Fe+2]",
                "c1cc[nH]c1",
                "C[n+]1ccccc1",
                "OP(=O)(O)O",
                "[I+]",
                "CC(=O)[O-]",
                "C=CC=O",
                "O=CN",
                "[Si](C)(C)(C)C",
            ]
            .map(String::from),
        );
        for s in smiles {
            let Ok(m) = Molecule::from_smiles(&s) else {
                continue;
            };
            let ours = ffi::crippen_ours(m.romol()).unwrap();
            let rdkit = ffi::crippen_rdkit(m.romol()).unwrap();
            assert_eq!((ours.logp, ours.mr), (rdkit.logp, rdkit.mr), "{s}");
        }
    }
}
