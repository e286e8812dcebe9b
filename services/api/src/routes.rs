//! Routes and handlers. `app(state)` builds the router, so handlers can be
//! exercised over a real socket in tests.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::upload::{self, FileOptions, Format};
use crate::{depict, export, validate, views, AppState};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pharmforge_core::{RunId, RunStatus};
use pharmforge_store::{self as store, InputCompound};
use serde_json::{json, Map, Value};
use std::time::Duration;

pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let api = Router::new()
        .route("/runs", get(list_runs).post(create_run))
        .route("/runs/{run_id}", get(get_run).delete(delete_run))
        .route("/runs/{run_id}/results", get(list_results))
        .route("/runs/{run_id}/results/{index}", get(get_result))
        .route("/pipeline", get(pipeline_overview))
        .route("/runs/{run_id}/cancel", axum::routing::post(cancel_run))
        .route("/runs/{run_id}/rescore", axum::routing::post(rescore_run))
        .route("/scoring/profiles", get(scoring_profiles))
        .route("/runs/{run_id}/export", get(export_run))
        .route("/runs/{run_id}/events", get(run_events))
        .route("/runs/{run_id}/results/{index}/depiction.svg", get(result_depiction))
        .route("/depict", get(depict))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(crate::dashboard::page))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shed_load));
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::dashboard::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(deadline))
        .layer(axum::middleware::from_fn(crate::metrics::record_http))
        .layer(axum::middleware::from_fn(crate::metrics::trace_http))
        .with_state(state)
}

/// Every request has a minute to be answered (its answer's body, an export
/// or an event stream, may then take as long as it takes), except a file
/// upload: it is answered once its file is in, which takes what the file
/// takes, and is bounded by its own idle time and size instead (`upload`).
async fn deadline(req: Request, next: axum::middleware::Next) -> Response {
    let is_upload = req.method() == axum::http::Method::POST
        && req.uri().path().ends_with("/runs")
        && media_type(req.headers()).is_some_and(|m| m != "application/json" && !m.ends_with("+json"));
    if is_upload {
        return next.run(req).await;
    }
    match tokio::time::timeout(Duration::from_secs(60), next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout("the request took longer than 60 s".into()).into_response(),
    }
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

/// The body of a JSON `POST /runs`, read whole (up to `API_MAX_BODY_BYTES`)
/// within `API_BODY_TIMEOUT_MS`; every rejection is an `ApiError` (same
/// error shape as everything else): 413 over the limit, 408 when it does not
/// arrive in time.
pub struct RunBody(pub Bytes);

impl FromRequest<AppState> for RunBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
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

/// A query string read into `T` (unknown keys ignored); one that does not
/// fit (a key given twice) is a 400 in the API's error shape, not axum's
/// plain-text rejection.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map(ApiQuery).map_err(|e| ApiError::BadRequest(format!("the query cannot be read: {e}")))
    }
}

/// `GET /runs/{id}`'s query.
#[derive(serde::Deserialize)]
struct RunQuery {
    include: Option<String>,
}

/// `GET /runs`'s query.
#[derive(serde::Deserialize)]
struct RunsQuery {
    page: Option<String>,
    page_size: Option<String>,
    status: Option<String>,
    user_id: Option<String>,
}

/// `GET /runs/{id}/results`'s query: paging, and the browse (`browse::ResultsQuery`).
#[derive(serde::Deserialize)]
struct ResultsQuery {
    page: Option<String>,
    page_size: Option<String>,
    #[serde(flatten)]
    browse: crate::browse::BrowseQuery,
}

