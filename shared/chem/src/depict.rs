//! [`depict_svg`]: a structure picture for the API, by RDKit's MolDraw2DSVG.

use crate::{ffi, ChemError, Molecule};
use std::ops::RangeInclusive;

/// The widths and heights, in pixels, [`depict_svg`] draws. Below 16 pixels
/// nothing is recognisable; above 2048 a picture is only bigger, not clearer
/// (it is a vector drawing) and RDKit's fonts and line widths stop scaling.
pub const SVG_SIZE_RANGE: RangeInclusive<u32> = 16..=2048;

/// An SVG picture of the molecule from RDKit's MolDraw2DSVG (2D coordinates
/// from the depictor, as in [`sd_record_2d`](crate::sd_record_2d)), `width` x
/// `height` pixels, each within [`SVG_SIZE_RANGE`]. The text starts with
/// `<?xml`; atom labels are SVG `<text>` in the viewer's sans-serif font.
/// Same input, same bytes.
///
/// Cost: under a millisecond of one core for a drug-like molecule, SMILES
/// parsing included (`examples/depict_bench.rs`), but it grows faster than
/// the atom count: ~0.4 s for a 280-atom peptide, ~3.5 s for a 999-atom chain
/// (the depictor's collision checks). Call it off the async runtime (e.g.
/// `spawn_blocking`), and cache: same input, same bytes.
///
/// Errors: [`ChemError::InvalidSmiles`] as from [`Molecule::from_smiles`];
/// [`ChemError::Rdkit`] for a size outside [`SVG_SIZE_RANGE`].
pub fn depict_svg(smiles: &str, width: u32, height: u32) -> Result<String, ChemError> {
    for (name, px) in [("width", width), ("height", height)] {
        if !SVG_SIZE_RANGE.contains(&px) {
            return Err(ChemError::Rdkit(format!("picture {name} {px} px is outside {}..={} px", SVG_SIZE_RANGE.start(), SVG_SIZE_RANGE.end())));
        }
    }
    let mol = Molecule::from_smiles(smiles)?;
    ffi::svg_2d(mol.romol(), width, height).map_err(ChemError::rdkit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The ChEMBL reference molecules, the stereo and charged test set, and
    /// a few that take MolDraw2D's rarer paths (dative and unknown-stereo
    /// bonds, radicals, isotopes, enhanced stereo labels, query-like atoms).
    fn molecules() -> Vec<String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let reference = root.join("../../../shared/data/reference/chembl_cmet_1017.rdkit.jsonl");
        let mut out: Vec<String> = std::fs::read_to_string(&reference)
            .unwrap_or_else(|e| panic!("{}: {e}", reference.display()))
            .lines()
            .filter_map(|l| {
                let at = l.find("\"smiles\": \"")? + 11;
                Some(l[at..at + l[at..].find('"')?].to_owned())
            })
            .collect();
        let made = std::fs::read_to_string(root.join("tests/data/stereo_charged.smi")).unwrap();
        out.extend(made.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).map(str::to_owned));
        out.extend(
            [
                "[NH3]->[Pt](<-[NH3])(Cl)Cl",
                "C/C=C/C=C(/C)C",
                "CC=C(C)CC",
                "[CH3]",
                "[13CH3]C(=O)O",
                "C[C@H](N)C(=O)O |&1:1|",
                "C[C@H](O)[C@@H](C)N |o1:1,&2:3|",
                "*c1ccccc1",
                "[Na+].[Cl-]",
                "F/C=C/F",
                "O=[N+]([O-])c1ccccc1",
            ]
            .map(str::to_owned),
        );
        out
    }

    #[test]
    fn pictures_are_those_of_rdkit_moldraw2dsvg_byte_for_byte() {
        let mut differ = Vec::new();
        let all = molecules();
        assert!(all.len() > 1100, "{}", all.len());
        for (i, s) in all.iter().enumerate() {
            let m = Molecule::from_smiles(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            // Sizes vary so that line widths and font sizes do too.
            let (w, h) = [(300, 300), (120, 90), (800, 450)][i % 3];
            let ours = ffi::svg_2d(m.romol(), w, h).unwrap();
            let rdkit = ffi::svg_2d_rdkit(m.romol(), w, h).unwrap();
            if ours != rdkit {
                differ.push(s.as_str());
            }
        }
        assert!(differ.is_empty(), "{} differ: {differ:?}", differ.len());
    }
}
