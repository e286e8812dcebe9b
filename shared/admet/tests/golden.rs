//! Golden test: our predictions for the 2,845 molecules of ADMET-AI's own
//! `drugbank_approved.csv` (the package's predictions) agree with it.
//!
//! Needs the unpacked admet-ai resources (`ADMET_AI_MODELS_DIR`, default
//! `<workspace>/.data/admet_ai`; `scripts/lib.sh ensure_admet_models` puts
//! them there). Tolerances: classification 1e-3 absolute, regression 1e-3
//! relative, physchem exact (QED 1e-4, floats 1e-6 relative), percentiles 0.1.

mod common;

use pharmforge_admet::{AdmetModels, Input, Known, PERCENTILE_SUFFIX};
use pharmforge_chem::Molecule;

/// Molecules that RDKit 2022.09 (Debian's) perceives differently from the
/// RDKit release the package's reference predictions were made with, and why.
/// Each entry is checked to still differ. 13 of 2,845 (0.46%).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // Organometallics: RDKit releases perceive dative bonds / metal valences
    // differently (H counts, hybridization), so the graph features differ and
    // every endpoint moves.
    ("[NH3]->[Pt]1(<-[NH3])[O]C(=O)C2(CCC2)C(=O)[O]1", "carboplatin: Pt complex perceived differently"),
    ("[NH3]->[Pt](<-[NH3])([Cl])[Cl]", "cisplatin: Pt complex perceived differently"),
    ("[NH3]->[Pt]1(<-[NH3])[O]CC(=O)[O]1", "nedaplatin: Pt complex perceived differently"),
    ("O=C1[O][Pt]2(<-[NH2][C@@H]3CCCC[C@H]3[NH2]->2)[O]C1=O", "oxaliplatin: Pt complex perceived differently (QED too)"),
    ("COC([CH2][197Hg+])CNC(N)=O.[Cl-]", "Hg organometallic perceived differently"),
    ("[Cl-].[Tl+]", "thallium salt perceived differently"),
    ("[Cl][201Tl]", "thallium chloride perceived differently"),
    // Atomic weight of vanadium: RDKit 2022.09's table has 50.942, later
    // releases 50.9415 (MolWt rounds it to 50.944 per atom there).
    ("[Na+].[O]=[V](=[O])[O-]", "vanadium atomic weight differs between RDKit releases"),
    ("[V]", "vanadium atomic weight differs between RDKit releases"),
    // QED of deuterated molecules: later RDKit releases treat [2H] as
    // hydrogen when removing Hs before QED; 2022.09 keeps them as atoms.
    ("[2H]C([2H])([2H])NC(=O)c1nnc(NC(=O)C2CC2)cc1Nc1cccc(-c2ncn(C)n2)c1OC", "deucravacitinib: QED with deuterium"),
    ("[2H]C([2H])([2H])Oc1cc2c(cc1OC([2H])([2H])[2H])[C@@H]1CC(=O)[C@@H](CC(C)C)CN1CC2", "deutetrabenazine: QED with deuterium"),
    // Stereo centres: newer RDKit stereo perception excludes one candidate
    // atom in these cage molecules that 2022.09's legacy code (and our
    // correction for planar nitrogens) still counts.
    (
        "COc1ccc2[nH]c3c(c2c1)CCN[C@]31CS[C@@H]2c3c(OC(C)=O)c(C)c4c(c3[C@H](COC1=O)N1[C@@H]2[C@H]2c3c(cc(C)c(OC)c3O)C[C@@H]([C@@H]1O)N2C)OCO4",
        "lurbinectedin: stereo_centers 8 vs 7",
    ),
    (
        "COc1cc2c(cc1O)CCN[C@]21CS[C@@H]2c3c(OC(C)=O)c(C)c4c(c3[C@H](COC1=O)N1[C@@H]2[C@H]2c3c(cc(C)c(OC)c3O)C[C@@H]([C@@H]1O)N2C)OCO4",
        "trabectedin: stereo_centers 8 vs 7",
    ),
];