fn parse_run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The media type of a request's body, lower-case, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("?");
    Some(ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

const ACCEPTED_TYPES: &str = "application/json, multipart/form-data, text/csv, text/tab-separated-values, \
    chemical/x-mdl-sdfile, chemical/x-daylight-smiles (or any type with format=csv|sdf|smi)";

/// `POST /runs`: a JSON body (`input_smiles` or `compounds`), a file as the
/// body with the options in the query, or a multipart form with an
/// `options` part and a `file` part.
async fn create_run(State(state): State<AppState>, caller: Caller, req: Request) -> Result<Response, ApiError> {
    let media = media_type(req.headers());
    match media.as_deref() {
        None | Some("application/json") => create_from_json(state, caller, req).await,
        Some(m) if m.ends_with("+json") => create_from_json(state, caller, req).await,
        Some("multipart/form-data") => create_from_form(state, caller, req).await,
        Some(m) => {
            let query = UploadOptions::from_query(req.uri().query())?;
            let format = match (&query.format, Format::from_media_type(m)) {
                (Some(name), _) => Format::from_name(name)
                    .ok_or_else(|| ApiError::BadRequest(format!("format must be csv, tsv, sdf or smi, got {:?}", name.chars().take(32).collect::<String>())))?,
                (None, Some(format)) => format,
                (None, None) => {
                    let shown: String = m.chars().take(64).collect();
                    return Err(ApiError::UnsupportedMediaType(format!("cannot read a body of type {shown:?}; accepted: {ACCEPTED_TYPES}")));
                }
            };
            let gzip = content_encoding_gzip(req.headers())?;
            let body = req.into_body().into_data_stream();
            let (options, file) = query.into_options(format, gzip)?;
            create_from_file(state, caller, options, file, body).await
        }
    }
}

/// `Content-Encoding`: none (identity) or gzip.
fn content_encoding_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(e) if e.is_empty() || e == "identity" => Ok(false),
        Some(e) if e == "gzip" || e == "x-gzip" => Ok(true),
        Some(e) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {:?} is not accepted; send the file as it is or gzipped",
            e.chars().take(32).collect::<String>()
        ))),
    }
}

async fn create_from_json(state: AppState, caller: Caller, req: Request) -> Result<Response, ApiError> {
    let RunBody(body) = RunBody::from_request(req, &state).await?;
    // The body is in: now take a slot (see `shed_load`).
    let _slot = state.in_flight.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded(state.limits.max_in_flight))?;
    let request = validate::run_request(&body, &state.limits)?;
    drop(body);
    let mut options = request.options;
    admit_submitter(&state, &caller, &mut options)?;
    let (run_id, mut draft) = begin(&state, &options).await?;
    let shown: Vec<String> = request.compounds.iter().take(SHOWN_INPUT_SMILES).map(|c| c.smiles.to_string()).collect();
    // Stored a batch at a time, each compound's text freed once stored.
    let mut listed = request.compounds.into_iter();
    loop {
        let batch: Vec<InputCompound> = listed.by_ref().take(upload::BATCH).map(Into::into).collect();
        if batch.is_empty() {
            break;
        }
        draft.append(&batch).await?;
    }
    accepted(&state, &run_id, draft, &options, shown).await
}

/// A run's file, as the body or a form's part, read as it arrives.
async fn create_from_file<S, E>(state: AppState, caller: Caller, mut options: validate::RunOptions, file: FileOptions, body: S) -> Result<Response, ApiError>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    admit_submitter(&state, &caller, &mut options)?;
    let _upload = state
        .uploads
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable(format!("{} file uploads are in progress, the most at once; retry shortly", state.limits.max_uploads)))?;
    let (run_id, mut draft) = begin(&state, &options).await?;
    // Parsed on a blocking thread as the bytes arrive; batches come back
    // over a short channel and are written while the rest is read.
    let bytes = Box::pin(upload::guarded(body, state.limits.body_timeout, state.limits.max_upload_bytes));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(bytes));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<InputCompound>>(2);
    let limits = state.limits.clone();
    let parser = tokio::task::spawn_blocking(move || upload::read_compounds(reader, &file, &limits, &mut |batch| tx.blocking_send(batch).is_ok()));
    let mut shown = Vec::new();
    let mut stored = Ok(());
    while let Some(batch) = rx.recv().await {
        shown.extend(batch.iter().take(SHOWN_INPUT_SMILES - shown.len()).map(|c| c.smiles.clone()));
        if let Err(e) = draft.append(&batch).await {
            stored = Err(e);
            break;
        }
    }
    drop(rx);
    let parsed = parser.await.map_err(|e| ApiError::Internal(Box::new(e)))?;
    stored?;
    let count = parsed.map_err(ApiError::from)?;
    if count == 0 {
        return Err(ApiError::validation("file", "the file holds no compounds"));
    }
    accepted(&state, &run_id, draft, &options, shown).await
}

