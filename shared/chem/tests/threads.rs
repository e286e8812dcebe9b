//! Many threads, each with its own molecules, sharing `SmartsPattern`s (plain
//! and recursive) and the crate's built-in patterns (QED, Crippen, HBA): the
//! results must equal the single-threaded ones. This is what the services do
//! (one molecule per task, patterns in statics), and it checks the claim that
//! RDKit's SubstructMatch is safe on shared const queries in this build.

use pharmforge_chem::{Molecule, Properties, SmartsPattern};
use std::path::PathBuf;
use std::sync::Arc;

fn reference_smiles() -> Vec<String> {
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference");
    let dir = match std::env::var_os("PHARMFORGE_REFERENCE_DIR") {
        Some(d) if !default.is_dir() => PathBuf::from(d),
        _ => default,
    };
    let text = std::fs::read_to_string(dir.join("chembl_cmet_1017.rdkit.jsonl")).expect("reference file");
    text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["smiles"].as_str().unwrap().to_owned()).collect()
}

const PATTERNS: &[&str] = &["c1ccccc1", "[#7]", "[$(C=O)]", "[$([NX3;H2,H1;!$(NC=O)]),$([OH])]", "C(=O)N", "[R2]", "S(=O)(=O)N"];

fn work(smiles: &[String], patterns: &[SmartsPattern]) -> Vec<(Properties, Vec<usize>)> {
    smiles
        .iter()
        .map(|s| {
            let m = Molecule::from_smiles(s).expect("reference molecule parses");
            let counts = patterns.iter().map(|p| m.substruct_match_count(p, true)).collect();
            (m.properties().expect("properties"), counts)
        })
        .collect()
}

#[test]
fn concurrent_molecules_with_shared_patterns_match_sequential_results() {
    let smiles: Vec<String> = reference_smiles().into_iter().take(400).collect();
    let patterns: Arc<Vec<SmartsPattern>> = Arc::new(PATTERNS.iter().map(|s| SmartsPattern::new(s).unwrap()).collect());
    let expected = work(&smiles, &patterns);

    let threads = 8;
    let smiles = Arc::new(smiles);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (smiles, patterns) = (Arc::clone(&smiles), Arc::clone(&patterns));
            std::thread::spawn(move || {
                // Every thread walks all molecules, starting at a different
                // offset, so that the same patterns are in use concurrently.
                let n = smiles.len();
                let rotated: Vec<String> = (0..n).map(|i| smiles[(i + t * n / threads) % n].clone()).collect();
                (t, work(&rotated, &patterns))
            })
        })
        .collect();
    for h in handles {
        let (t, got) = h.join().expect("worker thread panicked");
        let n = expected.len();
        for (i, g) in got.iter().enumerate() {
            let want = &expected[(i + t * n / threads) % n];
            assert_eq!(g, want, "thread {t}, molecule {}", (i + t * n / threads) % n);
        }
    }
}

#[test]
fn molecules_move_between_threads() {
    let smiles = reference_smiles();
    let mols: Vec<Molecule> = smiles.iter().take(50).map(|s| Molecule::from_smiles(s).unwrap()).collect();
    let want: Vec<String> = mols.iter().map(|m| m.canonical_smiles()).collect();
    let (tx, rx) = std::sync::mpsc::channel::<Molecule>();
    let consumer = std::thread::spawn(move || rx.iter().map(|m| m.canonical_smiles()).collect::<Vec<_>>());
    for m in mols {
        tx.send(m).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), want);
}

/// `Molecule::filter_alerts` from many threads at once (one shared set of
/// catalog queries, built by whichever thread comes first) equals the
/// single-threaded counts and RDKit's own; the large molecules take the
/// paths that ask RDKit (embedding limits) concurrently too.
#[test]
fn concurrent_filter_alerts_match_sequential_results() {
    let mut smiles: Vec<String> = reference_smiles().into_iter().take(300).collect();
    smiles.push("C".repeat(600));
    smiles.push("c1ccc2ccccc2c1C1CCCCC1".repeat(20));
    let threads = 6;
    let smiles = Arc::new(smiles);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let smiles = Arc::clone(&smiles);
            std::thread::spawn(move || {
                let n = smiles.len();
                (0..n)
                    .map(|i| {
                        let k = (i + t * n / threads) % n;
                        (k, Molecule::from_smiles(&smiles[k]).unwrap().filter_alerts().unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let got: Vec<_> = handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect();
    for (k, s) in smiles.iter().enumerate() {
        let m = Molecule::from_smiles(s).unwrap();
        let want = m.filter_alerts().unwrap();
        assert_eq!(want, m.filter_alerts_rdkit().unwrap(), "{s}");
        for per_thread in &got {
            let &(_, counts) = per_thread.iter().find(|(i, _)| *i == k).unwrap();
            assert_eq!(counts, want, "{s}");
        }
    }
}
