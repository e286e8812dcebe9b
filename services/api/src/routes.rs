//! Routes and handlers. `app(state)` builds the router, so handlers can be
//! exercised over a real socket in tests.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{validate, views, AppState};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pharmforge_core::RunId;
use pharmforge_store as store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let api = Router::new()
        .route("/runs", get(list_runs).post(create_run))
        .route("/runs/{run_id}", get(get_run).delete(delete_run))
        .route("/runs/{run_id}/results", get(list_results))
        .route("/runs/{run_id}/cancel", axum::routing::post(cancel_run))
        .route("/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shed_load));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
        .with_state(state)
}

/// At most `API_MAX_IN_FLIGHT` API requests in progress; the next one is
/// answered 503 at once. Memory stays bounded under any load, and clients get
/// a clear signal to back off instead of a growing queue. `POST /runs` takes
/// its slot only once its body has arrived (in `create_run`): a client that
/// sends its body slowly must not hold a slot meanwhile (70 of them used to
/// turn every other request into a 503).
async fn shed_load(State(state): State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::POST && req.uri().path().ends_with("/runs") {
        return next.run(req).await;
    }
    match state.in_flight.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(_) => ApiError::Overloaded(state.limits.max_in_flight).into_response(),
    }
}

/// The body of `POST /runs`, read whole (up to `API_MAX_BODY_BYTES`) within
/// `API_BODY_TIMEOUT_MS`; every rejection is an `ApiError` (same error shape
/// as everything else): 413 over the limit, 415 for another content type,
/// 408 when it does not arrive in time.
pub struct RunBody(pub Bytes);

impl FromRequest<AppState> for RunBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mime != "application/json" && !mime.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(format!("expected Content-Type: application/json, got {:?}", ct.chars().take(64).collect::<String>())));
            }
        }
        let limit = state.limits.max_body_bytes;
        let wait = state.limits.body_timeout;
        let bytes = match tokio::time::timeout(wait, Bytes::from_request(req, state)).await {
            Err(_) => return Err(ApiError::RequestTimeout(format!("the request body did not arrive within {} s", wait.as_secs_f64()))),
            Ok(read) => read.map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(limit)
                } else {
                    ApiError::BadRequest(format!("could not read the request body: {}", rejection.body_text()))
                }
            })?,
        };
        if bytes.is_empty() {
            return Err(ApiError::InvalidJson("the request body is empty; expected a JSON object".into()));
        }
        Ok(RunBody(bytes))
    }
}

fn parse_run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))
}

async fn create_run(State(state): State<AppState>, caller: Caller, RunBody(body): RunBody) -> Result<Response, ApiError> {
    // The body is in: now take a slot (see `shed_load`).
    let _slot = state.in_flight.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded(state.limits.max_in_flight))?;
    let mut request = validate::run_request(&body, &state.limits)?;
    drop(body);
    if let Some(me) = &caller.0 {
        match &request.user_id {
            Some(claimed) if claimed != me => {
                return Err(ApiError::Forbidden(format!("user_id {claimed:?} does not match the token's subject")))
            }
            _ => request.user_id = Some(me.clone()),
        }
    }
    let limiter_key = request.user_id.clone().unwrap_or_else(|| "anonymous".into());
    state.run_limiter.check(&limiter_key).map_err(ApiError::TooManyRequests)?;
    let run_id = RunId::new_random();
    let adapter_sequence: Vec<String> = request.adapters.iter().map(|a| a.as_str().to_owned()).collect();
    let pipeline_config = Value::Object(request.pipeline_config);
    let row = store::create_run(
        &state.pool,
        store::NewRun {
            run_id: run_id.as_str(),
            input_smiles: &request.input_smiles,
            pipeline_config: &pipeline_config,
            adapter_sequence: &adapter_sequence,
            user_id: request.user_id.as_deref(),
            priority: request.priority.as_str(),
        },
    )
    .await?;
    // Stored and active: the admitting scheduler (this replica's or
    // another's) finds it on its next round; this one looks at once.
    state.admission_wake.notify_one();
    tracing::info!(run_id = %run_id, compounds = request.input_smiles.len(), adapters = ?adapter_sequence, "run accepted");
    let body = views::run(&row, Some(&request.input_smiles), None);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A run. Its `input_smiles` (megabytes for a large run, and what the client
/// sent) come only with `?include=input_smiles`, so that polling a run's
/// progress stays cheap whatever its size.
async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let with_smiles = match q.get("include").map(String::as_str) {
        None | Some("") => false,
        Some("input_smiles") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("include must be \"input_smiles\", got {:?}", other.chars().take(32).collect::<String>()))),
    };
    let run = visible_run(&state, &caller, &run_id).await?;
    let smiles = match with_smiles {
        true => store::get_input_smiles(&state.pool, run_id.as_str()).await?,
        false => None,
    };
    // Finished: its first compounds inline, rendered once per run (`finished`).
    let inline = match run.results {
        Some(_) => {
            let limit = state.limits.inline_results.max(0);
            Some(state.finished.get(&state.pool, run.id, run.total_compounds as i64, limit).await?)
        }
        None => None,
    };
    Ok(Json(views::run(&run, smiles.as_deref(), inline.as_deref())).into_response())
}