/// `multipart/form-data`: an optional `options` part (a JSON object with the
/// query parameters' keys, and `pipeline_config`), then the `file` part.
async fn create_from_form(state: AppState, caller: Caller, req: Request) -> Result<Response, ApiError> {
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::BadRequest("multipart/form-data without a boundary".into()))?;
    if content_encoding_gzip(req.headers())? {
        return Err(ApiError::UnsupportedMediaType("a form is not sent gzipped; gzip the file part instead (name it .gz)".into()));
    }
    let query = UploadOptions::from_query(req.uri().query())?;
    let body = upload::guarded(req.into_body().into_data_stream(), state.limits.body_timeout, state.limits.max_upload_bytes);
    let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().for_field("options", validate::MAX_CONFIG_BYTES as u64 * 2));
    let mut form = multer::Multipart::with_constraints(body, boundary, constraints);
    let form_error = |e: multer::Error| match e {
        multer::Error::StreamReadFailed(inner) => ApiError::BadRequest(format!("the upload was cut off: {inner}")),
        multer::Error::FieldSizeExceeded { field_name, .. } => ApiError::validation(field_name.unwrap_or_default(), "the options part is too large"),
        other => ApiError::BadRequest(format!("the form cannot be read: {other}")),
    };
    let mut given: Option<UploadOptions> = None;
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("options") => {
                let text = field.bytes().await.map_err(form_error)?;
                let options: UploadOptions = serde_json::from_slice(&text)
                    .map_err(|e| ApiError::validation("options", format!("the options part must be a JSON object of upload options: {e}")))?;
                given = Some(options.merged_with(&query)?);
            }
            Some("file") => {
                let options = match given.take() {
                    Some(options) => options,
                    None => query.clone(),
                };
                let named = field.file_name().map(str::to_owned);
                let part_type = field.content_type().map(|m| m.essence_str().to_ascii_lowercase());
                let format = match (&options.format, named.as_deref().and_then(Format::from_file_name), part_type.as_deref().and_then(Format::from_media_type))
                {
                    (Some(name), _, _) => Format::from_name(name).ok_or_else(|| ApiError::validation("format", "format must be csv, tsv, sdf or smi"))?,
                    (None, Some(format), _) | (None, None, Some(format)) => format,
                    (None, None, None) => {
                        return Err(ApiError::validation(
                            "file",
                            "cannot tell the file's format from its name or type; name it .csv, .tsv, .sdf or .smi (optionally .gz), or give format=",
                        ))
                    }
                };
                let gzip = named.as_deref().is_some_and(Format::is_gzip_name) || part_type.as_deref() == Some("application/gzip");
                let (options, file) = options.into_options(format, gzip)?;
                // The parts after the file are not read: the form ends there.
                return create_from_file(state, caller, options, file, FormPart(field)).await;
            }
            Some(other) => {
                let shown: String = other.chars().take(64).collect();
                return Err(ApiError::validation(shown.clone(), format!("unknown form part {shown:?}; expected options, then file")));
            }
            None => return Err(ApiError::BadRequest("a form part without a name; expected options, then file".into())),
        }
    }
    Err(ApiError::validation("file", "the form has no file part"))
}

/// A form's file part as a stream of bytes.
struct FormPart(multer::Field<'static>);

impl futures::Stream for FormPart {
    type Item = Result<Bytes, multer::Error>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0).poll_next(cx)
    }
}

