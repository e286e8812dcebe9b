//! InChI and InChIKey through the vendored IUPAC library (`inchi` crate).
//!
//! Why not RDKit: Debian builds RDKit without its InChI API. RDKit's own
//! `MolToInchi` fills the library's input structure straight from the
//! molecule (Kekule bonds, no coordinates, stereo as 0D parities);
//! `inchi_input.cc` builds that same input, and [`from_molecule`] passes it
//! to the library with `inchi::Molecule`. That skips what used to dominate
//! the cost: writing a molblock (with a 2D layout for stereo molecules) and
//! having the library parse it again.
//!
//! The few inputs the `inchi` crate cannot express (a dative or other
//! non-single/double/triple bond, which RDKit passes as "unspecified"; a
//! wedge or wavy bond direction, which SMILES does not produce) still go the
//! old way, through RDKit's molblock ([`from_molblock`]).
//!
//! All 1,077 valid reference molecules get RDKit's InChIKey, and the tests
//! below check that the 0D parities give the same InChI as coordinates and
//! wedges do on molecules with many kinds of stereo (and the right one where
//! a 2D layout cannot show the stereo), and that building the input leaves
//! the molecule as it was.
//!
//! The IUPAC library keeps global state, so the `inchi` crate serialises
//! calls behind one lock: InChI generation does not run in parallel.

use crate::ffi;
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

fn options() -> inchi::Options {
    inchi::Options::new().aux_info(false)
}

fn with_key(inchi: String) -> Result<InchiResult, ChemError> {
    let inchikey = inchi::inchikey(&inchi).map_err(|e| ChemError::Inchi(e.to_string()))?;
    Ok(InchiResult { inchi, inchikey })
}

/// Standard InChI of `mol` from the input `inchi_input.cc` built; `None`
/// when that input is not expressible through the `inchi` crate.
pub(crate) fn from_molecule(mol: &ffi::ROMol) -> Result<Option<InchiResult>, ChemError> {
    let input = ffi::inchi_input(mol).map_err(ChemError::rdkit)?;
    if !input.expressible {
        return Ok(None);
    }
    let bad = |what: &str| ChemError::Inchi(format!("{what} out of range for the InChI library"));
    let mut m = inchi::Molecule::new();
    for a in input.atoms {
        let mut atom = inchi::Atom::new(a.symbol).charge(i8::try_from(a.charge).map_err(|_| bad("charge"))?);
        if a.isotopic_mass != 0 {
            atom = atom.isotope(u16::try_from(a.isotopic_mass).map_err(|_| bad("isotope"))?);
        }
        if a.implicit_h >= 0 {
            let h = u8::try_from(a.implicit_h).map_err(|_| bad("H count"))?;
            atom = atom.implicit_hydrogens(inchi::ImplicitH::Exactly(h));
        }
        m.add_atom(atom);
    }
    for b in &input.bonds {
        let order = match b.order {
            1 => inchi::BondOrder::Single,
            2 => inchi::BondOrder::Double,
            3 => inchi::BondOrder::Triple,
            _ => return Ok(None),
        };
        m.add_bond(b.begin as usize, b.end as usize, order).map_err(|e| ChemError::Inchi(e.to_string()))?;
    }
    for s in &input.stereo {
        let parity = match s.parity {
            1 => inchi::Parity::Odd,
            2 => inchi::Parity::Even,
            _ => inchi::Parity::Unknown,
        };
        let n = s.neighbors.map(|i| i as usize);
        m.add_stereo(if s.double_bond {
            inchi::Stereo::DoubleBond { ends: n, parity }
        } else {
            inchi::Stereo::Tetrahedral { center: s.central_atom as usize, neighbors: n, parity }
        });
    }
    let out = m.to_inchi(options()).map_err(|e| ChemError::Inchi(e.to_string()))?;
    with_key(out.into_inchi()).map(Some)
}

/// Standard InChI read from a molblock (the route for inputs
/// [`from_molecule`] cannot express).
pub(crate) fn from_molblock(molblock: &str) -> Result<InchiResult, ChemError> {
    let out = inchi::from_molfile(molblock, options()).map_err(|e| ChemError::Inchi(e.to_string()))?;
    with_key(out.into_inchi())
}

#[cfg(test)]
mod tests {
    use crate::Molecule;

