//! The adapter takes the physchem values rdkit_local put in the record
//! instead of computing them: a record whose `properties` section says
//! otherwise than RDKit gets the record's values in its `admet` section (the
//! stereo centres and alerts, which rdkit_local does not give the same way,
//! stay ADMET-AI's own), and a record without that section gets RDKit's.

use pharmforge_admet_ai::enrich_batch;
use pharmforge_core::{AdapterName, CompoundRecord, RunId};
use serde_json::json;
use std::path::PathBuf;

#[test]
fn the_adapter_takes_rdkit_locals_values_from_the_record() {
    let dir =
        std::env::var_os("ADMET_AI_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.data/admet_ai"));
    let models = pharmforge_admet::AdmetModels::load(&dir).expect("admet-ai resources present (scripts/lib.sh's ensure_admet_models)");
    let run = RunId::new_random();
    let aspirin = "CC(=O)Oc1ccccc1C(=O)O";
    let route = vec![AdapterName::RdkitLocal, AdapterName::AdmetAi];
    let mut with = CompoundRecord::new(&run, 0, aspirin.into(), route.clone());
    // Not aspirin's values: only the record can have put them there.
    with.set_section(
        AdapterName::RdkitLocal,
        json!({"molecular_weight": 555.5, "logp": 6.5, "h_bond_acceptors": 11, "h_bond_donors": 6, "tpsa": 1.25, "qed": 0.125, "stereo_centers": 7}),
    );
    let without = CompoundRecord::new(&run, 1, aspirin.into(), route);
    let mut batch = vec![with, without];
    enrich_batch(&models, &mut batch);
    let props = |r: &CompoundRecord| r.section_value("admet").expect("an admet section")["properties"].clone();
    let (reused, computed) = (props(&batch[0]), props(&batch[1]));
    assert_eq!(reused["molecular_weight"], 555.5);
    assert_eq!(reused["logP"], 6.5);
    assert_eq!(reused["hydrogen_bond_acceptors"], 11);
    assert_eq!(reused["hydrogen_bond_donors"], 6);
    assert_eq!(reused["tpsa"], 1.25);
    assert_eq!(reused["QED"], 0.125);
    assert_eq!(reused["Lipinski"], 0.0, "every rule broken by the record's values");
    assert_eq!(reused["stereo_centers"], computed["stereo_centers"], "stereo centres are ADMET-AI's own count");
    assert!((computed["molecular_weight"].as_f64().unwrap() - 180.159).abs() < 1e-3, "{computed}");
    assert_eq!(computed["Lipinski"], 4.0);
}
