//! Scoring profiles against what the adapters really write (every numeric
//! field of rdkit_local's section is one a profile may name, and nothing a
//! profile may name is absent from it), and end to end: runs scored by
//! their profiles, rescored, and bad profiles refused.

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

// ---------------------------------------------------------------------------
// End to end: a run scored by its own profile, then rescored by another.
// The expected scores, fronts and ranks are computed here from the raw
// values the run stored, with the published formulas written out again
// (not with the service's code).

use pharmforge_tests::Stack;
use std::time::Duration;

/// REINVENT 4's sigmoid: 1 / (1 + 10^(−10·k/(high − low) · (x − (high + low)/2))).
fn sigmoid(x: f64, low: f64, high: f64, k: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf(-10.0 * k / (high - low) * (x - (high + low) / 2.0)))
}

/// REINVENT 4's double sigmoid with coef_div, coef_si, coef_se.
fn double_sigmoid(x: f64, low: f64, high: f64, div: f64, si: f64, se: f64) -> f64 {
    let a = 10f64.powf(si * (x - low) / div);
    let b = 10f64.powf(se * (x - high) / div);
    if x < (high - low) / 2.0 + low {
        a / (1.0 + a)
    } else {
        1.0 - b / (1.0 + b)
    }
}

/// Competition ranks of `keys` (smaller is better), `None` unranked.
fn expected_ranks<K: PartialOrd + Copy>(keys: &[Option<K>]) -> Vec<Option<u64>> {
    keys.iter().map(|k| k.map(|k| 1 + keys.iter().filter(|o| o.is_some_and(|o| o < k)).count() as u64)).collect()
}

/// Fronts by peeling: front 1 is every point no other dominates, and so on.
fn expected_fronts(points: &[Vec<f64>]) -> Vec<u64> {
    let dominates = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y);
    let mut front = vec![0u64; points.len()];
    let mut level = 0;
    while front.contains(&0) {
        level += 1;
        let left: Vec<usize> = (0..points.len()).filter(|&i| front[i] == 0).collect();
        let this: Vec<usize> = left.iter().copied().filter(|&i| !left.iter().any(|&j| dominates(&points[j], &points[i]))).collect();
        for i in this {
            front[i] = level;
        }
    }
    front
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} != {b}");
}

