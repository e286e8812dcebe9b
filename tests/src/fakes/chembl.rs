//! A fake ChEMBL web services API under `/chembl/api/data`, answering as
//! ChEMBL's documentation describes:
//!
//! - `GET /molecule/{inchikey|chembl_id}.json`: the molecule, or 404 with an empty body;
//! - `GET /molecule.json?molecule_structures__standard_inchi_key__in=K1,K2`
//!   and `?molecule_structures__canonical_smiles__flexmatch=SMILES`;
//! - `GET /activity.json?molecule_chembl_id[__in]=...&limit=&offset=&only=`,
//!   paginated with `page_meta.next` as a host-relative path;
//! - `GET /status.json`; anything not asking for JSON gets XML (ChEMBL's default).
//!
//! Decimals (`standard_value`, `pchembl_value`) are strings, many fields null.
//! Which InChIKeys ChEMBL has, which are found only by flexmatch, and how many
//! activities a molecule has (a few have 1,200: several pages) are fixed by
//! hashes. Faults: every `fault_every`-th request answers 503/500/502 as an
//! HTML page; every `slow_every`-th answers after `slow`; `set_outage(true)`
//! makes every request answer 503; a query string over 8,000 bytes (a very
//! long SMILES) gets 414 with an HTML page.

use super::{now_ms, serve, stable_hash, FakeServer, LoggedRequest, RequestLog, HTML_500, HTML_502, HTML_503};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const BASE_PATH: &str = "/chembl/api/data";

/// The longest query string answered; longer ones get 414, as from a front
/// server whose request-line buffer is 8 KiB.
pub const MAX_QUERY_BYTES: usize = 8_000;

const HTML_414: &str = "<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[derive(Debug, Clone)]
pub struct ChemblFaults {
    /// Per mille of InChIKeys ChEMBL has.
    pub known: u64,
    /// Per mille of the others found by SMILES flexmatch.
    pub flexmatch_only: u64,
    /// Per mille of molecules with 1,200 activities (two pages and more).
    pub many_activities: u64,
    /// Every n-th request (0: never) answers an HTML 503/500/502.
    pub fault_every: u64,
    /// Every n-th request (0: never) answers after `slow`.
    pub slow_every: u64,
    pub slow: Duration,
}

impl ChemblFaults {
    pub fn none() -> Self {
        ChemblFaults { known: 800, flexmatch_only: 300, many_activities: 30, fault_every: 0, slow_every: 0, slow: Duration::from_secs(3) }
    }
    pub fn mixed() -> Self {
        ChemblFaults { fault_every: 23, slow_every: 37, ..Self::none() }
    }
}

#[derive(Clone)]
struct FakeState {
    faults: ChemblFaults,
    log: RequestLog,
    counter: Arc<AtomicU64>,
    outage: Arc<AtomicBool>,
}

pub struct FakeChembl {
    pub server: FakeServer,
    outage: Arc<AtomicBool>,
}

impl FakeChembl {
    pub async fn start(faults: ChemblFaults) -> Self {
        let log = RequestLog::default();
        let outage = Arc::new(AtomicBool::new(false));
        let state = FakeState { faults, log: log.clone(), counter: Default::default(), outage: outage.clone() };
        let router =
            Router::new().route(&format!("{BASE_PATH}/{{resource}}"), get(list)).route(&format!("{BASE_PATH}/molecule/{{id}}"), get(detail)).with_state(state);
        FakeChembl { server: serve(router, BASE_PATH, log).await, outage }
    }
    pub fn base_url(&self) -> &str {
        &self.server.base_url
    }
    pub fn log(&self) -> &RequestLog {
        &self.server.log
    }
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }
}

fn share(h: u64, salt: u64, per_mille: u64) -> bool {
    (h.rotate_left(salt as u32 * 7) ^ salt.wrapping_mul(0x9e3779b97f4a7c15)) % 1000 < per_mille
}

fn chembl_id(inchikey: &str) -> String {
    format!("CHEMBL{}", 1000 + stable_hash(inchikey) % 900_000)
}

fn molecule(inchikey: &str, smiles: Option<&str>) -> Value {
    json!({
        "molecule_chembl_id": chembl_id(inchikey),
        "pref_name": null,
        "max_phase": null,
        "molecule_type": "Small molecule",
        "molecule_structures": {"standard_inchi_key": inchikey, "canonical_smiles": smiles, "standard_inchi": null, "molfile": null},
    })
}