/// The options of a file upload: query parameters, or a form's `options` part.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadOptions {
    /// A comma-separated list (query) or a list of names (form).
    adapters: Option<AdapterList>,
    priority: Option<String>,
    smiles_column: Option<String>,
    id_column: Option<String>,
    id_property: Option<String>,
    format: Option<String>,
    user_id: Option<String>,
    /// A built-in scoring profile's name (a profile object goes in a form's
    /// `pipeline_config.scoring`).
    scoring: Option<String>,
    /// Form only: the rest of the run's `pipeline_config`.
    pipeline_config: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
enum AdapterList {
    Names(Vec<String>),
    Joined(String),
}

impl UploadOptions {
    fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        let options: UploadOptions = serde_urlencoded::from_str(query.unwrap_or("")).map_err(|e| {
            ApiError::BadRequest(format!(
                "the query cannot be read: {e}; accepted: adapters, priority, scoring, smiles_column, id_column, id_property, format, user_id"
            ))
        })?;
        if options.pipeline_config.is_some() {
            return Err(ApiError::BadRequest("pipeline_config goes in a form's options part, not in the query".into()));
        }
        Ok(options)
    }

    /// A form's options with the query's as defaults; the same key in both is a mistake.
    fn merged_with(mut self, query: &UploadOptions) -> Result<Self, ApiError> {
        macro_rules! take {
            ($($field:ident)*) => {$(
                match (&self.$field, &query.$field) {
                    (Some(_), Some(_)) => return Err(ApiError::validation(stringify!($field), concat!(stringify!($field), " is given both in the query and in the options part"))),
                    (None, Some(q)) => self.$field = Some(q.clone()),
                    _ => {}
                }
            )*};
        }
        take!(adapters priority scoring smiles_column id_column id_property format user_id);
        Ok(self)
    }

    fn into_options(self, format: Format, gzip: bool) -> Result<(validate::RunOptions, FileOptions), ApiError> {
        let mut config = self.pipeline_config.unwrap_or_default();
        for (key, value) in [
            (
                "adapters",
                self.adapters
                    .map(|a| match a {
                        AdapterList::Names(names) => names,
                        AdapterList::Joined(joined) => joined.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
                    })
                    .map(Value::from),
            ),
            ("priority", self.priority.map(Value::from)),
            ("scoring", self.scoring.map(Value::from)),
        ] {
            if let Some(value) = value {
                if config.contains_key(key) {
                    return Err(ApiError::validation(key, format!("{key} is given both on its own and in pipeline_config")));
                }
                config.insert(key.into(), value);
            }
        }
        let options = validate::run_options(config, self.user_id)?;
        let file = FileOptions { format, gzip, smiles_column: self.smiles_column, id_column: self.id_column, id_property: self.id_property };
        Ok((options, file))
    }
}

/// With authentication on, a run is its caller's; each user may create
/// runs at the rate limit's pace.
fn admit_submitter(state: &AppState, caller: &Caller, options: &mut validate::RunOptions) -> Result<(), ApiError> {
    if let Some(me) = &caller.0 {
        match &options.user_id {
            Some(claimed) if claimed != me => return Err(ApiError::Forbidden(format!("user_id {claimed:?} does not match the token's subject"))),
            _ => options.user_id = Some(me.clone()),
        }
    }
    let limiter_key = options.user_id.clone().unwrap_or_else(|| "anonymous".into());
    state.run_limiter.check(&limiter_key).map_err(ApiError::TooManyRequests)
}

async fn begin(state: &AppState, options: &validate::RunOptions) -> Result<(RunId, store::RunDraft), ApiError> {
    let run_id = RunId::new_random();
    let adapter_sequence: Vec<String> = options.adapters.iter().map(|a| a.as_str().to_owned()).collect();
    let mut pipeline_config = options.pipeline_config.clone();
    crate::webhooks::check_config(&mut pipeline_config, &state.webhooks).await?;
    let pipeline_config = Value::Object(pipeline_config);
    let traceparent = crate::metrics::request_traceparent();
    let draft = store::begin_run(
        &state.pool,
        store::NewRun {
            run_id: run_id.as_str(),
            pipeline_config: &pipeline_config,
            adapter_sequence: &adapter_sequence,
            user_id: options.user_id.as_deref(),
            priority: options.priority.as_str(),
            traceparent: Some(&traceparent),
            scoring: &options.scoring,
        },
    )
    .await?;
    Ok((run_id, draft))
}

