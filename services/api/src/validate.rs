//! Request validation. A run's body is parsed as it is read, into the typed
//! request, never into a JSON tree of the whole body: a 64 MiB body of small
//! numbers made a `serde_json::Value` of over a gigabyte. Each mistake still
//! gets a message naming the field and what is wrong with it
//! ("input_smiles[3] must be a string, got a number"), and the parse stops at
//! the first one (a list past the compound limit is refused at that entry).

use crate::error::ApiError;
use crate::Limits;
use pharmforge_core::{AdapterName, Priority};
use pharmforge_store::InputCompound;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// A run as submitted in JSON: its compounds and its options.
pub struct RunRequest {
    pub compounds: Vec<ListedCompound>,
    pub options: RunOptions,
}

/// A compound as a JSON body lists it, held compactly: a body may list a
/// million, all held until the run's inputs are stored, and an
/// [`InputCompound`] (96 bytes besides its text) made a 1,000,000-SMILES
/// body cost the API 64 MB more at its peak than these 32 bytes do.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedCompound {
    pub smiles: Box<str>,
    pub id: Option<Box<str>>,
}

impl From<InputCompound> for ListedCompound {
    fn from(c: InputCompound) -> Self {
        ListedCompound { smiles: c.smiles.into_boxed_str(), id: c.given_id.map(String::into_boxed_str) }
    }
}

impl From<ListedCompound> for InputCompound {
    fn from(c: ListedCompound) -> Self {
        InputCompound { smiles: c.smiles.into_string(), given_id: c.id.map(str::into_string), ..Default::default() }
    }
}

/// How a run is to be run, whichever way its compounds came.
pub struct RunOptions {
    /// As stored: with `adapters` and `priority` filled in.
    pub pipeline_config: Map<String, Value>,
    pub adapters: Vec<AdapterName>,
    pub priority: Priority,
    pub user_id: Option<String>,
    /// The profile its compounds are scored with, as its scoring history
    /// starts: `{profile, name?}` (`pipeline_config.scoring`, a built-in's
    /// name or a profile; the default when absent).
    pub scoring: Value,
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

/// Visitor methods for the JSON kinds a visitor does not accept: each is
/// refused through the visitor's own `wrong(kind)`, which names the field.
macro_rules! refuse_kinds {
    ($out:ty: $($kind:ident)*) => { $(refuse_kinds!(@one $out, $kind);)* };
    (@one $out:ty, str) => { fn visit_str<E: de::Error>(self, _: &str) -> Result<$out, E> { Err(self.wrong("a string")) } };
    (@one $out:ty, bool) => { fn visit_bool<E: de::Error>(self, _: bool) -> Result<$out, E> { Err(self.wrong("a boolean")) } };
    (@one $out:ty, number) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$out, E> { Err(self.wrong("a number")) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$out, E> { Err(self.wrong("a number")) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$out, E> { Err(self.wrong("a number")) }
    };
    (@one $out:ty, null) => { fn visit_unit<E: de::Error>(self) -> Result<$out, E> { Err(self.wrong("null")) } };
    (@one $out:ty, list) => { fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<$out, A::Error> { Err(self.wrong("a list")) } };
    (@one $out:ty, object) => { fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<$out, A::Error> { Err(self.wrong("an object")) } };
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
    input_smiles: Option<Vec<ListedCompound>>,
    compounds: Option<Vec<ListedCompound>>,
    pipeline_config: Option<&'de RawValue>,
    user_id: Option<&'de RawValue>,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Fields<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Fields<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl Body<'_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        self.failure.fail("body", format!("the request body must be a JSON object, got {kind}"))
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
            let list = |form| CompoundList { form, limits: self.limits, failure: self.failure };
            match key.as_str() {
                "input_smiles" | "compounds" if fields.input_smiles.is_some() || fields.compounds.is_some() => {
                    let given = if fields.input_smiles.is_some() { "input_smiles" } else { "compounds" };
                    return Err(if given == key { twice(given) } else { self.failure.fail(key.as_str(), "give either input_smiles or compounds, not both") });
                }
                "input_smiles" => fields.input_smiles = map.next_value_seed(list(Form::Smiles))?,
                "compounds" => fields.compounds = map.next_value_seed(list(Form::Compounds))?,
                "pipeline_config" if fields.pipeline_config.is_some() => return Err(twice("pipeline_config")),
                "pipeline_config" => fields.pipeline_config = Some(map.next_value()?),
                "user_id" if fields.user_id.is_some() => return Err(twice("user_id")),
                "user_id" => fields.user_id = Some(map.next_value()?),
                unknown => {
                    let shown: String = unknown.chars().take(64).collect();
                    return Err(self
                        .failure
                        .fail(shown.clone(), format!("unknown field {shown:?}; expected input_smiles or compounds, pipeline_config, user_id")));
                }
            }
        }
        Ok(fields)
    }
    refuse_kinds!(Fields<'de>: list str bool number null);
}

/// How a run's compounds are listed in JSON.
#[derive(Clone, Copy)]
enum Form {
    /// `input_smiles: ["CCO", ...]`
    Smiles,
    /// `compounds: [{"id": "...", "smiles": "CCO"}, ...]`
    Compounds,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Smiles => "input_smiles",
            Form::Compounds => "compounds",
        }
    }
}

