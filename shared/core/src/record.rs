//! The compound record: one per SMILES of a run, carried from stage to stage.
//! Each adapter adds its section (or an error for it) and forwards the record to
//! the next subject of the record's own route.

use crate::ids::{AdapterName, RunId};
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// Header names carried by every record message.
pub mod headers {
    /// JetStream de-duplication: one id per (run, compound, step).
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// W3C trace context, so one compound can be followed through every service.
    pub const TRACEPARENT: &str = "traceparent";
    /// The step the record is addressed to; lets the aggregator skip fan-out
    /// messages without decoding them.
    pub const STEP: &str = "Pharmforge-Step";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompoundRecord {
    /// Read as a [`RunId`]: a record whose run id is malformed does not decode.
    pub run_id: RunId,
    pub index: u32,
    pub smiles: String,
    /// The run's adapters, in order.
    pub route: Vec<AdapterName>,
    /// Index into `route` of the stage this record is addressed to;
    /// `route.len()` means done.
    pub step: u16,
    /// 32 hex digits, the W3C trace id shared by every message of this compound.
    pub trace_id: String,
    /// Sections added so far, keyed by section name (`properties`, `admet`, ...),
    /// each kept as the JSON text it arrived as: a stage parses and writes
    /// back only its own section, and carries the others through as they are
    /// (an ADMET section is ~5 kB; parsing it into a tree at every later hop
    /// was most of those hops' work).
    #[serde(default)]
    pub sections: BTreeMap<String, Box<RawValue>>,
    /// Per-adapter error messages.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
    /// Adapters that were not called for this compound (an earlier stage found it
    /// unusable, e.g. an invalid SMILES).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<AdapterName>,
    /// Set when the compound cannot go on (the remaining stages are skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
    /// Set when the run was cancelled before this compound finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// What produced each section: adapter → "name version (engine)". The
    /// aggregator folds these into the run's lockfile.
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
}

/// Why a message is not a usable compound record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("undecodable record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid record: {0}")]
    Invalid(String),
}

/// What happened to one compound at one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    Done,
    Failed,
    Skipped,
}

impl CompoundRecord {
    pub fn new(run_id: &RunId, index: u32, smiles: String, route: Vec<AdapterName>) -> Self {
        CompoundRecord {
            run_id: run_id.clone(),
            index,
            smiles,
            route,
            step: 0,
            trace_id: format!("{:032x}", rand::random::<u128>()),
            sections: BTreeMap::new(),
            errors: BTreeMap::new(),
            skipped: Vec::new(),
            fatal: None,
            cancelled: false,
            provenance: BTreeMap::new(),
        }
    }

