//! A molecule's predictions do not depend on the batch it is in: message
//! passing goes a block of edges at a time (`model::EDGE_BLOCK`), and a
//! batch of drug-like molecules spans several blocks, with molecules cut by
//! a block's end. Each molecule predicted alone (one partial block) must
//! give what it gets inside the batch.

mod common;

use pharmforge_admet::featurize::BatchGraph;
use pharmforge_admet::model::{Workspace, EDGE_BLOCK};
use pharmforge_admet::AdmetModels;
use pharmforge_chem::Molecule;

/// Every ensemble's mean prediction for each molecule of `graph`, flattened.
fn predict(models: &AdmetModels, graph: &BatchGraph, ws: &mut Workspace) -> Vec<Vec<f32>> {
    models
        .ensembles
        .iter()
        .map(|ens| {
            let mut out = vec![0f32; graph.n_mols * ens.tasks().len()];
            for m in &ens.models {
                m.forward_accumulate(graph, ws, &mut out);
            }
            out
        })
        .collect()
}

#[test]
fn a_molecule_predicts_the_same_alone_and_across_edge_blocks_of_a_batch() {
    let models =
        AdmetModels::load(&common::models_dir()).unwrap_or_else(|e| panic!("admet-ai models not available ({e}); run scripts/lib.sh's ensure_admet_models"));
    // 40 approved drugs of 20-40 heavy atoms: ~2,500 directed bonds, ten
    // blocks, most ending inside a molecule.
    let molecules: Vec<Molecule> =
        models.drugbank.rows.iter().filter_map(|r| Molecule::from_smiles(&r["smiles"]).ok()).filter(|m| (20..=40).contains(&m.num_atoms())).take(40).collect();
    assert_eq!(molecules.len(), 40);
    let mut batch = BatchGraph::default();
    for m in &molecules {
        batch.push(m);
    }
    assert!(batch.n_edges() > 4 * EDGE_BLOCK, "the batch spans several edge blocks ({} edges)", batch.n_edges());
    let mut ws = Workspace::default();
    let together = predict(&models, &batch, &mut ws);
    for (i, m) in molecules.iter().enumerate() {
        let mut alone = BatchGraph::default();
        alone.push(m);
        let single = predict(&models, &alone, &mut ws);
        for (e, ens) in models.ensembles.iter().enumerate() {
            let t = ens.tasks().len();
            for (k, task) in ens.tasks().iter().enumerate() {
                let (a, b) = (single[e][k], together[e][i * t + k]);
                // The products' sums may be split differently for a
                // different number of rows: equal to float32 rounding.
                assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "molecule {i} ({} edges), {task}: alone {a}, in the batch {b}", alone.n_edges());
            }
        }
    }
}
