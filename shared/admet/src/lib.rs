//! `pharmforge-admet`: ADMET-AI 2.0.1 predictions in Rust, from the package's
//! published chemprop checkpoints. No Python or torch at run time.
//!
//! * [`torch`]: a small reader for `torch.save` files (zip + pickle).
//! * [`featurize`]: chemprop 2's default atom/bond features on the RDKit bridge.
//! * [`model`]: one MPNN's batched forward pass (GEMMs via `gemm-f32`).
//! * [`drugbank`]: the approved-drug reference set and `percentileofscore`.
//! * physchem columns: the RDKit C++ functions `admet_ai/physchem.py` calls
//!   (`src/physchem.cc`), plus QED and the PAINS, Brenk and NIH alert counts
//!   (RDKit's FilterCatalog, on our matcher) from `pharmforge-chem`.
//!
//! [`AdmetModels::load`] reads the unpacked `admet_ai/resources` folder
//! (`models/admet_classification/model_{0..4}.pt`,
//! `models/admet_regression/model_{0..4}.pt`, `data/drugbank_approved.csv`);
//! [`AdmetModels::predict`] returns, per SMILES, ADMET-AI's columns and their
//! `<name>_drugbank_approved_percentile`s.

pub mod drugbank;
pub mod featurize;
pub mod model;
mod rdkit_physchem;
pub mod torch;

use drugbank::DrugBank;
use featurize::BatchGraph;
use model::{Mpnn, Workspace};
use pharmforge_chem::Molecule;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The version of ADMET-AI whose models and reference set this reproduces.
pub const ADMET_AI_VERSION: &str = "2.0.1";

/// The physchem columns, in ADMET-AI's order.
pub const PHYSCHEM_COLUMNS: [&str; 11] = [
    "molecular_weight",
    "logP",
    "hydrogen_bond_acceptors",
    "hydrogen_bond_donors",
    "Lipinski",
    "QED",
    "stereo_centers",
    "tpsa",
    "PAINS_alert",
    "BRENK_alert",
    "NIH_alert",
];

/// Suffix of percentile columns (ADMET-AI's, with no ATC filter).
pub const PERCENTILE_SUFFIX: &str = "_drugbank_approved_percentile";

/// Loading failed: which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct LoadError {
    pub path: PathBuf,
    pub reason: String,
}

/// One ensemble (5 models with the same tasks).
pub struct Ensemble {
    pub name: String,
    pub models: Vec<Mpnn>,
}

impl Ensemble {
    pub fn tasks(&self) -> &[String] {
        &self.models[0].output_columns
    }
}

/// ADMET-AI's physchem columns for one molecule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Physchem {
    pub molecular_weight: f64,
    pub logp: f64,
    pub hba: u32,
    pub hbd: u32,
    pub lipinski: f64,
    pub qed: f64,
    pub stereo_centers: u32,
    pub tpsa: f64,
    pub pains: u32,
    pub brenk: u32,
    pub nih: u32,
}

/// Physchem values rdkit_local has already computed for a molecule, with the
/// same RDKit and the same definitions: the admet_ai adapter reads them from
/// the record's `properties` section rather than computing them again.
/// `tests/reuse.rs` holds them equal to ours on every molecule we have (to
/// the last bits of a float: rdkit_local sums atom contributions in another
/// order); the stereo centres are not among them, ADMET-AI counting them
/// with RDKit's legacy perception.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct Known {
    pub molecular_weight: f64,
    pub logp: f64,
    #[serde(rename = "h_bond_acceptors")]
    pub hba: u32,
    #[serde(rename = "h_bond_donors")]
    pub hbd: u32,
    pub tpsa: f64,
    pub qed: f64,
}

impl Known {
    /// From rdkit_local's `properties` section (JSON text); `None` if a
    /// value is missing or not a number of the right kind (then everything
    /// is computed).
    pub fn from_section(json: &str) -> Option<Known> {
        serde_json::from_str(json).ok()
    }
}

impl Physchem {
    /// As admet_ai/physchem.py computes them (the molecule must parse).
    pub fn compute(mol: &Molecule) -> Result<Physchem, String> {
        Self::compute_with(mol, None)
    }

    /// [`Physchem::compute`], taking what `known` has instead of computing it.
    pub fn compute_with(mol: &Molecule, known: Option<Known>) -> Result<Physchem, String> {
        let d = rdkit_physchem::ffi::admet_physchem(mol.romol(), known.is_none()).map_err(|e| e.what().to_owned())?;
        let k = match known {
            Some(k) => k,
            None => Known { molecular_weight: d.molecular_weight, logp: d.logp, hba: d.hba, hbd: d.hbd, tpsa: d.tpsa, qed: mol.qed() },
        };
        let lipinski = [k.molecular_weight <= 500.0, k.logp <= 5.0, k.hba <= 10, k.hbd <= 5].iter().filter(|&&b| b).count() as f64;
        let alerts = mol.filter_alerts().map_err(|e| e.to_string())?;
        Ok(Physchem {
            molecular_weight: k.molecular_weight,
            logp: k.logp,
            hba: k.hba,
            hbd: k.hbd,
            lipinski,
            qed: k.qed,
            stereo_centers: d.stereo_centers,
            tpsa: k.tpsa,
            pains: alerts.pains,
            brenk: alerts.brenk,
            nih: alerts.nih,
        })
    }