/// `input_smiles` or `compounds`: each entry checked as it is read; `None` for null.
struct CompoundList<'a> {
    form: Form,
    limits: &'a Limits,
    failure: &'a Failure,
}

impl<'de> DeserializeSeed<'de> for CompoundList<'_> {
    type Value = Option<Vec<ListedCompound>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl CompoundList<'_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        let name = self.form.name();
        let expected = match self.form {
            Form::Smiles => "a list of SMILES strings",
            Form::Compounds => "a list of {\"id\", \"smiles\"} objects",
        };
        self.failure.fail(name, format!("{name} must be {expected}, got {kind}"))
    }
}

impl<'de> Visitor<'de> for CompoundList<'_> {
    type Value = Option<Vec<ListedCompound>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of compounds")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let max = self.limits.max_compounds;
        let name = self.form.name();
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max));
        loop {
            let i = out.len();
            if i == max {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(self.failure.fail(name, format!("{name} has more than {max} entries; the limit is {max} per run")));
                }
                break;
            }
            let entry = Entry { field: format!("{name}[{i}]"), limits: self.limits, failure: self.failure };
            let next = match self.form {
                Form::Smiles => seq.next_element_seed(entry)?.map(InputCompound::smiles),
                Form::Compounds => seq.next_element_seed(OneCompound(entry))?,
            };
            match next {
                Some(c) => out.push(ListedCompound::from(c)),
                None => break,
            }
        }
        Ok(Some(out))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    refuse_kinds!(Option<Vec<ListedCompound>>: str bool number object);
}

/// Why a SMILES cannot be taken at all (the rest is left to RDKit, which
/// reports an invalid SMILES as that compound's error).
pub fn smiles_problem(s: &str, limits: &Limits) -> Option<String> {
    if s.trim().is_empty() {
        return Some("is empty".into());
    }
    if s.chars().count() > limits.max_smiles_length {
        return Some(format!("is longer than {} characters", limits.max_smiles_length));
    }
    s.chars().find(|c| c.is_control()).map(|c| format!("contains the control character U+{:04X}", c as u32))
}

/// The longest compound ID kept.
pub const MAX_ID_LENGTH: usize = 256;

/// Why a compound ID cannot be stored.
pub fn id_problem(id: &str) -> Option<String> {
    if id.chars().count() > MAX_ID_LENGTH {
        return Some(format!("is longer than {MAX_ID_LENGTH} characters"));
    }
    id.chars().find(|c| c.is_control()).map(|c| format!("contains the control character U+{:04X}", c as u32))
}

