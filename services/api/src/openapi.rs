//! The API's OpenAPI document, built from the handlers' `#[utoipa::path]`
//! attributes and the types they read and answer with, so that it cannot
//! drift from them: served at `/api/v1/openapi.json`, drawn by the reference
//! page at `/api/v1/docs`, and fuzzed against by tests/tests/fuzz.rs.
//!
//! A few bodies are read by hand (a run's JSON is parsed as it streams in,
//! a scoring profile by `pharmforge_core::profile`) and a few enumerations
//! live in other crates: their schemas are here, the enumerations built
//! from those crates' own lists (`RunStatus::ALL`, the built-in profiles),
//! and the tests below hold the rest against the code that reads them.

use crate::{dashboard, error, routes, views, webhooks};
use pharmforge_core::{AdapterName, Priority as CorePriority, RunStatus as CoreRunStatus};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PharmForge API",
        description = "Submit SMILES, follow runs through the enrichment pipeline, read compound results. \
            Errors are {\"error\": {\"code\", \"message\", \"field\"?}} (the Error schema). \
            With authentication on (API_AUTH=jwt) every call but /healthz, /readyz, this document and its page \
            carries a bearer token whose subject is the user; a GET may carry it as ?access_token= instead."
    ),
    servers((url = "/")),
    security(("bearer" = []), ("access_token" = [])),
    paths(
        routes::create_run,
        routes::list_runs,
        routes::get_run,
        routes::delete_run,
        routes::cancel_run,
        routes::rescore_run,
        routes::list_results,
        routes::get_result,
        routes::result_depiction,
        routes::export_run,
        routes::run_events,
        routes::scoring_profiles,
        routes::pipeline_overview,
        routes::depict,
        routes::openapi,
        dashboard::page,
        routes::healthz,
        routes::readyz,
    ),
    components(schemas(views::RunSummary, webhooks::WebhookEvent)),
    modifiers(&Layers),
    tags(
        (name = "runs", description = "Submitting runs and following them"),
        (name = "results", description = "A run's compound results: pages, one compound, exports, pictures"),
        (name = "scoring", description = "Scoring profiles"),
        (name = "pipeline", description = "The pipeline as an operator sees it"),
        (name = "structures", description = "Structure pictures"),
        (name = "service", description = "This document, its page, health"),
    )
)]
pub struct ApiDoc;

/// The document as served, built once.
pub fn document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serializes"));
    &DOCUMENT
}

/// What the layers around every handler add (`routes::app`): the security
/// schemes, a 401 on every operation that takes a token, the deadline's 408
/// on all, and load shedding's 503 on those under /api/v1.
struct Layers;

impl Modify for Layers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("HS256 or RS256 (API_JWT_HS256_SECRET or API_JWT_RS256_PUBLIC_KEY); sub is the user, exp is required"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "the same token, for a GET that cannot set a header (a browser's EventSource, a download link, an <img>)",
            ))),
        );
        let error = || ContentBuilder::new().schema(Some(Ref::from_schema_name(error::ErrorBody::name()))).build();
        let retry_after = || HeaderBuilder::new().schema(u64::schema()).description(Some("seconds to wait before retrying")).build();
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in operations.into_iter().flatten() {
                for parameter in op.parameters.iter_mut().flatten() {
                    parameter.schema = parameter.schema.take().map(unwrap_one_of);
                }
                let add = |op: &mut Operation, code: &str, response: utoipa::openapi::Response| {
                    op.responses.responses.entry(code.to_owned()).or_insert(RefOr::T(response));
                };
                if op.security.is_none() {
                    let response = ResponseBuilder::new()
                        .description("no token, or one that is not valid (WWW-Authenticate: Bearer)")
                        .content("application/json", error())
                        .header("WWW-Authenticate", HeaderBuilder::new().schema(String::schema()).build())
                        .build();
                    add(op, "401", response);
                }
                let timeout = ResponseBuilder::new().description("not answered within 60 s (a file upload is bounded by its idle time instead)");
                add(op, "408", timeout.content("application/json", error()).build());
                if path.starts_with("/api/v1/") {
                    let response = ResponseBuilder::new()
                        .description(
                            "overloaded (API_MAX_IN_FLIGHT requests in progress), or what it needs (Postgres, NATS) is unavailable; Retry-After says when to try again",
                        )
                        .content("application/json", error())
                        .header("Retry-After", retry_after())
                        .build();
                    add(op, "503", response);
                }
            }
        }
    }
}

