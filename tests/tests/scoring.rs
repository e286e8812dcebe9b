//! Scoring profiles against what the adapters really write: every numeric
//! field of rdkit_local's section is one a profile may name, and nothing a
//! profile may name is absent from it.

use pharmforge_core::profile::{locate, lookup, PROPERTIES_FIELDS};
use serde_json::{json, Value};

#[test]
fn the_scoring_catalogue_names_exactly_the_numeric_rdkit_properties() {
    let props = serde_json::to_value(pharmforge_chem::compute_properties("CC(=O)Oc1ccccc1C(=O)O").unwrap()).unwrap();
    let mut numeric: Vec<&str> = props.as_object().unwrap().iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k.as_str()).collect();
    let mut listed: Vec<&str> = PROPERTIES_FIELDS.to_vec();
    numeric.sort_unstable();
    listed.sort_unstable();
    assert_eq!(numeric, listed);
    let sections = json!({"properties": props});
    for name in PROPERTIES_FIELDS {
        let path = format!("properties.{name}");
        assert!(locate(&path).is_some());
        assert!(lookup(sections.as_object().unwrap(), &path).as_ref().is_some_and(Value::is_number), "{path}");
    }
}