    /// Decodes a record from a message and checks it (`validate`): every
    /// service reads records through this, so none acts on a record that
    /// could make it loop or count beyond its run.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let record: CompoundRecord = serde_json::from_slice(bytes)?;
        record.validate().map_err(DecodeError::Invalid)?;
        Ok(record)
    }

    /// What a well-formed record holds beyond its types (its run id is a
    /// [`RunId`], checked as it is read): a route of distinct known
    /// adapters (at most all of them; the API accepts no other), a step
    /// within it, a 32-hex-digit trace id, and skipped stages from its route.
    pub fn validate(&self) -> Result<(), String> {
        if self.route.is_empty() || self.route.len() > AdapterName::ALL.len() {
            return Err(format!("a route of {} stages; 1 to {} expected", self.route.len(), AdapterName::ALL.len()));
        }
        if self.route.iter().enumerate().any(|(i, a)| self.route[..i].contains(a)) {
            return Err("an adapter is listed twice in the route".into());
        }
        if self.step as usize > self.route.len() {
            return Err(format!("step {} beyond a route of {} stages", self.step, self.route.len()));
        }
        if self.trace_id.len() != 32 || !self.trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a trace id is 32 hex digits".into());
        }
        if let Some(a) = self.skipped.iter().find(|a| !self.route.contains(a)) {
            return Err(format!("skipped stage {a} is not on the route"));
        }
        Ok(())
    }

    pub fn compound_id(&self) -> String {
        format!("{}_{}", self.run_id, self.index)
    }

    /// The adapter this record is addressed to, or `None` when it is done.
    pub fn current_adapter(&self) -> Option<AdapterName> {
        self.route.get(self.step as usize).copied()
    }

    pub fn is_done(&self) -> bool {
        self.step as usize >= self.route.len()
    }

    pub fn set_section(&mut self, adapter: AdapterName, value: Value) {
        // A `Value` always serialises (its map keys are strings).
        let raw = serde_json::value::to_raw_value(&value).expect("a JSON value serialises");
        self.set_section_raw(adapter, raw);
    }

    /// Sets a section that is already JSON text (e.g. from a cache).
    pub fn set_section_raw(&mut self, adapter: AdapterName, raw: Box<RawValue>) {
        self.errors.remove(adapter.as_str());
        self.sections.insert(adapter.section().as_str().to_owned(), raw);
    }

    /// A section parsed into a tree, if present and well-formed.
    pub fn section_value(&self, section: &str) -> Option<Value> {
        serde_json::from_str(self.sections.get(section)?.get()).ok()
    }

    /// The InChIKey rdkit_local computed (`properties.inchikey`), if any:
    /// what the web adapters key their caches and lookups by.
    pub fn inchikey(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Properties {
            inchikey: Option<String>,
        }
        let p: Properties = serde_json::from_str(self.sections.get("properties")?.get()).ok()?;
        p.inchikey.filter(|k| !k.is_empty())
    }

    pub fn set_error(&mut self, adapter: AdapterName, message: impl Into<String>) {
        self.errors.insert(adapter.as_str().to_owned(), message.into());
    }

    /// Records an error that ends the compound's journey: the remaining stages
    /// are skipped and the compound is reported as failed.
    pub fn set_fatal(&mut self, adapter: AdapterName, message: impl Into<String>) {
        let message = message.into();
        self.set_error(adapter, message.clone());
        self.fatal = Some(message);
    }

    /// Skips the current and every remaining stage: the run was cancelled.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        self.fatal = Some("run cancelled".into());
        while let Some(next) = self.current_adapter() {
            self.skipped.push(next);
            self.step += 1;
        }
    }

    /// Moves the record past the current stage: to the next one, or straight
    /// to done when the compound cannot go on.
    pub fn advance(&mut self) {
        if self.is_done() {
            return;
        }
        self.step += 1;
        if self.fatal.is_some() {
            while let Some(next) = self.current_adapter() {
                self.skipped.push(next);
                self.step += 1;
            }
        }
    }

    pub fn outcome_of(&self, adapter: AdapterName) -> StageOutcome {
        if self.skipped.contains(&adapter) {
            StageOutcome::Skipped
        } else if self.errors.contains_key(adapter.as_str()) {
            StageOutcome::Failed
        } else {
            StageOutcome::Done
        }
    }

    /// Removes U+0000 from every string the record carries (sections,
    /// errors, provenance): upstream services can send it, and Postgres
    /// can store it neither in `text` nor in `jsonb`, so a record holding it
    /// would be refused by every write. Returns whether anything changed.
    pub fn strip_nul(&mut self) -> bool {
        fn clean(v: &mut Value) -> bool {
            match v {
                Value::String(s) if s.contains('\0') => {
                    s.retain(|c| c != '\0');
                    true
                }
                Value::Array(items) => items.iter_mut().fold(false, |changed, v| clean(v) | changed),
                Value::Object(map) => {
                    let mut changed = false;
                    if map.keys().any(|k| k.contains('\0')) {
                        *map = std::mem::take(map).into_iter().map(|(k, v)| (k.replace('\0', ""), v)).collect();
                        changed = true;
                    }
                    map.values_mut().fold(changed, |changed, v| clean(v) | changed)
                }
                _ => false,
            }
        }
        /// U+0000 in JSON text: the escape `\u0000` not itself escaped
        /// (an even number of backslashes before it).
        fn has_nul(text: &str) -> bool {
            text.match_indices("\\u0000").any(|(i, _)| text[..i].bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0)
        }
        let mut changed = false;
        for raw in self.sections.values_mut() {
            if has_nul(raw.get()) {
                if let Ok(mut v) = serde_json::from_str::<Value>(raw.get()) {
                    if clean(&mut v) {
                        if let Ok(back) = serde_json::value::to_raw_value(&v) {
                            *raw = back;
                            changed = true;
                        }
                    }
                }
            }
        }
        for text in self.errors.values_mut().chain(self.provenance.values_mut()).chain([&mut self.smiles]) {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
                changed = true;
            }
        }
        if let Some(f) = self.fatal.as_mut().filter(|f| f.contains('\0')) {
            f.retain(|c| c != '\0');
            changed = true;
        }
        changed
    }

    /// The JetStream message id: stable for a (run, compound, step), so a
    /// re-publish after a crash is dropped by the stream's de-duplication.
    pub fn message_id(&self) -> String {
        format!("{}.{}.{}", self.run_id, self.index, self.step)
    }

    /// The message's headers: its id, its step and the trace context of the
    /// hop that publishes it (`cx`'s span), or, when `cx` has none (an old
    /// record, a test), a fresh span id under the record's trace id.
    pub fn headers_in(&self, cx: &opentelemetry::Context) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(headers::MSG_ID, self.message_id().as_str());
        crate::telemetry::inject(cx, &mut h);
        if h.get(headers::TRACEPARENT).is_none() {
            h.insert(headers::TRACEPARENT, traceparent(&self.trace_id).as_str());
        }
        h.insert(headers::STEP, self.step.to_string().as_str());
        h
    }

    /// The headers with no trace hop of their own (a fresh span id).
    pub fn headers(&self) -> HeaderMap {
        self.headers_in(&opentelemetry::Context::new())
    }
}