/// One SMILES string of a list (or a compound's `smiles`), checked against the limits.
struct Entry<'a> {
    field: String,
    limits: &'a Limits,
    failure: &'a Failure,
}

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl Entry<'_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        self.failure.fail(self.field.clone(), format!("{} must be a string, got {kind}", self.field))
    }
}

impl<'de> Visitor<'de> for Entry<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SMILES string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        match smiles_problem(s, self.limits) {
            Some(problem) => Err(self.failure.fail(self.field.clone(), format!("{} {problem}", self.field))),
            None => Ok(s.to_owned()),
        }
    }
    refuse_kinds!(String: bool number null list object);
}

/// One `{"id": ..., "smiles": ...}` of `compounds`; the ID is optional, a
/// string or an integer.
struct OneCompound<'a>(Entry<'a>);

impl<'de> DeserializeSeed<'de> for OneCompound<'_> {
    type Value = InputCompound;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<InputCompound, D::Error> {
        d.deserialize_any(self)
    }
}

impl OneCompound<'_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        let field = &self.0.field;
        self.0.failure.fail(field.clone(), format!("{field} must be an object {{\"id\", \"smiles\"}}, got {kind}"))
    }
}

impl<'de> Visitor<'de> for OneCompound<'_> {
    type Value = InputCompound;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a compound object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputCompound, A::Error> {
        let Entry { field, limits, failure } = self.0;
        let (mut smiles, mut id) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "smiles" if smiles.is_some() => return Err(failure.fail(format!("{field}.smiles"), format!("{field}.smiles is given twice"))),
                "smiles" => smiles = Some(map.next_value_seed(Entry { field: format!("{field}.smiles"), limits, failure })?),
                "id" if id.is_some() => return Err(failure.fail(format!("{field}.id"), format!("{field}.id is given twice"))),
                "id" => {
                    let shown = format!("{field}.id");
                    id = match map.next_value::<Value>()? {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                        other => return Err(failure.fail(shown.clone(), format!("{shown} must be a string, got {}", kind(&other)))),
                    };
                    if let Some(problem) = id.as_deref().and_then(id_problem) {
                        return Err(failure.fail(shown.clone(), format!("{shown} {problem}")));
                    }
                }
                unknown => {
                    let shown: String = unknown.chars().take(64).collect();
                    return Err(failure.fail(format!("{field}.{shown}"), format!("unknown field {shown:?} in {field}; expected id, smiles")));
                }
            }
        }
        let Some(smiles) = smiles else {
            return Err(failure.fail(format!("{field}.smiles"), format!("{field}.smiles is required")));
        };
        Ok(InputCompound { smiles, given_id: id, ..Default::default() })
    }
    refuse_kinds!(InputCompound: str bool number null list);
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
    let (name, compounds) = match (fields.input_smiles, fields.compounds) {
        (Some(list), _) => ("input_smiles", list),
        (None, Some(list)) => ("compounds", list),
        (None, None) => {
            return Err(ApiError::validation(
                "input_smiles",
                "input_smiles (a list of SMILES strings) or compounds (a list of {\"id\", \"smiles\"}) is required",
            ))
        }
    };
    if compounds.is_empty() {
        return Err(ApiError::validation(name, format!("{name} must contain at least one compound")));
    }
    let pipeline_config = match fields.pipeline_config {
        None => Map::new(),
        Some(raw) if raw.get().len() > MAX_CONFIG_BYTES => {
            return Err(ApiError::validation(
                "pipeline_config",
                format!("pipeline_config is {} bytes; at most {MAX_CONFIG_BYTES} are accepted", raw.get().len()),
            ))
        }
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Null) => Map::new(),
            Ok(Value::Object(m)) => m,
            Ok(other) => return Err(ApiError::validation("pipeline_config", format!("pipeline_config must be an object, got {}", kind(&other)))),
            Err(e) => return Err(ApiError::validation("pipeline_config", format!("pipeline_config cannot be read: {e}"))),
        },
    };
    let user_id = match fields.user_id {
        None => None,
        Some(raw) => match serde_json::from_str::<Option<String>>(raw.get()) {
            Ok(user_id) => user_id,
            Err(_) => return Err(ApiError::validation("user_id", format!("user_id must be a string, got {}", raw_kind(raw)))),
        },
    };
    Ok(RunRequest { compounds, options: run_options(pipeline_config, user_id)? })
}

