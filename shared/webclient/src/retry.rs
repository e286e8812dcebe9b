//! Retry classification and back-off.

use std::time::Duration;

/// Why a request did not give an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// Worth another attempt later (5xx, timeout, connection failure, 429).
    Transient { message: String, retry_after: Option<Duration> },
    /// Will fail the same way again (400, unexpected answer).
    Permanent(String),
}

impl FetchError {
    pub fn transient(message: impl Into<String>) -> Self {
        FetchError::Transient { message: message.into(), retry_after: None }
    }
    pub fn message(&self) -> &str {
        match self {
            FetchError::Transient { message, .. } | FetchError::Permanent(message) => message,
        }
    }
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Transient { .. })
    }
    /// A transport-level failure (no HTTP status): timeouts, refused or reset connections, DNS.
    pub fn from_reqwest(service: &str, e: &reqwest::Error) -> Self {
        let what = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            format!("connection failed ({})", root_cause(e))
        } else if e.is_decode() {
            return FetchError::Permanent(format!("{service} answered with an unreadable body: {}", root_cause(e)));
        } else {
            root_cause(e)
        };
        FetchError::transient(format!("{service}: request {what}"))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Whether an HTTP status is worth a retry.
pub fn classify_status(status: u16) -> Option<bool> {
    match status {
        200..=299 => None,
        408 | 429 | 500 | 502 | 503 | 504 => Some(true),
        _ => Some(false),
    }
}

/// `Retry-After` as seconds (the HTTP-date form is read as "a while": 30 s).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let v = value?.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs.min(3600))),
        Err(_) => Some(Duration::from_secs(30)),
    }
}

/// The retry budget of a service (from the environment).
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts in total (deliveries of one record), the first included.
    pub max_attempts: i64,
    /// First back-off; doubles with each attempt, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

/// Delay before attempt `delivered + 1`: exponential with full jitter in
/// [d/2, d], never shorter than the server's `Retry-After`.
pub fn backoff(settings: &RetrySettings, delivered: i64, retry_after: Option<Duration>) -> Duration {
    let exp = (delivered.max(1) - 1).min(16) as u32;
    let d = settings.base_backoff.saturating_mul(1u32 << exp).min(settings.max_backoff);
    let half = d / 2;
    let jitter = Duration::from_millis(rand::random_range(0..=half.as_millis().max(1) as u64));
    let d = half + jitter;
    match retry_after {
        Some(ra) => d.max(ra.min(settings.max_backoff.max(ra))),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify_status(200), None);
        assert_eq!(classify_status(503), Some(true));
        assert_eq!(classify_status(504), Some(true));
        assert_eq!(classify_status(404), Some(false));
        assert_eq!(classify_status(400), Some(false));
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let s = RetrySettings { max_attempts: 5, base_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(8) };
        for _ in 0..50 {
            let d1 = backoff(&s, 1, None);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = backoff(&s, 3, None);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            assert!(backoff(&s, 30, None) <= Duration::from_secs(8));
            assert!(backoff(&s, 1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        }
        assert_eq!(parse_retry_after(Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(None), None);
    }
}