#[test]
fn drugbank_approved_golden() {
    let dir = common::models_dir();
    let models = AdmetModels::load(&dir).unwrap_or_else(|e| panic!("admet-ai models not available ({e}); run scripts/lib.sh's ensure_admet_models"));
    let rows = &models.drugbank.rows;
    assert_eq!(rows.len(), 2845);
    // As the admet_ai adapter predicts them: with rdkit_local's section in
    // the record (as JSON), whose physchem values it takes.
    let sections: Vec<Option<String>> = rows
        .iter()
        .map(|r| Molecule::from_smiles(&r["smiles"]).and_then(|m| m.properties_without_inchi()).ok().map(|p| serde_json::to_string(&p).unwrap()))
        .collect();
    let inputs: Vec<Input> = rows
        .iter()
        .zip(&sections)
        .map(|(r, section)| Input {
            smiles: &r["smiles"],
            known: section.as_deref().map(|s| Known::from_section(s).expect("rdkit_local's section has the values")),
        })
        .collect();
    let preds = models.predict_inputs(&inputs);
    let class_tasks: Vec<String> = models.ensembles[0].tasks().to_vec();
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut max_class = 0f64;
    let mut max_reg = 0f64;
    let mut max_pct = 0f64;
    let mut crossed_pct = 0usize;
    let mut needed_floor = 0usize;
    let (mut floor_max_abs, mut floor_max_delta) = (0f64, 0f64);
    for (row, pred) in rows.iter().zip(&preds) {
        let smi = &row["smiles"];
        let pred = match pred {
            Ok(p) => p,
            Err(e) => {
                failures.push((smi.clone(), format!("not predicted: {e}")));
                continue;
            }
        };
        let known = KNOWN_DIFFERENCES.iter().any(|(k, _)| k == smi);
        let mut bad = Vec::new();
        let section = models.section(pred);
        for (name, v) in pred.physchem.columns().iter().map(|(n, v)| (n.to_string(), *v)).chain(pred.endpoints.iter().cloned()) {
            let want: f64 = row[&name].parse().unwrap();
            let ok = if name == "QED" {
                (v - want).abs() <= 1e-4
            } else if class_tasks.contains(&name) {
                if !known {
                    max_class = max_class.max((v - want).abs());
                }
                (v - want).abs() <= 1e-3
            } else if pred.endpoints.iter().any(|(n, _)| *n == name) {
                // relative 1e-3, with an absolute floor of 1e-5 for values near 0
                let rel = (v - want).abs() / want.abs().max(1e-2);
                if !known {
                    max_reg = max_reg.max(rel);
                }
                (v - want).abs() <= 1e-3 * want.abs() + 1e-5
            } else {
                (v - want).abs() <= 1e-6 * want.abs().max(1.0)
            };
            if !ok {
                bad.push(format!("{name}: ours {v} vs {want}"));
            }
            let ours = section["percentiles"][format!("{name}{PERCENTILE_SUFFIX}")].as_f64().unwrap();
            let theirs = models.drugbank.percentile(&name, want).unwrap();
            if !known && (ours - theirs).abs() <= 0.1 {
                max_pct = max_pct.max((ours - theirs).abs());
            }
            // A value within tolerance of the reference can still sit on the
            // other side of some approved drugs' values (probabilities near 0
            // or 1 crowd together), which moves the rank. A percentile off by
            // more than 0.1 is accepted only then: when at least one
            // reference value lies between ours and the package's.
            let (lo, hi) = (v.min(want), v.max(want));
            let crossed = models.drugbank.values_within(&name, lo, hi).unwrap() > 0;
            if (ours - theirs).abs() > 0.1 {
                if crossed && ok {
                    crossed_pct += 1;
                } else {
                    bad.push(format!("{name} percentile: ours {ours} vs {theirs}"));
                }
            }
            if ok && !crossed && ours != theirs {
                bad.push(format!("{name} percentile: ours {ours} vs {theirs} though no reference value lies between {v} and {want}"));
            }
            if ok && !known && (v - want).abs() > 1e-3 * want.abs() {
                needed_floor += 1;
                floor_max_abs = floor_max_abs.max(want.abs());
                floor_max_delta = floor_max_delta.max((v - want).abs());
            }
        }
        if !bad.is_empty() {
            failures.push((smi.clone(), bad.join("; ")));
        }
    }
    eprintln!(
        "golden: {} of {} molecules match; max |Δ| classification {max_class:.2e}, max relative Δ regression {max_reg:.2e} (both over the molecules not listed below), max percentile Δ among those within 0.1: {max_pct:.3}; {crossed_pct} percentiles off by > 0.1 because our value (within tolerance) and the package's lie on either side of some approved drug's value; {needed_floor} regression values within tolerance only by the 1e-5 absolute floor (reference |value| at most {floor_max_abs:.2e}, |Δ| at most {floor_max_delta:.2e})",
        rows.len() - failures.len(),
        rows.len()
    );
    for (smi, why) in &failures {
        eprintln!("DIFF {smi}\n    {why}");
    }
    let unexpected: Vec<_> = failures.iter().filter(|(s, _)| !KNOWN_DIFFERENCES.iter().any(|(k, _)| k == s)).collect();
    assert!(unexpected.is_empty(), "{} molecules differ beyond tolerance (see stderr)", unexpected.len());
    for (k, why) in KNOWN_DIFFERENCES {
        assert!(failures.iter().any(|(s, _)| s == k), "listed difference no longer differs: {k} ({why})");
    }
    assert!(KNOWN_DIFFERENCES.len() * 200 < rows.len(), "more than 0.5% of molecules differ");
}