/// Runs of up to this many compounds show their `input_smiles` (as the
/// seed's API does); larger ones say how many they leave out.
pub const SHOWN_INPUT_SMILES: usize = 1_000;

async fn accepted(state: &AppState, run_id: &RunId, draft: store::RunDraft, options: &validate::RunOptions, shown: Vec<String>) -> Result<Response, ApiError> {
    let row = draft.commit().await?;
    // Stored and active: the admitting scheduler (this replica's or
    // another's) finds it on its next round; this one looks at once.
    state.admission_wake.notify_one();
    tracing::info!(run_id = %run_id, compounds = row.total_compounds, adapters = ?options.adapters, "run accepted");
    let input = views::InputSmiles::of(&row, (row.total_compounds as usize <= SHOWN_INPUT_SMILES).then_some(&shown[..]));
    let body = views::run(&row, Some(input), None);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A run. Its `input_smiles` come with it up to 1,000 compounds (as the
/// seed's API has them), and for any size with `?include=input_smiles`: a
/// large run's are megabytes, and polling a run's progress stays cheap.
async fn get_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>, ApiQuery(q): ApiQuery<RunQuery>) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let with_smiles = match q.include.as_deref() {
        None | Some("") => false,
        Some("input_smiles") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("include must be \"input_smiles\", got {:?}", other.chars().take(32).collect::<String>()))),
    };
    let run = visible_run(&state, &caller, &run_id).await?;
    let shown = SHOWN_INPUT_SMILES as i64;
    let smiles = match with_smiles || run.total_compounds as i64 <= shown {
        true => Some(store::inputs::input_smiles(&state.pool, run.id, if with_smiles { i64::MAX } else { shown }).await?),
        false => None,
    };
    // Finished: its first compounds inline, rendered once per run (`finished`).
    let inline = match run.results {
        Some(_) => {
            let limit = state.limits.inline_results.max(0);
            Some(state.finished.get(&state.pool, &run, limit).await?)
        }
        None => None,
    };
    let input = views::InputSmiles::of(&run, smiles.as_deref());
    let mut view = views::run(&run, Some(input), inline.as_deref());
    view.webhook = crate::webhooks::view(&state.pool, &run).await?;
    Ok(Json(view).into_response())
}

async fn list_runs(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<RunsQuery>) -> Result<Response, ApiError> {
    let (page, page_size) = validate::paging(q.page.as_deref(), q.page_size.as_deref())?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown status {:?}; expected one of {}",
                s.chars().take(32).collect::<String>(),
                RunStatus::ALL.map(RunStatus::as_str).join(", ")
            ))
        })?),
    };
    let asked = q.user_id.as_deref().filter(|s| !s.is_empty());
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
    let runs: Vec<views::RunView> = runs
        .iter()
        .map(|r| {
            let mut view = views::run(r, None, None);
            view.scoring_history = None;
            view
        })
        .collect();
    Ok(Json(views::Page { runs: Some(runs), results: None, total, page, page_size }).into_response())
}

/// Cancels a pending or running run: 200 with the run (also when it was
/// already cancelled), 409 when it has finished.
async fn cancel_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    visible_run(&state, &caller, &run_id).await?;
    match store::cancel_run(&state.pool, run_id.as_str()).await? {
        store::CancelOutcome::NotFound => return Err(run_not_found(&run_id)),
        store::CancelOutcome::Finished(status) => return Err(ApiError::Conflict(format!("run {run_id} is already {status} and cannot be cancelled"))),
        store::CancelOutcome::Cancelled => {
            tracing::info!(run_id = %run_id, "run cancelled");
            crate::scheduler::announce_cancel(&state, &run_id).await;
            crate::events::announce(&state, &run_id).await;
        }
        store::CancelOutcome::AlreadyCancelled => {}
    }
    let run = store::get_run(&state.pool, run_id.as_str()).await?.ok_or_else(|| run_not_found(&run_id))?;
    Ok(Json(views::run(&run, None, None)).into_response())
}

