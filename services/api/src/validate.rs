//! Request validation. A run's body is parsed as it is read, into the typed
//! request, never into a JSON tree of the whole body: a 64 MiB body of small
//! numbers made a `serde_json::Value` of over a gigabyte. Each mistake still
//! gets a message naming the field and what is wrong with it
//! ("input_smiles[3] must be a string, got a number"), and the parse stops at
//! the first one (a list past the compound limit is refused at that entry).

use crate::error::ApiError;
use crate::Limits;
use pharmforge_core::{AdapterName, Priority};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

pub struct RunRequest {
    pub input_smiles: Vec<String>,
    pub pipeline_config: Map<String, Value>,
    pub adapters: Vec<AdapterName>,
    pub priority: Priority,
    pub user_id: Option<String>,
}

/// The most bytes of `pipeline_config`, and how deeply it may nest.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
pub const MAX_CONFIG_DEPTH: usize = 16;

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

/// The kind of the JSON value a raw text starts with.
fn raw_kind(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The first validation failure met while parsing: the field and why.
#[derive(Default)]
struct Failure(RefCell<Option<(String, String)>>);

impl Failure {
    fn fail<E: de::Error>(&self, field: impl Into<String>, message: impl Into<String>) -> E {
        let message = message.into();
        self.0.borrow_mut().get_or_insert((field.into(), message.clone()));
        E::custom(message)
    }
}

/// The body's top level, parsed field by field.
struct Body<'a> {
    limits: &'a Limits,
    failure: &'a Failure,
}

/// The top-level fields; the small ones kept as slices of the body (no
/// copy), to be checked and parsed once the size of each is known.
#[derive(Default)]
struct Fields<'de> {
    input_smiles: Option<Vec<String>>,
    pipeline_config: Option<&'de RawValue>,
    user_id: Option<&'de RawValue>,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Fields<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Fields<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Fields<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let twice = |name: &str| self.failure.fail::<A::Error>(name, format!("{name} is given twice"));
            match key.as_str() {
                "input_smiles" if fields.input_smiles.is_some() => return Err(twice("input_smiles")),
                "input_smiles" => fields.input_smiles = map.next_value_seed(SmilesList { limits: self.limits, failure: self.failure })?,
                "pipeline_config" if fields.pipeline_config.is_some() => return Err(twice("pipeline_config")),
                "pipeline_config" => fields.pipeline_config = Some(map.next_value()?),
                "user_id" if fields.user_id.is_some() => return Err(twice("user_id")),
                "user_id" => fields.user_id = Some(map.next_value()?),
                unknown => {
                    let shown: String = unknown.chars().take(64).collect();
                    return Err(self.failure.fail(shown.clone(), format!("unknown field {shown:?}; expected input_smiles, pipeline_config, user_id")));
                }
            }
        }
        Ok(fields)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Fields<'de>, A::Error> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a list"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Fields<'de>, E> {
        Err(self.failure.fail("body", "the request body must be a JSON object, got null"))
    }
}

/// `input_smiles`: each entry checked as it is read; `None` for null.
struct SmilesList<'a> {
    limits: &'a Limits,
    failure: &'a Failure,
}

impl<'de> DeserializeSeed<'de> for SmilesList<'_> {
    type Value = Option<Vec<String>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl SmilesList<'_> {
    fn not_a_list<E: de::Error>(&self, kind: &str) -> E {
        self.failure.fail("input_smiles", format!("input_smiles must be a list of SMILES strings, got {kind}"))
    }
}

impl<'de> Visitor<'de> for SmilesList<'_> {
    type Value = Option<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of SMILES strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let max = self.limits.max_compounds;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max));
        loop {
            let i = out.len();
            if i == max {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(self.failure.fail("input_smiles", format!("input_smiles has more than {max} entries; the limit is {max} per run")));
                }
                break;
            }
            match seq.next_element_seed(OneSmiles { index: i, limits: self.limits, failure: self.failure })? {
                Some(s) => out.push(s),
                None => break,
            }
        }
        Ok(Some(out))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.not_a_list("a string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.not_a_list("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.not_a_list("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.not_a_list("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.not_a_list("a number"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_a_list("an object"))
    }
}

/// One SMILES of the list, checked against the limits.
struct OneSmiles<'a> {
    index: usize,
    limits: &'a Limits,
    failure: &'a Failure,
}

impl<'de> DeserializeSeed<'de> for OneSmiles<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl OneSmiles<'_> {
    fn field(&self) -> String {
        format!("input_smiles[{}]", self.index)
    }
    fn not_a_string<E: de::Error>(&self, kind: &str) -> E {
        self.failure.fail(self.field(), format!("{} must be a string, got {kind}", self.field()))
    }
}

impl<'de> Visitor<'de> for OneSmiles<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SMILES string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        let field = self.field();
        if s.trim().is_empty() {
            return Err(self.failure.fail(field.clone(), format!("{field} is empty")));
        }
        if s.chars().count() > self.limits.max_smiles_length {
            return Err(self.failure.fail(field.clone(), format!("{field} is longer than {} characters", self.limits.max_smiles_length)));
        }
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(self.failure.fail(field.clone(), format!("{field} contains the control character U+{:04X}", c as u32)));
        }
        Ok(s.to_owned())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.not_a_string("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.not_a_string("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string("a list"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string("an object"))
    }
}

