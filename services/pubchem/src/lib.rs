//! The pubchem adapter: the `pubchem` section (CID, IUPAC name, formula,
//! weights, XLogP, TPSA, H-bond and rotatable-bond counts, SMILES, InChI,
//! InChIKey, a few synonyms when configured) from PubChem PUG-REST.
//!
//! - One request per compound: `POST /compound/smiles/property/<list>/JSON`
//!   with the SMILES in a form body (a SMILES in a URL path breaks on `/`, `#`, `\`).
//! - A valid SMILES PubChem does not know answers CID 0: a result
//!   (`found: false`), not an error; so is a `PUGREST.NotFound` fault.
//! - Every request waits for a slot of the rate limit shared by all replicas
//!   (5/s and 400/min by default) and the `X-Throttling-Control` header slows
//!   all of them down (Yellow, Red) or pauses them (Black).
//! - 503/504/timeouts/connection failures are retried through JetStream (NAK
//!   with a jittered, growing delay, at least the `Retry-After`) up to
//!   `PUBCHEM_MAX_ATTEMPTS`; then the compound carries an error in `pubchem`.
//! - Answers are cached by InChIKey (from rdkit_local) in a JetStream
//!   key-value bucket with a TTL shared by all replicas; an answer whose
//!   InChIKey is not that key (PubChem standardized the input into another
//!   structure) is flagged `structure_match: false` and never cached.

use pharmforge_core::config::{env_millis, env_or, env_parse, ConfigError, NatsSettings};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome, Shutdown};
use pharmforge_webclient::{
    backoff, classify_status, http_client, parse_retry_after, FetchError, RateLimitSettings, RetrySettings, SharedCache, SharedRateLimiter, Throttle,
};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://pubchem.ncbi.nlm.nih.gov/rest/pug";

/// The properties asked for, in PUG-REST's names.
pub const PROPERTIES: &str =
    "MolecularFormula,MolecularWeight,SMILES,ConnectivitySMILES,InChI,InChIKey,IUPACName,XLogP,TPSA,HBondDonorCount,HBondAcceptorCount,RotatableBondCount";

#[derive(Debug, Clone)]
pub struct PubchemSettings {
    /// `PUBCHEM_BASE_URL`
    pub base_url: String,
    /// `PUBCHEM_TIMEOUT_MS` (per request; default 8000) and `PUBCHEM_CONNECT_TIMEOUT_MS` (3000).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// `PUBCHEM_RATE_PER_SECOND` (5), `PUBCHEM_RATE_PER_MINUTE` (400), `PUBCHEM_RATE_MARGIN_MS` (40),
    /// `PUBCHEM_BLACK_PAUSE_MS` (60000).
    pub rate: RateLimitSettings,
    /// `PUBCHEM_MAX_ATTEMPTS` (3), `PUBCHEM_BACKOFF_MS` (2000), `PUBCHEM_MAX_BACKOFF_MS` (30000).
    pub retry: RetrySettings,
    /// `PUBCHEM_CACHE_TTL_SECS` (7 days; 0 disables the cache).
    pub cache_ttl: Duration,
    /// `PUBCHEM_CACHE_MAX_BYTES` (1 GiB): the cache bucket's size; when full, its
    /// oldest entries make room.
    pub cache_max_bytes: i64,
    /// `PUBCHEM_SYNONYMS` (0): how many synonyms to fetch; more than 0 costs a
    /// second request per found compound.
    pub synonyms: usize,
}