/// `POST /runs/{id}/rescore` with `{"scoring": <profile or built-in name>}`:
/// re-ranks a finished run under that profile from its stored results (no
/// adapter runs again) and appends it to the run's `scoring_history`. 200
/// with the run and `rescored: {compounds, ranked, seconds}`; 409 while the
/// run is still going; 422 for a bad profile, naming the objective.
async fn rescore_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    if body.len() > validate::MAX_CONFIG_BYTES {
        return Err(ApiError::PayloadTooLarge(validate::MAX_CONFIG_BYTES));
    }
    let given: Value = serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(format!("the body cannot be read as JSON: {e}")))?;
    let Value::Object(mut fields) = given else {
        return Err(ApiError::validation("body", "the body must be a JSON object: {\"scoring\": <a profile or a built-in profile's name>}"));
    };
    let scoring = fields.remove("scoring").ok_or_else(|| ApiError::validation("scoring", "scoring is required: a profile or a built-in profile's name"))?;
    if let Some(other) = fields.keys().next() {
        return Err(ApiError::validation(other.chars().take(64).collect::<String>(), "unknown field; a rescore takes only \"scoring\""));
    }
    if scoring.is_null() {
        return Err(ApiError::validation("scoring", "scoring must be a profile or a built-in profile's name, got null"));
    }
    let (name, profile) = validate::scoring_choice(&scoring, "scoring")?;
    visible_run(&state, &caller, &run_id).await?;
    let _turn = state.rescores.acquire().await.map_err(|_| ApiError::Unavailable("shutting down".into()))?;
    let started = std::time::Instant::now();
    let done = store::scores::rescore(&state.pool, run_id.as_str(), &profile, name).await.map_err(|e| match e {
        store::scores::RescoreError::NotFound(_) => run_not_found(&run_id),
        e @ store::scores::RescoreError::NotFinished { .. } => ApiError::Conflict(e.to_string()),
        store::scores::RescoreError::Db(e) => e.into(),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(run_id = %run_id, compounds = done.compounds, ranked = done.ranked, seconds, "run rescored");
    let run = store::get_run(&state.pool, run_id.as_str()).await?.ok_or_else(|| run_not_found(&run_id))?;
    let mut view = serde_json::to_value(views::run(&run, None, None)).map_err(|e| ApiError::Internal(Box::new(e)))?;
    view["rescored"] = serde_json::json!({"compounds": done.compounds, "ranked": done.ranked, "seconds": (seconds * 1000.0).round() / 1000.0});
    Ok(Json(view).into_response())
}

/// `GET /scoring/profiles`: the built-in profiles, by name, with their
/// definitions (what `pipeline_config.scoring` may name).
async fn scoring_profiles(_caller: Caller) -> Json<Value> {
    let profiles: Vec<Value> = pharmforge_core::profile::builtins()
        .into_iter()
        .map(|b| serde_json::json!({"name": b.name, "description": b.description, "profile": b.profile}))
        .collect();
    Json(serde_json::json!({"profiles": profiles, "default": pharmforge_core::profile::DEFAULT_PROFILE}))
}

async fn delete_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    // A run still going stops like a cancelled one: the adapters skip its
    // records in flight (told before its rows go, so none is enriched for
    // nothing), and admission no longer sees it once it is deleted.
    if !run.status.is_finished() {
        crate::scheduler::announce_cancel(&state, &run_id).await;
    }
    if store::delete_run(&state.pool, run_id.as_str()).await? {
        tracing::info!(run_id = %run_id, "run deleted");
        crate::events::announce(&state, &run_id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(run_not_found(&run_id))
    }
}

async fn list_results(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let (page, page_size) = validate::paging(q.page.as_deref(), q.page_size.as_deref())?;
    let (browse, detail) = crate::browse::from_query(&q.browse)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    if browse.is_plain() && detail == store::browse::Detail::Full {
        let order = if browse.sort == store::browse::SortKey::Rank { store::ResultOrder::Rank } else { store::ResultOrder::Input };
        let rows = store::list_results(&state.pool, run.id, order, page, page_size).await?;
        let total = store::results_stored(&run);
        let profile = run.scoring();
        let results: Vec<views::CompoundView> = rows.iter().map(|r| views::compound(r, Some(&profile))).collect();
        return Ok(Json(views::Page { runs: None, results: Some(results), total, page, page_size }).into_response());
    }
    let finished = run.status.is_finished();
    let order = state.orders.get(&state.pool, (run.id, run.scoring_version), finished, &browse).await?;
    let start = ((page - 1).saturating_mul(page_size)).clamp(0, order.len() as i64) as usize;
    let end = (start + page_size as usize).min(order.len());
    let rows = store::browse::results_at(&state.pool, run.id, &order[start..end], detail).await?;
    let profile = run.scoring();
    let explained = (detail == store::browse::Detail::Full).then_some(&profile);
    let results: Vec<views::CompoundView> = rows.iter().map(|r| views::compound(r, explained)).collect();
    Ok(Json(views::Page { runs: None, results: Some(results), total: order.len() as i64, page, page_size }).into_response())
}

/// One compound's result, whole.
async fn get_result(State(state): State<AppState>, caller: Caller, Path((raw, index)): Path<(String, String)>) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let index: i32 = index.parse().ok().filter(|i| *i >= 0).ok_or_else(|| {
        ApiError::BadRequest(format!("the compound index must be a whole number from 0, got {:?}", index.chars().take(32).collect::<String>()))
    })?;
    let run = visible_run(&state, &caller, &run_id).await?;
    let rows = store::browse::results_at(&state.pool, run.id, &[index], store::browse::Detail::Full).await?;
    match rows.first() {
        Some(row) => Ok(Json(views::compound(row, Some(&run.scoring()))).into_response()),
        None if index < run.total_compounds => Err(ApiError::NotFound(format!("compound {index} of run {run_id} has no result yet"))),
        None => Err(ApiError::NotFound(format!("run {run_id} has no compound {index} (it has {})", run.total_compounds))),
    }
}