/// A W3C `traceparent` value with a fresh span id for this hop.
pub fn traceparent(trace_id: &str) -> String {
    format!("00-{}-{:016x}-01", trace_id, rand::random::<u64>().max(1))
}

/// The trace id of a `traceparent` header value, if it is well formed.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    (trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdapterName::*;

    fn run() -> RunId {
        RunId::parse("run_0000000000000001").unwrap()
    }

    #[test]
    fn a_fatal_error_skips_the_remaining_stages() {
        let mut r = CompoundRecord::new(&run(), 3, "C1CC".into(), vec![RdkitLocal, AdmetAi, Chembl]);
        r.set_fatal(RdkitLocal, "invalid SMILES");
        r.advance();
        assert!(r.is_done());
        assert_eq!(r.skipped, vec![AdmetAi, Chembl]);
        assert_eq!(r.outcome_of(RdkitLocal), StageOutcome::Failed);
        assert_eq!(r.outcome_of(Chembl), StageOutcome::Skipped);
    }

    #[test]
    fn records_advance_one_stage_at_a_time_and_round_trip_as_json() {
        let mut r = CompoundRecord::new(&run(), 0, "CCO".into(), vec![RdkitLocal, Pubchem]);
        assert_eq!(r.current_adapter(), Some(RdkitLocal));
        r.set_section(RdkitLocal, serde_json::json!({"qed": 0.4}));
        r.advance();
        assert_eq!(r.current_adapter(), Some(Pubchem));
        assert_eq!(r.message_id(), "run_0000000000000001.0.1");
        let back: CompoundRecord = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back.section_value("properties"), Some(serde_json::json!({"qed": 0.4})));
        assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&r).unwrap());
    }

    #[test]
    fn nul_characters_are_stripped_from_every_string_but_escaped_backslashes_stay() {
        let mut r = CompoundRecord::new(&run(), 0, "CCO".into(), vec![Pubchem]);
        r.set_section(Pubchem, serde_json::json!({"iupac_name": "eth\u{0}anol", "synonyms": ["a\u{0}"], "k\u{0}": 1, "path": "C:\\u0000"}));
        r.set_error(Chembl, "bad\u{0} answer");
        assert!(r.strip_nul());
        assert_eq!(r.section_value("pubchem"), Some(serde_json::json!({"iupac_name": "ethanol", "synonyms": ["a"], "k": 1, "path": "C:\\u0000"})));
        assert_eq!(r.errors["chembl"], "bad answer");
        assert!(!r.strip_nul(), "nothing left to strip");
        let mut escaped = CompoundRecord::new(&run(), 0, "CCO".into(), vec![Pubchem]);
        escaped.set_section_raw(Pubchem, serde_json::value::RawValue::from_string(r#"{"z": 1, "path": "C:\\u0000"}"#.into()).unwrap());
        assert!(!escaped.strip_nul(), "an escaped backslash followed by u0000 is not U+0000");
        assert_eq!(escaped.sections["pubchem"].get(), r#"{"z": 1, "path": "C:\\u0000"}"#, "left byte for byte");
    }

    #[test]
    fn a_record_that_could_loop_or_overcount_is_refused_when_decoded() {
        let good = CompoundRecord::new(&run(), 0, "C".into(), vec![RdkitLocal, AdmetAi]);
        assert!(CompoundRecord::decode(&serde_json::to_vec(&good).unwrap()).is_ok());
        let refused = |edit: &dyn Fn(&mut Value)| {
            let mut v = serde_json::to_value(&good).unwrap();
            edit(&mut v);
            CompoundRecord::decode(&serde_json::to_vec(&v).unwrap()).unwrap_err().to_string()
        };
        // A route longer than a u16 step can address: it used to wrap and loop.
        assert!(refused(&|v| v["route"] = serde_json::json!(vec!["rdkit_local"; 70_000])).contains("route of 70000 stages"));
        assert!(refused(&|v| v["route"] = serde_json::json!(["rdkit_local", "rdkit_local"])).contains("twice"));
        assert!(refused(&|v| v["route"] = serde_json::json!([])).contains("route of 0 stages"));
        assert!(refused(&|v| v["route"] = serde_json::json!(["vina"])).starts_with("undecodable record"));
        assert!(refused(&|v| v["step"] = serde_json::json!(3)).contains("step 3 beyond"));
        // The run id is checked as it is read: refused like any undecodable record.
        assert!(refused(&|v| v["run_id"] = serde_json::json!("run_x")).starts_with("undecodable record: malformed run id \"run_x\""));
        assert!(refused(&|v| v["run_id"] = serde_json::json!(7)).starts_with("undecodable record"));
        assert!(refused(&|v| v["trace_id"] = serde_json::json!("f".repeat(40))).contains("trace id"));
        assert!(refused(&|v| v["skipped"] = serde_json::json!(["chembl"])).contains("not on the route"));
    }

    #[test]
    fn the_run_id_goes_on_the_wire_as_its_string() {
        let mut r = CompoundRecord::new(&run(), 2, "CCO".into(), vec![RdkitLocal]);
        r.trace_id = "0".repeat(32);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"run_id":"run_0000000000000001","index":2,"smiles":"CCO","route":["rdkit_local"],"step":0,"trace_id":"00000000000000000000000000000000","sections":{},"errors":{},"provenance":{}}"#
        );
        assert_eq!(CompoundRecord::decode(text.as_bytes()).unwrap().run_id, run());
    }

    #[test]
    fn traceparent_carries_the_trace_id() {
        let r = CompoundRecord::new(&run(), 0, "C".into(), vec![RdkitLocal]);
        let tp = traceparent(&r.trace_id);
        assert_eq!(trace_id_of(&tp), Some(r.trace_id.as_str()));
        assert_eq!(trace_id_of("garbage"), None);
    }
}
