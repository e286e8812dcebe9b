//! What can go wrong, said the way a person at a terminal needs it: the API's
//! own message with the HTTP status, never its JSON or a backtrace; a refused
//! connection names the URL tried. Each kind has its exit status.

use std::fmt;

/// Exit statuses of `pharmforge`. A watched run's outcome is 0, 1 or 2, so a
/// script can tell a failed run from a cancelled one and both from an error.
pub mod exit {
    /// Done; for `watch` and `submit --watch`: the run completed.
    pub const COMPLETED: i32 = 0;
    /// The watched run failed.
    pub const FAILED: i32 = 1;
    /// The watched run was cancelled.
    pub const CANCELLED: i32 = 2;
    /// The API refused a request, could not be reached, or a file could not
    /// be read or written.
    pub const ERROR: i32 = 3;
    /// The command line is wrong (clap's own 2 would read as "cancelled").
    pub const USAGE: i32 = 64;
}

/// An error answer of the API: `{"error": {"code", "message"}}` and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    /// Reads an error answer; a body not in the API's shape (a proxy's page,
    /// an empty 502) still gives a one-line message.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            code: Option<String>,
            message: String,
        }
        if let Ok(Envelope { error }) = serde_json::from_slice::<Envelope>(body) {
            return ApiError { status, code: error.code, message: error.message };
        }
        let text = String::from_utf8_lossy(body);
        let first_line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        let message = match first_line {
            "" => reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("no message").to_lowercase(),
            line => crate::table::truncate(line, 200),
        };
        ApiError { status, code: None, message }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Api(ApiError),
    #[error("cannot connect to the PharmForge API at {url}: {reason} (is it running? set --url or PHARMFORGE_URL)")]
    Connect { url: String, reason: String },
    #[error("the PharmForge API at {url} did not answer in time")]
    Timeout { url: String },
    #[error("talking to the PharmForge API at {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Protocol(String),
}

impl CliError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// A reqwest failure in the words of its cause: "connection refused", not
    /// reqwest's "error sending request for url (...)".
    pub fn from_reqwest(base_url: &str, e: reqwest::Error) -> CliError {
        let url = base_url.to_owned();
        if e.is_timeout() {
            return CliError::Timeout { url };
        }
        let reason = root_cause(&e);
        if e.is_connect() {
            CliError::Connect { url, reason }
        } else {
            CliError::Http { url, reason }
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            _ => exit::ERROR,
        }
    }

    /// Worth trying again: the API unreachable or answering 5xx, a dropped
    /// connection. A 4xx would get the same answer again.
    pub fn is_transient(&self) -> bool {
        match self {
            CliError::Api(e) => e.status >= 500 || e.status == 408 || e.status == 429,
            CliError::Connect { .. } | CliError::Timeout { .. } | CliError::Http { .. } => true,
            CliError::Io { .. } | CliError::Usage(_) | CliError::Protocol(_) => false,
        }
    }
}

/// The innermost cause of an error, with the OS's wording ("Connection
/// refused (os error 111)" becomes "connection refused").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_shows_its_message_and_status() {
        let body = br#"{"error": {"code": "not_found", "message": "run 123 not found"}}"#;
        let e = ApiError::from_body(404, body);
        assert_eq!(e.code.as_deref(), Some("not_found"));
        assert_eq!(format!("error: {}", CliError::Api(e)), "error: run 123 not found (HTTP 404)");
    }

    #[test]
    fn a_validation_error_keeps_only_its_message() {
        let body = br#"{"error": {"code": "validation_error", "message": "line 3: no SMILES", "field": "file"}}"#;
        assert_eq!(ApiError::from_body(422, body).to_string(), "line 3: no SMILES (HTTP 422)");
    }

    #[test]
    fn a_body_not_from_the_api_gives_one_line() {
        assert_eq!(ApiError::from_body(502, b"").to_string(), "bad gateway (HTTP 502)");
        let html = b"<html>\n  <head><title>502 Bad Gateway</title></head>\n</html>";
        assert_eq!(ApiError::from_body(502, html).to_string(), "<html> (HTTP 502)");
        let long = "x".repeat(500);
        assert_eq!(ApiError::from_body(500, long.as_bytes()).message.chars().count(), 200);
    }

    #[test]
    fn a_refused_connection_names_the_url() {
        let e = CliError::Connect { url: "http://127.0.0.1:8000".into(), reason: "connection refused".into() };
        assert_eq!(
            e.to_string(),
            "cannot connect to the PharmForge API at http://127.0.0.1:8000: connection refused (is it running? set --url or PHARMFORGE_URL)"
        );
    }

    #[test]
    fn the_root_cause_loses_the_os_error_number() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        assert_eq!(root_cause(&io), "connection refused");
    }

    #[test]
    fn exit_codes_tell_errors_from_run_outcomes() {
        let api = CliError::Api(ApiError { status: 404, code: None, message: "x".into() });
        assert_eq!(api.exit_code(), exit::ERROR);
        assert_eq!(CliError::Usage("x".into()).exit_code(), exit::USAGE);
        let codes = [exit::COMPLETED, exit::FAILED, exit::CANCELLED, exit::ERROR, exit::USAGE];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b), "exit codes must differ");
        }
    }

    #[test]
    fn only_server_side_and_network_errors_are_retried() {
        let api = |status| CliError::Api(ApiError { status, code: None, message: String::new() });
        assert!(api(503).is_transient());
        assert!(api(429).is_transient());
        assert!(!api(404).is_transient());
        assert!(!api(401).is_transient());
        assert!(CliError::Connect { url: String::new(), reason: String::new() }.is_transient());
    }
}
