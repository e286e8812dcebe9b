//! Who is asking: bearer tokens (JWT, HS256 or RS256, key from config) whose
//! subject is the user. Runs are created for that user, and every read,
//! cancel or delete sees only that user's runs (another user's run is a 404,
//! not a 403: its existence is not disclosed).
//!
//! Authentication can be switched off only explicitly (`API_AUTH=off`, for
//! local use); the service then says so loudly at start. Switched on with no
//! key configured, the service refuses to start.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use pharmforge_core::config::ConfigError;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// HS256 secrets that have been shipped as examples (deploy/k8s/config.yaml
/// carried the first): refused at start.
const KNOWN_EXAMPLE_SECRETS: [&str; 1] = ["change-me-to-at-least-32-random-bytes-of-secret"];

#[derive(Clone)]
pub enum Auth {
    Disabled,
    Jwt { key: Arc<DecodingKey>, validation: Arc<Validation> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Disabled => f.write_str("Auth::Disabled"),
            Auth::Jwt { validation, .. } => write!(f, "Auth::Jwt({:?})", validation.algorithms),
        }
    }
}

fn config_error(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { name: name.into(), value: "(not shown)".into(), reason: reason.into() }
}

impl Auth {
    /// `API_AUTH` (`jwt` default, `off`), `API_JWT_HS256_SECRET` or
    /// `API_JWT_RS256_PUBLIC_KEY` (PEM text, or `@/path/to/key.pem`),
    /// optional `API_JWT_ISSUER` and `API_JWT_AUDIENCE`.
    pub fn from_env() -> Result<Auth, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match var("API_AUTH").as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("off") | Some("none") | Some("disabled") => return Ok(Auth::Disabled),
            None | Some("jwt") | Some("on") => {}
            Some(other) => return Err(ConfigError { name: "API_AUTH".into(), value: other.into(), reason: "expected jwt or off".into() }),
        }
        let (key, algorithm) = if let Some(secret) = var("API_JWT_HS256_SECRET") {
            if secret.len() < 32 {
                return Err(config_error("API_JWT_HS256_SECRET", "an HS256 secret must be at least 32 bytes"));
            }
            if KNOWN_EXAMPLE_SECRETS.contains(&secret.as_str()) || secret.to_ascii_lowercase().contains("change-me") {
                return Err(config_error(
                    "API_JWT_HS256_SECRET",
                    "this is an example secret, known to everyone who read the manifests: generate one (e.g. openssl rand -base64 48)",
                ));
            }
            (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)
        } else if let Some(pem) = var("API_JWT_RS256_PUBLIC_KEY") {
            let pem = match pem.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).map_err(|e| config_error("API_JWT_RS256_PUBLIC_KEY", format!("cannot read {path}: {e}")))?,
                None => pem,
            };
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| config_error("API_JWT_RS256_PUBLIC_KEY", format!("not an RSA public key in PEM: {e}")))?;
            (key, Algorithm::RS256)
        } else {
            return Err(config_error(
                "API_JWT_HS256_SECRET",
                "authentication is on but no key is configured: set API_JWT_HS256_SECRET or API_JWT_RS256_PUBLIC_KEY (or API_AUTH=off for local use only)",
            ));
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // A token is not valid before its `nbf` either (when it has one).
        validation.validate_nbf = true;
        if let Some(iss) = var("API_JWT_ISSUER") {
            validation.set_issuer(&[iss]);
        }
        match var("API_JWT_AUDIENCE") {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Auth::Jwt { key: Arc::new(key), validation: Arc::new(validation) })
    }

    pub fn announce(&self) {
        match self {
            Auth::Disabled => tracing::warn!("AUTHENTICATION IS OFF (API_AUTH=off): every caller can read, cancel and delete every run. For local use only."),
            Auth::Jwt { validation, .. } => {
                tracing::info!(algorithms = ?validation.algorithms, "bearer-token authentication on");
                if validation.iss.is_none() {
                    tracing::warn!("API_JWT_ISSUER is not set: tokens of any issuer signed with the key are accepted");
                }
                if !validation.validate_aud {
                    tracing::warn!("API_JWT_AUDIENCE is not set: tokens for any audience signed with the key are accepted");
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// The caller: `Some(subject)` with authentication on, `None` with it off.
pub struct Caller(pub Option<String>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Auth::Jwt { key, validation } = &state.auth else {
            return Ok(Caller(None));
        };
        let token = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(header) => header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into()))?
                .to_owned(),
            // A browser's EventSource, a download link or an <img> cannot
            // set a header: reads may carry the token as `access_token` in
            // the query (RFC 6750, section 2.3).
            None => query_token(parts)
                .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> (or, for a GET, ?access_token=<token>)".into()))?,
        };
        let token = token.as_str();
        let data = decode::<Claims>(token, key, validation).map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?;
        let sub = data.claims.sub;
        if sub.is_empty() || sub.chars().count() > 128 || sub.chars().any(char::is_control) {
            return Err(ApiError::Unauthorized("the token's subject must be 1 to 128 characters without control characters".into()));
        }
        Ok(Caller(Some(sub)))
    }
}

/// The `access_token` query parameter of a GET request.
fn query_token(parts: &Parts) -> Option<String> {
    if parts.method != axum::http::Method::GET {
        return None;
    }
    let query = parts.uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).ok()?.into_iter().find(|(k, _)| k == "access_token").map(|(_, v)| v).filter(|t| !t.is_empty())
}

impl Caller {
    /// Whether this caller may see a run owned by `owner`.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(me) => owner == Some(me.as_str()),
        }
    }
}

/// Run creations per user: a token bucket per key (the user, or the claimed
/// `user_id` / "anonymous" with authentication off), in this API replica.
#[derive(Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter { per_second: per_minute.max(1) as f64 / 60.0, burst: burst.max(1) as f64, buckets: Arc::default() }
    }

    /// Takes one token, or says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget users whose bucket is full again: they lose nothing.
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_paces() {
        let limiter = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert!(limiter.check("alice").is_ok());
        }
        let wait = limiter.check("alice").unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check("bob").is_ok(), "buckets are per user");
    }
}
