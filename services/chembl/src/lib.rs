//! The chembl adapter: the `bioactivity` section from the ChEMBL web services.
//!
//! Per batch of compounds (requests are shared through `__in` filters):
//! 1. the molecules by InChIKey (from rdkit_local): `GET /molecule.json?
//!    molecule_structures__standard_inchi_key__in=K1,K2,...` (one compound
//!    alone: `GET /molecule/{inchikey}.json`, whose 404 has an empty body and is
//!    a not-found, never retried);
//! 2. compounds not found that way: `molecule_structures__canonical_smiles__flexmatch`
//!    (one request each; `CHEMBL_FLEXMATCH=false` turns it off);
//! 3. their activities: `GET /activity.json?molecule_chembl_id__in=...&limit=1000&only=...`,
//!    following `page_meta.next` up to `CHEMBL_MAX_ACTIVITY_PAGES` pages per batch
//!    (beyond it the section says `truncated: true`);
//! 4. the ChEMBL release, once per process, from `/status.json`.
//!
//! Every URL ends in `.json` (ChEMBL's default is XML) and every request waits
//! for a slot of the rate limit shared by all replicas. 500/502/503/504,
//! timeouts and connection failures are retried through JetStream (NAK with a
//! jittered, growing delay) up to `CHEMBL_MAX_ATTEMPTS`; then the compound
//! carries an error in `chembl`. Sections are cached by InChIKey in a JetStream
//! key-value bucket with a TTL shared by all replicas.

use pharmforge_core::config::{env_millis, env_or, env_parse, ConfigError, NatsSettings};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome, Shutdown};
use pharmforge_webclient::{
    backoff, classify_status, http_client, parse_retry_after, FetchError, RateLimitSettings, RetrySettings, SharedCache, SharedRateLimiter,
};
use reqwest::Url;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://www.ebi.ac.uk/chembl/api/data";

/// The activity fields asked for (`only=`).
pub const ACTIVITY_FIELDS: &str = "activity_id,molecule_chembl_id,assay_chembl_id,assay_type,target_chembl_id,target_pref_name,target_organism,standard_type,standard_relation,standard_value,standard_units,pchembl_value";

#[derive(Debug, Clone)]
pub struct ChemblSettings {
    /// `CHEMBL_BASE_URL`
    pub base_url: String,
    /// `CHEMBL_TIMEOUT_MS` (8000), `CHEMBL_CONNECT_TIMEOUT_MS` (3000)
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// `CHEMBL_RATE_PER_SECOND` (5), `CHEMBL_RATE_PER_MINUTE` (300), `CHEMBL_RATE_MARGIN_MS` (40)
    pub rate: RateLimitSettings,
    /// `CHEMBL_MAX_ATTEMPTS` (3), `CHEMBL_BACKOFF_MS` (2000), `CHEMBL_MAX_BACKOFF_MS` (30000)
    pub retry: RetrySettings,
    /// `CHEMBL_CACHE_TTL_SECS` (7 days; 0 disables the cache)
    pub cache_ttl: Duration,
    /// `CHEMBL_CACHE_MAX_BYTES` (1 GiB): the cache bucket's size; when full, its
    /// oldest entries make room.
    pub cache_max_bytes: i64,
    /// `CHEMBL_MAX_ACTIVITY_PAGES` (10): pages of 1000 activities per batch
    pub max_pages: usize,
    /// `CHEMBL_MAX_ACTIVITIES` (50): activities kept in a section, most potent first
    pub max_activities: usize,
    /// `CHEMBL_FLEXMATCH` (true): look up by SMILES when the InChIKey finds nothing
    pub flexmatch: bool,
}

