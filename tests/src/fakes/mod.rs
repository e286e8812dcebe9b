//! Local fakes of PubChem PUG-REST and the ChEMBL web services, answering as
//! their documentation describes, faults included, with a request log tests
//! and the benchmark can read. Nothing here reaches the internet.

pub mod chembl;
pub mod pubchem;

use std::sync::{Arc, Mutex};

/// The services' environment for talking to these fakes: base URLs, and the
/// rate limits raised to `per_second` (and 60× that per minute) when given,
/// for runs that test something other than the public services' policy.
pub fn service_env(pubchem: &pubchem::FakePubchem, chembl: &chembl::FakeChembl, per_second: Option<u32>) -> Vec<(&'static str, String)> {
    let mut env = vec![("PUBCHEM_BASE_URL", pubchem.base_url().to_owned()), ("CHEMBL_BASE_URL", chembl.base_url().to_owned())];
    if let Some(rate) = per_second {
        for (second, minute) in [("PUBCHEM_RATE_PER_SECOND", "PUBCHEM_RATE_PER_MINUTE"), ("CHEMBL_RATE_PER_SECOND", "CHEMBL_RATE_PER_MINUTE")] {
            env.push((second, rate.to_string()));
            env.push((minute, (rate * 60).to_string()));
        }
    }
    env
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Wall-clock milliseconds when the request arrived.
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// What the request was about (a SMILES, InChIKeys, ...).
    pub key: String,
    pub status: u16,
}

#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<LoggedRequest>>>);

impl RequestLog {
    pub fn push(&self, r: LoggedRequest) {
        self.0.lock().unwrap().push(r);
    }
    pub fn all(&self) -> Vec<LoggedRequest> {
        self.0.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear()
    }
    /// The most requests that arrived within any window of `window_ms`
    /// (half-open: [t, t + window)).
    pub fn max_in_window(&self, window_ms: u64) -> usize {
        let mut t: Vec<u64> = self.all().iter().map(|r| r.at_ms).collect();
        t.sort_unstable();
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..t.len() {
            while t[hi] - t[lo] >= window_ms {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A stable hash (FNV-1a), so which compounds get which behaviour is fixed.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A fake server running on a local port until dropped.
pub struct FakeServer {
    pub base_url: String,
    pub log: RequestLog,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(router: axum::Router, base_path: &str, log: RequestLog) -> FakeServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a fake server");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    FakeServer { base_url: format!("http://{addr}{base_path}"), log, task }
}

pub(crate) const HTML_503: &str = "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p></body></html>";
pub(crate) const HTML_500: &str = "<!DOCTYPE html><html><head><title>Server Error (500)</title></head><body><h1>Server Error (500)</h1></body></html>";
pub(crate) const HTML_502: &str =
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