impl PubchemSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_attempts: i64 = env_parse("PUBCHEM_MAX_ATTEMPTS", 3)?;
        Ok(PubchemSettings {
            base_url: env_or("PUBCHEM_BASE_URL", DEFAULT_BASE_URL).trim_end_matches('/').to_owned(),
            timeout: env_millis("PUBCHEM_TIMEOUT_MS", 8_000)?,
            connect_timeout: env_millis("PUBCHEM_CONNECT_TIMEOUT_MS", 3_000)?,
            rate: RateLimitSettings {
                per_second: env_parse("PUBCHEM_RATE_PER_SECOND", 5.0)?,
                per_minute: env_parse("PUBCHEM_RATE_PER_MINUTE", 400.0)?,
                margin_ms: env_parse("PUBCHEM_RATE_MARGIN_MS", 40)?,
                black_pause: env_millis("PUBCHEM_BLACK_PAUSE_MS", 60_000)?,
            },
            retry: RetrySettings {
                // Below the consumer's max_deliver, so the adapter always has the last word.
                max_attempts: max_attempts.clamp(1, 15),
                base_backoff: env_millis("PUBCHEM_BACKOFF_MS", 2_000)?,
                max_backoff: env_millis("PUBCHEM_MAX_BACKOFF_MS", 30_000)?,
            },
            cache_ttl: Duration::from_secs(env_parse("PUBCHEM_CACHE_TTL_SECS", 7 * 24 * 3600)?),
            cache_max_bytes: env_parse("PUBCHEM_CACHE_MAX_BYTES", 1i64 << 30)?.max(1),
            synonyms: env_parse("PUBCHEM_SYNONYMS", 0)?,
        })
    }

    /// Every variable [`Self::from_env`] reads, for `--help`.
    pub fn vars() -> Vec<pharmforge_core::config::EnvVar> {
        use pharmforge_core::config::EnvVar;
        let mut vars = pharmforge_webclient::settings_vars("PUBCHEM", "PubChem PUG-REST", DEFAULT_BASE_URL, 400);
        vars.extend([
            EnvVar::new("PUBCHEM_BLACK_PAUSE_MS", 60_000, "pause of every replica when PubChem says it is overloaded (throttling status black)"),
            EnvVar::new("PUBCHEM_SYNONYMS", 0, "synonyms fetched per found compound (more than 0 costs a second request)"),
        ]);
        vars
    }
}

/// The PUG-REST client: one compound, one request (two with synonyms).
pub struct PubchemClient {
    http: reqwest::Client,
    settings: PubchemSettings,
    limiter: Option<SharedRateLimiter>,
}

impl PubchemClient {
    pub fn new(settings: PubchemSettings, limiter: Option<SharedRateLimiter>) -> Self {
        PubchemClient { http: http_client(settings.timeout, settings.connect_timeout), settings, limiter }
    }

