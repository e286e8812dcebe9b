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
/// A drug-like molecule takes well under a millisecond (see
/// `examples/depict_bench.rs`); the time grows with the molecule.
///
/// Errors: [`ChemError::InvalidSmiles`] as from [`Molecule::from_smiles`];
/// [`ChemError::Rdkit`] for a size outside [`SVG_SIZE_RANGE`].
pub fn depict_svg(smiles: &str, width: u32, height: u32) -> Result<String, ChemError> {
    for (name, px) in [("width", width), ("height", height)] {
        if !SVG_SIZE_RANGE.contains(&px) {
            return Err(ChemError::Rdkit(format!(
                "picture {name} {px} px is outside {}..={} px",
                SVG_SIZE_RANGE.start(),
                SVG_SIZE_RANGE.end()
            )));
        }
    }
    let mol = Molecule::from_smiles(smiles)?;
    ffi::svg_2d(mol.romol(), width, height).map_err(ChemError::rdkit)
}
