//! A web-service adapter is its requests and its section: [`WebService`].
//! Everything else every such adapter needs is here, once:
//!
//! - its settings, `<PREFIX>_BASE_URL`, `<PREFIX>_TIMEOUT_MS`, ... ([`WebSettings`]);
//! - [`WebClient::send`]: a request after a slot of the rate limit shared by
//!   every replica, counted in the metrics, with PubChem-style throttling
//!   headers and `Retry-After` slowing every replica down;
//! - [`WebAdapter`], the [`Adapter`]: the batch's cache lookups, the
//!   service's fetch for the rest, the `source`/`source_url`/`retrieved_at`/
//!   `cache_hit` stamp, caching what may be cached, and the outcome of a
//!   failure (retried through JetStream while attempts remain, else the
//!   compound's error);
//! - [`serve`]: the service binary's `main`.

use crate::{backoff, classify_status, parse_retry_after, FetchError, RateLimitSettings, RetrySettings, SharedCache, SharedRateLimiter, Throttle};
use pharmforge_core::config::{env_millis, env_or, env_parse, ConfigError, EnvVar, NatsSettings};
use pharmforge_core::serve::{serve_adapter, AdapterMain};
use pharmforge_core::{Adapter, AdapterName, Attempt, CompoundRecord, Outcome, Shutdown};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::future::Future;
use std::time::Duration;

/// What sets one web service apart in its settings and messages.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    /// The adapter, whose section the service fills.
    pub adapter: AdapterName,
    /// Its variables' prefix: `PUBCHEM` reads `PUBCHEM_BASE_URL`, ...
    pub prefix: &'static str,
    /// How messages name the upstream service: `PubChem`.
    pub label: &'static str,
    /// Where the real service is.
    pub base_url: &'static str,
    /// Its default request budget per minute (per second is 5 for all).
    pub per_minute: u32,
}

/// The settings every web-service adapter reads (`<PREFIX>_...`).
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `<PREFIX>_BASE_URL`, without a trailing `/`.
    pub base_url: String,
    /// `<PREFIX>_TIMEOUT_MS` (per request) and `<PREFIX>_CONNECT_TIMEOUT_MS`.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub rate: RateLimitSettings,
    pub retry: RetrySettings,
    /// `<PREFIX>_CACHE_TTL_SECS` (zero: no cache).
    pub cache_ttl: Duration,
    /// `<PREFIX>_CACHE_MAX_BYTES`: when the bucket is full, its oldest entries make room.
    pub cache_max_bytes: i64,
}

impl WebSettings {
    pub fn from_env(info: &ServiceInfo) -> Result<Self, ConfigError> {
        // `v("X")` is `<PREFIX>_X`; tests/tests/help.rs reads these calls.
        let v = |suffix: &str| format!("{}_{suffix}", info.prefix);
        let max_attempts: i64 = env_parse(&v("MAX_ATTEMPTS"), 3)?;
        Ok(WebSettings {
            base_url: env_or(&v("BASE_URL"), info.base_url).trim_end_matches('/').to_owned(),
            timeout: env_millis(&v("TIMEOUT_MS"), 8_000)?,
            connect_timeout: env_millis(&v("CONNECT_TIMEOUT_MS"), 3_000)?,
            rate: RateLimitSettings {
                per_second: env_parse(&v("RATE_PER_SECOND"), 5.0)?,
                per_minute: env_parse(&v("RATE_PER_MINUTE"), f64::from(info.per_minute))?,
                margin_ms: env_parse(&v("RATE_MARGIN_MS"), 40)?,
                black_pause: env_millis(&v("BLACK_PAUSE_MS"), 60_000)?,
            },
            retry: RetrySettings {
                // Below the consumer's max_deliver, so the adapter always has the last word.
                max_attempts: max_attempts.clamp(1, 15),
                base_backoff: env_millis(&v("BACKOFF_MS"), 2_000)?,
                max_backoff: env_millis(&v("MAX_BACKOFF_MS"), 30_000)?,
            },
            cache_ttl: Duration::from_secs(env_parse(&v("CACHE_TTL_SECS"), 7 * 24 * 3600)?),
            cache_max_bytes: env_parse(&v("CACHE_MAX_BYTES"), 1i64 << 30)?.max(1),
        })
    }