/// utoipa wraps an inlined enumeration that has a default in a `oneOf` of
/// that one schema; a parameter's clients (the reference page's choices,
/// the fuzz test) look for `enum` on the schema itself.
fn unwrap_one_of(schema: RefOr<Schema>) -> RefOr<Schema> {
    let Ok(Value::Object(mut outer)) = serde_json::to_value(&schema) else {
        return schema;
    };
    let inner = match outer.remove("oneOf") {
        Some(Value::Array(mut only)) if only.len() == 1 => only.remove(0),
        Some(other) => {
            outer.insert("oneOf".into(), other);
            return schema;
        }
        None => return schema,
    };
    let Value::Object(mut merged) = inner else {
        return schema;
    };
    // The parameter's own default and description win over the enumeration's.
    merged.extend(outer);
    serde_json::from_value(Value::Object(merged)).unwrap_or(schema)
}

/// A schema written as JSON.
fn schema(value: Value) -> Schema {
    serde_json::from_value(value).expect("a valid schema")
}

/// A component whose schema is built at run time (from another crate's list).
macro_rules! schema_type {
    ($(#[$meta:meta])* $name:ident => $schema:expr) => {
        $(#[$meta])*
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T(schema($schema))
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

schema_type!(
    /// A run's status (`pharmforge_core::RunStatus`).
    RunStatus => json!({"type": "string", "enum": CoreRunStatus::ALL.map(CoreRunStatus::as_str)})
);
schema_type!(
    /// A run's priority: its weight when the pipeline's room is shared.
    Priority => json!({
        "type": "string",
        "enum": CorePriority::ALL.map(CorePriority::as_str),
        "default": CorePriority::default().as_str(),
        "description": format!(
            "weight when the pipeline's room is shared: {}",
            CorePriority::ALL.map(|p| format!("{} {}", p.as_str(), p.weight())).join(", ")
        ),
    })
);
schema_type!(
    /// An adapter, a stage of the pipeline.
    Adapter => json!({"type": "string", "enum": AdapterName::ALL.map(AdapterName::as_str)})
);
schema_type!(
    /// What a webhook is sent for.
    WebhookEventName => json!({"type": "string", "enum": webhooks::EVENTS})
);

/// A webhook's `type`: `run.` and its event.
pub fn webhook_event_type() -> Schema {
    schema(json!({"type": "string", "enum": webhooks::EVENTS.map(|e| format!("run.{e}")), "description": "run.<event>"}))
}

/// `GET /runs/{id}`'s `include=`.
pub fn include_schema() -> Schema {
    schema(json!({"type": "string", "enum": ["input_smiles"]}))
}

/// A picture's width: `pharmforge_chem::SVG_SIZE_RANGE` pixels.
pub fn svg_width() -> Schema {
    svg_size(crate::depict::DEFAULT_WIDTH)
}

/// A picture's height: `pharmforge_chem::SVG_SIZE_RANGE` pixels.
pub fn svg_height() -> Schema {
    svg_size(crate::depict::DEFAULT_HEIGHT)
}

fn svg_size(default: u32) -> Schema {
    let range = pharmforge_chem::SVG_SIZE_RANGE;
    schema(json!({"type": "integer", "minimum": range.start(), "maximum": range.end(), "default": default}))
}

// `validate::run_request` reads this body as it arrives.
/// A run as submitted in JSON: its compounds, as `input_smiles` or as
/// `compounds` (one of them), and its options.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"input_smiles": ["CCO", "c1ccccc1O"], "pipeline_config": {"adapters": ["rdkit_local", "admet_ai"], "priority": "normal"}}))]
#[allow(dead_code)] // Describes a body read by hand; never built.
pub struct RunRequest {
    /// The compounds' SMILES, in order (at most API_MAX_COMPOUNDS, each at most API_MAX_SMILES_LENGTH characters).
    #[schema(schema_with = smiles_list)]
    input_smiles: Option<Vec<String>>,
    /// Or the compounds with the user's own IDs.
    #[schema(nullable = false, min_items = 1, max_items = 1000000)]
    compounds: Option<Vec<InputCompound>>,
    #[schema(nullable = false)]
    pipeline_config: Option<PipelineConfig>,
    /// The run's owner; with authentication on, the token's subject (another is a 403).
    #[schema(nullable = false, max_length = 128)]
    user_id: Option<String>,
}

fn smiles_list() -> Schema {
    schema(json!({
        "type": "array",
        "minItems": 1,
        "maxItems": 1_000_000,
        "items": {"type": "string", "minLength": 1, "maxLength": 10_000},
        "description": "The compounds' SMILES, in order (at most API_MAX_COMPOUNDS, 1,000,000 by default; each at most API_MAX_SMILES_LENGTH characters, 10,000 by default).",
    }))
}

/// A compound with the user's own ID.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct InputCompound {
    /// The user's own ID, returned as `id` on every result and export.
    #[schema(schema_with = compound_id)]
    id: Option<String>,
    #[schema(min_length = 1, max_length = 10000)]
    smiles: String,
}

fn compound_id() -> Schema {
    schema(json!({
        "oneOf": [{"type": "string", "maxLength": crate::validate::MAX_ID_LENGTH}, {"type": "integer"}],
        "description": "the user's own ID, returned as id on every result and export",
    }))
}

/// How a run is to be run. Other keys are kept as given.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PipelineConfig {
    /// The route, in order (default: the default route, the adapters on it in route order).
    #[schema(schema_with = adapter_route)]
    adapters: Option<Vec<String>>,
    #[schema(value_type = Option<Priority>, nullable = false)]
    priority: Option<String>,
    #[schema(nullable = false)]
    webhook: Option<WebhookConfig>,
    #[schema(value_type = Option<Scoring>, nullable = false)]
    scoring: Option<Value>,
    /// Any other key, kept as given.
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

fn adapter_route() -> Schema {
    schema(json!({
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "items": {"$ref": "#/components/schemas/Adapter"},
        "description": format!(
            "the route, in order (default: {}; an adapter off the default route runs only when named here)",
            AdapterName::default_route().iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }))
}

/// POSTs the run's events to `url` as WebhookEvent JSON, signed the Standard
/// Webhooks way (headers webhook-id, webhook-timestamp, webhook-signature:
/// v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the
/// deployment's WEBHOOK_SECRET>). Retried with backoff for 24 h until a 2xx
/// answer (first retry within 10 s, later if the receiver asks with
/// Retry-After); at least once, so receivers drop a webhook-id they have
/// already processed. Refused with 400 when the host resolves to a loopback,
/// private, link-local or other non-public address (unless the deployment
/// sets WEBHOOK_ALLOW_PRIVATE=true), or when the deployment has no
/// WEBHOOK_SECRET.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct WebhookConfig {
    #[schema(schema_with = webhook_url)]
    url: String,
    #[schema(schema_with = webhook_events)]
    events: Option<Vec<String>>,
}

fn webhook_url() -> Schema {
    schema(
        json!({"type": "string", "format": "uri", "maxLength": webhooks::MAX_URL_LENGTH, "description": "http or https, without credentials; stored as parsed"}),
    )
}

fn webhook_events() -> Schema {
    schema(json!({
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "default": webhooks::DEFAULT_EVENTS,
        "items": {"$ref": "#/components/schemas/WebhookEventName"},
        "description": "progress: at most one per run per WEBHOOK_PROGRESS_INTERVAL_MS (10 s) while it runs and moves",
    }))
}

/// A built-in profile's name (`GET /scoring/profiles`) or a profile.
pub struct Scoring;

impl PartialSchema for Scoring {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = pharmforge_core::profile::builtins().iter().map(|b| b.name).collect();
        RefOr::T(schema(json!({
            "description": "a built-in profile's name (GET /scoring/profiles) or a profile",
            "oneOf": [{"type": "string", "enum": names}, {"$ref": format!("#/components/schemas/{}", ScoringProfile::name())}],
        })))
    }
}

impl ToSchema for Scoring {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ScoringProfile::name().into(), ScoringProfile::schema()));
        ScoringProfile::schemas(schemas);
    }
}