fn project(v: Value, only: Option<&str>) -> Value {
    let Some(only) = only else { return v };
    let fields: Vec<&str> = only.split(',').collect();
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| fields.contains(&k.as_str())).collect()),
        v => v,
    }
}

fn xml() -> Response {
    (StatusCode::OK, [("content-type", "application/xml")], "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response><page_meta/></response>").into_response()
}

/// Faults applied to any request; `None` means answer normally.
async fn fault(st: &FakeState, skip: bool) -> Option<(u16, Response)> {
    if st.outage.load(Ordering::SeqCst) {
        return Some((503, html(StatusCode::SERVICE_UNAVAILABLE, HTML_503)));
    }
    if skip {
        return None;
    }
    let n = st.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let f = &st.faults;
    if f.fault_every > 0 && n.is_multiple_of(f.fault_every) {
        return Some(match (n / f.fault_every) % 3 {
            0 => (503, html(StatusCode::SERVICE_UNAVAILABLE, HTML_503)),
            1 => (500, html(StatusCode::INTERNAL_SERVER_ERROR, HTML_500)),
            _ => (502, html(StatusCode::BAD_GATEWAY, HTML_502)),
        });
    }
    if f.slow_every > 0 && n.is_multiple_of(f.slow_every) {
        tokio::time::sleep(f.slow).await;
    }
    None
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "text/html; charset=utf-8")], body).into_response()
}

async fn detail(State(st): State<FakeState>, Path(id): Path<String>) -> Response {
    let at_ms = now_ms();
    let (status, resp) = match fault(&st, false).await {
        Some(f) => f,
        None => match id.strip_suffix(".json") {
            None => (200, xml()),
            Some(key) if key.len() == 27 && share(stable_hash(key), 1, st.faults.known) => (200, axum::Json(molecule(key, None)).into_response()),
            // ChEMBL's 404 on a detail lookup has an empty body.
            Some(_) => (404, StatusCode::NOT_FOUND.into_response()),
        },
    };
    st.log.push(LoggedRequest { at_ms, method: "GET".into(), path: format!("{BASE_PATH}/molecule/{id}"), query: String::new(), key: id, status });
    resp
}

fn params(raw: &Option<String>) -> HashMap<String, String> {
    raw.as_deref().map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()).unwrap_or_default().into_iter().collect()
}

async fn list(State(st): State<FakeState>, Path(resource): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let at_ms = now_ms();
    let q = params(&raw);
    let is_status = resource == "status.json";
    let too_long = raw.as_deref().is_some_and(|r| r.len() > MAX_QUERY_BYTES);
    let (status, key, resp) = match fault(&st, is_status).await {
        Some((s, r)) => (s, String::new(), r),
        // As ChEMBL's front server does with a request line past its buffer.
        None if too_long => (414, String::new(), (StatusCode::URI_TOO_LONG, axum::response::Html(HTML_414)).into_response()),
        None => answer(&st, &resource, &q, raw.as_deref().unwrap_or("")),
    };
    st.log.push(LoggedRequest { at_ms, method: "GET".into(), path: format!("{BASE_PATH}/{resource}"), query: raw.unwrap_or_default(), key, status });
    resp
}

