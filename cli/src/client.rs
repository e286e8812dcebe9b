//! The HTTP side: one blocking client for the PharmForge API, with the token
//! on every request and every failure turned into a [`CliError`] here, so that
//! the commands only see answers that succeeded.

use crate::error::{ApiError, CliError};
use crate::formats::{ExportFormat, InputFormat};
use reqwest::blocking::{Body, RequestBuilder, Response};
use reqwest::header;
use reqwest::Url;
use std::fmt;
use std::time::Duration;

/// How long a request may wait on the API between two reads. Streams (events,
/// exports) get it per read, so a silent connection is noticed: the event
/// stream's heartbeats come well within it.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bearer token; never printed (`Debug` hides it).
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: String) -> Option<Self> {
        let token = token.trim().to_owned();
        (!token.is_empty()).then_some(Token(token))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

pub struct Client {
    base: Url,
    token: Option<Token>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(url: &str, token: Option<Token>) -> Result<Self, CliError> {
        let base = Url::parse(url).map_err(|e| CliError::Usage(format!("invalid API URL {url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CliError::Usage(format!("invalid API URL {url:?}: expected http://host[:port]")));
        }
        let http = Self::builder().timeout(READ_TIMEOUT).build().map_err(|e| CliError::from_reqwest(url, e))?;
        Ok(Client { base, token, http })
    }

    fn builder() -> reqwest::blocking::ClientBuilder {
        reqwest::blocking::Client::builder().connect_timeout(CONNECT_TIMEOUT).user_agent(concat!("pharmforge-cli/", env!("CARGO_PKG_VERSION")))
    }

    /// The API's base URL as given, for messages.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `<base>/api/v1/<segments>`, each segment percent-encoded (a run id
    /// with a `/` or `?` in it stays one segment).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// Sends a request with the token; an error status becomes [`CliError::Api`].
    fn send(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let request = match &self.token {
            Some(Token(t)) => request.bearer_auth(t),
            None => request,
        };
        let response = request.send().map_err(|e| CliError::from_reqwest(self.base_url(), e))?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
            return Err(CliError::Api(ApiError::from_body(status.as_u16(), &body)));
        }
        Ok(response)
    }

    fn read_body(&self, response: Response) -> Result<Vec<u8>, CliError> {
        response.bytes().map(|b| b.to_vec()).map_err(|e| CliError::from_reqwest(self.base_url(), e))
    }

    pub fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Vec<u8>, CliError> {
        let response = self.send(self.http.get(self.url(segments)).query(query))?;
        self.read_body(response)
    }

    pub fn post(&self, segments: &[&str]) -> Result<Vec<u8>, CliError> {
        let response = self.send(self.http.post(self.url(segments)))?;
        self.read_body(response)
    }

    pub fn post_json(&self, segments: &[&str], body: &serde_json::Value) -> Result<Vec<u8>, CliError> {
        let response = self.send(self.http.post(self.url(segments)).json(body))?;
        self.read_body(response)
    }

    pub fn delete(&self, segments: &[&str]) -> Result<(), CliError> {
        self.send(self.http.delete(self.url(segments))).map(drop)
    }

    /// `POST /runs` with a compound file as the body, streamed: the body is
    /// read as it is sent. The upload has no overall time limit (a large file
    /// over a slow link takes what it takes), so it gets a client of its own.
    pub fn upload(&self, body: Body, format: InputFormat, gzipped: bool, query: &[(&str, String)]) -> Result<Vec<u8>, CliError> {
        let uploader = Self::builder().timeout(None).build().map_err(|e| CliError::from_reqwest(self.base_url(), e))?;
        let mut request = uploader.post(self.url(&["runs"])).query(query).header(header::CONTENT_TYPE, format.content_type());
        if gzipped {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        let response = self.send(request.body(body))?;
        self.read_body(response)
    }

    /// Opens a run's event stream, resuming after `last_event_id`.
    pub fn events(&self, run_id: &str, last_event_id: Option<&str>) -> Result<Response, CliError> {
        let mut request = self.http.get(self.url(&["runs", run_id, "events"])).header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = self.send(request)?;
        let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(CliError::Protocol(format!("the API answered the event stream of run {run_id} with {content_type:?}, not text/event-stream")));
        }
        Ok(response)
    }

    /// Starts a run's export; the caller streams the body where it goes.
    pub fn export(&self, run_id: &str, format: ExportFormat, sort_by_rank: bool) -> Result<Response, CliError> {
        let mut query = vec![("format", format.as_str().to_owned())];
        if sort_by_rank {
            query.push(("sort", "rank".into()));
        }
        self.send(self.http.get(self.url(&["runs", run_id, "export"])).query(&query))
    }

    /// Maps a read error in the middle of a streamed body.
    pub fn stream_error(&self, e: std::io::Error) -> CliError {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
            Some(re) if re.is_timeout() => CliError::Timeout { url: self.base_url().to_owned() },
            _ => CliError::Http { url: self.base_url().to_owned(), reason: format!("the connection broke ({})", crate::error::root_cause(&e)) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_path_prefix_and_encode_run_ids() {
        let c = Client::new("http://127.0.0.1:8000", None).unwrap();
        assert_eq!(c.url(&["runs"]).as_str(), "http://127.0.0.1:8000/api/v1/runs");
        let c = Client::new("https://example.org/pharmforge/", None).unwrap();
        assert_eq!(c.url(&["runs", "a/b?c", "events"]).as_str(), "https://example.org/pharmforge/api/v1/runs/a%2Fb%3Fc/events");
        assert_eq!(c.base_url(), "https://example.org/pharmforge");
    }

    #[test]
    fn a_url_that_is_not_http_is_a_usage_error() {
        for bad in ["localhost:8000", "ftp://host", "not a url"] {
            assert!(matches!(Client::new(bad, None), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn tokens_never_print() {
        let t = Token::new(" secret ".into()).unwrap();
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert!(Token::new("  ".into()).is_none());
    }

    #[test]
    fn a_refused_connection_is_reported_with_the_url() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let c = Client::new(&url, None).unwrap();
        let e = c.get(&["runs"], &[]).unwrap_err();
        assert!(matches!(e, CliError::Connect { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with(&format!("cannot connect to the PharmForge API at {url}: ")), "{text}");
        assert!(text.contains("refused"), "{text}");
    }
}