// `pharmforge_core::profile` reads it.
/// How compounds are scored and ranked: each objective's value of the
/// result becomes a desirability from 0 to 1, and the method combines them.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ScoringProfile {
    #[schema(schema_with = method)]
    method: Option<String>,
    #[schema(min_items = 1, max_items = 32)]
    objectives: Vec<Objective>,
}

fn method() -> Schema {
    schema(json!({
        "type": "string",
        "enum": ["weighted_mean", "geometric_mean", "pareto"],
        "default": "weighted_mean",
        "description": "weighted_mean: Σ w·d / Σ w; geometric_mean: Π d^(w/Σw), no floor (a desirability of 0 makes the score 0); \
            pareto: non-dominated fronts of the desirabilities (a left-out one counts 0), front first, then the weighted mean inside the front",
    }))
}

/// One objective: a value of the result, its desirability, its weight.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Objective {
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// The path of a number (or boolean) in the result: properties.<field>,
    /// admet.<endpoint>, admet.<endpoint>_drugbank_approved_percentile,
    /// pubchem.<field>, bioactivity.<field>.
    #[schema(example = "properties.logp")]
    value: String,
    transform: Transform,
    #[serde(default)]
    #[schema(minimum = 0, default = 1)]
    weight: f64,
    #[schema(schema_with = on_missing)]
    on_missing: Option<String>,
}

