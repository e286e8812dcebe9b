//! The scaffolds adapter in process: a batch of records in, each forwarded
//! with its section (RDKit's Python scaffolds, from pharmforge-chem's
//! reference file), in order; an invalid SMILES ends its compound, a generic
//! scaffold RDKit refuses is null with a note.

use pharmforge_chem::Molecule;
use pharmforge_core::{adapter::enrich_records, AdapterName, CompoundRecord, RunId};
use pharmforge_scaffolds::Scaffolds;
use serde_json::{json, Value};

fn records(smiles: &[&str]) -> Vec<CompoundRecord> {
    let run = RunId::parse("run_0123456789abcdef").unwrap();
    smiles.iter().enumerate().map(|(i, s)| CompoundRecord::new(&run, i as u32, s.to_string(), vec![AdapterName::RdkitLocal, AdapterName::Scaffolds])).collect()
}

/// Our canonical form of a SMILES written by another RDKit ("" stays "").
fn canonical(smiles: &str) -> String {
    if smiles.is_empty() {
        String::new()
    } else {
        Molecule::from_smiles(smiles).unwrap().canonical_smiles()
    }
}

#[tokio::test]
async fn a_batch_gets_rdkits_scaffolds_in_order() {
    let reference = include_str!("../../../shared/chem/tests/data/scaffolds.rdkit.jsonl");
    // The edge cases and the CDK2 set, then a slice of the ChEMBL one.
    let wanted: Vec<Value> = reference.lines().skip(1).take(120).map(|l| serde_json::from_str(l).unwrap()).collect();
    let smiles: Vec<&str> = wanted.iter().map(|w| w["smiles"].as_str().unwrap()).collect();
    let done = enrich_records(&Scaffolds::new(), records(&smiles)).await;
    assert_eq!(done.len(), wanted.len());
    for (i, (record, want)) in done.iter().zip(&wanted).enumerate() {
        assert_eq!(record.index as usize, i, "in order");
        assert!(record.errors.is_empty() && record.fatal.is_none(), "{}: {:?}", record.smiles, record.errors);
        let got = record.section_value("scaffolds").unwrap_or_else(|| panic!("{}: no scaffolds section", record.smiles));
        assert_eq!(got["scaffold"], canonical(want["scaffold"].as_str().unwrap()), "{}", record.smiles);
        assert_eq!(got["generic_scaffold"], canonical(want["generic_scaffold"].as_str().unwrap()), "{}", record.smiles);
        assert_eq!(got["ring_systems"], want["ring_systems"], "{}", record.smiles);
    }
    let acyclic = done.iter().find(|r| r.smiles == "CCO").unwrap().section_value("scaffolds").unwrap();
    assert_eq!(acyclic, json!({"scaffold": "", "generic_scaffold": "", "ring_systems": 0}));
}

#[tokio::test]
async fn an_invalid_smiles_ends_its_compound_and_a_refused_generic_scaffold_is_null_with_a_note() {
    let done = enrich_records(&Scaffolds::new(), records(&["C1CC1(", "O=S12(CC1)CC2", "c1ccccc1CC1CC1"])).await;
    assert!(done[0].fatal.as_deref().is_some_and(|f| f.starts_with("invalid SMILES")), "{:?}", done[0]);
    assert!(!done[0].sections.contains_key("scaffolds"));
    let hypervalent = done[1].section_value("scaffolds").unwrap();
    assert_eq!(hypervalent["scaffold"], canonical("O=S12(CC1)CC2"));
    assert_eq!((&hypervalent["generic_scaffold"], &hypervalent["ring_systems"]), (&Value::Null, &json!(2)));
    assert!(hypervalent["note"].as_str().unwrap().contains("Explicit valence"), "{hypervalent}");
    assert!(done[1].errors.is_empty(), "a section with a note, not an error");
    assert_eq!(done[2].section_value("scaffolds").unwrap(), json!({"scaffold": "c1ccc(CC2CC2)cc1", "generic_scaffold": "C1CCC(CC2CC2)CC1", "ring_systems": 2}));
}