impl ChemblSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_attempts: i64 = env_parse("CHEMBL_MAX_ATTEMPTS", 3)?;
        Ok(ChemblSettings {
            base_url: env_or("CHEMBL_BASE_URL", DEFAULT_BASE_URL).trim_end_matches('/').to_owned(),
            timeout: env_millis("CHEMBL_TIMEOUT_MS", 8_000)?,
            connect_timeout: env_millis("CHEMBL_CONNECT_TIMEOUT_MS", 3_000)?,
            rate: RateLimitSettings {
                per_second: env_parse("CHEMBL_RATE_PER_SECOND", 5.0)?,
                per_minute: env_parse("CHEMBL_RATE_PER_MINUTE", 300.0)?,
                margin_ms: env_parse("CHEMBL_RATE_MARGIN_MS", 40)?,
                black_pause: Duration::from_secs(60),
            },
            retry: RetrySettings {
                max_attempts: max_attempts.clamp(1, 15),
                base_backoff: env_millis("CHEMBL_BACKOFF_MS", 2_000)?,
                max_backoff: env_millis("CHEMBL_MAX_BACKOFF_MS", 30_000)?,
            },
            cache_ttl: Duration::from_secs(env_parse("CHEMBL_CACHE_TTL_SECS", 7 * 24 * 3600)?),
            cache_max_bytes: env_parse("CHEMBL_CACHE_MAX_BYTES", 1i64 << 30)?.max(1),
            max_pages: env_parse("CHEMBL_MAX_ACTIVITY_PAGES", 10usize)?.max(1),
            max_activities: env_parse("CHEMBL_MAX_ACTIVITIES", 50)?,
            flexmatch: env_parse("CHEMBL_FLEXMATCH", true)?,
        })
    }

    /// Every variable [`Self::from_env`] reads, for `--help`.
    pub fn vars() -> Vec<pharmforge_core::config::EnvVar> {
        use pharmforge_core::config::EnvVar;
        let mut vars = pharmforge_webclient::settings_vars("CHEMBL", "the ChEMBL web services", DEFAULT_BASE_URL, 300);
        vars.extend([
            EnvVar::new("CHEMBL_MAX_ACTIVITY_PAGES", 10, "pages of activities read per compound at most"),
            EnvVar::new("CHEMBL_MAX_ACTIVITIES", 50, "activities kept per compound, most potent first"),
            EnvVar::new("CHEMBL_FLEXMATCH", true, "look a compound up by its SMILES (flexmatch) when its InChIKey finds nothing"),
        ]);
        vars
    }
}

pub struct ChemblClient {
    http: reqwest::Client,
    settings: ChemblSettings,
    limiter: Option<SharedRateLimiter>,
    release: tokio::sync::Mutex<Option<String>>,
}

impl ChemblClient {
    pub fn new(settings: ChemblSettings, limiter: Option<SharedRateLimiter>) -> Self {
        ChemblClient { http: http_client(settings.timeout, settings.connect_timeout), settings, limiter, release: tokio::sync::Mutex::new(None) }
    }

