//! Request validation: the body is read as generic JSON first, so that each
//! mistake gets a message naming the field and what is wrong with it
//! ("input_smiles[3] must be a string, got a number").

use crate::error::ApiError;
use crate::Limits;
use pharmforge_core::{AdapterName, Priority};
use serde_json::{Map, Value};

pub struct RunRequest {
    pub input_smiles: Vec<String>,
    pub pipeline_config: Map<String, Value>,
    pub adapters: Vec<AdapterName>,
    pub priority: Priority,
    pub user_id: Option<String>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub fn run_request(body: Value, limits: &Limits) -> Result<RunRequest, ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::validation("body", format!("the request body must be a JSON object, got {}", kind(&body))));
    };
    let smiles = match body.remove("input_smiles") {
        None | Some(Value::Null) => return Err(ApiError::validation("input_smiles", "input_smiles is required: a list of SMILES strings")),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(ApiError::validation("input_smiles", format!("input_smiles must be a list of SMILES strings, got {}", kind(&other)))),
    };
    if smiles.is_empty() {
        return Err(ApiError::validation("input_smiles", "input_smiles must contain at least one SMILES"));
    }
    if smiles.len() > limits.max_compounds {
        return Err(ApiError::validation("input_smiles", format!("input_smiles has {} entries; the limit is {} per run", smiles.len(), limits.max_compounds)));
    }
    let mut input_smiles = Vec::with_capacity(smiles.len());
    for (i, item) in smiles.into_iter().enumerate() {
        let field = format!("input_smiles[{i}]");
        let Value::String(s) = item else {
            return Err(ApiError::validation(field, format!("input_smiles[{i}] must be a string, got {}", kind(&item))));
        };
        if s.trim().is_empty() {
            return Err(ApiError::validation(field, format!("input_smiles[{i}] is empty")));
        }
        if s.chars().count() > limits.max_smiles_length {
            return Err(ApiError::validation(field, format!("input_smiles[{i}] is longer than {} characters", limits.max_smiles_length)));
        }
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(ApiError::validation(field, format!("input_smiles[{i}] contains the control character U+{:04X}", c as u32)));
        }
        input_smiles.push(s);
    }

    let mut pipeline_config = match body.remove("pipeline_config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(ApiError::validation("pipeline_config", format!("pipeline_config must be an object, got {}", kind(&other)))),
    };
    let adapters = match pipeline_config.get("adapters") {
        None | Some(Value::Null) => AdapterName::ALL.to_vec(),
        Some(Value::Array(names)) => adapter_list(names)?,
        Some(other) => return Err(ApiError::validation("pipeline_config.adapters", format!("pipeline_config.adapters must be a list of adapter names, got {}", kind(other)))),
    };
    pipeline_config.insert("adapters".into(), Value::from(adapters.iter().map(|a| a.as_str()).collect::<Vec<_>>()));
    let priority = match pipeline_config.get("priority") {
        None | Some(Value::Null) => Priority::default(),
        Some(Value::String(p)) => Priority::parse(p).ok_or_else(|| {
            let shown: String = p.chars().take(32).collect();
            ApiError::validation("pipeline_config.priority", format!("unknown priority {shown:?}; expected high, normal or low"))
        })?,
        Some(other) => return Err(ApiError::validation("pipeline_config.priority", format!("pipeline_config.priority must be \"high\", \"normal\" or \"low\", got {}", kind(other)))),
    };
    pipeline_config.insert("priority".into(), Value::from(priority.as_str()));
    // Stored as jsonb, which cannot hold U+0000 (Postgres refused the insert
    // and the caller got a 500): refused here, naming where it is.
    if let Some(path) = nul_in(&pipeline_config, "pipeline_config") {
        return Err(ApiError::validation(path.clone(), format!("{path} contains the character U+0000, which cannot be stored")));
    }

    let user_id = match body.remove("user_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 128 && !s.chars().any(char::is_control) => Some(s),
        Some(Value::String(_)) => return Err(ApiError::validation("user_id", "user_id must be at most 128 characters, without control characters")),
        Some(other) => return Err(ApiError::validation("user_id", format!("user_id must be a string, got {}", kind(&other)))),
    };
    if let Some(unknown) = body.keys().next() {
        return Err(ApiError::validation(unknown.clone(), format!("unknown field {unknown:?}; expected input_smiles, pipeline_config, user_id")));
    }
    Ok(RunRequest { input_smiles, pipeline_config, adapters, priority, user_id })
}

fn adapter_list(names: &[Value]) -> Result<Vec<AdapterName>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::validation("pipeline_config.adapters", "pipeline_config.adapters must name at least one adapter"));
    }
    let mut adapters = Vec::with_capacity(names.len());
    for (i, v) in names.iter().enumerate() {
        let field = format!("pipeline_config.adapters[{i}]");
        let Value::String(name) = v else {
            return Err(ApiError::validation(field, format!("adapter names are strings, got {}", kind(v))));
        };
        let Some(adapter) = AdapterName::parse(name) else {
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::validation(field, format!("unknown adapter {shown:?}; known adapters: {}", AdapterName::known_names())));
        };
        if adapters.contains(&adapter) {
            return Err(ApiError::validation(field, format!("adapter {name:?} is listed twice")));
        }
        adapters.push(adapter);
    }
    Ok(adapters)
}

