//! QED, the quantitative estimate of drug-likeness (Bickerton et al., Nature
//! Chemistry 4, 90-98, 2012), computed the way RDKit's `QED.qed` does.
//!
//! Why it is here: QED exists only in RDKit's Python layer, so we rebuild it
//! from the paper's desirability functions on top of the bridge: the eight
//! inputs come from RDKit C++ descriptors and SMARTS counts on the molecule
//! with explicit hydrogens removed (`Chem.RemoveHs`), each is mapped through
//! its asymmetric double sigmoid (ADS), and QED is the weighted geometric mean
//! of the desirabilities with the paper's *mean* weights.
//!
//! Inputs, as RDKit computes them:
//! * MW: average molecular weight; ALOGP: Crippen logP; PSA: TPSA (N, O only);
//!   HBD: RDKit's `CalcNumHBD`; ROTB: rotatable bonds, strict definition.
//! * HBA: for each of 11 acceptor SMARTS, the number of unique matches, summed.
//! * AROM: rings left after deleting every aliphatic ring atom that is bonded
//!   to a non-aromatic atom (SMARTS `[$([A;R][!a])]`), counted as the SSSR of
//!   what remains (this deliberately differs from "number of aromatic rings").
//! * ALERTS: how many of the 116 structural-alert SMARTS match at least once.
//!
//! Every SMARTS is compiled once, on first use, and matched with the
//! crate's other per-molecule patterns in one call (`patterns.rs`).

use crate::ffi;
use crate::molecule::Molecule;
use crate::ChemError;

/// ADS parameters (A, B, C, D, E, F, DMAX) per input, from the paper's fits.
#[derive(Clone, Copy)]
struct Ads {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
    dmax: f64,
}

#[rustfmt::skip]
const fn ads(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, dmax: f64) -> Ads {
    Ads { a, b, c, d, e, f, dmax }
}

/// In input order: MW, ALOGP, HBA, HBD, PSA, ROTB, AROM, ALERTS.
#[rustfmt::skip]
const ADS_PARAMS: [Ads; 8] = [
    ads(2.817065973, 392.5754953, 290.7489764, 2.419764353, 49.22325677, 65.37051707, 104.9805561),
    ads(3.172690585, 137.8624751, 2.534937431, 4.581497897, 0.822739154, 0.576295591, 131.3186604),
    ads(2.948620388, 160.4605972, 3.615294657, 4.435986202, 0.290141953, 1.300669958, 148.7763046),
    ads(1.618662227, 1010.051101, 0.985094388, 0.000000001, 0.713820843, 0.920922555, 258.1632616),
    ads(1.876861559, 125.2232657, 62.90773554, 87.83366614, 12.01999824, 28.51324732, 104.5686167),
    ads(0.010000000, 272.4121427, 2.558379970, 1.565547684, 1.271567166, 2.758063707, 105.4420403),
    ads(3.217788970, 957.7374108, 2.274627939, 0.000000001, 1.317690384, 0.375760881, 312.3372610),
    ads(0.010000000, 1199.094025, -0.09002883, 0.000000001, 0.185904477, 0.875193782, 417.7253140),
];

/// The paper's mean weights (what `QED.qed` uses by default), same order.
const WEIGHT_MEAN: [f64; 8] = [0.66, 0.46, 0.05, 0.61, 0.06, 0.65, 0.48, 0.95];

pub(crate) const ALIPHATIC_RING_SMARTS: &str = "[$([A;R][!a])]";

pub(crate) const ACCEPTOR_SMARTS: [&str; 11] = [
    "[oH0;X2]",
    "[OH1;X2;v2]",
    "[OH0;X2;v2]",
    "[OH0;X1;v2]",
    "[O-;X1]",
    "[SH0;X2;v2]",
    "[SH0;X1;v2]",
    "[S-;X1]",
    "[nH0;X2]",
    "[NH0;X1;v3]",
    "[$([N;+0;X3;v3]);!$(N[C,S]=O)]",
];