/// Per adapter: backlog, replicas, throughput, dead letters; the external
/// services' rate-limit state (operators; any authenticated caller).
async fn pipeline_overview(State(state): State<AppState>, _caller: Caller) -> Result<Response, ApiError> {
    Ok(Json(state.overviews.get(&state).await?).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
    sort: Option<String>,
    columns: Option<String>,
    /// Read by `Caller` (a download link cannot set a header).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DepictQuery {
    smiles: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

fn depict_query(query: Option<&str>) -> Result<DepictQuery, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("the query cannot be read: {e}; accepted: smiles, width, height (pixels)")))
}

/// `GET /depict?smiles=...&width=&height=`: the structure as SVG.
async fn depict(State(state): State<AppState>, _caller: Caller, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let q = depict_query(query.as_deref())?;
    let smiles = q.smiles.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::validation("smiles", "smiles is required"))?;
    if let Some(problem) = validate::smiles_problem(&smiles, &state.limits) {
        return Err(ApiError::validation("smiles", format!("smiles {problem}")));
    }
    let svg = state.pictures.get(&smiles, q.width.unwrap_or(depict::DEFAULT_WIDTH), q.height.unwrap_or(depict::DEFAULT_HEIGHT)).await?;
    Ok(depict::svg_response(svg))
}

