//! [`Molecule`]: one parsed, sanitized RDKit molecule, and its atom/bond views.
//!
//! Why parse-once: every property, QED and the InChI come from the same
//! `ROMol`, so a compound is parsed exactly once however much is asked of it.
//!
//! Thread safety: a `Molecule` is `Send` but not `Sync`. RDKit mutates caches
//! inside "const" molecules (ring info, computed properties such as TPSA,
//! the SMILES output order), so two threads must never use one molecule at
//! the same time; moving it to another thread is fine because an `ROMol` has
//! no thread affinity.

use crate::ffi;
use crate::smarts::SmartsPattern;
use crate::{ChemError, InchiResult, Properties};
use cxx::UniquePtr;

/// Longest SMILES [`Molecule::from_smiles`] accepts, in bytes (a sanity cap;
/// [`MAX_ATOMS`] is the limit that matters).
pub const MAX_SMILES_LEN: usize = 10_000;

/// Most atoms (as written, explicit H included) a molecule may have.
///
/// Why: RDKit 2022.09 writes canonical SMILES recursively, one stack frame
/// per atom along a path (a 3,000-atom chain overflows a 2 MiB thread stack
/// and would kill the process), and its stereo perception at parse time is
/// superlinear (a 2,000-atom chain takes seconds). 1,000 atoms covers every
/// small molecule and peptides of ~100 residues, and matches what InChI
/// accepts (1,024). SMILES longer than 1,000 bytes are first parsed without
/// sanitization (linear time) to count atoms before the full parse.
pub const MAX_ATOMS: usize = 1_000;

/// Longest error message we pass on (RDKit echoes the input in its errors).
const MAX_MESSAGE_LEN: usize = 500;

/// RDKit's default `maxMatches` for substructure searches, which the Python
/// descriptors we reproduce also use.
pub(crate) const RDKIT_MAX_MATCHES: u32 = 1000;

/// A sanitized RDKit molecule (an owned `RDKit::ROMol`).
pub struct Molecule {
    mol: UniquePtr<ffi::ROMol>,
}

// SAFETY: the ROMol is exclusively owned by this value and RDKit molecules
// hold no thread-local or thread-affine state, so moving one to another
// thread is sound. `Molecule` stays !Sync (UniquePtr of an opaque C++ type is
// !Sync) because RDKit's const methods mutate internal caches.
unsafe impl Send for Molecule {}

impl std::fmt::Debug for Molecule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Molecule").field("smiles", &self.try_canonical_smiles().unwrap_or_default()).finish()
    }
}

/// The first character of the SMILES token (what precedes the optional
/// whitespace-separated name or CXSMILES part) that is not printable ASCII.
///
/// RDKit's lexer silently stops at such a character and reads what follows as
/// the molecule's name, so `C☃C` would parse as methane; we reject it.
fn bad_char(smiles: &str) -> Option<(usize, char)> {
    let is_sep = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let start = smiles.len() - smiles.trim_start_matches(is_sep).len();
    smiles[start..].char_indices().take_while(|&(_, c)| !is_sep(c)).find(|&(_, c)| !c.is_ascii_graphic()).map(|(i, c)| (start + i, c))
}

fn truncate_message(mut msg: String) -> String {
    if msg.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    msg
}

/// The atom count of a V3000 molblock's `M  V30 COUNTS` line, if it has one.
fn v3000_atom_count(molblock: &str) -> Option<usize> {
    molblock.lines().find_map(|l| l.strip_prefix("M  V30 COUNTS")).and_then(|rest| rest.split_whitespace().next()).and_then(|n| match n.parse() {
        Ok(n) => Some(n),
        // All digits but too many of them for a usize: too many atoms.
        Err(_) if n.bytes().all(|b| b.is_ascii_digit()) => Some(usize::MAX),
        Err(_) => None,
    })
}

/// RDKit's message on one line (some span several), capped like the others.
fn one_line(msg: &str) -> String {
    let line = msg.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("RDKit could not read the molblock");
    truncate_message(line.to_owned())
}