pub(crate) const ALERT_SMARTS: [&str; 116] = [
    "*1[O,S,N]*1",
    "[S,C](=[O,S])[F,Br,Cl,I]",
    "[CX4][Cl,Br,I]",
    "[#6]S(=O)(=O)O[#6]",
    "[$([CH]),$(CC)]#CC(=O)[#6]",
    "[$([CH]),$(CC)]#CC(=O)O[#6]",
    "n[OH]",
    "[$([CH]),$(CC)]#CS(=O)(=O)[#6]",
    "C=C(C=O)C=O",
    "n1c([F,Cl,Br,I])cccc1",
    "[CH1](=O)",
    "[#8][#8]",
    "[C;!R]=[N;!R]",
    "[N!R]=[N!R]",
    "[#6](=O)[#6](=O)",
    "[#16][#16]",
    "[#7][NH2]",
    "C(=O)N[NH2]",
    "[#6]=S",
    "[$([CH2]),$([CH][CX4]),$(C([CX4])[CX4])]=[$([CH2]),$([CH][CX4]),$(C([CX4])[CX4])]",
    "C1(=[O,N])C=CC(=[O,N])C=C1",
    "C1(=[O,N])C(=[O,N])C=CC=C1",
    "a21aa3a(aa1aaaa2)aaaa3",
    "a31a(a2a(aa1)aaaa2)aaaa3",
    "a1aa2a3a(a1)A=AA=A3=AA=A2",
    "c1cc([NH2])ccc1",
    "[Hg,Fe,As,Sb,Zn,Se,se,Te,B,Si,Na,Ca,Ge,Ag,Mg,K,Ba,Sr,Be,Ti,Mo,Mn,Ru,Pd,Ni,Cu,Au,Cd,Al,Ga,Sn,Rh,Tl,Bi,Nb,Li,Pb,Hf,Ho]",
    "I",
    "OS(=O)(=O)[O-]",
    "[N+](=O)[O-]",
    "C(=O)N[OH]",
    "C1NC(=O)NC(=O)1",
    "[SH]",
    "[S-]",
    "c1ccc([Cl,Br,I,F])c([Cl,Br,I,F])c1[Cl,Br,I,F]",
    "c1cc([Cl,Br,I,F])cc([Cl,Br,I,F])c1[Cl,Br,I,F]",
    "[CR1]1[CR1][CR1][CR1][CR1][CR1][CR1]1",
    "[CR1]1[CR1][CR1]cc[CR1][CR1]1",
    "[CR2]1[CR2][CR2][CR2][CR2][CR2][CR2][CR2]1",
    "[CR2]1[CR2][CR2]cc[CR2][CR2][CR2]1",
    "[CH2R2]1N[CH2R2][CH2R2][CH2R2][CH2R2][CH2R2]1",
    "[CH2R2]1N[CH2R2][CH2R2][CH2R2][CH2R2][CH2R2][CH2R2]1",
    "C#C",
    "[OR2,NR2]@[CR2]@[CR2]@[OR2,NR2]@[CR2]@[CR2]@[OR2,NR2]",
    "[$([N+R]),$([n+R]),$([N+]=C)][O-]",
    "[#6]=N[OH]",
    "[#6]=NOC=O",
    "[#6](=O)[CX4,CR0X3,O][#6](=O)",
    "c1ccc2c(c1)ccc(=O)o2",
    "[O+,o+,S+,s+]",
    "N=C=O",
    "[NX3,NX4][F,Cl,Br,I]",
    "c1ccccc1OC(=O)[#6]",
    "[CR0]=[CR0][CR0]=[CR0]",
    "[C+,c+,C-,c-]",
    "N=[N+]=[N-]",
    "C12C(NC(N1)=O)CSC2",
    "c1c([OH])c([OH,NH2,NH])ccc1",
    "P",
    "[N,O,S]C#N",
    "C=C=O",
    "[Si][F,Cl,Br,I]",
    "[SX2]O",
    "[SiR0,CR0](c1ccccc1)(c2ccccc2)(c3ccccc3)",
    "O1CCCCC1OC2CCC3CCCCC3C2",
    "N=[CR0][N,n,O,S]",
    "[cR2]1[cR2][cR2]([Nv3X3,Nv4X4])[cR2][cR2][cR2]1[cR2]2[cR2][cR2][cR2]([Nv3X3,Nv4X4])[cR2][cR2]2",
    "C=[C!r]C#N",
    "[cR2]1[cR2]c([N+0X3R0,nX3R0])c([N+0X3R0,nX3R0])[cR2][cR2]1",
    "[cR2]1[cR2]c([N+0X3R0,nX3R0])[cR2]c([N+0X3R0,nX3R0])[cR2]1",
    "[cR2]1[cR2]c([N+0X3R0,nX3R0])[cR2][cR2]c1([N+0X3R0,nX3R0])",
    "[OH]c1ccc([OH,NH2,NH])cc1",
    "c1ccccc1OC(=O)O",
    "[SX2H0][N]",
    "c12ccccc1(SC(S)=N2)",
    "c12ccccc1(SC(=S)N2)",
    "c1nnnn1C=O",
    "s1c(S)nnc1NC=O",
    "S1C=CSC1=S",
    "C(=O)Onnn",
    "OS(=O)(=O)C(F)(F)F",
    "N#CC[OH]",
    "N#CC(=O)",
    "S(=O)(=O)C#N",
    "N[CH2]C#N",
    "C1(=O)NCC1",
    "S(=O)(=O)[O-,OH]",
    "NC[F,Cl,Br,I]",
    "C=[C!r]O",
    "[NX2+0]=[O+0]",
    "[OR0,NR0][OR0,NR0]",
    "C(=O)O[C,H1].C(=O)O[C,H1].C(=O)O[C,H1]",
    "[CX2R0][NX3R0]",
    "c1ccccc1[C;!R]=[C;!R]c2ccccc2",
    "[NX3R0,NX4R0,OR0,SX2R0][CX4][NX3R0,NX4R0,OR0,SX2R0]",
    "[s,S,c,C,n,N,o,O]~[n+,N+](~[s,S,c,C,n,N,o,O])(~[s,S,c,C,n,N,o,O])~[s,S,c,C,n,N,o,O]",
    "[s,S,c,C,n,N,o,O]~[nX3+,NX3+](~[s,S,c,C,n,N])~[s,S,c,C,n,N]",
    "[*]=[N+]=[*]",
    "[SX3](=O)[O-,OH]",
    "N#N",
    "F.F.F.F",
    "[R0;D2][R0;D2][R0;D2][R0;D2]",
    "[cR,CR]~C(=O)NC(=O)~[cR,CR]",
    "C=!@CC=[O,S]",
    "[#6,#8,#16][#6](=O)O[#6]",
    "c[C;R0](=[O,S])[#6]",
    "c[SX2][C;!R]",
    "C=C=C",
    "c1nc([F,Cl,Br,I,S])ncc1",
    "c1ncnc([F,Cl,Br,I,S])c1",
    "c1nc(c2c(n1)nc(n2)[F,Cl,Br,I])",
    "[#6]S(=O)(=O)c1ccc(cc1)F",
    "[15N]",
    "[13C]",
    "[18O]",
    "[34S]",
];