    /// Sends one request after waiting for a slot; reads the throttling header.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, reqwest::header::HeaderMap, String), FetchError> {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        let resp = req.send().await.map_err(|e| {
            pharmforge_webclient::count_upstream("pubchem", None);
            FetchError::from_reqwest("PubChem", &e)
        })?;
        let status = resp.status().as_u16();
        pharmforge_webclient::count_upstream("pubchem", Some(status));
        let headers = resp.headers().clone();
        if let (Some(l), Some(t)) = (&self.limiter, headers.get("x-throttling-control").and_then(|v| v.to_str().ok()).and_then(Throttle::parse)) {
            l.observe(t).await;
        }
        let body = pharmforge_webclient::read_body("PubChem", resp, pharmforge_webclient::MAX_RESPONSE_BYTES).await?;
        Ok((status, headers, body))
    }

    /// The properties of one SMILES: `Ok(None)` when PubChem does not know it.
    pub async fn properties(&self, smiles: &str) -> Result<Option<Map<String, Value>>, FetchError> {
        let url = format!("{}/compound/smiles/property/{}/JSON", self.settings.base_url, PROPERTIES);
        let (status, headers, body) = self.send(self.http.post(url).form(&[("smiles", smiles)])).await?;
        if status == 200 {
            let v: Value = serde_json::from_str(&body).map_err(|e| FetchError::Permanent(format!("PubChem answered 200 with unreadable JSON: {e}")))?;
            let first = v["PropertyTable"]["Properties"].get(0).and_then(|p| p.as_object()).cloned();
            return match first {
                Some(p) if p.get("CID").and_then(Value::as_i64).unwrap_or(0) > 0 => Ok(Some(p)),
                Some(_) => Ok(None), // CID 0: a valid structure PubChem does not have
                None => Err(FetchError::Permanent("PubChem answered 200 without a PropertyTable".into())),
            };
        }
        self.fault(status, &headers, &body).map(|()| None)
    }

    /// Reads a non-200 answer: `Ok(())` for not-found, otherwise the error.
    async fn fault_pause(&self, retry_after: Option<Duration>) {
        if let (Some(l), Some(ra)) = (&self.limiter, retry_after) {
            l.pause_for(ra).await;
        }
    }

    fn fault(&self, status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> Result<(), FetchError> {
        let fault: Option<Value> = serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("Fault").cloned());
        let code = fault.as_ref().and_then(|f| f["Code"].as_str()).unwrap_or("");
        if status == 404 || code == "PUGREST.NotFound" {
            return Ok(());
        }
        let detail = match &fault {
            Some(f) => {
                let mut m = format!("{} {}", f["Code"].as_str().unwrap_or("?"), f["Message"].as_str().unwrap_or(""));
                if let Some(d) = f["Details"].as_array().and_then(|d| d.first()).and_then(Value::as_str) {
                    m.push_str(&format!(" ({d})"));
                }
                m
            }
            None if body.trim_start().starts_with('<') => "an HTML error page".to_owned(),
            None => body.chars().take(120).collect(),
        };
        let message = format!("PubChem answered {status}: {}", detail.trim());
        match classify_status(status) {
            Some(true) => Err(FetchError::Transient { message, retry_after: parse_retry_after(headers.get("retry-after").and_then(|v| v.to_str().ok())) }),
            _ => Err(FetchError::Permanent(message)),
        }
    }

    /// Up to `n` synonyms of a CID (a second request). A CID without
    /// synonyms (404 / `PUGREST.NotFound`) has none; any other failure is an
    /// error, which the caller reports beside the properties.
    pub async fn synonyms(&self, cid: i64, n: usize) -> Result<Vec<String>, FetchError> {
        let url = format!("{}/compound/cid/{cid}/synonyms/JSON", self.settings.base_url);
        let (status, headers, body) = self.send(self.http.get(url)).await?;
        if status != 200 {
            return self.fault(status, &headers, &body).map(|()| Vec::new());
        }
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| FetchError::Permanent(format!("PubChem answered 200 with unreadable JSON for the synonyms of CID {cid}: {e}")))?;
        let list = v["InformationList"]["Information"][0]["Synonym"]
            .as_array()
            .ok_or_else(|| FetchError::Permanent(format!("PubChem answered 200 without an InformationList for the synonyms of CID {cid}")))?;
        Ok(list.iter().filter_map(|s| s.as_str().map(str::to_owned)).take(n).collect())
    }
}

fn num(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Number(n)) => Value::Number(n.clone()),
        // MolecularWeight and ExactMass come as strings.
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(|f| json!(f)).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn text(v: Option<&Value>) -> Value {
    v.and_then(Value::as_str).map(|s| Value::String(s.to_owned())).unwrap_or(Value::Null)
}

/// The `pubchem` section for a found compound (absent properties are null).
pub fn section_from_properties(p: &Map<String, Value>, synonyms: Vec<String>) -> Value {
    json!({
        "found": true,
        "cid": p.get("CID").and_then(Value::as_i64),
        "iupac_name": text(p.get("IUPACName")),
        "formula": text(p.get("MolecularFormula")),
        "molecular_weight": num(p.get("MolecularWeight")),
        "xlogp": num(p.get("XLogP")),
        "tpsa": num(p.get("TPSA")),
        "h_bond_donors": num(p.get("HBondDonorCount")),
        "h_bond_acceptors": num(p.get("HBondAcceptorCount")),
        "rotatable_bonds": num(p.get("RotatableBondCount")),
        // Since 2025: SMILES (isomeric) and ConnectivitySMILES; older answers used
        // IsomericSMILES / CanonicalSMILES.
        "smiles": text(p.get("SMILES").or(p.get("IsomericSMILES"))),
        "connectivity_smiles": text(p.get("ConnectivitySMILES").or(p.get("CanonicalSMILES"))),
        "inchi": text(p.get("InChI")),
        "inchikey": text(p.get("InChIKey")),
        "synonyms": synonyms,
    })
}