    /// PAINS, Brenk and NIH counts by RDKit's `FilterCatalog::getMatches`
    /// itself, on its own parse of `smiles` (slow: for checking the counts
    /// [`Physchem::compute`] takes from `Molecule::filter_alerts`).
    pub fn filter_counts_rdkit(smiles: &str) -> Result<[u32; 3], String> {
        let c = rdkit_physchem::ffi::admet_filter_counts_rdkit(smiles).map_err(|e| e.what().to_owned())?;
        Ok([c.pains, c.brenk, c.nih])
    }

    /// `(column, value)` pairs in [`PHYSCHEM_COLUMNS`] order.
    pub fn columns(&self) -> [(&'static str, f64); 11] {
        [
            ("molecular_weight", self.molecular_weight),
            ("logP", self.logp),
            ("hydrogen_bond_acceptors", self.hba as f64),
            ("hydrogen_bond_donors", self.hbd as f64),
            ("Lipinski", self.lipinski),
            ("QED", self.qed),
            ("stereo_centers", self.stereo_centers as f64),
            ("tpsa", self.tpsa),
            ("PAINS_alert", self.pains as f64),
            ("BRENK_alert", self.brenk as f64),
            ("NIH_alert", self.nih as f64),
        ]
    }
}

/// One molecule to predict: its SMILES and, when the record carries
/// rdkit_local's section, the values [`Known`] from it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub smiles: &'a str,
    pub known: Option<Known>,
}

impl<'a> From<&'a str> for Input<'a> {
    fn from(smiles: &'a str) -> Self {
        Input { smiles, known: None }
    }
}

/// One molecule's predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub physchem: Physchem,
    /// `(task, value)` for the 31 classification then 10 regression tasks.
    pub endpoints: Vec<(String, f64)>,
}

/// The models and the reference set.
pub struct AdmetModels {
    pub ensembles: Vec<Ensemble>,
    pub drugbank: DrugBank,
    threads: usize,
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError { path: path.to_owned(), reason: format!("cannot read: {e}") })
}

/// Most molecules in one pass through the models.
pub const SUB_BATCH: usize = 64;
/// Most atoms in one pass through the models (a drug-like molecule has
/// 20-40): with [`SUB_BATCH`], what bounds a prediction thread's memory.
pub const SUB_BATCH_ATOMS: usize = 2_048;

impl AdmetModels {
    /// Loads `<dir>/models/admet_{classification,regression}/model_{0..4}.pt`
    /// and `<dir>/data/drugbank_approved.csv`.
    pub fn load(dir: &Path) -> Result<AdmetModels, LoadError> {
        let mut ensembles = Vec::new();
        for name in ["admet_classification", "admet_regression"] {
            let mut models = Vec::new();
            for i in 0..5 {
                let path = dir.join("models").join(name).join(format!("model_{i}.pt"));
                let bytes = read(&path)?;
                let model =
                    Mpnn::from_checkpoint(&bytes).map_err(|e| LoadError { path: path.clone(), reason: format!("not a usable chemprop checkpoint: {e}") })?;
                if let Some(first) = models.first() {
                    let first: &Mpnn = first;
                    if first.output_columns != model.output_columns {
                        return Err(LoadError { path, reason: "its tasks differ from model_0.pt's".into() });
                    }
                }
                models.push(model);
            }
            ensembles.push(Ensemble { name: name.to_owned(), models });
        }
        let csv_path = dir.join("data").join("drugbank_approved.csv");
        let text = String::from_utf8(read(&csv_path)?).map_err(|_| LoadError { path: csv_path.clone(), reason: "not UTF-8 text".into() })?;
        let drugbank = DrugBank::from_csv(&text).map_err(|e| LoadError { path: csv_path.clone(), reason: e })?;
        for col in PHYSCHEM_COLUMNS.iter().copied().chain(ensembles.iter().flat_map(|e| e.tasks().iter().map(String::as_str))) {
            if !drugbank.has_column(col) {
                return Err(LoadError { path: csv_path, reason: format!("no numeric column {col}") });
            }
        }
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(AdmetModels { ensembles, drugbank, threads })
    }

    /// Worker threads `predict` uses (default: the available cores).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Predictions for each SMILES (same order); an `Err` carries why that
    /// molecule could not be predicted (e.g. RDKit rejects the SMILES).
    pub fn predict(&self, smiles: &[&str]) -> Vec<Result<Prediction, String>> {
        self.predict_inputs(&smiles.iter().map(|&s| Input::from(s)).collect::<Vec<_>>())
    }