/// Parses and validates the body of `POST /runs`.
pub fn run_request(body: &[u8], limits: &Limits) -> Result<RunRequest, ApiError> {
    let failure = Failure::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Body { limits, failure: &failure }.deserialize(&mut de).and_then(|fields| de.end().map(|()| fields));
    let fields = match parsed {
        Ok(fields) => fields,
        Err(e) => {
            return Err(match failure.0.into_inner() {
                Some((field, message)) => ApiError::validation(field, message),
                None => ApiError::InvalidJson(format!("malformed JSON: {e}")),
            })
        }
    };
    let Some(input_smiles) = fields.input_smiles else {
        return Err(ApiError::validation("input_smiles", "input_smiles is required: a list of SMILES strings"));
    };
    if input_smiles.is_empty() {
        return Err(ApiError::validation("input_smiles", "input_smiles must contain at least one SMILES"));
    }

    let mut pipeline_config = match fields.pipeline_config {
        None => Map::new(),
        Some(raw) if raw.get().len() > MAX_CONFIG_BYTES => {
            return Err(ApiError::validation("pipeline_config", format!("pipeline_config is {} bytes; at most {MAX_CONFIG_BYTES} are accepted", raw.get().len())))
        }
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Null) => Map::new(),
            Ok(Value::Object(m)) => m,
            Ok(other) => return Err(ApiError::validation("pipeline_config", format!("pipeline_config must be an object, got {}", kind(&other)))),
            Err(e) => return Err(ApiError::validation("pipeline_config", format!("pipeline_config cannot be read: {e}"))),
        },
    };
    if depth(&pipeline_config) > MAX_CONFIG_DEPTH {
        return Err(ApiError::validation("pipeline_config", format!("pipeline_config nests deeper than {MAX_CONFIG_DEPTH} levels")));
    }
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

    let user_id = match fields.user_id {
        None => None,
        Some(raw) => match serde_json::from_str::<Option<String>>(raw.get()) {
            Ok(None) => None,
            Ok(Some(s)) if s.chars().count() <= 128 && !s.chars().any(char::is_control) => Some(s),
            Ok(Some(_)) => return Err(ApiError::validation("user_id", "user_id must be at most 128 characters, without control characters")),
            Err(_) => return Err(ApiError::validation("user_id", format!("user_id must be a string, got {}", raw_kind(&raw)))),
        },
    };
    Ok(RunRequest { input_smiles, pipeline_config, adapters, priority, user_id })
}

/// How deeply a JSON object nests (an empty object is 1).
fn depth(map: &Map<String, Value>) -> usize {
    fn of(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(of).max().unwrap_or(0),
            Value::Object(m) => depth(m),
            _ => 0,
        }
    }
    1 + map.values().map(of).max().unwrap_or(0)
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
        Limits {
            max_body_bytes: 1 << 20,
            max_compounds: 10,
            max_smiles_length: 50,
            inline_results: 10,
            max_in_flight: 8,
            runs_per_minute: 60,
            runs_burst: 10,
            header_timeout: std::time::Duration::from_secs(1),
            body_timeout: std::time::Duration::from_secs(1),
        }
    }

    fn parse(body: Value) -> Result<RunRequest, ApiError> {
        run_request(&serde_json::to_vec(&body).unwrap(), &limits())
    }

    fn message(body: Value) -> String {
        match parse(body) {
            Err(e) => e.to_string(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn the_default_route_is_all_four_adapters_in_order() {
        let r = parse(json!({"input_smiles": ["CCO"]})).ok().unwrap();
        assert_eq!(r.adapters, AdapterName::ALL.to_vec());
        assert_eq!(r.pipeline_config["adapters"], json!(["rdkit_local", "admet_ai", "pubchem", "chembl"]));
        assert_eq!((r.priority, &r.pipeline_config["priority"]), (Priority::Normal, &json!("normal")));
    }

    #[test]
    fn a_priority_is_high_normal_or_low() {
        let r = parse(json!({"input_smiles": ["CCO"], "pipeline_config": {"priority": "high"}})).ok().unwrap();
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
        assert_eq!(message(json!({"input_smiles": ["C"], "user_id": ["a"]})), "user_id must be a string, got a list");
    }

    #[test]
    fn a_body_is_refused_at_its_first_mistake_and_a_config_is_bounded() {
        // Refused at entry 11, not after reading the rest.
        let mut body = br#"{"input_smiles": ["C","C","C","C","C","C","C","C","C","C","C", 1"#.to_vec();
        body.extend(std::iter::repeat_n(b'1', 1000));
        let e = run_request(&body, &limits()).err().unwrap();
        assert_eq!(e.to_string(), "input_smiles has more than 10 entries; the limit is 10 per run");
        let deep = (0..20).fold(json!(1), |v, _| json!({"a": v}));
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"x": deep}})).contains("nests deeper than 16"));
        let big = "x".repeat(MAX_CONFIG_BYTES);
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"notes": big}})).contains("at most 65536 are accepted"));
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": [1]})).contains("must be an object, got a list"));
        assert!(run_request(br#"{"input_smiles": ["C"]"#, &limits()).err().unwrap().to_string().starts_with("malformed JSON"));
        assert!(run_request(br#"{"input_smiles": ["C"], "input_smiles": ["N"]}"#, &limits()).err().unwrap().to_string().contains("given twice"));
        assert!(run_request(br#"{"input_smiles": null}"#, &limits()).err().unwrap().to_string().contains("is required"));
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