    /// `<base URL>/<segments>?<query>`, each part percent-encoded.
    fn api_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<String, FetchError> {
        let bad = |why: String| FetchError::Permanent(format!("CHEMBL_BASE_URL {:?} {why}", self.settings.base_url));
        let mut url = Url::parse(&self.settings.base_url).map_err(|e| bad(format!("is not a URL: {e}")))?;
        url.path_segments_mut().map_err(|_| bad("cannot have a path".into()))?.pop_if_empty().extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url.into())
    }

    /// A `page_meta.next` link (host-relative, as ChEMBL sends it, or whole)
    /// as a URL on the base URL's host.
    fn next_url(&self, next: &str) -> Result<String, FetchError> {
        Url::parse(&self.settings.base_url)
            .and_then(|base| base.join(next))
            .map(String::from)
            .map_err(|e| FetchError::Permanent(format!("ChEMBL's next page {next:?} is not a URL: {e}")))
    }

    /// A JSON GET: `Ok(None)` on 404 (a not-found, never retried).
    async fn get_json(&self, url: &str) -> Result<Option<Value>, FetchError> {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        let resp = self.http.get(url).header("accept", "application/json").send().await.map_err(|e| {
            pharmforge_webclient::count_upstream("chembl", None);
            FetchError::from_reqwest("ChEMBL", &e)
        })?;
        let status = resp.status().as_u16();
        pharmforge_webclient::count_upstream("chembl", Some(status));
        let retry_after = parse_retry_after(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()));
        let body = pharmforge_webclient::read_body("ChEMBL", resp, pharmforge_webclient::MAX_RESPONSE_BYTES).await?;
        match classify_status(status) {
            None => serde_json::from_str(&body).map(Some).map_err(|e| FetchError::Permanent(format!("ChEMBL answered {status} with unreadable JSON: {e}"))),
            _ if status == 404 => Ok(None),
            Some(retry) => {
                let what = if body.trim_start().starts_with('<') {
                    "an HTML error page".to_owned()
                } else if body.trim().is_empty() {
                    "an empty body".to_owned()
                } else {
                    body.chars().take(120).collect()
                };
                let message = format!("ChEMBL answered {status}: {what}");
                if retry {
                    if let (Some(l), Some(ra)) = (&self.limiter, retry_after) {
                        l.pause_for(ra).await;
                    }
                    Err(FetchError::Transient { message, retry_after })
                } else {
                    Err(FetchError::Permanent(message))
                }
            }
        }
    }

    /// The ChEMBL release (e.g. `ChEMBL_35`), asked once per process.
    pub async fn release(&self) -> Option<String> {
        let mut r = self.release.lock().await;
        if r.is_none() {
            if let Ok(url) = self.api_url(&["status.json"], &[]) {
                if let Ok(Some(v)) = self.get_json(&url).await {
                    *r = v["chembl_db_version"].as_str().map(str::to_owned);
                }
            }
        }
        r.clone()
    }

    /// InChIKey → molecule_chembl_id for those ChEMBL has.
    pub async fn molecules_by_inchikey(&self, keys: &[String]) -> Result<HashMap<String, String>, FetchError> {
        let mut out = HashMap::new();
        if keys.len() == 1 {
            let url = self.api_url(&["molecule", &format!("{}.json", keys[0])], &[])?;
            if let Some(m) = self.get_json(&url).await? {
                if let Some(id) = m["molecule_chembl_id"].as_str() {
                    out.insert(keys[0].clone(), id.to_owned());
                }
            }
            return Ok(out);
        }
        for chunk in keys.chunks(50) {
            let keys = chunk.join(",");
            let url = self.api_url(
                &["molecule.json"],
                &[("molecule_structures__standard_inchi_key__in", &keys), ("only", "molecule_chembl_id,molecule_structures"), ("limit", "1000")],
            )?;
            let Some(v) = self.get_json(&url).await? else { continue };
            for m in v["molecules"].as_array().into_iter().flatten() {
                if let (Some(id), Some(key)) = (m["molecule_chembl_id"].as_str(), m["molecule_structures"]["standard_inchi_key"].as_str()) {
                    out.entry(key.to_owned()).or_insert_with(|| id.to_owned());
                }
            }
        }
        Ok(out)
    }

    /// The molecule whose structure flex-matches a SMILES, if any.
    pub async fn molecule_by_smiles(&self, smiles: &str) -> Result<Option<String>, FetchError> {
        let url =
            self.api_url(&["molecule.json"], &[("molecule_structures__canonical_smiles__flexmatch", smiles), ("only", "molecule_chembl_id"), ("limit", "1")])?;
        Ok(self.get_json(&url).await?.and_then(|v| v["molecules"][0]["molecule_chembl_id"].as_str().map(str::to_owned)))
    }

    /// Activities of these molecules, following `page_meta.next` up to the
    /// page cap; `true` when the cap cut it short.
    pub async fn activities(&self, ids: &[String]) -> Result<(Vec<Value>, bool), FetchError> {
        let ids = ids.join(",");
        let mut url = self.api_url(&["activity.json"], &[("molecule_chembl_id__in", &ids), ("limit", "1000"), ("only", ACTIVITY_FIELDS)])?;
        let mut out = Vec::new();
        for _ in 0..self.settings.max_pages {
            let Some(v) = self.get_json(&url).await? else { return Ok((out, false)) };
            out.extend(v["activities"].as_array().cloned().unwrap_or_default());
            match v["page_meta"]["next"].as_str() {
                Some(next) if !next.is_empty() => {
                    url = self.next_url(next)?;
                }
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }
}

/// A decimal ChEMBL sends as a string (or a number, or null).
fn dec(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn desc(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    // Some before None, larger first.
    b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal)
}

/// What a molecule's activities say of one target.
struct TargetSummary {
    name: Value,
    organism: Value,
    best_pchembl: Option<f64>,
    activities: usize,
}

/// The `bioactivity` section of one molecule from its activities.
pub fn section(chembl_id: &str, activities: &[Value], max_activities: usize) -> Value {
    let mut assay_types = BTreeSet::new();
    let mut targets: BTreeMap<String, TargetSummary> = BTreeMap::new();
    let (mut best_ic50, mut best_ki, mut best_p): (Option<f64>, Option<f64>, Option<f64>) = (None, None, None);
    let mut rows = Vec::with_capacity(activities.len());
    for a in activities {
        if let Some(t) = a["assay_type"].as_str() {
            assay_types.insert(t.to_owned());
        }
        let value = dec(&a["standard_value"]);
        let p = dec(&a["pchembl_value"]);
        let nm = a["standard_units"].as_str() == Some("nM");
        let exact = matches!(a["standard_relation"].as_str(), Some("=") | None);
        if nm && exact {
            if let Some(v) = value {
                match a["standard_type"].as_str() {
                    Some("IC50") => best_ic50 = Some(best_ic50.map_or(v, |b: f64| b.min(v))),
                    Some("Ki") => best_ki = Some(best_ki.map_or(v, |b: f64| b.min(v))),
                    _ => {}
                }
            }
        }
        if let Some(p) = p {
            best_p = Some(best_p.map_or(p, |b: f64| b.max(p)));
        }
        if let Some(t) = a["target_chembl_id"].as_str() {
            let e = targets.entry(t.to_owned()).or_insert_with(|| TargetSummary {
                name: a["target_pref_name"].clone(),
                organism: a["target_organism"].clone(),
                best_pchembl: None,
                activities: 0,
            });
            e.activities += 1;
            if let Some(p) = p {
                e.best_pchembl = Some(e.best_pchembl.map_or(p, |b: f64| b.max(p)));
            }
        }
        rows.push((
            p,
            value,
            json!({
                "activity_id": a["activity_id"],
                "assay_chembl_id": a["assay_chembl_id"],
                "assay_type": a["assay_type"],
                "target_chembl_id": a["target_chembl_id"],
                "target_pref_name": a["target_pref_name"],
                "standard_type": a["standard_type"],
                "standard_relation": a["standard_relation"],
                "standard_value": value,
                "standard_units": a["standard_units"],
                "pchembl_value": p,
            }),
        ));
    }
    let num_targets = targets.len();
    let mut targets: Vec<_> = targets.into_iter().collect();
    targets.sort_by(|(a_id, a), (b_id, b)| desc(a.best_pchembl, b.best_pchembl).then(b.activities.cmp(&a.activities)).then(a_id.cmp(b_id)));
    let targets: Vec<Value> = targets
        .into_iter()
        .take(10)
        .map(|(id, t)| json!({"target_chembl_id": id, "pref_name": t.name, "organism": t.organism, "best_pchembl": t.best_pchembl, "n": t.activities}))
        .collect();
    rows.sort_by(|a, b| {
        desc(a.0, b.0).then_with(|| match (a.1, b.1) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
    });
    json!({
        "found": true,
        "molecule_chembl_id": chembl_id,
        "num_activities": activities.len(),
        "num_targets": num_targets,
        "assay_types": assay_types,
        "best_ic50_nm": best_ic50,
        "best_ki_nm": best_ki,
        "best_pchembl": best_p,
        "targets": targets,
        "activities": rows.into_iter().take(max_activities).map(|r| r.2).collect::<Vec<_>>(),
    })
}

pub fn section_not_found() -> Value {
    json!({"found": false, "molecule_chembl_id": null, "note": "not in ChEMBL", "num_activities": 0, "num_targets": 0,
           "assay_types": [], "best_ic50_nm": null, "best_ki_nm": null, "best_pchembl": null, "targets": [], "activities": []})
}

pub fn cache_bucket(prefix: &str) -> String {
    format!("{prefix}chembl_cache")
}

pub struct ChemblAdapter {
    client: ChemblClient,
    cache: Option<SharedCache>,
    settings: ChemblSettings,
}

impl ChemblAdapter {
    pub fn new(settings: ChemblSettings, limiter: Option<SharedRateLimiter>, cache: Option<SharedCache>) -> Self {
        ChemblAdapter { client: ChemblClient::new(settings.clone(), limiter), cache, settings }
    }

    /// Opens the shared rate limit and cache over the service's NATS
    /// connection (retrying until shutdown), then builds the adapter.
    pub async fn connect(client: async_nats::Client, nats: &NatsSettings, settings: ChemblSettings, shutdown: &Shutdown) -> Option<Self> {
        let shared = pharmforge_webclient::Shared {
            service: "chembl",
            rate: settings.rate.clone(),
            cache_bucket: &cache_bucket(&nats.prefix),
            cache_ttl: settings.cache_ttl,
            cache_max_bytes: settings.cache_max_bytes,
        };
        let (limiter, cache) = pharmforge_webclient::connect_shared(client, nats, shared, shutdown).await?;
        tracing::info!(base_url = %settings.base_url, spacing_ms = settings.rate.spacing_ms(), cache = cache.is_some(), "chembl client ready");
        Some(Self::new(settings, Some(limiter), cache))
    }

    /// Sections for the records not answered from the cache, by position;
    /// each one's own error where its own request failed. A request shared by
    /// the batch (the InChIKey lookup, the activities) that fails is every
    /// record's error; a compound's own lookup (flexmatch by SMILES) that
    /// fails is only that compound's.
    async fn fetch(&self, records: &[&CompoundRecord]) -> Result<Vec<Result<Value, FetchError>>, FetchError> {
        let keys: Vec<Option<String>> = records.iter().map(|r| r.inchikey()).collect();
        let distinct: Vec<String> = keys.iter().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let by_key = if distinct.is_empty() { HashMap::new() } else { self.client.molecules_by_inchikey(&distinct).await? };
        let mut ids: Vec<Result<Option<String>, FetchError>> = keys.iter().map(|k| Ok(k.as_ref().and_then(|k| by_key.get(k).cloned()))).collect();
        if self.settings.flexmatch {
            for (i, r) in records.iter().enumerate() {
                if matches!(ids[i], Ok(None)) {
                    ids[i] = self.client.molecule_by_smiles(&r.smiles).await;
                }
            }
        }
        let wanted: Vec<String> = ids.iter().filter_map(|id| id.as_ref().ok().cloned().flatten()).collect::<BTreeSet<_>>().into_iter().collect();
        let per_molecule = self.activities_per_molecule(&wanted).await?;
        let release = self.client.release().await;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(ids
            .into_iter()
            .map(|id| {
                let mut s = match id? {
                    Some(id) => {
                        let (activities, truncated) = per_molecule.get(&id).map(|(a, t)| (a.as_slice(), *t)).unwrap_or((&[], false));
                        let mut s = section(&id, activities, self.settings.max_activities);
                        if truncated {
                            s["truncated"] = json!(true);
                        }
                        s
                    }
                    None => section_not_found(),
                };
                s["chembl_release"] = json!(release);
                s["source"] = json!("chembl");
                s["source_url"] = json!(self.settings.base_url);
                s["retrieved_at"] = json!(now);
                s["cache_hit"] = json!(false);
                Ok(s)
            })
            .collect())
    }

    /// Each molecule's activities and whether the page cap cut them short.
    /// One request (and its pages) for the whole batch; if the cap cuts that
    /// short, the molecules are asked one by one, so the cap (and the
    /// `truncated` flag on a section, cached for days) is a molecule's own,
    /// never its batch neighbours'.
    async fn activities_per_molecule(&self, ids: &[String]) -> Result<HashMap<String, (Vec<Value>, bool)>, FetchError> {
        let mut out: HashMap<String, (Vec<Value>, bool)> = ids.iter().map(|id| (id.clone(), (Vec::new(), false))).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let (activities, truncated) = self.client.activities(ids).await?;
        if truncated && ids.len() > 1 {
            for id in ids {
                let (own, cut) = self.client.activities(std::slice::from_ref(id)).await?;
                out.insert(id.clone(), (own, cut));
            }
            return Ok(out);
        }
        for a in activities {
            if let Some(entry) = a["molecule_chembl_id"].as_str().and_then(|m| out.get_mut(m)) {
                entry.0.push(a);
            }
        }
        if truncated {
            for entry in out.values_mut() {
                entry.1 = true;
            }
        }
        Ok(out)
    }
}

impl Adapter for ChemblAdapter {
    fn name(&self) -> AdapterName {
        AdapterName::Chembl
    }

    fn provenance(&self) -> String {
        let release = self.client.release.try_lock().ok().and_then(|r| r.clone()).unwrap_or_else(|| "release unknown".into());
        format!("chembl {} ({release}, {})", env!("CARGO_PKG_VERSION"), self.settings.base_url)
    }

    fn batch_size(&self, configured: usize) -> usize {
        pharmforge_webclient::batch_size(self.client.limiter.as_ref(), configured)
    }

    async fn enrich(&self, batch: Vec<CompoundRecord>) -> Vec<CompoundRecord> {
        let attempts = batch.iter().cloned().map(|record| Attempt { record, delivered: i64::MAX }).collect();
        let outcomes = self.enrich_attempts(attempts).await;
        outcomes.into_iter().zip(batch).map(|(o, r)| if let Outcome::Forward(r) = o { r } else { r }).collect()
    }

    async fn enrich_attempts(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut records: Vec<(usize, Attempt)> = Vec::new();
        // The batch's cache lookups at once, not one round trip after another.
        let hits: Vec<Option<Box<RawValue>>> = match &self.cache {
            Some(cache) => {
                futures::future::join_all(batch.iter().map(|a| async move {
                    match a.record.inchikey() {
                        Some(key) => cache.get_hit(&key).await,
                        None => None,
                    }
                }))
                .await
            }
            None => vec![None; batch.len()],
        };
        for ((i, mut a), hit) in batch.into_iter().enumerate().zip(hits) {
            if let Some(hit) = hit {
                a.record.set_section_raw(AdapterName::Chembl, hit);
                out[i] = Some(Outcome::Forward(a.record));
                continue;
            }
            records.push((i, a));
        }
        if !records.is_empty() {
            let refs: Vec<&CompoundRecord> = records.iter().map(|(_, a)| &a.record).collect();
            match self.fetch(&refs).await {
                Ok(sections) => {
                    if let Some(cache) = &self.cache {
                        futures::future::join_all(records.iter().zip(&sections).filter_map(|((_, a), s)| {
                            let s = s.as_ref().ok()?;
                            a.record.inchikey().map(|key| async move { cache.put(&key, s).await })
                        }))
                        .await;
                    }
                    for ((i, a), s) in records.into_iter().zip(sections) {
                        out[i] = Some(match s {
                            Ok(s) => {
                                let mut a = a;
                                a.record.set_section(AdapterName::Chembl, s);
                                Outcome::Forward(a.record)
                            }
                            Err(e) => self.failed(a, &e),
                        });
                    }
                }
                Err(e) => {
                    for (i, a) in records {
                        out[i] = Some(self.failed(a, &e));
                    }
                }
            }
        }
        out.into_iter().map(|o| o.expect("every record has an outcome")).collect()
    }
}

impl ChemblAdapter {
    /// What becomes of a record whose lookup failed: retried later while
    /// the failure may pass and attempts remain, else forwarded with the error.
    fn failed(&self, mut a: Attempt, e: &FetchError) -> Outcome {
        match e {
            FetchError::Transient { message, retry_after } => {
                if a.delivered < self.settings.retry.max_attempts {
                    let delay = backoff(&self.settings.retry, a.delivered, *retry_after);
                    tracing::info!(compound_id = %a.record.compound_id(), attempt = a.delivered, delay_ms = delay.as_millis() as u64, error = %message, "chembl: retrying later");
                    Outcome::Retry(delay)
                } else {
                    a.record.set_error(AdapterName::Chembl, format!("ChEMBL unavailable after {} attempts: {message}", a.delivered));
                    Outcome::Forward(a.record)
                }
            }
            FetchError::Permanent(message) => {
                a.record.set_error(AdapterName::Chembl, message.clone());
                Outcome::Forward(a.record)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_reads_string_decimals_and_ranks_targets_and_activities() {
        let acts = vec![
            json!({"activity_id": 1, "assay_type": "B", "target_chembl_id": "CHEMBL1", "target_pref_name": "A", "target_organism": "Homo sapiens",
                   "standard_type": "IC50", "standard_relation": "=", "standard_value": "120.0", "standard_units": "nM", "pchembl_value": "6.92"}),
            json!({"activity_id": 2, "assay_type": "F", "target_chembl_id": "CHEMBL2", "target_pref_name": "B", "target_organism": null,
                   "standard_type": "Ki", "standard_relation": "=", "standard_value": "5", "standard_units": "nM", "pchembl_value": "8.30"}),
            json!({"activity_id": 3, "assay_type": "B", "target_chembl_id": "CHEMBL1", "target_pref_name": "A", "target_organism": "Homo sapiens",
                   "standard_type": "IC50", "standard_relation": ">", "standard_value": "10", "standard_units": "nM", "pchembl_value": null}),
            json!({"activity_id": 4, "assay_type": "A", "target_chembl_id": null, "standard_type": "Solubility", "standard_value": null, "pchembl_value": null}),
        ];
        let s = section("CHEMBL25", &acts, 3);
        assert_eq!(s["num_activities"], 4);
        assert_eq!(s["num_targets"], 2);
        assert_eq!(s["assay_types"], json!(["A", "B", "F"]));
        assert_eq!(s["best_ic50_nm"], 120.0, "a '>' relation is not a measured best");
        assert_eq!(s["best_ki_nm"], 5.0);
        assert_eq!(s["best_pchembl"], 8.3);
        assert_eq!(s["targets"][0]["target_chembl_id"], "CHEMBL2");
        assert_eq!(s["targets"][1]["n"], 2);
        assert_eq!(s["activities"].as_array().unwrap().len(), 3);
        assert_eq!(s["activities"][0]["activity_id"], 2);
    }
}
