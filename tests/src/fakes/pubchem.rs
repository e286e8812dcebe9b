//! A fake PubChem PUG-REST: `POST /rest/pug/compound/smiles/property/<list>/JSON`
//! with a form body `smiles=...`, answering from RDKit's view of the molecule.
//!
//! What each compound gets is fixed by a hash of its SMILES ([`PubchemFaults`]):
//! unknown to PubChem (CID 0), properties missing (no XLogP, no IUPACName),
//! and, on its first delivery(ies), a fault: 503 as an HTML page with
//! `Retry-After`, a 503 `PUGREST.ServerBusy`, a 504 `PUGREST.Timeout`, or an
//! answer slower than the client's timeout; or 503 on every attempt. Every
//! answer carries `X-Throttling-Control` (the status is settable).

use super::{now_ms, serve, stable_hash, FakeServer, LoggedRequest, RequestLog, HTML_503};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per-mille shares of compounds getting each behaviour (by SMILES hash).
#[derive(Debug, Clone)]
pub struct PubchemFaults {
    /// Valid SMILES PubChem does not know: CID 0.
    pub unknown: u64,
    /// Found, but XLogP and IUPACName absent.
    pub missing_properties: u64,
    /// First attempt fails (503 HTML + Retry-After, 503 ServerBusy, 504 Timeout, slow), rotating.
    pub transient: u64,
    /// Every attempt answers 503.
    pub always_503: u64,
    /// CIDs whose synonyms request answers 404 `PUGREST.NotFound` (none known).
    pub no_synonyms: u64,
    /// CIDs whose synonyms request answers 503 `PUGREST.ServerBusy`, every time.
    pub synonyms_503: u64,
    /// SMILES PubChem standardizes into another structure (as its
    /// standardization may, e.g. another tautomer): the answer is that
    /// structure's, with an InChIKey other than the input's.
    pub restandardized: u64,
    /// How slow a slow answer is.
    pub slow: Duration,
    /// The `Retry-After` of a 503 HTML page, seconds.
    pub retry_after_secs: u64,
}

impl PubchemFaults {
    pub fn none() -> Self {
        PubchemFaults {
            unknown: 0,
            missing_properties: 0,
            transient: 0,
            always_503: 0,
            no_synonyms: 0,
            synonyms_503: 0,
            restandardized: 0,
            slow: Duration::from_secs(3),
            retry_after_secs: 1,
        }
    }
    /// The mix the end-to-end test uses.
    pub fn mixed() -> Self {
        PubchemFaults {
            unknown: 100,
            missing_properties: 100,
            transient: 200,
            always_503: 20,
            no_synonyms: 100,
            synonyms_503: 100,
            restandardized: 0,
            slow: Duration::from_secs(3),
            retry_after_secs: 1,
        }
    }
}

#[derive(Clone)]
struct FakeState {
    faults: PubchemFaults,
    log: RequestLog,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    throttle: Arc<Mutex<String>>,
}

pub const GREEN: &str = "Request Count status: Green (0%), Request Time status: Green (0%), Service status: Green (20%)";

pub struct FakePubchem {
    pub server: FakeServer,
    throttle: Arc<Mutex<String>>,
}

impl FakePubchem {
    pub async fn start(faults: PubchemFaults) -> Self {
        let log = RequestLog::default();
        let throttle = Arc::new(Mutex::new(GREEN.to_owned()));
        let state = FakeState { faults, log: log.clone(), attempts: Default::default(), throttle: throttle.clone() };
        let router = Router::new()
            .route("/rest/pug/compound/smiles/property/{props}/JSON", post(properties))
            .route("/rest/pug/compound/cid/{cid}/synonyms/JSON", get(synonyms))
            .with_state(state);
        FakePubchem { server: serve(router, "/rest/pug", log).await, throttle }
    }
    pub fn base_url(&self) -> &str {
        &self.server.base_url
    }
    pub fn log(&self) -> &RequestLog {
        &self.server.log
    }
    /// Sets the `X-Throttling-Control` value of every following answer.
    pub fn set_throttle(&self, value: &str) {
        *self.throttle.lock().unwrap() = value.to_owned();
    }
}

fn share(h: u64, salt: u64, per_mille: u64) -> bool {
    (h.rotate_left(salt as u32 * 7) ^ salt.wrapping_mul(0x9e3779b97f4a7c15)) % 1000 < per_mille
}

fn fault(status: StatusCode, code: &str, message: &str) -> Response {
    (status, [("content-type", "application/json")], json!({"Fault": {"Code": code, "Message": message, "Details": [format!("{message} (fake)")]}}).to_string())
        .into_response()
}

async fn properties(State(st): State<FakeState>, Path(props): Path<String>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let smiles = form.iter().find(|(k, _)| k == "smiles").map(|(_, v)| v.clone());
    let at_ms = now_ms();
    let (status, mut resp) = answer(&st, &props, smiles.as_deref()).await;
    let throttle = st.throttle.lock().unwrap().clone();
    resp.headers_mut().insert("x-throttling-control", HeaderValue::from_str(&throttle).unwrap());
    st.log.push(LoggedRequest {
        at_ms,
        method: "POST".into(),
        path: format!("/rest/pug/compound/smiles/property/{props}/JSON"),
        query: String::new(),
        key: smiles.unwrap_or_default(),
        status,
    });
    resp
}