impl Molecule {
    /// Parses and sanitizes a SMILES exactly like Python's
    /// `Chem.MolFromSmiles` (sanitize, remove explicit Hs).
    ///
    /// Errors carry RDKit's own message, e.g. `Can't kekulize mol.
    /// Unkekulized atoms: 0 1 2 3 4` or `SMILES Parse Error: syntax error
    /// while parsing: C1CC1(`. Never panics or aborts, whatever the input:
    /// NUL bytes, SMILES longer than [`MAX_SMILES_LEN`] bytes or with more
    /// than [`MAX_ATOMS`] atoms, and SMILES without atoms (empty, blank) are
    /// rejected with our own message.
    pub fn from_smiles(smiles: &str) -> Result<Molecule, ChemError> {
        if smiles.contains('\0') {
            return Err(ChemError::InvalidSmiles("SMILES contains a NUL byte".into()));
        }
        if let Some((at, c)) = bad_char(smiles) {
            return Err(ChemError::InvalidSmiles(format!("SMILES contains {c:?} at byte {at}; SMILES are printable ASCII")));
        }
        if smiles.len() > MAX_SMILES_LEN {
            return Err(ChemError::InvalidSmiles(format!("SMILES is {} bytes long; at most {MAX_SMILES_LEN} are accepted", smiles.len())));
        }
        let invalid = |e: cxx::Exception| ChemError::InvalidSmiles(truncate_message(e.what().to_owned()));
        // Fewer bytes than MAX_ATOMS cannot describe more atoms than that.
        if smiles.len() > MAX_ATOMS {
            let n = ffi::smiles_atom_count(smiles).map_err(invalid)? as usize;
            if n > MAX_ATOMS {
                return Err(ChemError::InvalidSmiles(format!("molecule has {n} atoms; at most {MAX_ATOMS} are supported")));
            }
        }
        let mol = ffi::mol_from_smiles(smiles).map_err(invalid)?;
        if mol.is_null() {
            return Err(ChemError::InvalidSmiles("RDKit returned no molecule".into()));
        }
        if ffi::num_atoms(&mol) == 0 {
            return Err(ChemError::InvalidSmiles("SMILES has no atoms".into()));
        }
        Ok(Molecule { mol })
    }

    /// Reads a molblock as RDKit's SD reader does (`MolBlockToMol` with
    /// SDMolSupplier's defaults: sanitize, remove Hs, strict parsing).
    ///
    /// Errors are [`ChemError::Rdkit`] with RDKit's message, e.g. `Explicit
    /// valence for atom # 1 N, 4, is greater than permitted`. The limits of
    /// [`from_smiles`](Self::from_smiles) hold here too, for the same
    /// reasons: a V3000 block declaring more than [`MAX_ATOMS`] atoms is
    /// refused before RDKit reads it (a V2000 block cannot hold more than
    /// 999), and a block without atoms is refused.
    pub(crate) fn from_molblock(molblock: &str) -> Result<Molecule, ChemError> {
        let too_many = |n: usize| ChemError::Rdkit(format!("molecule has {n} atoms; at most {MAX_ATOMS} are supported"));
        if let Some(n) = v3000_atom_count(molblock) {
            if n > MAX_ATOMS {
                return Err(too_many(n));
            }
        }
        let mol = ffi::mol_from_molblock(molblock).map_err(|e| ChemError::Rdkit(one_line(e.what())))?;
        if mol.is_null() {
            return Err(ChemError::Rdkit("RDKit returned no molecule".into()));
        }
        match ffi::num_atoms(&mol) as usize {
            0 => Err(ChemError::Rdkit("molblock has no atoms".into())),
            n if n > MAX_ATOMS => Err(too_many(n)),
            _ => Ok(Molecule { mol }),
        }
    }

    /// The RDKit molecule, for this crate's bridges and another crate's
    /// (see [`crate::rdkit`]).
    pub fn romol(&self) -> &ffi::ROMol {
        &self.mol
    }

    /// A copy without explicit hydrogens, as Python's `Chem.RemoveHs` (QED
    /// works on that); `None` when there are no H atoms, i.e. it would be the
    /// same molecule.
    pub(crate) fn without_hs(&self) -> Result<Option<Molecule>, ChemError> {
        if !ffi::has_hydrogen_atoms(&self.mol) {
            return Ok(None);
        }
        let mol = ffi::remove_hs(&self.mol).map_err(ChemError::rdkit)?;
        Ok(Some(Molecule { mol }))
    }

    /// RDKit's canonical isomeric SMILES (`Chem.MolToSmiles`). RDKit releases
    /// differ in canonical form, so compare across versions by InChIKey.
    pub fn canonical_smiles(&self) -> String {
        // MolToSmiles does not throw for a sanitized molecule.
        self.try_canonical_smiles().unwrap_or_default()
    }

