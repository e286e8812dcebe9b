//! Throughput of the full ADMET-AI ensemble (2 ensembles × 5 models, plus
//! physchem and featurization) on drug-sized molecules, printed as JSON.
//!
//! `cargo run --release -p pharmforge-admet --example admet_bench [-- N_MOLECULES]`
//! (models from ADMET_AI_MODELS_DIR, default <workspace>/.data/admet_ai).
//! Molecules: the DrugBank-approved set's molecules with 20–30 heavy atoms.

use pharmforge_admet::{AdmetModels, Input, Known, Physchem};
use pharmforge_chem::Molecule;
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = std::env::var_os("ADMET_AI_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.data/admet_ai")));
    let t0 = Instant::now();
    let mut models = AdmetModels::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let pool: Vec<String> = models
        .drugbank
        .rows
        .iter()
        .map(|r| r["smiles"].clone())
        .filter(|s| Molecule::from_smiles(s).map(|m| (20..=30).contains(&m.num_atoms()) && !s.contains('.')).unwrap_or(false))
        .collect();
    let smiles: Vec<&str> = pool.iter().cycle().take(n).map(String::as_str).collect();
    let mut atoms = 0usize;
    let mut bonds = 0usize;
    for s in &smiles {
        let m = Molecule::from_smiles(s).unwrap();
        atoms += m.num_atoms();
        bonds += m.num_bonds();
    }
    let mean_atoms = atoms as f64 / n as f64;
    let mean_edges = 2.0 * bonds as f64 / n as f64;
    // FLOPs per molecule per model of the dense formulation: W_i on edges,
    // W_h (depth-1 = 2 times) on edges, W_o on atoms, FFN on the molecule.
    // The model now does less (W_i and W_o's atom-feature blocks once per
    // kind of atom, W_i's bond block once per bond), but the figure keeps
    // this count, so that GFLOP/s compares across versions as speed.
    let d = 300.0;
    let flop_model = 2.0 * (mean_edges * d * 86.0 + 2.0 * mean_edges * d * d + mean_atoms * d * 372.0 + d * d + d * 41.0 / 2.0);
    let flop_mol = 10.0 * flop_model;

    // As the adapter sees them: with rdkit_local's section in the record,
    // whose physchem values it takes (computed here, outside the timings).
    let sections: Vec<String> =
        smiles.iter().map(|s| serde_json::to_string(&Molecule::from_smiles(s).unwrap().properties_without_inchi().unwrap()).unwrap()).collect();
    let inputs: Vec<Input> = smiles.iter().zip(&sections).map(|(&smiles, s)| Input { smiles, known: Known::from_section(s) }).collect();
    // The parts, single-threaded: parsing + physchem (RDKit, the alerts)
    // alone, with rdkit_local's values and without.
    let t = Instant::now();
    for input in inputs.iter().take(500) {
        let m = Molecule::from_smiles(input.smiles).unwrap();
        std::hint::black_box(Physchem::compute_with(&m, input.known).unwrap());
    }
    let physchem_us = t.elapsed().as_secs_f64() * 1e6 / smiles.len().min(500) as f64;
    let t = Instant::now();
    for s in smiles.iter().take(500) {
        let m = Molecule::from_smiles(s).unwrap();
        std::hint::black_box(Physchem::compute(&m).unwrap());
    }
    let physchem_alone_us = t.elapsed().as_secs_f64() * 1e6 / smiles.len().min(500) as f64;
    let t = Instant::now();
    for s in smiles.iter().take(500) {
        let m = Molecule::from_smiles(s).unwrap();
        std::hint::black_box(m.qed());
    }
    let qed_us = t.elapsed().as_secs_f64() * 1e6 / smiles.len().min(500) as f64;
    // The 10 models alone (featurized graphs prepared beforehand), 1 thread,
    // in batches of 32 molecules (admet-ai's default batch) and of each size
    // in ADMET_BENCH_BATCHES (e.g. "8,16,64").
    let models_only = |batch: usize| -> f64 {
        let graphs: Vec<pharmforge_admet::featurize::BatchGraph> = smiles
            .chunks(batch)
            .map(|c| {
                let mut g = pharmforge_admet::featurize::BatchGraph::default();
                for s in c {
                    g.push(&Molecule::from_smiles(s).unwrap());
                }
                g
            })
            .collect();
        let mut ws = pharmforge_admet::model::Workspace::default();
        let t = Instant::now();
        for g in &graphs {
            for ens in &models.ensembles {
                let mut out = vec![0f32; g.n_mols * ens.tasks().len()];
                for m in &ens.models {
                    m.forward_accumulate(g, &mut ws, &mut out);
                }
                std::hint::black_box(&out);
            }
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    let models_only_per_s = models_only(32);
    let by_batch: Vec<String> = std::env::var("ADMET_BENCH_BATCHES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|b| b.trim().parse::<usize>().ok().filter(|b| *b > 0))
        .map(|b| format!("\"{b}\": {:.1}", models_only(b)))
        .collect();
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    let mut results = Vec::new();
    for threads in [1, cores] {
        models.set_threads(threads);
        let _ = models.predict_inputs(&inputs[..inputs.len().min(100)]); // warm-up
        let t = Instant::now();
        let preds = models.predict_inputs(&inputs);
        let secs = t.elapsed().as_secs_f64();
        assert!(preds.iter().all(|p| p.is_ok()));
        let per_s = n as f64 / secs;
        results.push(format!(
            "{{\"threads\": {threads}, \"molecules_per_s\": {per_s:.1}, \"molecules_per_s_per_core\": {:.1}, \"gflop_per_s_per_core\": {:.1}}}",
            per_s / threads as f64,
            per_s * flop_mol / 1e9 / threads as f64
        ));
    }
    println!(
        "{{\"molecules\": {n}, \"mean_heavy_atoms\": {mean_atoms:.1}, \"mean_directed_bonds\": {mean_edges:.1}, \"models\": 10, \"mflop_per_molecule\": {:.1}, \"model_load_ms\": {load_ms:.0}, \"physchem_us_per_molecule_1_core\": {physchem_us:.0}, \"physchem_us_without_rdkit_local_values\": {physchem_alone_us:.0}, \"of_which_parse_and_qed_us\": {qed_us:.0}, \"models_only_1_core\": {{\"batch\": 32, \"molecules_per_s\": {models_only_per_s:.1}, \"gflop_per_s\": {:.1}}}, \"models_only_molecules_per_s_by_batch\": {{{}}}, \"runs\": [{}], \"peak_rss_mb\": {:.1}}}",
        flop_mol / 1e6,
        models_only_per_s * flop_mol / 1e9,
        by_batch.join(", "),
        results.join(", "),
        peak_rss_kb() as f64 / 1024.0
    );
}
