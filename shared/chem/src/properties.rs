//! [`Properties`]: the `rdkit_local` adapter's `properties` section.
//!
//! Each field reproduces what `shared/tools/make_reference.py` computes with
//! RDKit's Python API (the reference data were made with a far newer RDKit
//! than Debian's 2022.09, so where a definition changed in between we follow
//! the newer one, in Rust, on the bridge's SMARTS matching):
//!
//! | field | Python | here |
//! |---|---|---|
//! | molecular_weight | `Descriptors.MolWt` | C++ `Descriptors::calcAMW` |
//! | exact_mass | `Descriptors.ExactMolWt` | C++ `calcExactMW` |
//! | formula | `rdMolDescriptors.CalcMolFormula` | C++ `calcMolFormula` |
//! | logp, molar_refractivity | `Crippen.MolLogP`, `MolMR` (= C++ `calcCrippenDescriptors`, adds Hs) | `crippen.cc`: the same algorithm on RDKit's own parameter table, on our matcher |
//! | tpsa | `CalcTPSA` | C++ `calcTPSA` (N, O only) |
//! | h_bond_donors | `Lipinski.NumHDonors` = `CalcNumHBD` | C++ `calcNumHBD` |
//! | h_bond_acceptors | `Lipinski.NumHAcceptors` = `CalcNumHBA` 2.0.2 | [`HBA_SMARTS`] (2022.09 has 2.0.1: `nH0` instead of `nH0X2`), counted in `patterns.rs` |
//! | rotatable_bonds | `Lipinski.NumRotatableBonds` = `CalcNumRotatableBonds(Default)`; PyPI builds define `RDK_USE_STRICT_ROTOR_DEFINITION`, so Strict, version 3.2.0 | [`ROTATABLE_STRICT_SMARTS`] (2022.09 has 3.1.0 without `!$([CH3])`), counted in `patterns.rs` |
//! | num_rings | `CalcNumRings` | C++ `calcNumRings` |
//! | num_aromatic_rings | `CalcNumAromaticRings` | C++ `calcNumAromaticRings` |
//! | num_heavy_atoms | `GetNumHeavyAtoms` | `ROMol::getNumHeavyAtoms` |
//! | num_atoms | `CalcNumAtoms` (incl. implicit H) | C++ `calcNumAtoms` |
//! | fraction_csp3 | `CalcFractionCSP3` | C++ `calcFractionCSP3` |
//! | formal_charge | `Chem.GetFormalCharge` | `MolOps::getFormalCharge` |
//! | stereo_centers | `len(FindMolChiralCenters(m, includeUnassigned=True, useLegacyImplementation=False))` | tetrahedral entries of C++ `Chirality::findPotentialStereo(m, cleanIt=false, flagPossible=true)`, not run when no atom can be one |
//! | qed | `QED.qed` | `qed.rs` |
//! | inchi, inchikey | `Chem.MolToInchiKey` | `inchi.rs` (the input `MolToInchi` builds, from `inchi_input.cc`) |
//! | lipinski_violations | `(mw>500)+(logp>5)+(hbd>5)+(hba>10)` | same |

use crate::ffi;
use crate::molecule::Molecule;
use crate::qed::{self, KnownInputs};
use crate::ChemError;
use serde::{Deserialize, Serialize};

/// RDKit's `NumHBA` definition, version 2.0.2 (current RDKit).
pub const HBA_SMARTS: &str = "[$([O,S;H1;v2]-[!$(*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),\
$([N;v3;!$(N-*=!@[O,N,P,S])]),$([nH0X2,o,s;+0])]";

/// RDKit's strict rotatable-bond definition, version 3.2.0 (current RDKit).
pub const ROTATABLE_STRICT_SMARTS: &str = "[!$(*#*)&!D1&!$(C(F)(F)F)&!$(C(Cl)(Cl)Cl)\
&!$(C(Br)(Br)Br)&!$(C([CH3])([CH3])[CH3])&!$([CH3])&!$([CD3](=[N,O,S])-!@[#7,O,S!D1])\
&!$([#7,O,S!D1]-!@[CD3]=[N,O,S])&!$([CD3](=[N+])-!@[#7!D1])&!$([#7!D1]-!@[CD3]=[N+])]\
-,:;!@[!$(*#*)&!D1&!$(C(F)(F)F)&!$(C(Cl)(Cl)Cl)&!$(C(Br)(Br)Br)&!$(C([CH3])([CH3])[CH3])\
&!$([CH3])]";