async fn answer(st: &FakeState, props: &str, smiles: Option<&str>) -> (u16, Response) {
    let Some(smiles) = smiles.filter(|s| !s.is_empty()) else {
        return (400, fault(StatusCode::BAD_REQUEST, "PUGREST.BadRequest", "No input: smiles missing from the form body"));
    };
    let h = stable_hash(smiles);
    let attempt = {
        let mut a = st.attempts.lock().unwrap();
        let n = a.entry(smiles.to_owned()).or_insert(0);
        *n += 1;
        *n
    };
    let f = &st.faults;
    if share(h, 4, f.always_503) {
        return (503, fault(StatusCode::SERVICE_UNAVAILABLE, "PUGREST.ServerBusy", "Too many requests or server too busy"));
    }
    if attempt == 1 && share(h, 3, f.transient) {
        match h % 4 {
            0 => {
                let mut headers = HeaderMap::new();
                headers.insert("retry-after", HeaderValue::from(f.retry_after_secs));
                headers.insert("content-type", HeaderValue::from_static("text/html"));
                return (503, (StatusCode::SERVICE_UNAVAILABLE, headers, HTML_503).into_response());
            }
            1 => return (503, fault(StatusCode::SERVICE_UNAVAILABLE, "PUGREST.ServerBusy", "Too many requests or server too busy")),
            2 => return (504, fault(StatusCode::GATEWAY_TIMEOUT, "PUGREST.Timeout", "The request timed out, from server")),
            _ => tokio::time::sleep(f.slow).await, // then answers normally, too late
        }
    }
    let standardized = format!("{smiles}C");
    let read_as = if share(h, 7, f.restandardized) && pharmforge_chem::compute_properties(&standardized).is_ok() { standardized.as_str() } else { smiles };
    let Ok(p) = pharmforge_chem::compute_properties(read_as) else {
        return (
            400,
            fault(
                StatusCode::BAD_REQUEST,
                "PUGREST.BadRequest",
                "Unable to standardize the given structure - perhaps some special characters need to be escaped or data packed in MIME form?",
            ),
        );
    };
    if share(h, 1, f.unknown) {
        return (200, axum::Json(json!({"PropertyTable": {"Properties": [{"CID": 0}]}})).into_response());
    }
    let cid = 1 + h % 50_000_000;
    let mut m = Map::new();
    m.insert("CID".into(), json!(cid));
    let missing = share(h, 2, f.missing_properties);
    for prop in props.split(',') {
        let v = match prop {
            "MolecularFormula" => json!(p.formula),
            // PubChem sends weights as strings.
            "MolecularWeight" => json!(format!("{:.2}", p.molecular_weight)),
            "ExactMass" => json!(format!("{:.6}", p.exact_mass)),
            "SMILES" | "ConnectivitySMILES" => json!(p.canonical_smiles),
            "InChI" => json!(p.inchi),
            "InChIKey" => json!(p.inchikey),
            "IUPACName" if !missing => json!(format!("fake-iupac-name-{cid}")),
            "XLogP" if !missing => json!((p.logp * 10.0).round() / 10.0),
            "TPSA" => json!((p.tpsa * 10.0).round() / 10.0),
            "HBondDonorCount" => json!(p.h_bond_donors),
            "HBondAcceptorCount" => json!(p.h_bond_acceptors),
            "RotatableBondCount" => json!(p.rotatable_bonds),
            // Deprecated since 2025: answered under the new keys only.
            "CanonicalSMILES" => {
                m.insert("ConnectivitySMILES".into(), json!(p.canonical_smiles));
                continue;
            }
            "IsomericSMILES" => {
                m.insert("SMILES".into(), json!(p.canonical_smiles));
                continue;
            }
            _ => continue,
        };
        m.insert(prop.to_owned(), v);
    }
    (200, axum::Json(json!({"PropertyTable": {"Properties": [Value::Object(m)]}})).into_response())
}

async fn synonyms(State(st): State<FakeState>, Path(cid): Path<u64>) -> Response {
    let status = synonyms_behaviour(&st.faults, cid);
    let mut resp = match status {
        503 => fault(StatusCode::SERVICE_UNAVAILABLE, "PUGREST.ServerBusy", "Too many requests or server too busy"),
        404 => fault(StatusCode::NOT_FOUND, "PUGREST.NotFound", "No synonyms found"),
        _ => {
            let list = [format!("fake-{cid}"), format!("FAKE{cid}"), format!("fake compound {cid}")];
            axum::Json(json!({"InformationList": {"Information": [{"CID": cid, "Synonym": list}]}})).into_response()
        }
    };
    let throttle = st.throttle.lock().unwrap().clone();
    resp.headers_mut().insert("x-throttling-control", HeaderValue::from_str(&throttle).unwrap());
    st.log.push(LoggedRequest {
        at_ms: now_ms(),
        method: "GET".into(),
        path: format!("/rest/pug/compound/cid/{cid}/synonyms/JSON"),
        query: String::new(),
        key: cid.to_string(),
        status,
    });
    resp
}

/// Whether the fake answers the synonyms of `cid` with 503 every time, 404,
/// or its list (first entries `fake-<cid>`, `FAKE<cid>`).
pub fn synonyms_behaviour(faults: &PubchemFaults, cid: u64) -> u16 {
    let h = stable_hash(&cid.to_string());
    if share(h, 5, faults.synonyms_503) {
        503
    } else if share(h, 6, faults.no_synonyms) {
        404
    } else {
        200
    }
}