/// The `pubchem` section for a structure PubChem does not have.
pub fn section_not_found() -> Value {
    json!({ "found": false, "cid": null, "note": "not in PubChem" })
}

pub struct PubchemAdapter {
    client: PubchemClient,
    cache: Option<SharedCache>,
    settings: PubchemSettings,
}

/// Bucket names, under the stack's prefix.
pub fn cache_bucket(prefix: &str) -> String {
    format!("{prefix}pubchem_cache")
}

impl PubchemAdapter {
    pub fn new(settings: PubchemSettings, limiter: Option<SharedRateLimiter>, cache: Option<SharedCache>) -> Self {
        PubchemAdapter { client: PubchemClient::new(settings.clone(), limiter), cache, settings }
    }

    /// Opens the shared rate limit and cache over the service's NATS
    /// connection (retrying until shutdown), then builds the adapter.
    pub async fn connect(client: async_nats::Client, nats: &NatsSettings, settings: PubchemSettings, shutdown: &Shutdown) -> Option<Self> {
        let shared = pharmforge_webclient::Shared {
            service: "pubchem",
            rate: settings.rate.clone(),
            cache_bucket: &cache_bucket(&nats.prefix),
            cache_ttl: settings.cache_ttl,
            cache_max_bytes: settings.cache_max_bytes,
        };
        let (limiter, cache) = pharmforge_webclient::connect_shared(client, nats, shared, shutdown).await?;
        tracing::info!(base_url = %settings.base_url, spacing_ms = settings.rate.spacing_ms(), cache = cache.is_some(), "pubchem client ready");
        Some(Self::new(settings, Some(limiter), cache))
    }

    /// The section for one compound (cache, then PubChem), or why not.
    async fn lookup(&self, record: &CompoundRecord) -> Result<Box<RawValue>, FetchError> {
        let key = record.inchikey();
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(hit) = cache.get_hit(key).await {
                return Ok(hit);
            }
        }
        let found = self.client.properties(&record.smiles).await;
        if let Err(FetchError::Transient { retry_after: Some(ra), .. }) = &found {
            self.client.fault_pause(Some(*ra)).await;
        }
        // A failed synonyms request does not cost the compound its
        // properties: the section says what is missing and why, and is not
        // cached, so the next run asks again.
        let mut complete = true;
        let mut section = match found? {
            Some(p) => {
                let cid = p.get("CID").and_then(Value::as_i64).unwrap_or(0);
                let synonyms = match self.settings.synonyms {
                    0 => Ok(vec![]),
                    n => self.client.synonyms(cid, n).await,
                };
                if let Err(FetchError::Transient { retry_after: Some(ra), .. }) = &synonyms {
                    self.client.fault_pause(Some(*ra)).await;
                }
                match synonyms {
                    Ok(list) => section_from_properties(&p, list),
                    Err(e) => {
                        complete = false;
                        let mut section = section_from_properties(&p, vec![]);
                        section["synonyms"] = Value::Null;
                        section["synonyms_error"] = json!(format!("synonyms not retrieved: {e}"));
                        section
                    }
                }
            }
            None => section_not_found(),
        };
        // PubChem standardizes what it is given (tautomers, charges) and
        // may answer for another structure than the one RDKit read: its
        // answer is kept for this compound but not cached under RDKit's key,
        // where it would answer for the wrong structure for days.
        if let (Some(ours), Some(theirs)) = (&key, section["inchikey"].as_str().map(str::to_owned)) {
            if *ours != theirs {
                complete = false;
                section["structure_match"] = json!(false);
                section["note"] = json!(format!("PubChem read this SMILES as another structure (InChIKey {theirs}; RDKit's is {ours})"));
            }
        }
        section["source"] = json!("pubchem");
        section["source_url"] = json!(self.settings.base_url);
        section["retrieved_at"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        section["cache_hit"] = json!(false);
        if let (true, Some(cache), Some(key)) = (complete, &self.cache, &key) {
            cache.put(key, &section).await;
        }
        Ok(serde_json::value::to_raw_value(&section).expect("a JSON value serialises"))
    }