fn prop(r: &Value, name: &str) -> f64 {
    r["properties"][name].as_f64().unwrap_or_else(|| panic!("properties.{name} in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ranks_by_its_profile_and_a_rescore_reranks_it_as_computed_from_the_stored_values() {
    let stack = Stack::start(&["rdkit_local"]).await;
    let mut smiles = pharmforge_tests::distinct_molecules(40, &["c1ccccc1", "C1CCNCC1"]);
    // Copies score the same: ties share a rank.
    smiles.push(smiles[0].clone());
    smiles.push(smiles[1].clone());
    smiles.push("C1CC".into()); // RDKit cannot read it: no score, unranked
    let first = json!({"method": "weighted_mean", "objectives": [
        {"name": "logp", "value": "properties.logp", "transform": {"type": "double_sigmoid", "low": 1, "high": 3, "coef_div": 10, "coef_si": 10, "coef_se": 10}},
        {"name": "tpsa", "value": "properties.tpsa", "transform": {"type": "reverse_sigmoid", "low": 20, "high": 80, "k": 0.5}, "weight": 2},
        {"name": "qed", "value": "properties.qed", "transform": {"type": "identity"}, "weight": 0.5},
    ]});
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"], "scoring": first}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run["scoring_history"].as_array().map(Vec::len), Some(1), "{run}");
    let done = stack.wait_finished(&run_id, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "completed", "{done}");

    let results = stack.all_results(&run_id).await;
    assert_eq!(results.len(), smiles.len());
    let scores: Vec<Option<f64>> = results
        .iter()
        .map(|r| {
            r["properties"].is_object().then(|| {
                let d = [double_sigmoid(prop(r, "logp"), 1.0, 3.0, 10.0, 10.0, 10.0), 1.0 - sigmoid(prop(r, "tpsa"), 20.0, 80.0, 0.5), prop(r, "qed")];
                (d[0] + 2.0 * d[1] + 0.5 * d[2]) / 3.5
            })
        })
        .collect();
    let ranks = expected_ranks(&scores.iter().map(|s| s.map(|s| -s)).collect::<Vec<_>>());
    for ((r, want), rank) in results.iter().zip(&scores).zip(&ranks) {
        match want {
            Some(w) => close(r["final_score"].as_f64().expect("a final score"), *w, &format!("final score of {}", r["smiles"])),
            None => assert!(r["final_score"].is_null(), "{r}"),
        }
        assert_eq!(r["rank"].as_u64(), *rank, "rank of {}", r["smiles"]);
        assert!(r.get("pareto_front").is_none(), "no fronts without a Pareto profile: {r}");
    }
    let last = results.len() - 1;
    assert_eq!(results[0]["rank"], results[last - 2]["rank"], "a copy shares its original's rank");
    // The score explains itself: raw value, desirability, weight.
    let parts = results[0]["score_parts"].as_array().expect("score parts");
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[1]["name"].as_str(), parts[1]["value"].as_str(), parts[1]["weight"].as_f64()), (Some("tpsa"), Some("properties.tpsa"), Some(2.0)));
    assert_eq!(parts[1]["raw"].as_f64(), Some(prop(&results[0], "tpsa")));
    close(parts[1]["desirability"].as_f64().unwrap(), 1.0 - sigmoid(prop(&results[0], "tpsa"), 20.0, 80.0, 0.5), "tpsa desirability");
    close(results[0]["scores"]["logp"].as_f64().unwrap(), double_sigmoid(prop(&results[0], "logp"), 1.0, 3.0, 10.0, 10.0, 10.0), "scores.logp");

    // Read before the rescore, so any cache of the old ranking is warm.
    let (_, before) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    assert!(before["results"]["compounds"][0]["rank"].is_u64(), "{before}");
    let (_, browse_before) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=final_score&order=desc&page_size=100")).await;
    assert!(browse_before["results"].is_array());

    // Rescore: Pareto fronts of three objectives, the weighted mean inside a front.
    let second = json!({"method": "pareto", "objectives": [
        {"name": "qed", "value": "properties.qed", "transform": {"type": "identity"}},
        {"name": "fsp3", "value": "properties.fraction_csp3", "transform": {"type": "identity"}, "weight": 3},
        {"name": "small", "value": "properties.molecular_weight", "transform": {"type": "reverse_sigmoid", "low": 150, "high": 350, "k": 0.5}},
    ]});
    let (status, rescored) = stack.post_json(&format!("/api/v1/runs/{run_id}/rescore"), json!({"scoring": second})).await;
    assert_eq!(status, 200, "{rescored}");
    assert_eq!(rescored["rescored"]["compounds"].as_u64(), Some(smiles.len() as u64), "{rescored}");
    assert_eq!(rescored["rescored"]["ranked"].as_u64(), Some(smiles.len() as u64 - 1), "{rescored}");
    let history = rescored["scoring_history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["profile"]["method"], "pareto");
    assert!(history[1]["applied_at"].is_string() && history[0]["applied_at"].is_string());

    let results = stack.all_results(&run_id).await;
    let points: Vec<Option<Vec<f64>>> = results
        .iter()
        .map(|r| {
            r["properties"].is_object().then(|| vec![prop(r, "qed"), prop(r, "fraction_csp3"), 1.0 - sigmoid(prop(r, "molecular_weight"), 150.0, 350.0, 0.5)])
        })
        .collect();
    let scored: Vec<usize> = (0..points.len()).filter(|&i| points[i].is_some()).collect();
    let fronts_of_scored = expected_fronts(&scored.iter().map(|&i| points[i].clone().unwrap()).collect::<Vec<_>>());
    let mut fronts = vec![None; points.len()];
    for (&i, f) in scored.iter().zip(fronts_of_scored) {
        fronts[i] = Some(f);
    }
    let means: Vec<Option<f64>> = points.iter().map(|p| p.as_ref().map(|d| (d[0] + 3.0 * d[1] + d[2]) / 5.0)).collect();
    // Front first, then the higher mean (a key compared as (front, −mean)).
    let keys: Vec<Option<(u64, f64)>> = fronts.iter().zip(&means).map(|(f, m)| Some(((*f)?, -(*m)?))).collect();
    let ranks = expected_ranks(&keys);
    assert!(fronts.iter().flatten().any(|&f| f > 1), "the example has more than one front");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["pareto_front"].as_u64(), fronts[i], "front of {}", r["smiles"]);
        assert_eq!(r["rank"].as_u64(), ranks[i], "rank of {}", r["smiles"]);
        if let Some(m) = means[i] {
            close(r["final_score"].as_f64().unwrap(), m, "weighted mean inside the front");
            assert_eq!(r["scores"].as_object().map(|s| s.len()), Some(3), "{r}");
        }
    }

    // Everything that shows ranks follows the new profile: the run's inline
    // compounds, pages in rank order, browsing by score, the export.
    let (_, after) = stack.get_json(&format!("/api/v1/runs/{run_id}")).await;
    for c in after["results"]["compounds"].as_array().unwrap() {
        let i = c["index"].as_u64().unwrap() as usize;
        assert_eq!(c["rank"].as_u64(), ranks[i], "inline compound {i} after the rescore");
    }
    let (_, page) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=rank&page_size=7&page=2")).await;
    let shown: Vec<Option<u64>> = page["results"].as_array().unwrap().iter().map(|r| r["rank"].as_u64()).collect();
    let mut by_rank: Vec<(u64, usize)> = ranks.iter().enumerate().filter_map(|(i, r)| Some(((*r)?, i))).collect();
    by_rank.sort_unstable();
    assert_eq!(shown, by_rank[7..14].iter().map(|(r, _)| Some(*r)).collect::<Vec<_>>());
    let (_, browse_after) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=final_score&order=desc&page_size=100")).await;
    let top = browse_after["results"][0]["index"].as_u64().unwrap() as usize;
    let best = (0..means.len()).filter(|&i| means[i].is_some()).max_by(|&a, &b| means[a].unwrap().total_cmp(&means[b].unwrap()).then(b.cmp(&a))).unwrap();
    assert_eq!(top, best, "browsing by score after the rescore");
    let export = |query: &'static str| {
        let url = stack.url(&format!("/api/v1/runs/{run_id}/export?format=csv&sort=rank{query}"));
        let http = stack.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let whole = export("").await;
    let header: Vec<&str> = whole.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"scores.fsp3") && header.contains(&"pareto_front") && !header.contains(&"scores.tpsa"), "{header:?}");
    // (Only columns without commas in them, to read them by splitting.)
    let csv = export("&columns=index,rank,pareto_front").await;
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), results.len());
    let mut last_rank = 0;
    for row in &rows {
        let i: usize = row[0].parse().unwrap();
        assert_eq!(row[1].parse::<u64>().ok(), ranks[i], "export rank of {i}");
        assert_eq!(row[2].parse::<u64>().ok(), fronts[i], "export front of {i}");
        let rank = row[1].parse::<u64>().unwrap_or(u64::MAX);
        assert!(rank >= last_rank, "the export follows the new ranks");
        last_rank = rank;
    }

    // A built-in by name; the history keeps its name.
    let (status, by_name) = stack.post_json(&format!("/api/v1/runs/{run_id}/rescore"), json!({"scoring": "lead_like"})).await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_name["scoring_history"][2]["name"], "lead_like");
    let (_, listed) = stack.get_json("/api/v1/scoring/profiles").await;
    let lead = listed["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "lead_like").expect("lead_like listed");
    assert_eq!(by_name["scoring_history"][2]["profile"]["objectives"].as_array().map(Vec::len), lead["profile"]["objectives"].as_array().map(Vec::len));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_profiles_are_refused_before_any_work_and_only_finished_runs_are_rescored() {
    let stack = Stack::start(&[]).await;
    let (status, listed) = stack.get_json("/api/v1/scoring/profiles").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["profiles"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for name in ["default", "oral_drug_like", "cns", "lead_like"] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert_eq!(listed["default"], "default");

    let bad = [
        (json!({"objectives": [{"name": "lipo", "value": "properties.clogp", "transform": {"type": "identity"}}]}), "lipo", "unknown value path"),
        (
            json!({"objectives": [{"name": "mw", "value": "properties.molecular_weight", "transform": {"type": "sigmoid", "low": 500, "high": 200, "k": 0.5}}]}),
            "mw",
            "below low",
        ),
        (json!({"objectives": [{"name": "q", "value": "properties.qed", "transform": {"type": "identity"}, "weight": 0}]}), "", "sum to 0"),
        (json!({"method": "best", "objectives": []}), "", "unknown method"),
        (json!("no_such_profile"), "", "no built-in profile"),
        (json!(7), "", "built-in profile's name or a profile object"),
    ];
    for (scoring, objective, reason) in &bad {
        let (status, body) = stack.post_json("/api/v1/runs", json!({"input_smiles": ["CCO"], "pipeline_config": {"scoring": scoring}})).await;
        assert_eq!(status, 422, "{scoring}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{message}");
        if !objective.is_empty() {
            assert!(message.contains(&format!("objective {objective:?}")), "{message}");
            assert!(body["error"]["field"].as_str().unwrap().contains(objective), "{body}");
        }
    }
    let (_, runs) = stack.get_json("/api/v1/runs").await;
    assert_eq!(runs["total"], 0, "a refused profile creates no run: {runs}");

    // No adapter runs here: the run stays pending, and is not rescored.
    let run = stack.create_run(json!({"input_smiles": ["CCO"], "pipeline_config": {"adapters": ["rdkit_local"], "scoring": "cns"}})).await;
    assert_eq!(run["scoring_history"][0]["name"], "cns");
    let path = format!("/api/v1/runs/{}/rescore", run["run_id"].as_str().unwrap());
    let (status, body) = stack.post_json(&path, json!({"scoring": "lead_like"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = stack.post_json(&path, json!({"scoring": bad[0].0})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("scoring.objectives[\"lipo\"]")), "{body}");
    let (status, body) = stack.post_json(&path, json!({"profile": "cns"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = stack.post_json("/api/v1/runs/run_00000000000000aa/rescore", json!({"scoring": "cns"})).await;
    assert_eq!(status, 404);
}
