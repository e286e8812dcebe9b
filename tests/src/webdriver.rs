//! A small W3C WebDriver client for the end-to-end browser tests: Debian's
//! headless Chromium driven through chromedriver, over plain HTTP with the
//! crate's own reqwest and serde_json (no WebDriver crate).
//!
//! * Binaries: `CHROMIUM_BIN` (default `/usr/bin/chromium`) and
//!   `CHROMEDRIVER_BIN` (default `/usr/bin/chromedriver`); tests skip when
//!   [`chromium_available`] is false.
//! * Each [`Browser`] runs its own chromedriver on a free port; its output
//!   goes to `chromedriver.log` in a temporary directory, quoted when it does
//!   not start. Dropping the browser deletes the session (which quits
//!   Chromium) and kills chromedriver.
//!
//! What chromedriver 156 does, as found when this was written:
//!
//! * The browser console is still served by the legacy log endpoint,
//!   `POST /session/{id}/se/log` with `{"type":"browser"}` (the old
//!   `/session/{id}/log` answers the same), given the capability
//!   `goog:loggingPrefs: {"browser": "ALL"}`. Reading it *drains* it: each
//!   call returns only the entries since the previous one. Entries have
//!   `level` (`SEVERE` for `console.error`, uncaught exceptions and failed
//!   loads, `WARNING`, `INFO` for `console.log`, …), `message` (the page's URL
//!   and line:column, then the logged value JSON-quoted, e.g.
//!   `http://host/page 12:34 "boom"`), `source` and `timestamp`. A resource
//!   that fails to load is a SEVERE `network` entry too — including the
//!   browser's own request for `/favicon.ico`, so a page served without one
//!   shows a console error.
//! * Downloads work in `--headless=new` with only the
//!   `download.default_directory` pref: a link to a response with
//!   `Content-Disposition: attachment` saves the file there, with no prompt
//!   and no DevTools `Browser.setDownloadBehavior` call.
//! * `--window-size=W,H` (and [`Browser::set_window_size`]) set the *outer*
//!   window: headless-new keeps room for browser UI, so the page's viewport
//!   (`innerWidth` × `innerHeight`) is W × (H − 143) or so.
//! * The element reference key is the spec's
//!   `element-6066-11e4-a52e-4f735466cecf` ([`ELEMENT_KEY`]); an object under
//!   any other key reaches a script as a plain object, not an element.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which W3C WebDriver passes element references.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How often the `wait_*` functions poll.
const POLL: Duration = Duration::from_millis(100);

pub fn chromium_bin() -> PathBuf {
    std::env::var_os("CHROMIUM_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into())
}

pub fn chromedriver_bin() -> PathBuf {
    std::env::var_os("CHROMEDRIVER_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromedriver".into())
}

/// Whether both Chromium and chromedriver are installed.
pub fn chromium_available() -> bool {
    chromium_bin().is_file() && chromedriver_bin().is_file()
}

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    id: String,
}

impl Element {
    /// The WebDriver element id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The element as a script argument (`arguments[i]` is the DOM element).
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// An element returned by a script or a find command.
    pub fn from_json(v: &Value) -> Option<Element> {
        Some(Element { id: v.get(ELEMENT_KEY)?.as_str()?.to_owned() })
    }
}

/// One entry of the browser console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    pub message: String,
}

