//! [`Molecule::murcko_scaffold`]: a molecule's Bemis–Murcko scaffold, its
//! generic form and its ring systems, as RDKit's Python
//! `MurckoScaffold.GetScaffoldForMol` and `MakeScaffoldGeneric` give them
//! (`src/scaffold.cc` says step by step what they do). Its own cxx bridge,
//! on `ffi.rs`'s `ROMol`.

use crate::{ChemError, Molecule};

#[cxx::bridge(namespace = "pharmforge")]
mod bridge {
    /// What `murcko_scaffold` computes; `generic_error` is set (and
    /// `generic` empty) when the generic form is no valid molecule.
    struct ScaffoldData {
        scaffold: String,
        generic: String,
        generic_error: String,
        ring_systems: u32,
    }

    unsafe extern "C++" {
        include!("pharmforge-chem/include/scaffold.h");

        #[namespace = "RDKit"]
        type ROMol = crate::ffi::ROMol;

        fn murcko_scaffold(mol: &ROMol) -> Result<ScaffoldData>;
    }
}

/// A molecule's Bemis–Murcko scaffold and what is read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MurckoScaffold {
    /// The scaffold's canonical SMILES (isomeric, as `Chem.MolToSmiles`):
    /// its rings and the chains linking them. Empty for an acyclic molecule.
    pub smiles: String,
    /// The generic scaffold's canonical SMILES (every atom a carbon, every
    /// bond single), or why RDKit refused it (a carbon of five or more
    /// bonds, from a hypervalent ring atom).
    pub generic: Result<String, String>,
    /// Ring systems: rings sharing two or more atoms (fused or bridged) are
    /// one system; spiro rings are two.
    pub ring_systems: u32,
}

impl Molecule {
    /// Its Bemis–Murcko scaffold (RDKit's `MurckoDecompose`, as Python's
    /// `GetScaffoldForMol`), the generic scaffold (`MakeScaffoldGeneric`)
    /// and its ring systems.
    pub fn murcko_scaffold(&self) -> Result<MurckoScaffold, ChemError> {
        let d = bridge::murcko_scaffold(self.romol()).map_err(ChemError::rdkit)?;
        let generic = if d.generic_error.is_empty() { Ok(d.generic) } else { Err(d.generic_error) };
        Ok(MurckoScaffold { smiles: d.scaffold, generic, ring_systems: d.ring_systems })
    }
}