async fn list_runs(State(state): State<AppState>, caller: Caller, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let (page, page_size) = validate::paging(q.get("page").map(String::as_str), q.get("page_size").map(String::as_str))?;
    let status = q.get("status").map(String::as_str).filter(|s| !s.is_empty());
    if let Some(s) = status {
        if !validate::RUN_STATUSES.contains(&s) {
            return Err(ApiError::BadRequest(format!("unknown status {:?}; expected one of {}", s.chars().take(32).collect::<String>(), validate::RUN_STATUSES.join(", "))));
        }
    }
    let asked = q.get("user_id").map(String::as_str).filter(|s| !s.is_empty());
    if let Some(u) = asked {
        // Postgres text cannot hold NUL, and no user id has control characters.
        if u.chars().count() > 128 || u.chars().any(char::is_control) {
            return Err(ApiError::BadRequest("user_id must be at most 128 characters, without control characters".into()));
        }
    }
    // With authentication on, a caller lists only their own runs.
    if let (Some(me), Some(other)) = (&caller.0, asked) {
        if me != other {
            return Ok(Json(json!({"runs": [], "total": 0, "page": page, "page_size": page_size})).into_response());
        }
    }
    let filter = store::RunFilter { status, user_id: caller.0.as_deref().or(asked) };
    let (runs, total) = store::list_runs(&state.pool, &filter, page, page_size).await?;
    let runs: Vec<views::RunView> = runs.iter().map(|r| views::run(r, None, None)).collect();
    Ok(Json(views::Page { runs: Some(runs), results: None, total, page, page_size }).into_response())
}

/// Cancels a pending or running run: 200 with the run (also when it was
/// already cancelled), 409 when it has finished.
async fn cancel_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    visible_run(&state, &caller, &run_id).await?;
    match store::cancel_run(&state.pool, run_id.as_str()).await? {
        store::CancelOutcome::NotFound => return Err(run_not_found(&run_id)),
        store::CancelOutcome::Finished(status) => {
            return Err(ApiError::Conflict(format!("run {run_id} is already {status} and cannot be cancelled")))
        }
        store::CancelOutcome::Cancelled => {
            tracing::info!(run_id = %run_id, "run cancelled");
            crate::scheduler::announce_cancel(&state, &run_id).await;
        }
        store::CancelOutcome::AlreadyCancelled => {}
    }
    let run = store::get_run(&state.pool, run_id.as_str()).await?.ok_or_else(|| run_not_found(&run_id))?;
    Ok(Json(views::run(&run, None, None)).into_response())
}

async fn delete_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    // A run still going stops like a cancelled one: the adapters skip its
    // records in flight (told before its rows go, so none is enriched for
    // nothing), and admission no longer sees it once it is deleted.
    if run.status == "pending" || run.status == "running" {
        crate::scheduler::announce_cancel(&state, &run_id).await;
    }
    if store::delete_run(&state.pool, run_id.as_str()).await? {
        tracing::info!(run_id = %run_id, "run deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(run_not_found(&run_id))
    }
}

async fn list_results(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let (page, page_size) = validate::paging(q.get("page").map(String::as_str), q.get("page_size").map(String::as_str))?;
    let order = match q.get("sort").map(String::as_str) {
        None | Some("") | Some("index") | Some("input") => store::ResultOrder::Input,
        Some("rank") => store::ResultOrder::Rank,
        Some(other) => return Err(ApiError::BadRequest(format!("sort must be \"rank\" or \"index\", got {:?}", other.chars().take(32).collect::<String>()))),
    };
    let run = visible_run(&state, &caller, &run_id).await?;
    let rows = store::list_results(&state.pool, run.id, order, page, page_size).await?;
    let total = store::results_stored(&run);
    let results: Vec<views::CompoundView> = rows.iter().map(views::compound).collect();
    Ok(Json(views::Page { runs: None, results: Some(results), total, page, page_size }).into_response())
}

/// The run, if it exists and the caller may see it; another user's run is
/// reported exactly like a missing one.
async fn visible_run(state: &AppState, caller: &Caller, run_id: &RunId) -> Result<store::RunRow, ApiError> {
    match store::get_run(&state.pool, run_id.as_str()).await? {
        Some(run) if caller.may_see(run.user_id.as_deref()) => Ok(run),
        _ => Err(run_not_found(run_id)),
    }
}

fn run_not_found(run_id: &RunId) -> ApiError {
    ApiError::NotFound(format!("run {run_id} not found"))
}

/// The OpenAPI 3 description of this API (kept beside the handlers, and
/// checked against them by the fuzz test in tests/).
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi/openapi.json")).into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when Postgres answers with the schema migrated (the aggregator runs
/// the migrations) and JetStream is connected and set up.
async fn readyz(State(state): State<AppState>) -> Response {
    let latest = store::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let query = sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&state.pool);
    let db = tokio::time::timeout(Duration::from_secs(2), query).await;
    let db_ok = matches!(db, Ok(Ok(Some(v))) if v >= latest);
    let nats_ok = state
        .jetstream
        .get()
        .map(|js| js.client().connection_state() == async_nats::connection::State::Connected)
        .unwrap_or(false);
    let status = if db_ok && nats_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if db_ok && nats_ok { "ready" } else { "not_ready" },
        "checks": {"postgres": if db_ok { "ok" } else { "unavailable" }, "nats": if nats_ok { "ok" } else { "unavailable" }},
    });
    (status, Json(body)).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this endpoint".into())
}
