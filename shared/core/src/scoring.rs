//! Per-compound scores, each normalised to 0..1 (higher is better), and the
//! final score: their mean. Computed by the aggregator from whatever sections a
//! compound has; the rank within a run follows the final score.
//!
//! * `qed`: RDKit's quantitative estimate of drug-likeness (already 0..1).
//! * `lipinski`: 1 − violations/4 of Lipinski's rule of five.
//! * `admet_safety`: 1 − mean probability of the toxicity endpoints ADMET-AI
//!   predicts (AMES, hERG, DILI, ClinTox), when the admet section is present.

use serde_json::{Map, Value};

const TOXICITY_ENDPOINTS: [&str; 4] = ["AMES", "hERG", "DILI", "ClinTox"];

pub struct Scores {
    pub scores: Map<String, Value>,
    pub final_score: Option<f64>,
}

pub fn score(sections: &Map<String, Value>) -> Scores {
    let mut scores = Map::new();
    if let Some(props) = sections.get("properties") {
        if let Some(qed) = props.get("qed").and_then(Value::as_f64) {
            scores.insert("qed".into(), qed.clamp(0.0, 1.0).into());
        }
        if let Some(v) = props.get("lipinski_violations").and_then(Value::as_f64) {
            scores.insert("lipinski".into(), (1.0 - v / 4.0).clamp(0.0, 1.0).into());
        }
    }
    if let Some(predictions) = sections.get("admet").and_then(|a| a.get("properties")) {
        let probs: Vec<f64> = TOXICITY_ENDPOINTS
            .iter()
            .filter_map(|k| predictions.get(*k).and_then(Value::as_f64))
            .collect();
        if !probs.is_empty() {
            let mean = probs.iter().sum::<f64>() / probs.len() as f64;
            scores.insert("admet_safety".into(), (1.0 - mean).clamp(0.0, 1.0).into());
        }
    }
    let values: Vec<f64> = scores.values().filter_map(Value::as_f64).collect();
    let final_score = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    Scores { scores, final_score }
}

/// [`score`] of a record's sections as carried (JSON text): parses only the
/// two sections scores come from.
pub fn score_sections(sections: &std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>) -> Scores {
    let parsed: Map<String, Value> = ["properties", "admet"]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), serde_json::from_str(sections.get(*name)?.get()).ok()?)))
        .collect();
    score(&parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn final_score_is_the_mean_of_the_available_scores() {
        let sections = json!({"properties": {"qed": 0.5, "lipinski_violations": 2}});
        let s = score(sections.as_object().unwrap());
        assert_eq!(s.scores["qed"], json!(0.5));
        assert_eq!(s.scores["lipinski"], json!(0.5));
        assert_eq!(s.final_score, Some(0.5));
        let s = score(json!({"admet": {"properties": {"AMES": 0.2, "hERG": 0.4}}}).as_object().unwrap());
        assert!((s.final_score.unwrap() - 0.7).abs() < 1e-12);
    }

    #[test]
    fn a_compound_without_sections_has_no_score() {
        assert_eq!(score(&Map::new()).final_score, None);
    }
}