/// Checks a run's options and fills in the defaults (`adapters`: the
/// default route, `AdapterName::default_route`; `priority`: normal),
/// however they came (JSON body, query, form).
pub fn run_options(mut pipeline_config: Map<String, Value>, user_id: Option<String>) -> Result<RunOptions, ApiError> {
    if depth(&pipeline_config) > MAX_CONFIG_DEPTH {
        return Err(ApiError::validation("pipeline_config", format!("pipeline_config nests deeper than {MAX_CONFIG_DEPTH} levels")));
    }
    let adapters = match pipeline_config.get("adapters") {
        None | Some(Value::Null) => AdapterName::default_route(),
        Some(Value::Array(names)) => adapter_list(names)?,
        Some(other) => {
            return Err(ApiError::validation(
                "pipeline_config.adapters",
                format!("pipeline_config.adapters must be a list of adapter names, got {}", kind(other)),
            ))
        }
    };
    pipeline_config.insert("adapters".into(), Value::from(adapters.iter().map(|a| a.as_str()).collect::<Vec<_>>()));
    let priority = match pipeline_config.get("priority") {
        None | Some(Value::Null) => Priority::default(),
        Some(Value::String(p)) => Priority::parse(p).ok_or_else(|| {
            let shown: String = p.chars().take(32).collect();
            ApiError::validation("pipeline_config.priority", format!("unknown priority {shown:?}; expected high, normal or low"))
        })?,
        Some(other) => {
            return Err(ApiError::validation(
                "pipeline_config.priority",
                format!("pipeline_config.priority must be \"high\", \"normal\" or \"low\", got {}", kind(other)),
            ))
        }
    };
    pipeline_config.insert("priority".into(), Value::from(priority.as_str()));
    let (name, profile) = scoring_choice(pipeline_config.get("scoring").unwrap_or(&Value::Null), "pipeline_config.scoring")?;
    let scoring = profile.history_entry(name);
    // Stored as jsonb, which cannot hold U+0000 (Postgres refused the insert
    // and the caller got a 500): refused here, naming where it is.
    if let Some(path) = nul_in(&pipeline_config, "pipeline_config") {
        return Err(ApiError::validation(path.clone(), format!("{path} contains the character U+0000, which cannot be stored")));
    }
    if let Some(u) = &user_id {
        if u.chars().count() > 128 || u.chars().any(char::is_control) {
            return Err(ApiError::validation("user_id", "user_id must be at most 128 characters, without control characters"));
        }
    }
    Ok(RunOptions { pipeline_config, adapters, priority, user_id, scoring })
}

