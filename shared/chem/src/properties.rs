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
//! | logp, molar_refractivity | `Crippen.MolLogP`, `MolMR` (= C++ `calcCrippenDescriptors`, adds Hs) | `matching.cc` `crippen_logp_mr`: the same algorithm on RDKit's own parameter table, skipping searches that cannot match |
//! | tpsa | `CalcTPSA` | C++ `calcTPSA` (N, O only) |
//! | h_bond_donors | `Lipinski.NumHDonors` = `CalcNumHBD` | C++ `calcNumHBD` |
//! | h_bond_acceptors | `Lipinski.NumHAcceptors` = `CalcNumHBA` 2.0.2 | [`HBA_SMARTS`] (2022.09 has 2.0.1: `nH0` instead of `nH0X2`) |
//! | rotatable_bonds | `Lipinski.NumRotatableBonds` = `CalcNumRotatableBonds(Default)`; PyPI builds define `RDK_USE_STRICT_ROTOR_DEFINITION`, so Strict, version 3.2.0 | [`ROTATABLE_STRICT_SMARTS`] (2022.09 has 3.1.0 without `!$([CH3])`) |
//! | num_rings | `CalcNumRings` | C++ `calcNumRings` |
//! | num_aromatic_rings | `CalcNumAromaticRings` | C++ `calcNumAromaticRings` |
//! | num_heavy_atoms | `GetNumHeavyAtoms` | `ROMol::getNumHeavyAtoms` |
//! | num_atoms | `CalcNumAtoms` (incl. implicit H) | C++ `calcNumAtoms` |
//! | fraction_csp3 | `CalcFractionCSP3` | C++ `calcFractionCSP3` |
//! | formal_charge | `Chem.GetFormalCharge` | `MolOps::getFormalCharge` |
//! | stereo_centers | `len(FindMolChiralCenters(m, includeUnassigned=True, useLegacyImplementation=False))` | tetrahedral entries of C++ `Chirality::findPotentialStereo(m, cleanIt=false, flagPossible=true)` |
//! | qed | `QED.qed` | `qed.rs` |
//! | inchi, inchikey | `Chem.MolToInchiKey` | `inchi.rs` |
//! | lipinski_violations | `(mw>500)+(logp>5)+(hbd>5)+(hba>10)` | same |

use crate::ffi;
use crate::molecule::{Molecule, RDKIT_MAX_MATCHES};
use crate::qed::{self, KnownInputs};
use crate::smarts::SmartsPattern;
use crate::ChemError;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// RDKit's `NumHBA` definition, version 2.0.2 (current RDKit).
pub const HBA_SMARTS: &str = "[$([O,S;H1;v2]-[!$(*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),\
$([N;v3;!$(N-*=!@[O,N,P,S])]),$([nH0X2,o,s;+0])]";

/// RDKit's strict rotatable-bond definition, version 3.2.0 (current RDKit).
pub const ROTATABLE_STRICT_SMARTS: &str = "[!$(*#*)&!D1&!$(C(F)(F)F)&!$(C(Cl)(Cl)Cl)\
&!$(C(Br)(Br)Br)&!$(C([CH3])([CH3])[CH3])&!$([CH3])&!$([CD3](=[N,O,S])-!@[#7,O,S!D1])\
&!$([#7,O,S!D1]-!@[CD3]=[N,O,S])&!$([CD3](=[N+])-!@[#7!D1])&!$([#7!D1]-!@[CD3]=[N+])]\
-,:;!@[!$(*#*)&!D1&!$(C(F)(F)F)&!$(C(Cl)(Cl)Cl)&!$(C(Br)(Br)Br)&!$(C([CH3])([CH3])[CH3])\
&!$([CH3])]";

static HBA: LazyLock<SmartsPattern> = LazyLock::new(|| SmartsPattern::constant(HBA_SMARTS));
static ROTATABLE_STRICT: LazyLock<SmartsPattern> =
    LazyLock::new(|| SmartsPattern::constant(ROTATABLE_STRICT_SMARTS));

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

/// Strict rotatable bonds (what `Lipinski.NumRotatableBonds` and QED use).
pub(crate) fn rotatable_bonds(mol: &Molecule) -> Result<u32, ChemError> {
    mol.try_match_count(&ROTATABLE_STRICT, true, RDKIT_MAX_MATCHES)
}

pub(crate) fn compute(mol: &Molecule, with_inchi: bool) -> Result<Properties, ChemError> {
    let d = ffi::descriptors(mol.romol()).map_err(ChemError::rdkit)?;
    let hba = mol.try_match_count(&HBA, true, RDKIT_MAX_MATCHES)?;
    let rotb = rotatable_bonds(mol)?;
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
    let known = KnownInputs {
        mw: d.amw,
        logp: d.logp,
        hbd: d.hbd,
        tpsa: d.tpsa,
        rotb,
    };
    let qed = qed::qed_with(mol, Some(known))?;
    let lipinski_violations = u32::from(d.amw > 500.0)
        + u32::from(d.logp > 5.0)
        + u32::from(d.hbd > 5)
        + u32::from(hba > 10);
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