/// A headless Chromium session behind a private chromedriver.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    port: u16,
    session: Option<String>,
    capabilities: Value,
    driver: Option<Child>,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose downloads go to
    /// `download_dir`, in a `width` × `height` window.
    pub async fn start(download_dir: &Path, width: u32, height: u32) -> Result<Browser, String> {
        let dir = tempfile::Builder::new().prefix("pf-chromedriver-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let log_path = dir.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| format!("{}: {e}", log_path.display()))?;
        let port = crate::free_port();
        let driver_bin = chromedriver_bin();
        let mut cmd = Command::new(&driver_bin);
        cmd.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(log).stderr(log2);
        // Its own process group, so that Drop can also reach a Chromium
        // that chromedriver left behind.
        #[cfg(unix)]
        {
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", driver_bin.display()))?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().map_err(|e| format!("HTTP client: {e}"))?;
        let mut browser = Browser { http, port, session: None, capabilities: Value::Null, driver: Some(child), dir };

        browser.wait_driver_ready(Duration::from_secs(20)).await?;

        let download_dir = std::fs::canonicalize(download_dir).map_err(|e| format!("download directory {}: {e}", download_dir.display()))?;
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium_bin(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            format!("--window-size={width},{height}"),
                            "--no-first-run",
                            "--disable-extensions",
                        ],
                        "prefs": {
                            "download.default_directory": download_dir,
                            "download.prompt_for_download": false,
                        },
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let v = browser
            .request(reqwest::Method::POST, "/session", Some(caps))
            .await
            .map_err(|e| format!("{e}\n---- chromedriver log ----\n{}", browser.driver_log_tail(4000)))?;
        let id = v.get("sessionId").and_then(Value::as_str).ok_or_else(|| format!("new session: no sessionId in {v}"))?;
        browser.session = Some(id.to_owned());
        browser.capabilities = v.get("capabilities").cloned().unwrap_or(Value::Null);
        Ok(browser)
    }

    async fn wait_driver_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://127.0.0.1:{}/status", self.port);
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Some(child) = self.driver.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "chromedriver exited ({status}) before it was ready on port {}\n---- chromedriver log ----\n{}",
                        self.port,
                        self.driver_log_tail(4000)
                    ));
                }
            }
            match self.http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) => match r.json::<Value>().await {
                    Ok(v) if v["value"]["ready"] == json!(true) => return Ok(()),
                    Ok(v) => last = v.to_string(),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!(
            "chromedriver not ready on port {} after {timeout:?} (last /status: {last})\n---- chromedriver log ----\n{}",
            self.port,
            self.driver_log_tail(4000)
        ))
    }

    /// The end of chromedriver's output.
    pub fn driver_log_tail(&self, max_bytes: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let mut start = text.len().saturating_sub(max_bytes);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }

    /// The WebDriver session id.
    pub fn session_id(&self) -> &str {
        self.session.as_deref().unwrap_or("")
    }

    /// The session's capabilities as chromedriver returned them (e.g.
    /// `browserVersion`, `goog:processID`).
    pub fn capabilities(&self) -> &Value {
        &self.capabilities
    }

    /// One WebDriver command; the answer's `value`, or an error naming the
    /// command and WebDriver's `error` and `message`.
    async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let what = format!("WebDriver {method} {path}");
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{what}: reading the answer: {e}"))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{what}: HTTP {status}, not JSON ({e}): {}", text.chars().take(500).collect::<String>()))?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(format!("{what}: {error}: {message}"));
        }
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {}", text.chars().take(500).collect::<String>()));
        }
        Ok(value)
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let session = self.session.as_deref().ok_or("the browser has quit")?;
        self.request(method, &format!("/session/{session}{path}"), body).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String, String> {
        as_string(self.get("/url").await?, "current URL")
    }

    pub async fn title(&self) -> Result<String, String> {
        as_string(self.get("/title").await?, "title")
    }

    /// The first element matching the CSS selector (an error naming it if none).
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let v = self.post("/element", json!({ "using": "css selector", "value": css })).await?;
        Element::from_json(&v).ok_or_else(|| format!("find {css:?}: not an element: {v}"))
    }

    /// Every element matching the CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let v = self.post("/elements", json!({ "using": "css selector", "value": css })).await?;
        let items = v.as_array().ok_or_else(|| format!("find_all {css:?}: not a list: {v}"))?;
        items.iter().map(|e| Element::from_json(e).ok_or_else(|| format!("find_all {css:?}: not an element: {e}"))).collect()
    }

    /// Polls (every 100 ms) until an element matches the CSS selector.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(css).await {
                Ok(e) => return Ok(e),
                Err(e) if e.contains("no such element") => {
                    if Instant::now() >= deadline {
                        return Err(format!("timed out after {timeout:?} waiting for an element matching {css:?}"));
                    }
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Evaluates `return (<expression>)` in the page every 100 ms until it is
    /// truthy (in JavaScript's sense), and returns that value. Script errors
    /// (say, an element not there yet) count as not yet; the last one is
    /// quoted if the wait times out.
    pub async fn wait_until(&self, expression: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        let script = format!("return ({expression});");
        loop {
            let last = match self.execute(&script, vec![]).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => format!("last value {v}"),
                Err(e) => format!("last error {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!("timed out after {timeout:?} waiting until `{expression}` ({last})"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `script` as the body of a function (`arguments` are `args`; use
    /// [`Element::to_json`] to pass elements) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.post("/execute/sync", json!({ "script": script, "args": args })).await
    }

    pub async fn click(&self, element: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/click", element.id), json!({})).await.map(drop)
    }

    /// Types `text` into the element (WebDriver key codes such as `\u{E007}`
    /// for Enter work too).
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<(), String> {
        self.post(&format!("/element/{}/value", element.id), json!({ "text": text })).await.map(drop)
    }

    pub async fn clear(&self, element: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/clear", element.id), json!({})).await.map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String, String> {
        as_string(self.get(&format!("/element/{}/text", element.id)).await?, "element text")
    }

    /// An HTML attribute; `None` when the element has none by that name.
    pub async fn attribute(&self, element: &Element, name: &str) -> Result<Option<String>, String> {
        match self.get(&format!("/element/{}/attribute/{name}", element.id)).await? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// A DOM property (e.g. `value`, `checked`), as JSON.
    pub async fn property(&self, element: &Element, name: &str) -> Result<Value, String> {
        self.get(&format!("/element/{}/property/{name}", element.id)).await
    }

    /// Resizes the (outer) window.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.post("/window/rect", json!({ "width": width, "height": height })).await.map(drop)
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let v = self.get("/screenshot").await?;
        let b64 = v.as_str().ok_or_else(|| format!("screenshot: not a string: {}", truncate(&v.to_string(), 200)))?;
        let png = base64_decode(b64).map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("screenshot: writing {}: {e}", path.display()))
    }

    /// The browser console entries logged since the previous call
    /// (chromedriver's `se/log` drains its buffer).
    pub async fn browser_log(&self) -> Result<Vec<LogEntry>, String> {
        let v = self.post("/se/log", json!({ "type": "browser" })).await?;
        let items = v.as_array().ok_or_else(|| format!("browser log: not a list: {v}"))?;
        Ok(items
            .iter()
            .map(|e| LogEntry {
                level: e.get("level").and_then(Value::as_str).unwrap_or("").to_owned(),
                message: e.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
            })
            .collect())
    }

    /// The SEVERE entries (console.error, uncaught exceptions, failed loads)
    /// among [`Browser::browser_log`]'s: since the previous read of the log.
    pub async fn console_errors(&self) -> Result<Vec<LogEntry>, String> {
        Ok(self.browser_log().await?.into_iter().filter(|e| e.level == "SEVERE").collect())
    }

    /// Waits for a finished download in `dir` whose name ends with `suffix`:
    /// such a file exists and nothing in `dir` is still a `.crdownload`.
    /// The newest such file if there are several.
    pub async fn wait_for_download(&self, dir: &Path, suffix: &str, timeout: Duration) -> Result<PathBuf, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut partial = false;
            let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
            let entries = std::fs::read_dir(dir).map_err(|e| format!("download directory {}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".crdownload") {
                    partial = true;
                } else if name.ends_with(suffix) {
                    let meta = entry.metadata().map_err(|e| format!("{name}: {e}"))?;
                    if meta.is_file() {
                        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
                            best = Some((modified, entry.path()));
                        }
                    }
                }
            }
            if let (false, Some((_, path))) = (partial, best.as_ref()) {
                return Ok(path.clone());
            }
            if Instant::now() >= deadline {
                let names: Vec<String> =
                    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
                return Err(format!(
                    "timed out after {timeout:?} waiting for a finished download ending in {suffix:?} in {} (it holds {names:?})",
                    dir.display()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn quit(mut self) -> Result<(), String> {
        let result = match self.session.as_deref() {
            Some(id) => self.request(reqwest::Method::DELETE, &format!("/session/{id}"), None).await.map(drop),
            None => Ok(()),
        };
        self.session = None;
        self.stop_driver();
        result
    }

    fn stop_driver(&mut self) {
        if let Some(mut child) = self.driver.take() {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            // Whatever chromedriver started and left in its process group.
            #[cfg(unix)]
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort, blocking (Drop may run inside or outside a runtime):
        // DELETE the session over a plain socket so that Chromium quits.
        if let Some(id) = self.session.take() {
            let _ = blocking_delete(self.port, &format!("/session/{id}"));
        }
        self.stop_driver();
    }
}

fn blocking_delete(port: u16, path: &str) -> std::io::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    // chromedriver answers `Connection: close` but keeps the socket open:
    // read up to the end of the body its Content-Length announces.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(());
            }
        }
    }
}