    /// Every variable [`Self::from_env`] reads, with its default, for `--help`.
    pub fn vars(info: &ServiceInfo) -> Vec<EnvVar> {
        let prefix = info.prefix;
        let v = |suffix: &str, default: &dyn std::fmt::Display, about: &'static str| EnvVar::new(format!("{prefix}_{suffix}"), default, about);
        vec![
            EnvVar::new(format!("{prefix}_BASE_URL"), info.base_url, format!("address of {} (a local fake in tests)", info.label)),
            v("TIMEOUT_MS", &8_000, "time limit of one request"),
            v("CONNECT_TIMEOUT_MS", &3_000, "time limit of connecting"),
            v("RATE_PER_SECOND", &5, "requests per second, shared by every replica"),
            v("RATE_PER_MINUTE", &info.per_minute, "requests per minute, shared by every replica"),
            v("RATE_MARGIN_MS", &40, "safety margin added to the spacing of requests"),
            v("BLACK_PAUSE_MS", &60_000, "pause of every replica when the service says it is overloaded (throttling status black)"),
            v("MAX_ATTEMPTS", &3, "attempts of a request that fails transiently (1 to 15)"),
            v("BACKOFF_MS", &2_000, "first back-off after a transient failure (doubles each time)"),
            v("MAX_BACKOFF_MS", &30_000, "longest back-off"),
            v("CACHE_TTL_SECS", &(7 * 24 * 3600), "how long an answer is kept in the shared cache"),
            v("CACHE_MAX_BYTES", &(1i64 << 30), "size of the cache bucket; when full its oldest entries make room"),
        ]
    }
}

/// An upstream answer, read whole (up to [`crate::MAX_RESPONSE_BYTES`]).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The answer as JSON (`what` says what was asked, for the error).
    pub fn json<T: serde::de::DeserializeOwned>(&self, label: &str, what: &str) -> Result<T, FetchError> {
        serde_json::from_str(&self.body).map_err(|e| FetchError::Permanent(format!("{label} answered {} with unreadable JSON{what}: {e}", self.status)))
    }

    /// What an error answer's body is, in a few words for a message.
    pub fn describe_body(&self) -> String {
        let body = self.body.trim();
        if body.starts_with('<') {
            "an HTML error page".to_owned()
        } else if body.is_empty() {
            "an empty body".to_owned()
        } else {
            body.chars().take(120).collect()
        }
    }

    /// The error for a failed answer: `<label> answered <status>: <detail>`,
    /// transient (with its `Retry-After`) when the status is worth a retry.
    pub fn error(&self, label: &str, detail: &str) -> FetchError {
        let message = format!("{label} answered {}: {}", self.status, detail.trim());
        match classify_status(self.status) {
            Some(true) => FetchError::Transient { message, retry_after: self.retry_after() },
            _ => FetchError::Permanent(message),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.headers.get("retry-after").and_then(|v| v.to_str().ok()))
    }
}

/// One web service's HTTP side: the client, the shared rate limit, and the
/// settings the requests are built from.
pub struct WebClient {
    http: reqwest::Client,
    info: ServiceInfo,
    settings: WebSettings,
    limiter: Option<SharedRateLimiter>,
}

