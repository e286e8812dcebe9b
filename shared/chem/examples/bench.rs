//! Throughput of `Molecule::from_smiles` + `properties()` over the 1,017
//! ChEMBL c-Met reference molecules, one thread, after one warm-up pass.
//!
//! `cargo run --release -p pharmforge-chem --example bench` prints
//! `{"molecules": N, "us_per_molecule": X, "us_per_molecule_without_inchi": Y, ...}`
//! where X includes parsing, every property, QED and InChI, and Y skips InChI.
//! `threads_2_molecules_per_s` is the same full work split over 2 threads.

use pharmforge_chem::Molecule;
mod common;
use common::reference_smiles;
use std::time::Instant;

/// mimalloc for Rust and, through its `override` feature, for RDKit's C++
/// and the InChI library too (they allocate per atom and per bond).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run(smiles: &[String], with_inchi: bool) -> usize {
    let mut ok = 0;
    for s in smiles {
        let Ok(m) = Molecule::from_smiles(s) else {
            continue;
        };
        let p = if with_inchi { m.properties() } else { m.properties_without_inchi() };
        if p.is_ok() {
            ok += 1;
        }
    }
    ok
}

fn time_per_molecule(smiles: &[String], with_inchi: bool, reps: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(run(smiles, with_inchi));
    }
    start.elapsed().as_secs_f64() * 1e6 / (reps * smiles.len()) as f64
}

fn main() {
    let smiles = reference_smiles();
    let n = smiles.len();
    assert_eq!(run(&smiles, true), n, "every reference molecule must compute");
    let reps = 3;
    let with = time_per_molecule(&smiles, true, reps);
    let without = time_per_molecule(&smiles, false, reps);

    let start = Instant::now();
    let (a, b) = smiles.split_at(n / 2);
    std::thread::scope(|s| {
        for part in [a, b] {
            s.spawn(move || {
                for _ in 0..reps {
                    std::hint::black_box(run(part, true));
                }
            });
        }
    });
    let per_s_2 = (reps * n) as f64 / start.elapsed().as_secs_f64();

    println!(
        "{}",
        serde_json::json!({
            "molecules": n,
            "us_per_molecule": (with * 10.0).round() / 10.0,
            "us_per_molecule_without_inchi": (without * 10.0).round() / 10.0,
            "threads_2_molecules_per_s": per_s_2.round(),
            "rdkit": pharmforge_chem::rdkit_version(),
        })
    );
}