    /// [`AdmetModels::predict`], with what each molecule's record already
    /// knows.
    pub fn predict_inputs(&self, inputs: &[Input]) -> Vec<Result<Prediction, String>> {
        if inputs.is_empty() {
            return Vec::new();
        }
        let threads = self.threads.min(inputs.len());
        if threads <= 1 {
            return self.predict_serial(inputs);
        }
        // The first chunk runs on the calling thread, the others on helper
        // threads.
        let per = inputs.len().div_ceil(threads);
        let mut chunks = inputs.chunks(per);
        let first = chunks.next().unwrap_or_default();
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks.map(|chunk| s.spawn(move || self.predict_serial(chunk))).collect();
            let mut out = self.predict_serial(first);
            out.extend(handles.into_iter().flat_map(|h| h.join().expect("prediction thread panicked")));
            out
        })
    }

    /// Predictions on the calling thread only. Molecules go through the
    /// models in sub-batches of at most [`SUB_BATCH`] molecules and
    /// [`SUB_BATCH_ATOMS`] atoms (a molecule larger than that goes alone),
    /// so a thread's working memory is bounded whatever the molecules: by
    /// count alone, 64 molecules of 1,000 atoms needed about 0.65 GB.
    pub fn predict_serial(&self, inputs: &[Input]) -> Vec<Result<Prediction, String>> {
        let mut ws = Workspace::default();
        let mut out = Vec::with_capacity(inputs.len());
        let mut graph = BatchGraph::default();
        let mut slots: Vec<Result<Physchem, String>> = Vec::new();
        for input in inputs {
            let s = input.smiles;
            let parsed = Molecule::from_smiles(s).map_err(|e| e.to_string()).and_then(|mol| Physchem::compute_with(&mol, input.known).map(|p| (mol, p)));
            match parsed {
                Ok((mol, physchem)) => {
                    let full = graph.n_mols >= SUB_BATCH || graph.n_atoms() + mol.num_atoms() > SUB_BATCH_ATOMS;
                    if graph.n_mols > 0 && full {
                        self.run_models(std::mem::take(&mut graph), std::mem::take(&mut slots), &mut ws, &mut out);
                    }
                    graph.push(&mol);
                    slots.push(Ok(physchem));
                }
                Err(e) => slots.push(Err(e)),
            }
        }
        if !slots.is_empty() {
            self.run_models(graph, slots, &mut ws, &mut out);
        }
        out
    }

    /// Runs every ensemble over one sub-batch's graph and appends a
    /// prediction (or the molecule's error) per slot, in order.
    fn run_models(&self, graph: BatchGraph, slots: Vec<Result<Physchem, String>>, ws: &mut Workspace, out: &mut Vec<Result<Prediction, String>>) {
        let nm = graph.n_mols;
        let mut ens_out: Vec<Vec<f32>> = Vec::new();
        for ens in &self.ensembles {
            let t = ens.tasks().len();
            let mut acc = vec![0f32; nm * t];
            if nm > 0 {
                for m in &ens.models {
                    m.forward_accumulate(&graph, ws, &mut acc);
                }
            }
            let n = ens.models.len() as f32;
            acc.iter_mut().for_each(|x| *x /= n);
            ens_out.push(acc);
        }
        let mut j = 0;
        for slot in slots {
            out.push(slot.map(|physchem| {
                let mut endpoints = Vec::with_capacity(41);
                for (ens, acc) in self.ensembles.iter().zip(&ens_out) {
                    let t = ens.tasks().len();
                    for (k, task) in ens.tasks().iter().enumerate() {
                        endpoints.push((task.clone(), acc[j * t + k] as f64));
                    }
                }
                j += 1;
                Prediction { physchem, endpoints }
            }));
        }
    }

    /// The `admet` section for one prediction:
    /// `{properties: {...}, percentiles: {...}, model: "admet-ai 2.0.1"}`.
    pub fn section(&self, p: &Prediction) -> Value {
        let mut props = Map::new();
        let mut pct = Map::new();
        let integer_cols = ["hydrogen_bond_acceptors", "hydrogen_bond_donors", "stereo_centers", "PAINS_alert", "BRENK_alert", "NIH_alert"];
        let mut add = |name: &str, v: f64| {
            let json = if integer_cols.contains(&name) { Value::from(v as i64) } else { Value::from(v) };
            props.insert(name.to_owned(), json);
            if let Some(q) = self.drugbank.percentile(name, v) {
                pct.insert(format!("{name}{PERCENTILE_SUFFIX}"), Value::from(q));
            }
        };
        for (name, v) in p.physchem.columns() {
            add(name, v);
        }
        for (name, v) in &p.endpoints {
            add(name, *v);
        }
        let mut section = Map::new();
        section.insert("properties".into(), Value::Object(props));
        section.insert("percentiles".into(), Value::Object(pct));
        section.insert("model".into(), Value::from(format!("admet-ai {ADMET_AI_VERSION}")));
        Value::Object(section)
    }
}