impl WebClient {
    pub fn new(info: ServiceInfo, settings: WebSettings, limiter: Option<SharedRateLimiter>) -> Self {
        WebClient { http: crate::http_client(settings.timeout, settings.connect_timeout), info, settings, limiter }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn settings(&self) -> &WebSettings {
        &self.settings
    }

    /// `<base URL>/<segments>?<query>`, each part percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<reqwest::Url, FetchError> {
        let bad = |why: String| FetchError::Permanent(format!("{}_BASE_URL {:?} {why}", self.info.prefix, self.settings.base_url));
        let mut url = reqwest::Url::parse(&self.settings.base_url).map_err(|e| bad(format!("is not a URL: {e}")))?;
        url.path_segments_mut().map_err(|_| bad("cannot have a path".into()))?.pop_if_empty().extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends `req` and reads a 200 answer's JSON as `T` (`what` says what was
    /// asked, for the error). Any other answer is `failed`'s to read:
    /// `Ok(())` when it says that what was asked for does not exist (then
    /// `Ok(None)` here, a not-found, never retried), else its error.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
        failed: impl FnOnce(&Answer) -> Result<(), FetchError>,
    ) -> Result<Option<T>, FetchError> {
        let answer = self.send(req).await?;
        match answer.status {
            200 => answer.json(self.info.label, what).map(Some),
            _ => failed(&answer).map(|()| None),
        }
    }

    /// A GET asking for JSON ([`Self::json`]): a 404 is a not-found
    /// (`Ok(None)`), any other failed answer the error, quoting its body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: reqwest::Url) -> Result<Option<T>, FetchError> {
        let label = self.info.label;
        let failed = |a: &Answer| if a.status == 404 { Ok(()) } else { Err(a.error(label, &a.describe_body())) };
        self.json(self.http.get(url).header("accept", "application/json"), "", failed).await
    }

    /// A link the service sent (host-relative or whole) as a URL on the base URL's host.
    pub fn join(&self, link: &str) -> Result<reqwest::Url, FetchError> {
        reqwest::Url::parse(&self.settings.base_url)
            .and_then(|base| base.join(link))
            .map_err(|e| FetchError::Permanent(format!("{}'s link {link:?} is not a URL: {e}", self.info.label)))
    }

    /// Sends one request once the shared rate limit gives a slot, and reads
    /// the answer. An `X-Throttling-Control` header (PubChem's) slows every
    /// replica down or pauses them; a retryable status with `Retry-After`
    /// pauses them for that long. Only a failure to get an answer at all is
    /// an error here: what an answer means is the service's to say.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, FetchError> {
        let service = self.info.adapter.as_str();
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        let resp = req.send().await.map_err(|e| {
            crate::count_upstream(service, None);
            FetchError::from_reqwest(self.info.label, &e)
        })?;
        let status = resp.status().as_u16();
        crate::count_upstream(service, Some(status));
        let headers = resp.headers().clone();
        let body = crate::read_body(self.info.label, resp, crate::MAX_RESPONSE_BYTES).await?;
        let answer = Answer { status, headers, body };
        if let Some(l) = &self.limiter {
            if let Some(t) = answer.headers.get("x-throttling-control").and_then(|v| v.to_str().ok()).and_then(Throttle::parse) {
                l.observe(t).await;
            }
            if let (Some(true), Some(ra)) = (classify_status(status), answer.retry_after()) {
                l.pause_for(ra).await;
            }
        }
        Ok(answer)
    }
}

/// One compound's section as the service fetched it.
#[derive(Debug)]
pub struct Fetched {
    pub section: Map<String, Value>,
    /// Whether it may answer for this compound's InChIKey from the cache
    /// (complete, and about the structure RDKit read).
    pub cacheable: bool,
}

impl Fetched {
    /// A section from its typed form (which must serialise as a JSON object).
    pub fn new(section: impl serde::Serialize, cacheable: bool) -> Self {
        let section = match serde_json::to_value(section).expect("a section serialises") {
            Value::Object(m) => m,
            other => panic!("a section is a JSON object, not {other}"),
        };
        Fetched { section, cacheable }
    }
}

/// A compound the cache did not answer, as [`WebService::fetch`] is given
/// it: its record and the InChIKey [`WebAdapter`] read from it (for the
/// cache), so that no adapter reads it again.
#[derive(Debug, Clone, Copy)]
pub struct Compound<'a> {
    pub record: &'a CompoundRecord,
    pub inchikey: Option<&'a str>,
}