    async fn enrich_one(&self, attempt: Attempt) -> Outcome {
        let mut record = attempt.record;
        match self.lookup(&record).await {
            Ok(section) => record.set_section_raw(AdapterName::Pubchem, section),
            Err(FetchError::Transient { message, retry_after }) if attempt.delivered < self.settings.retry.max_attempts => {
                let delay = backoff(&self.settings.retry, attempt.delivered, retry_after);
                tracing::info!(compound_id = %record.compound_id(), attempt = attempt.delivered, delay_ms = delay.as_millis() as u64, error = %message, "pubchem: retrying later");
                return Outcome::Retry(delay);
            }
            Err(FetchError::Transient { message, .. }) => {
                record.set_error(AdapterName::Pubchem, format!("PubChem unavailable after {} attempts: {message}", attempt.delivered))
            }
            Err(FetchError::Permanent(message)) => record.set_error(AdapterName::Pubchem, message),
        }
        Outcome::Forward(record)
    }
}

impl Adapter for PubchemAdapter {
    fn name(&self) -> AdapterName {
        AdapterName::Pubchem
    }

    fn provenance(&self) -> String {
        format!("pubchem {} (PUG-REST {})", env!("CARGO_PKG_VERSION"), self.settings.base_url)
    }

    fn batch_size(&self, configured: usize) -> usize {
        pharmforge_webclient::batch_size(self.client.limiter.as_ref(), configured)
    }

    async fn enrich(&self, batch: Vec<CompoundRecord>) -> Vec<CompoundRecord> {
        // Only used by callers that do not retry: a retry becomes an error.
        let attempts = batch.iter().cloned().map(|record| Attempt { record, delivered: i64::MAX }).collect();
        let outcomes = self.enrich_attempts(attempts).await;
        outcomes
            .into_iter()
            .zip(batch)
            .map(|(o, r)| match o {
                Outcome::Forward(r) => r,
                Outcome::Retry(_) => r,
            })
            .collect()
    }

    async fn enrich_attempts(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        futures::future::join_all(batch.into_iter().map(|a| self.enrich_one(a))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_read_from_strings_and_new_keys() {
        let p: Map<String, Value> = serde_json::from_value(json!({
            "CID": 2244, "MolecularFormula": "C9H8O4", "MolecularWeight": "180.16",
            "SMILES": "CC(=O)OC1=CC=CC=C1C(=O)O", "ConnectivitySMILES": "CC(=O)OC1=CC=CC=C1C(=O)O",
            "InChIKey": "BSYNRYMUTXBXSQ-UHFFFAOYSA-N", "TPSA": 63.6, "HBondDonorCount": 1
        }))
        .unwrap();
        let s = section_from_properties(&p, vec![]);
        assert_eq!(s["cid"], 2244);
        assert_eq!(s["molecular_weight"], 180.16);
        assert_eq!(s["connectivity_smiles"], "CC(=O)OC1=CC=CC=C1C(=O)O");
        assert_eq!(s["xlogp"], Value::Null, "an absent property is null");
        assert_eq!(s["iupac_name"], Value::Null);
    }
}
