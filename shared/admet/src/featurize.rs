//! chemprop 2's default molecule featurization (`SimpleMoleculeMolGraphFeaturizer`
//! with `MultiHotAtomFeaturizer.v2()` and `MultiHotBondFeaturizer()`), on the
//! RDKit bridge.
//!
//! Atom (72): one-hot with a trailing "other" slot for atomic number
//! (1–36, 53), total degree (0–5), formal charge (−1, −2, 1, 2, 0), chiral tag
//! (0–3), total H count (0–4), hybridization (S, SP, SP2, SP2D, SP3, SP3D,
//! SP3D2); then the aromatic flag and 0.01 × mass.
//!
//! Bond (14): [0] null-bond flag (never set for real bonds); [1..5] single,
//! double, triple, aromatic (other bond types set none); [5] conjugated;
//! [6] in ring; [7..14] stereo 0–5 + other.
//!
//! Each bond `b` (u, v) gives two directed edges, `2b` = u→v and `2b+1` = v→u,
//! so the reverse of edge `e` is `e ^ 1`.

use pharmforge_chem::{AtomInfo, BondInfo, BondType, Hybridization, Molecule};
use std::collections::HashMap;

pub const ATOM_FDIM: usize = 72;
pub const BOND_FDIM: usize = 14;
/// Width of an edge's input row: source-atom features then bond features.
pub const EDGE_IN: usize = ATOM_FDIM + BOND_FDIM;

fn one_hot(x: &mut [f32], offset: usize, choices: usize, pos: Option<usize>) -> usize {
    x[offset + pos.unwrap_or(choices)] = 1.0;
    offset + choices + 1
}

pub fn atom_features(a: &AtomInfo, x: &mut [f32]) {
    debug_assert_eq!(x.len(), ATOM_FDIM);
    x.fill(0.0);
    let z = a.atomic_num as usize;
    let z_pos = match z {
        1..=36 => Some(z - 1),
        53 => Some(36),
        _ => None,
    };
    let mut i = one_hot(x, 0, 37, z_pos);
    let d = a.total_degree as usize;
    i = one_hot(x, i, 6, (d <= 5).then_some(d));
    let charge_pos = match a.formal_charge {
        -1 => Some(0),
        -2 => Some(1),
        1 => Some(2),
        2 => Some(3),
        0 => Some(4),
        _ => None,
    };
    i = one_hot(x, i, 5, charge_pos);
    let c = a.chiral_tag as usize;
    i = one_hot(x, i, 4, (c <= 3).then_some(c));
    let h = a.total_num_hs as usize;
    i = one_hot(x, i, 5, (h <= 4).then_some(h));
    let hyb_pos = match a.hybridization {
        Hybridization::S => Some(0),
        Hybridization::SP => Some(1),
        Hybridization::SP2 => Some(2),
        Hybridization::SP2D => Some(3),
        Hybridization::SP3 => Some(4),
        Hybridization::SP3D => Some(5),
        Hybridization::SP3D2 => Some(6),
        _ => None,
    };
    i = one_hot(x, i, 7, hyb_pos);
    x[i] = if a.is_aromatic { 1.0 } else { 0.0 };
    x[i + 1] = (0.01 * a.mass) as f32;
    debug_assert_eq!(i + 2, ATOM_FDIM);
}

pub fn bond_features(b: &BondInfo, x: &mut [f32]) {
    debug_assert_eq!(x.len(), BOND_FDIM);
    x.fill(0.0);
    match b.bond_type {
        BondType::Single => x[1] = 1.0,
        BondType::Double => x[2] = 1.0,
        BondType::Triple => x[3] = 1.0,
        BondType::Aromatic => x[4] = 1.0,
        BondType::Other(_) => {}
    }
    x[5] = if b.is_conjugated { 1.0 } else { 0.0 };
    x[6] = if b.in_ring { 1.0 } else { 0.0 };
    let s = b.stereo as usize;
    x[7 + if s <= 5 { s } else { 6 }] = 1.0;
}

/// Several molecules' graphs merged into one (block-diagonal) graph.
#[derive(Default, Debug)]
pub struct BatchGraph {
    pub n_mols: usize,
    /// [n_kinds × ATOM_FDIM]: the distinct atom feature rows of the batch.
    /// A batch of drug-like molecules has a few dozen kinds of atom among
    /// hundreds of atoms: the model multiplies each kind once.
    pub kinds: Vec<f32>,
    /// Each atom's row in `kinds`.
    pub atom_kind: Vec<u32>,
    /// A kind's row (its bits) → its index.
    kind_index: HashMap<[u32; ATOM_FDIM], u32>,
    /// [n_bonds × BOND_FDIM]; directed edges `2b` and `2b + 1` are bond `b`'s.
    /// (An edge's input row is its source atom's features then its bond's:
    /// the model multiplies the two parts apart, per atom and per bond,
    /// rather than per edge.)
    pub bonds: Vec<f32>,
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    /// The molecule each atom belongs to.
    pub atom_mol: Vec<u32>,
}

impl BatchGraph {
    pub fn n_atoms(&self) -> usize {
        self.atom_mol.len()
    }

    pub fn n_edges(&self) -> usize {
        self.src.len()
    }

    /// Distinct atom feature rows.
    pub fn n_kinds(&self) -> usize {
        self.kinds.len() / ATOM_FDIM
    }

    /// Appends one molecule.
    pub fn push(&mut self, mol: &Molecule) {
        let base = self.n_atoms();
        let m = self.n_mols as u32;
        let mut row = [0f32; ATOM_FDIM];
        for a in mol.atoms() {
            atom_features(&a, &mut row);
            let n_kinds = self.kind_index.len() as u32;
            let kind = *self.kind_index.entry(row.map(f32::to_bits)).or_insert(n_kinds);
            if kind == n_kinds {
                self.kinds.extend_from_slice(&row);
            }
            self.atom_kind.push(kind);
            self.atom_mol.push(m);
        }
        for j in 0..mol.num_bonds() {
            let b = mol.bond(j);
            let at = self.bonds.len();
            self.bonds.resize(at + BOND_FDIM, 0.0);
            bond_features(&b, &mut self.bonds[at..]);
            for (s, d) in [(b.begin, b.end), (b.end, b.begin)] {
                self.src.push((base + s) as u32);
                self.dst.push((base + d) as u32);
            }
        }
        self.n_mols += 1;
    }
}