/// `GET /runs/{id}/results/{index}/depiction.svg`: a compound's structure.
async fn result_depiction(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw, index)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let index: i32 =
        index.parse().map_err(|_| ApiError::BadRequest(format!("a compound index is a number, got {:?}", index.chars().take(32).collect::<String>())))?;
    let q = depict_query(query.as_deref())?;
    if q.smiles.is_some() {
        return Err(ApiError::BadRequest("smiles= belongs to /depict; a result's picture is of its own structure".into()));
    }
    let run = visible_run(&state, &caller, &run_id).await?;
    let smiles =
        store::inputs::compound_smiles(&state.pool, run.id, index).await?.ok_or_else(|| ApiError::NotFound(format!("run {run_id} has no compound {index}")))?;
    if smiles.is_empty() {
        return Err(ApiError::validation("index", format!("compound {index} has no structure: its input record could not be read")));
    }
    let svg = state.pictures.get(&smiles, q.width.unwrap_or(depict::DEFAULT_WIDTH), q.height.unwrap_or(depict::DEFAULT_HEIGHT)).await?;
    Ok(depict::svg_response(svg))
}

/// `GET /runs/{id}/events`: the run's progress as Server-Sent Events (see
/// `events`). `Last-Event-ID` resumes: the current state is sent only if
/// it is not the one the listener last had.
async fn run_events(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    let now = crate::events::Snapshot::of(&run);
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // A run that has ended needs no feed: its final event, then the close.
    let rx = match now.is_final() {
        true => tokio::sync::watch::channel(std::sync::Arc::new(now.clone())).1,
        false => state.feeds.subscribe(&state.pool, run_id.as_str(), now.clone()),
    };
    let body = axum::body::Body::from_stream(crate::events::stream(now, rx, last_event_id, state.shutdown.clone()));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // nginx and others buffer responses unless told not to.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response())
}

/// `GET /runs/{id}/export?format=csv|sdf|jsonl[&sort=rank][&columns=...]`:
/// the whole run, streamed (see `export`). `X-Run-Status` says whether the
/// run has finished (a running run's export is what has arrived so far).
async fn export_run(State(state): State<AppState>, caller: Caller, Path(raw): Path<String>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&raw)?;
    let q: ExportQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("the query cannot be read: {e}; accepted: format, sort, columns")))?;
    let format = match q.format.as_deref() {
        None | Some("") => export::ExportFormat::Csv,
        Some(name) => export::ExportFormat::parse(name)
            .ok_or_else(|| ApiError::BadRequest(format!("format must be csv, sdf or jsonl, got {:?}", name.chars().take(32).collect::<String>())))?,
    };
    let order = result_order(q.sort.as_deref())?;
    if q.columns.is_some() && format == export::ExportFormat::Jsonl {
        return Err(ApiError::BadRequest("columns= chooses the columns of a csv or sdf export; jsonl has the results as the API returns them".into()));
    }
    let run = visible_run(&state, &caller, &run_id).await?;
    let profile = run.scoring();
    let columns = match format {
        export::ExportFormat::Jsonl => Vec::new(),
        _ => export::columns(&state.pool, run.id, q.columns.as_deref(), profile.method == pharmforge_core::profile::Method::Pareto).await?,
    };
    let body = axum::body::Body::from_stream(export::stream(state.pool.clone(), run.id, format, order, columns, profile));
    let disposition = format!("attachment; filename=\"{}.{}\"", run.run_id, format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::HeaderName::from_static("x-run-status"), run.status.as_str().to_owned()),
        ],
        body,
    )
        .into_response())
}

/// An export's order: input (`index`) or `rank`.
fn result_order(sort: Option<&str>) -> Result<store::ResultOrder, ApiError> {
    match sort {
        None | Some("") | Some("index") | Some("input") => Ok(store::ResultOrder::Input),
        Some("rank") => Ok(store::ResultOrder::Rank),
        Some(other) => Err(ApiError::BadRequest(format!("sort must be \"rank\" or \"index\", got {:?}", other.chars().take(32).collect::<String>()))),
    }
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
    let nats_ok = state.jetstream.get().map(|js| js.client().connection_state() == async_nats::connection::State::Connected).unwrap_or(false);
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