/// A scoring profile as given (`field` says where: `pipeline_config.scoring`
/// or a rescore's `scoring`), checked and resolved: the built-in's name, if
/// one was named, and the profile. Null is the default profile. A bad one is
/// a 422 naming the objective and what is wrong with it.
pub fn scoring_choice(given: &Value, field: &str) -> Result<(Option<&'static str>, pharmforge_core::profile::Profile), ApiError> {
    use pharmforge_core::profile;
    Ok(match given {
        Value::Null => (Some(profile::DEFAULT_PROFILE), profile::default_profile()),
        v @ (Value::String(_) | Value::Object(_)) => profile::resolve(v).map_err(|e| {
            let at = match &e.objective {
                Some(o) => format!("{field}.objectives[{o:?}]"),
                None => field.to_owned(),
            };
            ApiError::validation(at, format!("{field}: {e}"))
        })?,
        other => return Err(ApiError::validation(field, format!("{field} must be a built-in profile's name or a profile object, got {}", kind(other)))),
    })
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
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("{name} must be an integer, got {:?}", s.chars().take(32).collect::<String>()))),
        }
    };
    let page = parse("page", page, 1)?;
    let page_size = parse("page_size", page_size, 20)?;
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::BadRequest(format!("page must be between 1 and 1000000, got {page}")));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::BadRequest(format!("page_size must be between 1 and 100, got {page_size}")));
    }
    Ok((page, page_size))
}

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
            max_upload_bytes: 1 << 20,
            max_uploads: 1,
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
    fn the_default_route_is_the_four_adapters_on_it_in_order() {
        let r = parse(json!({"input_smiles": ["CCO"]})).ok().unwrap();
        assert_eq!(r.options.adapters, AdapterName::default_route());
        assert_eq!(r.options.pipeline_config["adapters"], json!(["rdkit_local", "admet_ai", "pubchem", "chembl"]));
        assert_eq!((r.options.priority, &r.options.pipeline_config["priority"]), (Priority::Normal, &json!("normal")));
    }

    #[test]
    fn a_priority_is_high_normal_or_low() {
        let r = parse(json!({"input_smiles": ["CCO"], "pipeline_config": {"priority": "high"}})).ok().unwrap();
        assert_eq!(r.options.priority, Priority::High);
        assert_eq!(
            message(json!({"input_smiles": ["C"], "pipeline_config": {"priority": "urgent"}})),
            "unknown priority \"urgent\"; expected high, normal or low"
        );
        assert!(message(json!({"input_smiles": ["C"], "pipeline_config": {"priority": 1}})).contains("got a number"));
    }

    #[test]
    fn each_mistake_names_its_field() {
        assert!(message(json!({})).contains("or compounds (a list of {\"id\", \"smiles\"}) is required"));
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
    fn compounds_carry_the_users_own_ids() {
        let r = parse(json!({"compounds": [{"id": "PF-1", "smiles": "CCO"}, {"smiles": "N"}, {"id": 42, "smiles": "C"}]})).ok().unwrap();
        let got: Vec<(Option<&str>, &str)> = r.compounds.iter().map(|c| (c.id.as_deref(), &*c.smiles)).collect();
        assert_eq!(got, vec![(Some("PF-1"), "CCO"), (None, "N"), (Some("42"), "C")]);
        let r = parse(json!({"input_smiles": ["CCO"]})).ok().unwrap();
        assert_eq!(r.compounds, vec![ListedCompound::from(InputCompound::smiles("CCO"))]);
        assert_eq!(message(json!({"compounds": [{"id": "a"}]})), "compounds[0].smiles is required");
        assert_eq!(message(json!({"compounds": [{"smiles": "C", "name": "x"}]})), "unknown field \"name\" in compounds[0]; expected id, smiles");
        assert_eq!(message(json!({"compounds": [{"smiles": 1}]})), "compounds[0].smiles must be a string, got a number");
        assert_eq!(message(json!({"compounds": [{"smiles": "C", "id": 1.5}]})), "compounds[0].id must be a string, got a number");
        assert_eq!(message(json!({"compounds": [{"smiles": "C", "id": "a\u{7}"}]})), "compounds[0].id contains the control character U+0007");
        assert_eq!(message(json!({"compounds": ["C"]})), "compounds[0] must be an object {\"id\", \"smiles\"}, got a string");
        assert_eq!(message(json!({"compounds": "C"})), "compounds must be a list of {\"id\", \"smiles\"} objects, got a string");
        assert_eq!(message(json!({"compounds": []})), "compounds must contain at least one compound");
        assert_eq!(message(json!({"compounds": vec![json!({"smiles": "C"}); 11]})), "compounds has more than 10 entries; the limit is 10 per run");
        assert_eq!(message(json!({"input_smiles": ["C"], "compounds": [{"smiles": "C"}]})), "give either input_smiles or compounds, not both");
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
