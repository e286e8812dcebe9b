//! The PAINS, Brenk and NIH alert counts alone, per molecule, one thread:
//! `Molecule::filter_alerts` (our matcher) against RDKit's own
//! `FilterCatalog::getMatches` on the same parsed molecules, over the 1,017
//! ChEMBL c-Met reference molecules, after a warm-up pass (which also builds
//! the catalogs). System allocator, as the ADMET service runs.
//!
//! `cargo run --release -p pharmforge-chem --example filter_bench [-- REPS [ours]]`
//! (`ours`: skip the check and RDKit's timing, e.g. under a profiler) prints `{"molecules": N, "alerts_us_per_molecule": X, "rdkit_filter_catalog_us_per_molecule": Y, ...}`
//! and `first_call_ms`, which includes compiling the catalogs' queries.

use pharmforge_chem::Molecule;
mod common;
use common::reference_smiles;
use std::time::Instant;

fn main() {
    let reps: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let mols: Vec<Molecule> = reference_smiles().iter().filter_map(|s| Molecule::from_smiles(s).ok()).collect();
    let n = mols.len();
    // the first call compiles the catalogs' queries
    let start = Instant::now();
    mols[0].filter_alerts().unwrap();
    let first_call_ms = start.elapsed().as_secs_f64() * 1e3;
    let only_ours = std::env::args().nth(2).is_some_and(|a| a == "ours");
    // warm-up, and the two must agree
    for m in &mols {
        let counts = m.filter_alerts().unwrap();
        if !only_ours {
            assert_eq!(counts, m.filter_alerts_rdkit().unwrap());
        }
    }
    let time = |f: &dyn Fn(&Molecule) -> [u32; 3]| {
        let start = Instant::now();
        for _ in 0..reps {
            for m in &mols {
                std::hint::black_box(f(m));
            }
        }
        start.elapsed().as_secs_f64() * 1e6 / (reps * n) as f64
    };
    let ours = time(&|m| m.filter_alerts().unwrap().to_array());
    let rdkit = if only_ours { f64::NAN } else { time(&|m| m.filter_alerts_rdkit().unwrap().to_array()) };
    println!(
        "{}",
        serde_json::json!({
            "molecules": n,
            "reps": reps,
            "first_call_ms": (first_call_ms * 10.0).round() / 10.0,
            "alerts_us_per_molecule": (ours * 10.0).round() / 10.0,
            "rdkit_filter_catalog_us_per_molecule": (rdkit * 10.0).round() / 10.0,
            "rdkit": pharmforge_chem::rdkit_version(),
        })
    );
}