    /// [`canonical_smiles`](Self::canonical_smiles), with RDKit's error if it threw.
    pub fn try_canonical_smiles(&self) -> Result<String, ChemError> {
        ffi::mol_to_smiles(&self.mol).map_err(ChemError::rdkit)
    }

    /// A V2000 molblock (V3000 above 999 atoms) with 2D coordinates and
    /// wedges, as `Chem.MolToMolBlock`.
    pub fn mol_block(&self) -> String {
        self.try_mol_block().unwrap_or_default()
    }

    /// [`mol_block`](Self::mol_block), with RDKit's error if it threw.
    pub fn try_mol_block(&self) -> Result<String, ChemError> {
        ffi::mol_to_molblock(&self.mol, true).map_err(ChemError::rdkit)
    }

    /// Standard InChI and InChIKey, as RDKit's `MolToInchi` /
    /// `MolToInchiKey` (see `inchi.rs`).
    pub fn inchi(&self) -> Result<InchiResult, ChemError> {
        let n = self.num_atoms();
        if n > crate::inchi::INCHI_MAX_ATOMS {
            return Err(ChemError::Inchi(format!("{n} atoms; standard InChI supports at most {}", crate::inchi::INCHI_MAX_ATOMS)));
        }
        match crate::inchi::from_molecule(&self.mol)? {
            Some(r) => Ok(r),
            None => self.inchi_from_molblock(),
        }
    }

    /// InChI through RDKit's molblock: with 2D coordinates and wedges when
    /// the molecule has specified stereo (a chiral tag, an E/Z double bond),
    /// which the library then reads; without coordinates (read as 0D)
    /// otherwise.
    pub(crate) fn inchi_from_molblock(&self) -> Result<InchiResult, ChemError> {
        let with_coords = ffi::has_specified_stereo(&self.mol);
        let molblock = ffi::mol_to_molblock(&self.mol, with_coords).map_err(ChemError::rdkit)?;
        crate::inchi::from_molblock(&molblock)
    }

    /// Graph atoms: heavy atoms plus explicit H atoms (RDKit `GetNumAtoms()`).
    pub fn num_atoms(&self) -> usize {
        ffi::num_atoms(&self.mol) as usize
    }

    /// Bonds in the graph (RDKit `GetNumBonds()`).
    pub fn num_bonds(&self) -> usize {
        ffi::num_bonds(&self.mol) as usize
    }

    /// Atom `idx`. Panics if `idx >= num_atoms()`, like slice indexing.
    pub fn atom(&self, idx: usize) -> AtomInfo {
        let n = self.num_atoms();
        assert!(idx < n, "atom index {idx} out of range for a molecule with {n} atoms");
        let d = ffi::atom_data(&self.mol, idx as u32).unwrap_or_else(|e| unreachable!("atom_data({idx}) threw after the bounds check: {e}"));
        AtomInfo {
            atomic_num: d.atomic_num as u8,
            total_degree: d.total_degree as u8,
            formal_charge: d.formal_charge as i8,
            chiral_tag: d.chiral_tag as u8,
            total_num_hs: d.total_num_hs as u8,
            hybridization: Hybridization::from_rdkit(d.hybridization),
            is_aromatic: d.is_aromatic,
            mass: d.mass,
        }
    }

    /// Bond `idx`. Panics if `idx >= num_bonds()`, like slice indexing.
    pub fn bond(&self, idx: usize) -> BondInfo {
        let n = self.num_bonds();
        assert!(idx < n, "bond index {idx} out of range for a molecule with {n} bonds");
        let d = ffi::bond_data(&self.mol, idx as u32).unwrap_or_else(|e| unreachable!("bond_data({idx}) threw after the bounds check: {e}"));
        BondInfo {
            begin: d.begin as usize,
            end: d.end as usize,
            bond_type: BondType::from_rdkit(d.bond_type as u8),
            is_conjugated: d.is_conjugated,
            in_ring: d.in_ring,
            stereo: d.stereo as u8,
        }
    }