/// Inputs that `properties` has already computed on the same molecule and
/// can hand over (valid only when the molecule has no explicit H atoms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownInputs {
    pub mw: f64,
    pub logp: f64,
    pub hbd: u32,
    pub tpsa: f64,
    /// HBA, rotatable bonds, QED's acceptors, alerts and AROM.
    pub patterns: ffi::PatternCounts,
}

/// The asymmetric double sigmoid, scaled to a desirability in (0, 1].
fn desirability(x: f64, p: &Ads) -> f64 {
    let exp1 = 1.0 + (-(x - p.c + p.d / 2.0) / p.e).exp();
    let exp2 = 1.0 + (-(x - p.c - p.d / 2.0) / p.f).exp();
    (p.a + p.b / exp1 * (1.0 - 1.0 / exp2)) / p.dmax
}

/// Weighted geometric mean of the desirabilities of the eight inputs
/// (MW, ALOGP, HBA, HBD, PSA, ROTB, AROM, ALERTS).
pub(crate) fn score(inputs: [f64; 8]) -> f64 {
    let mut t = 0.0;
    for i in 0..8 {
        t += WEIGHT_MEAN[i] * desirability(inputs[i], &ADS_PARAMS[i]).ln();
    }
    (t / WEIGHT_MEAN.iter().sum::<f64>()).exp()
}

/// QED of `mol`, computing every input.
pub(crate) fn qed(mol: &Molecule) -> Result<f64, ChemError> {
    qed_with(mol, None)
}

/// QED of `mol`; `known` saves recomputing inputs `properties` already has.
pub(crate) fn qed_with(mol: &Molecule, known: Option<KnownInputs>) -> Result<f64, ChemError> {
    let stripped = mol.without_hs()?;
    let (m, known) = match &stripped {
        Some(s) => (s, None),
        None => (mol, known),
    };
    let k = match known {
        Some(k) => k,
        None => {
            let q = ffi::qed_descriptors(m.romol()).map_err(ChemError::rdkit)?;
            KnownInputs { mw: q.amw, logp: q.logp, hbd: q.hbd, tpsa: q.tpsa, patterns: crate::patterns::counts(m)? }
        }
    };
    let p = k.patterns;
    // Python sums len(GetSubstructMatches(p)) over the acceptor patterns.
    Ok(score([k.mw, k.logp, f64::from(p.qed_hba), f64::from(k.hbd), k.tpsa, f64::from(p.rotb), f64::from(p.qed_arom), f64::from(p.qed_alerts)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desirability_is_bounded() {
        for (i, p) in ADS_PARAMS.iter().enumerate() {
            for x in [0.0, 1.0, 5.0, 50.0, 500.0] {
                let d = desirability(x, p);
                assert!(d > 0.0 && d <= 1.0 + 1e-9, "input {i} at {x}: {d}");
            }
        }
    }
}