/// The path of the first string (or key) in `map` holding U+0000.
fn nul_in(map: &Map<String, Value>, path: &str) -> Option<String> {
    fn walk(value: &Value, path: String) -> Option<String> {
        match value {
            Value::String(s) if s.contains('\0') => Some(path),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| walk(v, format!("{path}[{i}]"))),
            Value::Object(m) => nul_in(m, &path),
            _ => None,
        }
    }
    map.iter().find_map(|(k, v)| {
        let here = format!("{path}.{}", k.replace('\0', "\\u0000"));
        if k.contains('\0') {
            Some(here)
        } else {
            walk(v, here)
        }
    })
}

/// `page` and `page_size` query parameters: page ≥ 1, page_size in 1..=100.
pub fn paging(page: Option<&str>, page_size: Option<&str>) -> Result<(i64, i64), ApiError> {
    let parse = |name: &str, raw: Option<&str>, default: i64| -> Result<i64, ApiError> {
        match raw {
            None => Ok(default),
            Some(s) => s.trim().parse::<i64>().map_err(|_| ApiError::BadRequest(format!("{name} must be an integer, got {:?}", s.chars().take(32).collect::<String>()))),
        }
    };
    let page = parse("page", page, 1)?;
    let page_size = parse("page_size", page_size, 20)?;
    if page < 1 || page > 1_000_000 {
        return Err(ApiError::BadRequest(format!("page must be between 1 and 1000000, got {page}")));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::BadRequest(format!("page_size must be between 1 and 100, got {page_size}")));
    }
    Ok((page, page_size))
}

pub const RUN_STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits { max_body_bytes: 1 << 20, max_compounds: 10, max_smiles_length: 50, inline_results: 10, max_in_flight: 8, runs_per_minute: 60, runs_burst: 10 }
    }

    fn message(body: Value) -> String {
        match run_request(body, &limits()) {
            Err(e) => e.to_string(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn the_default_route_is_all_four_adapters_in_order() {
        let r = run_request(json!({"input_smiles": ["CCO"]}), &limits()).ok().unwrap();
        assert_eq!(r.adapters, AdapterName::ALL.to_vec());
        assert_eq!(r.pipeline_config["adapters"], json!(["rdkit_local", "admet_ai", "pubchem", "chembl"]));
        assert_eq!((r.priority, &r.pipeline_config["priority"]), (Priority::Normal, &json!("normal")));
    }

    #[test]
    fn a_priority_is_high_normal_or_low() {
        let r = run_request(json!({"input_smiles": ["CCO"], "pipeline_config": {"priority": "high"}}), &limits()).ok().unwrap();
        assert_eq!(r.priority, Priority::High);
        assert_eq!(message(json!({"input_smiles": ["C"], "pipeline_config": {"priority": "urgent"}})), "unknown priority \"urgent\"; expected high, normal or low");
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"priority": 1}})).contains("got a number"));
    }

    #[test]
    fn each_mistake_names_its_field() {
        assert!(message(json!({})).contains("input_smiles is required"));
        assert!(message(json!({"input_smiles": "CCO"})).contains("got a string"));
        assert!(message(json!({"input_smiles": []})).contains("at least one"));
        assert!(message(json!({"input_smiles": ["CCO", 3]})).contains("input_smiles[1] must be a string, got a number"));
        assert!(message(json!({"input_smiles": ["C\u{0}C"]})).contains("control character"));
        assert_eq!(
            message(json!({"input_smiles": ["C"], "pipeline_config": {"notes": [1, {"a": "x\u{0}"}]}})),
            "pipeline_config.notes[1].a contains the character U+0000, which cannot be stored"
        );
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"k\u{0}": 1}})).contains("pipeline_config.k\\u0000 contains"));
        assert!(message(json!({"input_smiles": ["C".repeat(51)]})).contains("longer than 50"));
        assert!(message(json!({"input_smiles": vec!["C"; 11]})).contains("limit is 10"));
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"adapters": ["vina"]}})).contains("unknown adapter \"vina\""));
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"adapters": []}})).contains("at least one adapter"));
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"adapters": ["chembl", "chembl"]}})).contains("twice"));
        assert!(message(json!({"input_smiles": ["C"], "user_id": 7})).contains("user_id must be a string"));
        assert!(message(json!({"input_smiles": ["C"], "extra": 1})).contains("unknown field"));
        assert!(message(json!([1])).contains("must be a JSON object"));
    }

    #[test]
    fn paging_bounds() {
        assert_eq!(paging(None, None).ok(), Some((1, 20)));
        assert!(paging(Some("0"), None).is_err());
        assert!(paging(None, Some("101")).is_err());
        assert!(paging(None, Some("-1")).is_err());
        assert!(paging(Some("x"), None).is_err());
        assert_eq!(paging(Some("2"), Some("100")).ok(), Some((2, 100)));
    }
}