fn answer(st: &FakeState, resource: &str, q: &HashMap<String, String>, raw: &str) -> (u16, String, Response) {
    let json_asked = resource.ends_with(".json") || q.get("format").map(String::as_str) == Some("json");
    if !json_asked {
        return (200, String::new(), xml());
    }
    let f = &st.faults;
    match resource.trim_end_matches(".json") {
        "status" => (
            200,
            String::new(),
            axum::Json(
                json!({"chembl_db_version": "ChEMBL_35", "chembl_release_date": "2024-12-01", "status": "UP", "activities": 24267312, "disclaimer": "fake"}),
            )
            .into_response(),
        ),
        "molecule" => {
            let only = q.get("only").map(String::as_str);
            let (key, molecules): (String, Vec<Value>) = if let Some(keys) = q.get("molecule_structures__standard_inchi_key__in") {
                let found = keys.split(',').filter(|k| share(stable_hash(k), 1, f.known)).map(|k| project(molecule(k, None), only)).collect();
                (keys.clone(), found)
            } else if let Some(smiles) = q.get("molecule_structures__canonical_smiles__flexmatch") {
                let found = match pharmforge_chem::compute_properties(smiles) {
                    Ok(p) if p.inchikey.is_some() => {
                        let ik = p.inchikey.clone().unwrap_or_default();
                        let h = stable_hash(&ik);
                        if share(h, 1, f.known) || share(h, 5, f.flexmatch_only) {
                            vec![project(molecule(&ik, Some(&p.canonical_smiles)), only)]
                        } else {
                            vec![]
                        }
                    }
                    _ => vec![],
                };
                (smiles.clone(), found)
            } else {
                return (400, String::new(), (StatusCode::BAD_REQUEST, "a filter is required by this fake").into_response());
            };
            let n = molecules.len();
            (
                200,
                key,
                axum::Json(json!({"molecules": molecules, "page_meta": {"limit": 20, "offset": 0, "total_count": n, "next": null, "previous": null}}))
                    .into_response(),
            )
        }
        "activity" => {
            let ids: Vec<String> = match (q.get("molecule_chembl_id__in"), q.get("molecule_chembl_id")) {
                (Some(list), _) => list.split(',').map(str::to_owned).collect(),
                (None, Some(one)) => vec![one.clone()],
                _ => return (400, String::new(), (StatusCode::BAD_REQUEST, "a filter is required by this fake").into_response()),
            };
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(20).clamp(1, 1000);
            let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
            let mut all = Vec::new();
            let mut sorted = ids.clone();
            sorted.sort();
            for id in &sorted {
                all.extend(activities_of(id, f));
            }
            let total = all.len();
            let only = q.get("only").map(String::as_str);
            let page: Vec<Value> = all.into_iter().skip(offset).take(limit).map(|a| project(a, only)).collect();
            let next = (offset + limit < total).then(|| {
                let rest: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| k != "offset" && k != "limit")
                    .collect();
                let mut rest = serde_urlencoded::to_string(rest).unwrap();
                rest.push_str(&format!("&limit={limit}&offset={}", offset + limit));
                format!("{BASE_PATH}/activity.json?{rest}")
            });
            let previous = (offset > 0).then(|| format!("{BASE_PATH}/activity.json?limit={limit}&offset={}", offset.saturating_sub(limit)));
            (
                200,
                ids.join(","),
                axum::Json(
                    json!({"activities": page, "page_meta": {"limit": limit, "offset": offset, "total_count": total, "next": next, "previous": previous}}),
                )
                .into_response(),
            )
        }
        _ => (404, String::new(), StatusCode::NOT_FOUND.into_response()),
    }
}

/// A molecule's activities, fixed by its id.
pub fn activities_of(id: &str, f: &ChemblFaults) -> Vec<Value> {
    let h = stable_hash(id);
    let n = if share(h, 6, f.many_activities) { 1200 } else { (h % 30) as usize };
    let num: u64 = id.trim_start_matches("CHEMBL").parse().unwrap_or(0);
    (0..n)
        .map(|j| {
            let j64 = j as u64;
            let t = (h.wrapping_add(j64)) % 15;
            let value = (j % 7 != 0).then(|| format!("{:.1}", 1.0 + ((h >> 8).wrapping_add(j64 * 37) % 10_000) as f64 / 3.0));
            let p = value.as_ref().filter(|_| j % 3 != 0).map(|v| format!("{:.2}", 9.0 - v.parse::<f64>().unwrap().log10()));
            let mut m = Map::new();
            m.insert("activity_id".into(), json!(num * 10_000 + j64));
            m.insert("molecule_chembl_id".into(), json!(id));
            m.insert("assay_chembl_id".into(), json!(format!("CHEMBL{}", 5_000_000 + (h + j64) % 1000)));
            m.insert("assay_type".into(), json!(["B", "F", "A", "T"][j % 4]));
            m.insert("target_chembl_id".into(), json!(format!("CHEMBL{}", 200 + t)));
            m.insert("target_pref_name".into(), json!(format!("Fake target {t}")));
            m.insert("target_organism".into(), if t.is_multiple_of(5) { Value::Null } else { json!("Homo sapiens") });
            m.insert("standard_type".into(), json!(["IC50", "Ki", "EC50", "Kd"][j % 4]));
            m.insert("standard_relation".into(), if value.is_some() { json!(if j % 11 == 0 { ">" } else { "=" }) } else { Value::Null });
            m.insert("standard_value".into(), json!(value));
            m.insert("standard_units".into(), if value.is_some() { json!("nM") } else { Value::Null });
            m.insert("pchembl_value".into(), json!(p));
            m.insert("document_chembl_id".into(), Value::Null);
            Value::Object(m)
        })
        .collect()
}