/// A web-service adapter's own part: its settings beyond [`WebSettings`],
/// its requests and its section.
pub trait WebService: Send + Sync + Sized + 'static {
    const INFO: ServiceInfo;

    /// The service's own settings, read at start.
    fn from_env() -> Result<Self, ConfigError>;
    /// Its own variables (beyond [`WebSettings::vars`]), for `--help`.
    fn vars() -> Vec<EnvVar>;
    /// What answers, for the run's lockfile (e.g. the database release).
    fn provenance(&self, client: &WebClient) -> String;

    /// The sections of `compounds` (none of which the cache answered), in
    /// their order: each a section or that compound's own error; or the
    /// error of a request they share, which is then every compound's.
    fn fetch(&self, client: &WebClient, compounds: &[Compound<'_>]) -> impl Future<Output = Result<Vec<Result<Fetched, FetchError>>, FetchError>> + Send;
}

/// The cache bucket of a web service, under the stack's prefix.
pub fn cache_bucket(prefix: &str, adapter: AdapterName) -> String {
    format!("{prefix}{adapter}_cache")
}

/// The [`Adapter`] of a [`WebService`].
pub struct WebAdapter<S> {
    service: S,
    client: WebClient,
    cache: Option<SharedCache>,
}

impl<S: WebService> WebAdapter<S> {
    pub fn new(service: S, settings: WebSettings, limiter: Option<SharedRateLimiter>, cache: Option<SharedCache>) -> Self {
        WebAdapter { service, client: WebClient::new(S::INFO, settings, limiter), cache }
    }

    /// Opens what the adapter shares with its replicas over the service's
    /// NATS connection, retrying until it works or shutdown begins (`None`):
    /// its slot in the rate-limit bucket and, unless the cache's lifetime is
    /// zero, its response cache. Then builds the adapter.
    pub async fn connect(client: async_nats::Client, nats: &NatsSettings, service: S, settings: WebSettings, shutdown: &Shutdown) -> Option<Self> {
        let name = S::INFO.adapter;
        let js = async_nats::jetstream::new(client);
        let (rate_bucket, cache_bucket) = (crate::rate_bucket(&nats.prefix), cache_bucket(&nats.prefix, name));
        let (limiter, cache) = shutdown
            .retry("cannot open the rate-limit/cache buckets", || async {
                let limiter = SharedRateLimiter::open(&js, &rate_bucket, name.as_str(), settings.rate.clone(), nats.stream_replicas).await?;
                let cache = match settings.cache_ttl.is_zero() {
                    true => None,
                    false => Some(
                        SharedCache::open_with(&js, &cache_bucket, settings.cache_ttl, nats.stream_replicas, settings.cache_max_bytes)
                            .await?
                            .named(name.as_str()),
                    ),
                };
                Ok::<_, async_nats::Error>((limiter, cache))
            })
            .await?;
        tracing::info!(adapter = %name, base_url = %settings.base_url, spacing_ms = settings.rate.spacing_ms(), cache = cache.is_some(), "web client ready");
        Some(Self::new(service, settings, Some(limiter), cache))
    }

    /// What becomes of a record whose fetch failed: retried later while the
    /// failure may pass and attempts remain, else forwarded with the error.
    fn failed(&self, mut a: Attempt, e: FetchError) -> Outcome {
        let name = S::INFO.adapter;
        let retry = &self.client.settings.retry;
        match e {
            FetchError::Transient { message, retry_after } if a.delivered < retry.max_attempts => {
                let delay = backoff(retry, a.delivered, retry_after);
                tracing::info!(adapter = %name, compound_id = %a.record.compound_id(), attempt = a.delivered, delay_ms = delay.as_millis() as u64, error = %message, "retrying later");
                return Outcome::Retry(delay);
            }
            FetchError::Transient { message, .. } => {
                a.record.set_error(name, format!("{} unavailable after {} attempts: {message}", S::INFO.label, a.delivered))
            }
            FetchError::Permanent(message) => a.record.set_error(name, message),
        }
        Outcome::Forward(a.record)
    }

    /// The stamp every fetched section carries.
    fn stamp(&self, section: &mut Map<String, Value>, retrieved_at: &str) {
        section.insert("source".into(), S::INFO.adapter.as_str().into());
        section.insert("source_url".into(), self.client.settings.base_url.clone().into());
        section.insert("retrieved_at".into(), retrieved_at.into());
        section.insert("cache_hit".into(), false.into());
    }
}

impl<S: WebService> Adapter for WebAdapter<S> {
    fn name(&self) -> AdapterName {
        S::INFO.adapter
    }

    fn provenance(&self) -> String {
        self.service.provenance(&self.client)
    }

    fn batch_size(&self, configured: usize) -> usize {
        crate::batch_size(self.client.limiter.as_ref(), configured)
    }

    async fn enrich(&self, batch: Vec<Attempt>) -> Vec<Outcome> {
        let name = S::INFO.adapter;
        let mut out: Vec<Option<Outcome>> = (0..batch.len()).map(|_| None).collect();
        // The batch's cache lookups at once, not one round trip after another.
        let keys: Vec<Option<String>> = batch.iter().map(|a| a.record.inchikey()).collect();
        let hits: Vec<Option<Box<RawValue>>> = match &self.cache {
            Some(cache) => futures::future::join_all(keys.iter().map(|k| async move { cache.get_hit(k.as_deref()?).await })).await,
            None => keys.iter().map(|_| None).collect(),
        };
        let mut misses: Vec<(usize, Attempt)> = Vec::new();
        for ((i, mut a), hit) in batch.into_iter().enumerate().zip(hits) {
            match hit {
                Some(hit) => {
                    a.record.set_section_raw(name, hit);
                    out[i] = Some(Outcome::Forward(a.record));
                }
                None => misses.push((i, a)),
            }
        }
        if !misses.is_empty() {
            let compounds: Vec<Compound> = misses.iter().map(|(i, a)| Compound { record: &a.record, inchikey: keys[*i].as_deref() }).collect();
            let fetched = match self.service.fetch(&self.client, &compounds).await {
                Ok(fetched) if fetched.len() == misses.len() => Ok(fetched),
                Ok(fetched) => Err(FetchError::Permanent(format!("{name} returned {} sections for {} compounds", fetched.len(), misses.len()))),
                Err(e) => Err(e),
            };
            // A failure of the whole fetch is every compound's.
            let fetched = fetched.unwrap_or_else(|e| misses.iter().map(|_| Err(e.clone())).collect());
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let mut to_cache = Vec::new();
            for ((i, mut a), f) in misses.into_iter().zip(fetched) {
                out[i] = Some(match f {
                    Ok(Fetched { mut section, cacheable }) => {
                        self.stamp(&mut section, &now);
                        let section = Value::Object(section);
                        if let (true, Some(key)) = (cacheable, &keys[i]) {
                            to_cache.push((key.as_str(), section.clone()));
                        }
                        a.record.set_section(name, section);
                        Outcome::Forward(a.record)
                    }
                    Err(e) => self.failed(a, e),
                });
            }
            if let Some(cache) = &self.cache {
                futures::future::join_all(to_cache.iter().map(|(key, section)| cache.put(key, section))).await;
            }
        }
        out.into_iter().map(|o| o.expect("every record has an outcome")).collect()
    }
}

/// A web-service adapter's `main` ([`pharmforge_core::serve::serve_adapter`]):
/// `batch` and `concurrency` are `ADAPTER_BATCH_SIZE` and
/// `ADAPTER_CONCURRENCY`'s defaults.
pub async fn serve<S: WebService>(about: &str, batch: usize, concurrency: usize) -> ! {
    let mut vars = WebSettings::vars(&S::INFO);
    vars.extend(S::vars());
    let concurrency_shown = concurrency.to_string();
    let main = AdapterMain { adapter: S::INFO.adapter, about, batch, concurrency, concurrency_shown: &concurrency_shown, vars };
    let settings = || Ok((WebSettings::from_env(&S::INFO)?, S::from_env()?));
    serve_adapter(main, settings, |(web, service), client, nats, shutdown| async move { WebAdapter::connect(client, &nats, service, web, &shutdown).await })
        .await
}