fn as_string(v: Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(format!("{what}: not a string: {other}")),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// JavaScript truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Decodes standard base64 (RFC 4648 alphabet, `=` padding optional,
/// whitespace ignored).
pub fn base64_decode(input: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for (i, c) in input.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(format!("base64: data after padding at byte {i}"));
        }
        let v = sextet(c).ok_or_else(|| format!("base64: invalid character {:?} at byte {i}", c as char))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits: 0 (complete), 2 (one byte + "=="), 4 (two bytes + "=").
    // Six leftover bits would be a lone character, which encodes no byte.
    if bits == 6 || padding > 2 {
        return Err("base64: truncated input".into());
    }
    Ok(out)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYmE", "fooba"),
            ("Zm9v\nYmFy", "foobar"),
        ];
        for (enc, dec) in cases {
            assert_eq!(base64_decode(enc).unwrap(), dec.as_bytes(), "{enc}");
        }
        // All byte values, through the + and / characters.
        let all: Vec<u8> = (0..=255).collect();
        let enc = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==";
        assert_eq!(base64_decode(enc).unwrap(), all);
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert!(base64_decode("Zm9v!").is_err());
        assert!(base64_decode("Z").is_err());
        assert!(base64_decode("Zg==Zg").is_err());
    }

    #[test]
    fn truthiness_follows_javascript() {
        for v in [json!(null), json!(false), json!(0), json!(0.0), json!("")] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!(true), json!(1), json!(-0.5), json!("0"), json!([]), json!({})] {
            assert!(truthy(&v), "{v}");
        }
    }

    #[test]
    fn elements_use_the_w3c_key() {
        let e = Element::from_json(&json!({ "element-6066-11e4-a52e-4f735466cecf": "abc" })).unwrap();
        assert_eq!(e.id(), "abc");
        assert_eq!(e.to_json(), json!({ "element-6066-11e4-a52e-4f735466cecf": "abc" }));
        assert!(Element::from_json(&json!({ "ELEMENT": "abc" })).is_none());
    }
}
