//! The web dashboard: one HTML page, one script and one style sheet, embedded
//! in the binary (nothing is fetched from elsewhere), served at `/` (runs),
//! `/runs/{run_id}`, `/runs/{run_id}/compounds/{index}`, `/pipeline` and the
//! API reference at `/api/v1/docs` (drawn from `/api/v1/openapi.json`). The
//! page draws itself from the same API endpoints as every other client.
//!
//! Assets are named by a hash of their content (`/assets/app.js?v=…`), so
//! a browser keeps them until they change; each is gzipped once, at first
//! use, and sent compressed to browsers that accept it.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::sync::OnceLock;

const PAGE: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/app.css");
const ICON: &str = include_str!("../dashboard/icon.svg");

/// One asset: its bytes, gzipped, and the version its links carry.
struct Asset {
    content_type: &'static str,
    plain: Vec<u8>,
    gzipped: Vec<u8>,
    version: String,
}

impl Asset {
    fn new(content_type: &'static str, text: String) -> Asset {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(text.as_bytes()).expect("gzip into memory");
        let gzipped = gz.finish().expect("gzip into memory");
        Asset { content_type, version: format!("{:016x}", fnv1a(text.as_bytes())), plain: text.into_bytes(), gzipped }
    }

    fn respond(&self, headers: &HeaderMap, cache: &'static str) -> Response {
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
        let etag = format!("\"{}\"", self.version);
        if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        let mut response = if gzip { self.gzipped.clone() } else { self.plain.clone() }.into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

struct Assets {
    script: Asset,
    style: Asset,
    icon: Asset,
    /// The page, by authentication mode (it tells the script which).
    page_jwt: Asset,
    page_off: Asset,
}

/// The adapter registry as the page's `data-adapters`: `{name: {label,
/// section, default_route}}` in route order, so the page lists no adapter
/// of its own (and ticks for a new run only those on the default route).
fn adapters_attribute() -> String {
    let registry: serde_json::Map<String, serde_json::Value> = pharmforge_core::AdapterName::ALL
        .into_iter()
        .map(|a| (a.as_str().to_owned(), serde_json::json!({"label": a.label(), "section": a.section().as_str(), "default_route": a.in_default_route()})))
        .collect();
    serde_json::Value::Object(registry).to_string().replace('&', "&amp;").replace('"', "&quot;")
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let script = Asset::new("text/javascript; charset=utf-8", SCRIPT.to_owned());
        let style = Asset::new("text/css; charset=utf-8", STYLE.to_owned());
        let icon = Asset::new("image/svg+xml", ICON.to_owned());
        let page = |auth: &str| {
            let html = PAGE
                .replace("{{AUTH}}", auth)
                .replace("{{SCRIPT}}", &format!("/assets/app.js?v={}", script.version))
                .replace("{{STYLE}}", &format!("/assets/app.css?v={}", style.version))
                .replace("{{ICON}}", &format!("/assets/icon.svg?v={}", icon.version))
                .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"))
                .replace("{{ADAPTERS}}", &adapters_attribute());
            Asset::new("text/html; charset=utf-8", html)
        };
        Assets { page_jwt: page("jwt"), page_off: page("off"), script, style, icon }
    })
}

/// The dashboard's routes, beside `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/runs/{run_id}", get(page))
        .route("/runs/{run_id}/compounds/{index}", get(page))
        .route("/pipeline", get(page))
        .route("/assets/app.js", get(|h: HeaderMap| async move { assets().script.respond(&h, IMMUTABLE) }))
        .route("/assets/app.css", get(|h: HeaderMap| async move { assets().style.respond(&h, IMMUTABLE) }))
        .route("/assets/icon.svg", get(|h: HeaderMap| async move { assets().icon.respond(&h, IMMUTABLE) }))
}

/// Versioned links: a changed asset has a new address.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The page (the script draws whichever of them the address names).
#[utoipa::path(
    get,
    path = "/api/v1/docs",
    operation_id = "docs",
    tag = "service",
    summary = "This document as a page, with a form to try each call",
    security(()),
    responses((status = 200, description = "the API reference page (served from the binary)", content_type = "text/html", body = String))
)]
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = if matches!(state.auth, crate::auth::Auth::Jwt { .. }) { &assets().page_jwt } else { &assets().page_off };
    let mut response = page.respond(&headers, "no-cache");
    // The page runs only its own script and style, and talks only to its own origin.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_versioned_assets_and_say_the_auth_mode() {
        let a = assets();
        let html = String::from_utf8(a.page_off.plain.clone()).unwrap();
        assert!(html.contains(&format!("/assets/app.js?v={}", a.script.version)));
        assert!(html.contains(&format!("/assets/app.css?v={}", a.style.version)));
        assert!(html.contains("data-auth=\"off\""));
        assert!(String::from_utf8(a.page_jwt.plain.clone()).unwrap().contains("data-auth=\"jwt\""));
        assert!(!html.contains("{{"), "a placeholder was left in the page");
        // The adapter registry, as the script reads it back from the attribute.
        let attribute = html.split("data-adapters=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
        let registry: serde_json::Value = serde_json::from_str(&attribute.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
        for a in pharmforge_core::AdapterName::ALL {
            assert_eq!(registry[a.as_str()]["section"], a.section().as_str());
            assert_eq!(registry[a.as_str()]["default_route"], a.in_default_route());
        }
        for asset in [&a.script, &a.style, &a.page_off] {
            assert!(asset.gzipped.len() < asset.plain.len());
        }
        // Nothing is fetched from another origin.
        for text in [SCRIPT, STYLE, PAGE] {
            assert!(!text.contains("src=\"http") && !text.contains("url(http") && !text.contains("@import"), "an external address in an asset");
        }
    }
}