    /// Molecules with every kind of stereo SMILES can carry: centres with an
    /// implicit H (first atom, in a ring, next to a ring closure), with four
    /// heavy neighbours, on S, P and N+; E/Z on chains, rings, conjugated
    /// dienes, oximes, written with the bond symbols on either side; isotopes
    /// and charges next to stereo.
    const STEREO_SMILES: &[&str] = &[
        "C[C@H](N)C(=O)O",
        "C[C@@H](N)C(=O)O",
        "N[C@@H](Cc1ccccc1)C(=O)O",
        "C[C@@H](O)[C@H](N)C(=O)O",
        "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
        "OC[C@H]1O[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O",
        "[C@H](F)(Cl)Br",
        "[C@@H](F)(Cl)Br",
        "F[C@](Cl)(Br)I",
        "[C@@](F)(Cl)(Br)I",
        "Cl[C@@](F)(I)Br",
        "C[C@H]1CC[C@@H](C)CC1",
        "O[C@H]1CC[C@@H](O)CC1",
        "O[C@H]1CC[C@H](O)CC1",
        "C[C@]12CC[C@H]3[C@@H](CC=C4C[C@@H](O)CC[C@]34C)[C@@H]1CC[C@@H]2[C@H](C)CCCC(C)C",
        "CN[C@@H](C)[C@H](O)c1ccccc1",
        "C[C@H](Cl)/C=C/[C@@H](C)Cl",
        "N[C@@H](CS)C(=O)O",
        "O[C@@H]1CCN(Cc2ccccc2)C1",
        "C1C[C@@H]2CC[C@H]1O2",
        "C[S@](=O)c1ccccc1",
        "C[S@@](=O)CC",
        "CC[S@@+]([O-])c1ccc(C)cc1",
        "C[P@@](c1ccccc1)CC",
        "C[N@@+](CC)(CCC)c1ccccc1",
        "[2H][C@@H](C)O",
        "[13CH3][C@H](O)C(=O)[O-]",
        "C[C@H]([NH3+])C(=O)[O-]",
        "F/C=C/F",
        "F/C=C\\F",
        "C(\\F)=C/F",
        "F\\C=C/F",
        "C/C=C/C(=O)O",
        "OC(=O)/C=C\\C(=O)O",
        "C/C=C/C=C\\C",
        "CC/C(C)=C(\\C)CC",
        "C/C=N/O",
        "CC/C(C)=N\\O",
        "C1CCC/C=C\\CCCCC1",
        "O=C(O)/C=C/c1ccccc1",
        "Cl/C=C/[C@H](C)O",
        "C/C(F)=C(/Cl)[C@@H](C)O",
        "CC(C)=CC[C@@H](C)CCO",
    ];

    /// The InChI from our 0D input equals the one the library reads from
    /// RDKit's molblock with 2D coordinates and wedges: the parities are right.
    #[test]
    fn stereo_parities_match_coordinates() {
        for smiles in STEREO_SMILES {
            let m = Molecule::from_smiles(smiles).unwrap();
            let direct = super::from_molecule(m.romol()).unwrap().unwrap_or_else(|| panic!("{smiles}: not expressible"));
            let via_molblock = m.inchi_from_molblock().unwrap();
            assert_eq!(direct, via_molblock, "{smiles}");
        }
    }

    /// `inchi()` kekulizes the molecule in place and restores it: canonical
    /// SMILES, atoms and bonds afterwards are those of a fresh parse.
    #[test]
    fn inchi_leaves_the_molecule_as_it_was() {
        let mut smiles = crate::smarts::tests::reference_smiles();
        smiles.extend(STEREO_SMILES.iter().map(|s| s.to_string()));
        for s in smiles {
            let Ok(m) = Molecule::from_smiles(&s) else {
                continue;
            };
            let fresh = Molecule::from_smiles(&s).unwrap();
            let first = m.inchi().unwrap();
            assert_eq!(m.canonical_smiles(), fresh.canonical_smiles(), "{s}");
            assert!(m.atoms().eq(fresh.atoms()), "{s}");
            assert!(m.bonds().eq(fresh.bonds()), "{s}");
            assert_eq!(m.inchi().unwrap(), first, "{s}");
        }
    }

    /// InChIKeys known from RDKit (the reference files and PubChem). The
    /// trans-cyclooctene is one where the old molblock route was wrong: a 2D
    /// layout cannot draw a trans double bond in an 8-ring, so the library
    /// read cis from the coordinates; the 0D parity is right.
    #[test]
    fn known_stereo_inchikeys() {
        for (smiles, key) in [
            ("C[C@H](N)C(=O)O", "QNAYBMKLOCPYGJ-REOHCLBHSA-N"),
            ("C[C@@H](N)C(=O)O", "QNAYBMKLOCPYGJ-UWTATZPHSA-N"),
            ("F/C=C/F", "WFLOTYSKFUPZQB-OWOJBTEDSA-N"),
            ("OC(=O)/C=C/C(=O)O", "VZCYOOQTPOCHFL-OWOJBTEDSA-N"),
            ("OC(=O)/C=C\\C(=O)O", "VZCYOOQTPOCHFL-UPHRSURJSA-N"),
            ("C1CC/C=C/CCC1", "URYYVOIYTNXXBN-OWOJBTEDSA-N"),
            // RDKit's "reverse clean-up" of perchlorate (sodium perchlorate)
            ("[Na+].[O-]Cl(=O)(=O)=O", "BAZAXWOYCMUHIX-UHFFFAOYSA-M"),
            ("C1CC/C=C\\CCC1", "URYYVOIYTNXXBN-UPHRSURJSA-N"),
        ] {
            let m = Molecule::from_smiles(smiles).unwrap();
            assert_eq!(m.inchi().unwrap().inchikey, key, "{smiles}");
        }
    }
}