fn on_missing() -> Schema {
    schema(json!({
        "type": "string",
        "enum": ["skip", "zero", "unranked"],
        "default": "skip",
        "description": "a missing value (adapter failed or not on the route): left out of the mean, scored 0, or the compound left unranked",
    }))
}

/// REINVENT 4's transforms: sigmoid {low, high, k}: 1/(1 +
/// 10^(-10k/(high-low)·(x-(low+high)/2))); reverse_sigmoid: 1 - sigmoid;
/// double_sigmoid {low, high, coef_div=100, coef_si=150, coef_se=150}: rises
/// through low with slope coef_si/coef_div and falls through high with
/// coef_se/coef_div; step {low, high}: 1 in [low, high], else 0; value_map
/// {mapping}: the raw value as text ("0", "true", a category) looked up;
/// identity: the value, clamped to 0..1.
#[derive(ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
pub enum Transform {
    Sigmoid {
        low: f64,
        high: f64,
        k: f64,
    },
    ReverseSigmoid {
        low: f64,
        high: f64,
        k: f64,
    },
    DoubleSigmoid {
        low: f64,
        high: f64,
        #[serde(default)]
        #[schema(default = 100)]
        coef_div: f64,
        #[serde(default)]
        #[schema(default = 150)]
        coef_si: f64,
        #[serde(default)]
        #[schema(default = 150)]
        coef_se: f64,
    },
    Step {
        low: f64,
        high: f64,
    },
    ValueMap {
        #[schema(schema_with = value_map)]
        mapping: HashMap<String, f64>,
    },
    Identity,
}

fn value_map() -> Schema {
    schema(json!({
        "type": "object",
        "minProperties": 1,
        "maxProperties": 256,
        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
        "description": "the raw value as text (\"0\", \"true\", a category) to its desirability",
    }))
}

/// One entry of a run's scoring history.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ScoringHistoryEntry {
    profile: ScoringProfile,
    /// The built-in's name, when one was named.
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(format = DateTime)]
    applied_at: String,
}

/// A finished run's summary as the aggregator stores it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RunResultsSummary {
    /// Compounds completed or failed.
    total_processed: i64,
    succeeded: i64,
    failed: i64,
    #[schema(value_type = Vec<Adapter>)]
    adapter_sequence: Vec<String>,
    #[schema(format = DateTime)]
    completed_at: String,
}