/// Molecular properties, field names as the `rdkit_local` adapter reports them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Properties {
    pub molecular_weight: f64,
    pub exact_mass: f64,
    pub formula: String,
    pub logp: f64,
    pub molar_refractivity: f64,
    pub tpsa: f64,
    pub h_bond_donors: u32,
    pub h_bond_acceptors: u32,
    pub rotatable_bonds: u32,
    /// All atoms including implicit hydrogens (`CalcNumAtoms`).
    pub num_atoms: u32,
    pub num_heavy_atoms: u32,
    pub num_rings: u32,
    pub num_aromatic_rings: u32,
    pub fraction_csp3: f64,
    pub formal_charge: i32,
    pub stereo_centers: u32,
    pub canonical_smiles: String,
    /// `None` when the InChI library could not handle the molecule.
    pub inchi: Option<String>,
    pub inchikey: Option<String>,
    pub lipinski_violations: u32,
    pub qed: f64,
}

/// Parses `smiles` and computes all its [`Properties`].
pub fn compute_properties(smiles: &str) -> Result<Properties, ChemError> {
    Molecule::from_smiles(smiles)?.properties()
}

pub(crate) fn compute(mol: &Molecule, with_inchi: bool) -> Result<Properties, ChemError> {
    let d = ffi::descriptors(mol.romol()).map_err(ChemError::rdkit)?;
    let patterns = crate::patterns::counts(mol)?;
    let (hba, rotb) = (patterns.hba, patterns.rotb);
    let canonical_smiles = mol.try_canonical_smiles()?;
    let (inchi, inchikey) = if with_inchi {
        match mol.inchi() {
            Ok(r) => (Some(r.inchi), Some(r.inchikey)),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    // Same molecule, same definitions: QED reuses these unless it has to
    // strip explicit Hs first (then it recomputes them on the stripped copy).
    let known = KnownInputs { mw: d.amw, logp: d.logp, hbd: d.hbd, tpsa: d.tpsa, patterns };
    let qed = qed::qed_with(mol, Some(known))?;
    let lipinski_violations = u32::from(d.amw > 500.0) + u32::from(d.logp > 5.0) + u32::from(d.hbd > 5) + u32::from(hba > 10);
    Ok(Properties {
        molecular_weight: d.amw,
        exact_mass: d.exact_mw,
        formula: d.formula,
        logp: d.logp,
        molar_refractivity: d.mr,
        tpsa: d.tpsa,
        h_bond_donors: d.hbd,
        h_bond_acceptors: hba,
        rotatable_bonds: rotb,
        num_atoms: d.num_atoms_total,
        num_heavy_atoms: d.num_heavy_atoms,
        num_rings: d.num_rings,
        num_aromatic_rings: d.num_aromatic_rings,
        fraction_csp3: d.fraction_csp3,
        formal_charge: d.formal_charge,
        stereo_centers: d.stereo_centers,
        canonical_smiles,
        inchi,
        inchikey,
        lipinski_violations,
        qed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `descriptors` skips findPotentialStereo when no atom can be a
    /// tetrahedral centre; the count equals RDKit's own on every reference
    /// molecule and on molecules built to probe the rule (twin terminal
    /// neighbours, ring stereo, isotopes and charges that break symmetry,
    /// specified and unspecified centres, hypervalent atoms).
    #[test]
    fn stereo_centers_equal_rdkit() {
        let mut smiles = crate::smarts::tests::reference_smiles();
        smiles.extend(
            [
                "CC(C)C",
                "CC(C)(C)O",
                "FC(F)(F)c1ccccc1",
                "CS(=O)(=O)N",
                "CS(C)=O",
                "C[S@](=O)CC",
                "CC(C)[C@H](N)C(=O)O",
                "CC(C)C(N)C(=O)O",
                "C[C@H]1CC[C@@H](C)CC1",
                "CC1CCC(C)CC1",
                "CC1CCC(O)CC1",
                "OC1CCNCC1",
                "C1CC2CCC1C2",
                "C1CC2CC1CC2O",
                "[2H]C([2H])(F)Cl",
                "[2H]C(F)(Cl)C",
                "OC([O-])(F)C",
                "[13CH3]C(C)O",
                "CC(C)(F)Cl",
                "NC(=O)C(C)(C)C",
                "C[N+](C)(C)CC",
                "C[N+](C)(CC)CCC",
                "FP(F)(F)(F)F",
                "F[S](F)(F)(F)(F)F",
                "CC1(C)CC1",
                "CC1(C)CC(C)C1",
                "C[Si](C)(C)C(C)O",
            ]
            .map(String::from),
        );
        for s in smiles {
            let Ok(m) = Molecule::from_smiles(&s) else {
                continue;
            };
            let ours = ffi::descriptors(m.romol()).unwrap().stereo_centers;
            let fresh = Molecule::from_smiles(&s).unwrap();
            assert_eq!(ours, ffi::stereo_centers_rdkit(fresh.romol()), "{s}");
        }
    }
}
