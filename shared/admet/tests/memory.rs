//! A batch of the largest molecules the pipeline accepts stays under a
//! stated memory ceiling: sub-batches are bounded by atoms, not only by
//! count (64 molecules of 1,000 atoms in one pass needed ~0.65 GB, past the
//! service's 512 MiB limit, and each redelivery repeated it).
//!
//! Peak RSS is the process's own (nextest runs each test in a process of its
//! own); it is reset after the models are loaded, so it measures prediction.

mod common;

use pharmforge_admet::AdmetModels;

/// The most a prediction of any batch may add to the process (two threads,
/// each with at most `SUB_BATCH_ATOMS` atoms in a pass: about 20 MB each).
const CEILING_MB: f64 = 90.0;

fn status_kb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_batch_of_20_molecules_of_600_atoms_stays_under_the_memory_ceiling() {
    let mut models = AdmetModels::load(&common::models_dir()).expect("admet-ai models (scripts/lib.sh ensure_admet_models)");
    models.set_threads(2);
    // Chains with a ring and an oxygen: 600 heavy atoms each. In one pass
    // per thread (10 each, 6,000 atoms) they needed about 120 MB.
    let smiles: Vec<String> = (0..20).map(|i| format!("c1ccccc1{}O{}", "C".repeat(590 - (i % 5)), "C".repeat(i % 5))).collect();
    let refs: Vec<&str> = smiles.iter().map(String::as_str).collect();
    // Warm the allocator and the workspace once, then measure from here.
    let _ = models.predict(&refs[..2]);
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
    let before = status_kb("VmRSS:");
    let out = models.predict(&refs);
    let peak_mb = (status_kb("VmHWM:") - before) / 1024.0;
    eprintln!("{{\"molecules\": 20, \"atoms_each\": 600, \"peak_added_mb\": {peak_mb:.1}}}");
    assert_eq!(out.len(), 20);
    assert!(out.iter().all(Result::is_ok), "{:?}", out.iter().find(|r| r.is_err()));
    assert!(peak_mb < CEILING_MB, "predicting added {peak_mb:.0} MB at its peak; the ceiling is {CEILING_MB} MB");
}