    /// All atoms, in index order.
    pub fn atoms(&self) -> impl Iterator<Item = AtomInfo> + '_ {
        (0..self.num_atoms()).map(|i| self.atom(i))
    }

    /// All bonds, in index order.
    pub fn bonds(&self) -> impl Iterator<Item = BondInfo> + '_ {
        (0..self.num_bonds()).map(|i| self.bond(i))
    }

    /// Number of matches of `pattern`, as `len(m.GetSubstructMatches(p,
    /// uniquify=unique))`: like Python this stops at RDKit's default of 1000
    /// matches. An RDKit exception (not seen for sanitized molecules) counts
    /// as no match.
    pub fn substruct_match_count(&self, pattern: &SmartsPattern, unique: bool) -> usize {
        self.try_match_count(pattern, unique, RDKIT_MAX_MATCHES).unwrap_or(0) as usize
    }

    /// Whether `pattern` matches at least once (`m.HasSubstructMatch(p)`).
    pub fn has_substruct_match(&self, pattern: &SmartsPattern) -> bool {
        self.try_has_match(pattern).unwrap_or(false)
    }

    pub(crate) fn try_match_count(&self, pattern: &SmartsPattern, unique: bool, max_matches: u32) -> Result<u32, ChemError> {
        ffi::count_matches(&self.mol, pattern.set(), 0, unique, max_matches).map_err(ChemError::rdkit)
    }

    pub(crate) fn try_has_match(&self, pattern: &SmartsPattern) -> Result<bool, ChemError> {
        ffi::has_match(&self.mol, pattern.set(), 0).map_err(ChemError::rdkit)
    }

    /// QED (Bickerton et al. 2012, mean weights), as RDKit's `QED.qed`.
    /// NaN if RDKit threw while computing an input (not seen in practice);
    /// [`properties`](Self::properties) reports such an error instead.
    pub fn qed(&self) -> f64 {
        crate::qed::qed(self).unwrap_or(f64::NAN)
    }

    /// Every property of the `rdkit_local` adapter, InChI included.
    pub fn properties(&self) -> Result<Properties, ChemError> {
        crate::properties::compute(self, true)
    }

    /// [`properties`](Self::properties) without InChI/InChIKey (left `None`),
    /// for callers that don't need them: InChI is the costliest part.
    pub fn properties_without_inchi(&self) -> Result<Properties, ChemError> {
        crate::properties::compute(self, false)
    }
}

/// Hybridization, mirroring RDKit's `Atom::HybridizationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hybridization {
    Unspecified,
    S,
    SP,
    SP2,
    SP3,
    SP2D,
    SP3D,
    SP3D2,
    Other,
}

impl Hybridization {
    /// From RDKit's enum value (2022.09 numbering; unknown values -> Other).
    pub fn from_rdkit(v: u32) -> Self {
        match v {
            0 => Self::Unspecified,
            1 => Self::S,
            2 => Self::SP,
            3 => Self::SP2,
            4 => Self::SP3,
            5 => Self::SP2D,
            6 => Self::SP3D,
            7 => Self::SP3D2,
            _ => Self::Other,
        }
    }
}

/// Bond order, mirroring RDKit's `Bond::BondType` for the common cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BondType {
    Single,
    Double,
    Triple,
    Aromatic,
    /// Any other RDKit bond type, with RDKit's numeric value
    /// (e.g. 17 = DATIVE, 0 = UNSPECIFIED).
    Other(u8),
}

impl BondType {
    /// From RDKit's `Bond::BondType` value.
    pub fn from_rdkit(v: u8) -> Self {
        match v {
            1 => Self::Single,
            2 => Self::Double,
            3 => Self::Triple,
            12 => Self::Aromatic,
            other => Self::Other(other),
        }
    }

    /// RDKit's `Bond::BondType` value.
    pub fn rdkit_value(self) -> u8 {
        match self {
            Self::Single => 1,
            Self::Double => 2,
            Self::Triple => 3,
            Self::Aromatic => 12,
            Self::Other(v) => v,
        }
    }
}

/// One atom, as RDKit reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AtomInfo {
    pub atomic_num: u8,
    /// Neighbours including implicit Hs (`GetTotalDegree`).
    pub total_degree: u8,
    pub formal_charge: i8,
    /// RDKit `ChiralType` value: 0 unspecified, 1 CW (`@@`), 2 CCW (`@`), ...
    pub chiral_tag: u8,
    /// Implicit + explicit Hs on this atom (`GetTotalNumHs()`).
    pub total_num_hs: u8,
    pub hybridization: Hybridization,
    pub is_aromatic: bool,
    /// Average atomic mass (or the isotope's mass), `GetMass`.
    pub mass: f64,
}

/// One bond, as RDKit reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BondInfo {
    pub begin: usize,
    pub end: usize,
    pub bond_type: BondType,
    pub is_conjugated: bool,
    pub in_ring: bool,
    /// RDKit `BondStereo` value: 0 none, 1 any, 2 Z, 3 E, 4 cis, 5 trans.
    pub stereo: u8,
}