/// A file upload as a form: the options, then the file.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// JSON: adapters (list or comma-separated), priority, scoring,
    /// smiles_column, id_column, id_property, format, user_id,
    /// pipeline_config; before the file part.
    #[schema(nullable = false)]
    options: Option<String>,
    /// CSV/TSV with a header row, SD file or SMILES file, by its name
    /// (.csv, .tsv, .sdf, .smi, optionally .gz) or its part's type.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// `POST /runs/{run_id}/rescore`'s body.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RescoreRequest {
    #[schema(value_type = Scoring)]
    scoring: Value,
}

/// An upload's format, whatever its Content-Type.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FileFormat {
    Csv,
    Tsv,
    Sdf,
    Smi,
}

/// A results browse's order.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// What a results page holds of each compound.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum View {
    Full,
    Table,
}

/// An export's order: input (`index`) or `rank`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ExportSort {
    Index,
    Rank,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    /// Every `$ref` in the document names a component that is there.
    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, doc: &Value, seen: &mut usize) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let target = r.strip_prefix("#/").unwrap_or_else(|| panic!("{r} is not local")).split('/').try_fold(doc, |at, key| at.get(key));
                        assert!(target.is_some(), "{r} does not resolve");
                        *seen += 1;
                    }
                    m.values().for_each(|v| walk(v, doc, seen));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, seen)),
                _ => {}
            }
        }
        let doc = doc();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 20, "{seen} references");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    }

    /// The routes `routes::app` registers, read from its source, as
    /// (method, path). Beside them it merges only the dashboard's pages
    /// (`dashboard::routes`), which are the web UI, not the API.
    fn registered_routes() -> BTreeSet<(String, String)> {
        let source = include_str!("routes.rs");
        let app = &source[source.find("pub fn app(").expect("routes::app")..];
        let app = &app[..app.find("\n}\n").expect("the end of routes::app")];
        let (api, top) = app.split_once(".nest(\"/api/v1\", api)").expect("the API is nested at /api/v1");
        let mut routes = BTreeSet::new();
        for (prefix, part) in [("/api/v1", api), ("", top)] {
            for call in part.split(".route(\"").skip(1) {
                let (path, rest) = call.split_once('"').expect("a route's path");
                // Its method routers: up to the parenthesis that closes `.route(`.
                let mut depth = 1;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map(|(i, _)| i)
                    .expect("the end of a .route(");
                let methods = &rest[..end];
                for method in ["get", "post", "put", "patch", "delete"] {
                    let called = methods.match_indices(&format!("{method}(")).any(|(i, _)| !methods[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                    if called {
                        routes.insert((method.to_owned(), format!("{prefix}{path}")));
                    }
                }
            }
        }
        routes
    }

    fn documented_routes() -> BTreeSet<(String, String)> {
        let doc = doc();
        let mut routes = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                routes.insert((method.clone(), path.clone()));
            }
        }
        routes
    }

    /// A route without a `#[utoipa::path]` in `ApiDoc`, or a documented one
    /// the router does not have, fails here.
    #[test]
    fn every_route_is_documented_and_every_documented_route_is_routed() {
        let registered = registered_routes();
        assert!(registered.len() >= 18, "{registered:?}");
        let documented = documented_routes();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        assert!(undocumented.is_empty(), "routes without an operation in the OpenAPI document (add #[utoipa::path] and list it in ApiDoc): {undocumented:?}");
        let unrouted: Vec<_> = documented.difference(&registered).collect();
        assert!(unrouted.is_empty(), "operations in the OpenAPI document that routes::app does not route: {unrouted:?}");
    }

    /// The same, asked of the router itself: each documented operation
    /// reaches a handler (with authentication on and no token, those that
    /// take one answer 401 before touching Postgres), and each other method
    /// on a documented path is a 405.
    #[tokio::test]
    async fn the_router_answers_every_documented_operation_and_no_other_method() {
        use axum::body::Body;
        use axum::http::{Method, Request, StatusCode};
        use tower::ServiceExt;
        let auth = crate::auth::Auth::Jwt {
            key: std::sync::Arc::new(jsonwebtoken::DecodingKey::from_secret(b"a key only this test knows, of 32+ bytes")),
            validation: std::sync::Arc::new(jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256)),
        };
        let limits = crate::Limits {
            max_body_bytes: 1 << 20,
            max_compounds: 10,
            max_smiles_length: 100,
            inline_results: 10,
            max_in_flight: 64,
            runs_per_minute: 60,
            runs_burst: 10,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(10),
            max_upload_bytes: 1 << 20,
            max_uploads: 1,
        };
        let webhooks = webhooks::Settings {
            secret: None,
            allow_private: false,
            progress_interval: std::time::Duration::from_secs(10),
            timeout: std::time::Duration::from_secs(1),
        };
        // Nothing listens on port 1: /readyz finds Postgres unavailable.
        let pool = pharmforge_store::lazy_pool("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
        let (_trigger, shutdown) = pharmforge_core::Shutdown::new();
        let state = crate::AppState::new(pool, pharmforge_core::Topology::new(""), limits, auth, webhooks, shutdown);
        let app = routes::app(state);
        let documented = documented_routes();
        let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
        for path in paths {
            let uri = path.replace("{run_id}", "run_0123456789abcdef").replace("{index}", "0");
            for method in ["get", "post", "put", "patch", "delete"] {
                let request = Request::builder().method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap()).uri(&uri).body(Body::empty()).unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                let text = String::from_utf8_lossy(&body);
                if documented.contains(&(method.to_owned(), path.clone())) {
                    let unrouted = status == StatusCode::METHOD_NOT_ALLOWED || text.contains("no such endpoint");
                    assert!(!unrouted, "{method} {path} is documented but not routed: {status} {text}");
                    let expected = match path.as_str() {
                        "/healthz" | "/api/v1/openapi.json" | "/api/v1/docs" => StatusCode::OK,
                        "/readyz" => StatusCode::SERVICE_UNAVAILABLE,
                        _ => StatusCode::UNAUTHORIZED,
                    };
                    assert_eq!(status, expected, "{method} {path}: {text}");
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is routed but not documented: {text}");
                }
            }
        }
    }

    /// Each transform, method and on_missing the document names is one
    /// `pharmforge_core::profile` accepts, with the fields it marks required;
    /// and a name it does not list is refused.
    #[test]
    fn the_scoring_schemas_say_what_the_profile_reader_accepts() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let accept = |transform: Value, method: &str, on_missing: &str| {
            let profile =
                json!({"method": method, "objectives": [{"name": "x", "value": "properties.logp", "transform": transform, "on_missing": on_missing}]});
            pharmforge_core::profile::resolve(&profile).map(|_| ())
        };
        let variants = schemas["Transform"]["oneOf"].as_array().expect("Transform is a oneOf");
        assert_eq!(variants.len(), 6);
        for variant in variants {
            let kind = variant["properties"]["type"]["enum"][0].as_str().unwrap_or_else(|| panic!("{variant}"));
            let mut transform = json!({"type": kind});
            for field in variant["required"].as_array().unwrap().iter().filter_map(Value::as_str).filter(|f| *f != "type") {
                transform[field] = if field == "mapping" { json!({"1": 1.0}) } else { json!(if field == "high" { 1.0 } else { 0.5 }) };
            }
            accept(transform.clone(), "weighted_mean", "skip").unwrap_or_else(|e| panic!("{transform}: {e}"));
        }
        let listed = |schema: &Value| -> Vec<String> { schema["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect() };
        let identity = json!({"type": "identity"});
        let methods = listed(&schemas["ScoringProfile"]["properties"]["method"]);
        for method in &methods {
            accept(identity.clone(), method, "skip").unwrap_or_else(|e| panic!("{method}: {e}"));
        }
        let on_missing = listed(&schemas["Objective"]["properties"]["on_missing"]);
        for choice in &on_missing {
            accept(identity.clone(), "weighted_mean", choice).unwrap_or_else(|e| panic!("{choice}: {e}"));
        }
        assert_eq!((methods.len(), on_missing.len()), (3, 3));
        assert!(accept(identity.clone(), "median", "skip").is_err());
        assert!(accept(identity, "weighted_mean", "guess").is_err());
        assert!(accept(json!({"type": "cubic"}), "weighted_mean", "skip").is_err());
    }
}
