//! Routes and handlers. `app(state)` builds the router, so handlers can be
//! exercised over a real socket in tests.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody as ApiErrorBody};
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
use serde_json::{Map, Value};
use std::time::Duration;
use utoipa::IntoParams;

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

/// A path's parameters read into `T`; one that cannot be read (a segment
/// that is not UTF-8 once decoded) is a 400 in the API's error shape, not
/// axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <Path<T> as axum::extract::FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!("the path cannot be read: {}", rejection.body_text()))),
        }
    }
}

/// A run's address.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    #[param(pattern = "^run_[0-9a-f]{16}$", example = "run_0123456789abcdef")]
    run_id: String,
}

/// A compound's address: its run and its index in the run's input.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CompoundPath {
    #[param(pattern = "^run_[0-9a-f]{16}$", example = "run_0123456789abcdef")]
    run_id: String,
    /// The compound's place in the run's input, from 0.
    #[param(value_type = i64, minimum = 0)]
    index: String,
}

/// `GET /runs/{id}`'s query.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// A run's input SMILES come with it up to 1,000 compounds; this asks for them at any size.
    #[param(schema_with = crate::openapi::include_schema)]
    include: Option<String>,
}

/// `GET /runs`'s query.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, default = 1)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    page_size: Option<String>,
    /// Only runs with this status.
    #[param(value_type = Option<crate::openapi::RunStatus>, inline)]
    status: Option<String>,
    /// Only this user's runs (with authentication on, a caller sees only their own).
    #[param(max_length = 128)]
    user_id: Option<String>,
}

/// `GET /runs/{id}/results`'s query: paging, and the browse (`browse::BrowseQuery`).
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// In input order, page p holds the compounds with index (p-1)*page_size to
    /// p*page_size-1 that have a result so far: while a run is going a page only
    /// fills up, it never shifts; once it has finished every page but the last
    /// is full. By rank, the p-th page of page_size results.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000, default = 1)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    page_size: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
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
#[utoipa::path(
    post,
    path = "/api/v1/runs",
    operation_id = "createRun",
    tag = "runs",
    summary = "Accept a run",
    description = "The compounds come as JSON (input_smiles, or compounds with the user's own IDs), as a file in the body \
        (CSV/TSV with a header row, SD file, SMILES file; gzip with Content-Encoding: gzip; options in the query), or as \
        multipart/form-data with an options part (a JSON object of the same options, and pipeline_config) followed by a file part. \
        A file is read as it arrives: a mistake in it is a 422 naming its line or record; an entry whose molecule cannot be read \
        (an SD record RDKit refuses, an empty SMILES cell) becomes a compound that fails with why.",
    params(UploadOptions),
    request_body(
        description = "the compounds and the run's options",
        content(
            (crate::openapi::RunRequest = "application/json"),
            (String = "text/csv"),
            (String = "text/tab-separated-values"),
            (String = "chemical/x-mdl-sdfile"),
            (String = "chemical/x-daylight-smiles"),
            (crate::openapi::UploadForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 201, description = "the run, pending", body = views::RunView),
        (status = 400, description = "a malformed body, query or form; a webhook destination refused", body = ApiErrorBody),
        (status = 403, description = "user_id is not the token's subject", body = ApiErrorBody),
        (status = 413, description = "the body is over API_MAX_BODY_BYTES (a file: over API_MAX_UPLOAD_BYTES)", body = ApiErrorBody),
        (status = 415, description = "a body of a type that is not read, or a Content-Encoding other than gzip", body = ApiErrorBody),
        (status = 422, description = "a field that is not valid, named in error.field", body = ApiErrorBody),
        (status = 429, description = "the user created runs faster than API_RUNS_PER_MINUTE; Retry-After says when to try again", body = ApiErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
    )
)]
pub async fn create_run(State(state): State<AppState>, caller: Caller, req: Request) -> Result<Response, ApiError> {
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
#[derive(Debug, Default, Clone, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadOptions {
    /// File uploads: the route, comma-separated (a form's options may list them).
    #[param(value_type = Option<String>)]
    adapters: Option<AdapterList>,
    /// File uploads: the run's priority.
    #[param(value_type = Option<crate::openapi::Priority>, inline)]
    priority: Option<String>,
    /// CSV: the SMILES column (default smiles, SMILES or canonical_smiles).
    smiles_column: Option<String>,
    /// CSV: the ID column (default id, ID, name or Name when there is one).
    id_column: Option<String>,
    /// SD: the data item holding the ID (default the title line).
    id_property: Option<String>,
    /// The file's format whatever its Content-Type or name.
    #[param(value_type = Option<crate::openapi::FileFormat>, inline)]
    format: Option<String>,
    /// File uploads: the run's owner.
    #[param(max_length = 128)]
    user_id: Option<String>,
    /// File uploads: a built-in scoring profile's name (GET /scoring/profiles;
    /// a profile object goes in a form's pipeline_config.scoring).
    scoring: Option<String>,
    /// Form only: the rest of the run's `pipeline_config`.
    #[param(ignore)]
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
            run_id: &run_id,
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
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}",
    operation_id = "getRun",
    tag = "runs",
    summary = "A run: its status, progress and stages, and once finished its first results",
    params(RunPath, RunQuery),
    responses(
        (status = 200, description = "the run", body = views::RunView),
        (status = 400, description = "a malformed run id or query", body = ApiErrorBody),
        (status = 404, description = "no such run (another user's run is not found either)", body = ApiErrorBody),
    )
)]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(at): ApiPath<RunPath>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
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

#[utoipa::path(
    get,
    path = "/api/v1/runs",
    operation_id = "listRuns",
    tag = "runs",
    summary = "List runs, newest first",
    params(RunsQuery),
    responses(
        (status = 200, description = "a page of runs (without their scoring_history)", body = views::RunPage),
        (status = 400, description = "a malformed query", body = ApiErrorBody),
    )
)]
pub async fn list_runs(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<RunsQuery>) -> Result<Response, ApiError> {
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
            return Ok(Json(views::RunPage { runs: Vec::new(), total: 0, page, page_size }).into_response());
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
    Ok(Json(views::RunPage { runs, total, page, page_size }).into_response())
}

/// Cancels a pending or running run: 200 with the run (also when it was
/// already cancelled), 409 when it has finished.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/cancel",
    operation_id = "cancelRun",
    tag = "runs",
    summary = "Cancel a pending or running run",
    description = "Its compounds in flight are skipped by the adapters; those not yet admitted never are. Cancelling a cancelled run answers the run again.",
    params(RunPath),
    responses(
        (status = 200, description = "the run, cancelled", body = views::RunView),
        (status = 400, description = "a malformed run id", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
        (status = 409, description = "the run has finished (completed or failed)", body = ApiErrorBody),
    )
)]
pub async fn cancel_run(State(state): State<AppState>, caller: Caller, ApiPath(at): ApiPath<RunPath>) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
    visible_run(&state, &caller, &run_id).await?;
    match store::cancel_run(&state.pool, &run_id).await? {
        store::CancelOutcome::NotFound => return Err(run_not_found(&run_id)),
        store::CancelOutcome::Finished(status) => return Err(ApiError::Conflict(format!("run {run_id} is already {status} and cannot be cancelled"))),
        store::CancelOutcome::Cancelled => {
            tracing::info!(run_id = %run_id, "run cancelled");
            crate::scheduler::announce_cancel(&state, &run_id).await;
            crate::events::announce(&state, &run_id).await;
        }
        store::CancelOutcome::AlreadyCancelled => {}
    }
    let run = store::get_run(&state.pool, &run_id).await?.ok_or_else(|| run_not_found(&run_id))?;
    Ok(Json(views::run(&run, None, None)).into_response())
}

/// `POST /runs/{id}/rescore` with `{"scoring": <profile or built-in name>}`:
/// re-ranks a finished run under that profile from its stored results (no
/// adapter runs again) and appends it to the run's `scoring_history`. 200
/// with the run and `rescored: {compounds, ranked, seconds}`; 409 while the
/// run is still going; 422 for a bad profile, naming the objective.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/rescore",
    operation_id = "rescoreRun",
    tag = "scoring",
    summary = "Re-rank a finished run under another scoring profile",
    description = "Scores and ranks every compound of a finished (completed, failed or cancelled) run again from its stored results, \
        without running any adapter, in one transaction; the profile is appended to the run's scoring_history (the last is current), \
        and results pages, sort=rank and exports follow it.",
    params(RunPath),
    request_body(content = crate::openapi::RescoreRequest, content_type = "application/json", example = json!({"scoring": "oral_drug_like"})),
    responses(
        (status = 200, description = "the run, with rescored: {compounds, ranked, seconds}", body = views::RescoredRun),
        (status = 400, description = "a malformed run id, or a body that is not JSON", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
        (status = 409, description = "the run is still going", body = ApiErrorBody),
        (status = 413, description = "the body is over 64 KiB", body = ApiErrorBody),
        (status = 422, description = "a profile that is not valid, naming the objective", body = ApiErrorBody),
    )
)]
pub async fn rescore_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(at): ApiPath<RunPath>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
    // Over API_MAX_BODY_BYTES the router refuses it before the limit below.
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(validate::MAX_CONFIG_BYTES.min(state.limits.max_body_bytes)),
        _ => ApiError::BadRequest(format!("could not read the request body: {}", rejection.body_text())),
    })?;
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
    let done = store::scores::rescore(&state.pool, &run_id, &profile, name).await.map_err(|e| match e {
        store::scores::RescoreError::NotFound(_) => run_not_found(&run_id),
        e @ store::scores::RescoreError::NotFinished { .. } => ApiError::Conflict(e.to_string()),
        store::scores::RescoreError::Db(e) => e.into(),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(run_id = %run_id, compounds = done.compounds, ranked = done.ranked, seconds, "run rescored");
    let run = store::get_run(&state.pool, &run_id).await?.ok_or_else(|| run_not_found(&run_id))?;
    let rescored = views::Rescored { compounds: done.compounds, ranked: done.ranked, seconds: (seconds * 1000.0).round() / 1000.0 };
    Ok(Json(views::RescoredRun { run: views::run(&run, None, None), rescored }).into_response())
}

/// The built-in scoring profiles and the default's name.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScoringProfiles {
    profiles: Vec<BuiltInProfile>,
    /// The profile a run gets when `pipeline_config.scoring` is absent.
    default: &'static str,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct BuiltInProfile {
    name: &'static str,
    description: &'static str,
    #[schema(value_type = crate::openapi::ScoringProfile)]
    profile: Value,
}

/// `GET /scoring/profiles`: the built-in profiles, by name, with their
/// definitions (what `pipeline_config.scoring` may name).
#[utoipa::path(
    get,
    path = "/api/v1/scoring/profiles",
    operation_id = "scoringProfiles",
    tag = "scoring",
    summary = "The built-in scoring profiles, by name (what pipeline_config.scoring and a rescore may name)",
    responses((status = 200, description = "the profiles and the default's name", body = ScoringProfiles))
)]
pub async fn scoring_profiles(_caller: Caller) -> Json<ScoringProfiles> {
    let profiles =
        pharmforge_core::profile::builtins().into_iter().map(|b| BuiltInProfile { name: b.name, description: b.description, profile: b.profile }).collect();
    Json(ScoringProfiles { profiles, default: pharmforge_core::profile::DEFAULT_PROFILE })
}

#[utoipa::path(
    delete,
    path = "/api/v1/runs/{run_id}",
    operation_id = "deleteRun",
    tag = "runs",
    summary = "Delete a run and its compound results (one still going stops first)",
    params(RunPath),
    responses(
        (status = 204, description = "deleted, with its compound results"),
        (status = 400, description = "a malformed run id", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
    )
)]
pub async fn delete_run(State(state): State<AppState>, caller: Caller, ApiPath(at): ApiPath<RunPath>) -> Result<StatusCode, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    // A run still going stops like a cancelled one: the adapters skip its
    // records in flight (told before its rows go, so none is enriched for
    // nothing), and admission no longer sees it once it is deleted.
    if !run.status.is_finished() {
        crate::scheduler::announce_cancel(&state, &run_id).await;
    }
    if store::delete_run(&state.pool, &run_id).await? {
        tracing::info!(run_id = %run_id, "run deleted");
        crate::events::announce(&state, &run_id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(run_not_found(&run_id))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/results",
    operation_id = "listResults",
    tag = "results",
    summary = "A page of a run's compound results, in input order, by rank, or browsed",
    params(RunPath, ResultsQuery, crate::browse::BrowseQuery),
    responses(
        (status = 200, description = "a page of compound results (total: how many match)", body = views::ResultPage),
        (status = 400, description = "a malformed run id or query", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
    )
)]
pub async fn list_results(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(at): ApiPath<RunPath>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
    let (page, page_size) = validate::paging(q.page.as_deref(), q.page_size.as_deref())?;
    let (browse, detail) = crate::browse::from_query(&q.browse)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    if browse.is_plain() && detail == store::browse::Detail::Full {
        let order = if browse.sort == store::browse::SortKey::Rank { store::ResultOrder::Rank } else { store::ResultOrder::Input };
        let rows = store::list_results(&state.pool, run.id, order, page, page_size).await?;
        let total = store::results_stored(&run);
        let profile = run.scoring();
        let results: Vec<views::CompoundView> = rows.iter().map(|r| views::compound(r, Some(&profile))).collect();
        return Ok(Json(views::ResultPage { results, total, page, page_size }).into_response());
    }
    let finished = run.status.is_finished();
    let order = state.orders.get(&state.pool, (run.id, run.scoring_version), finished, &browse).await?;
    let start = ((page - 1).saturating_mul(page_size)).clamp(0, order.len() as i64) as usize;
    let end = (start + page_size as usize).min(order.len());
    let rows = store::browse::results_at(&state.pool, run.id, &order[start..end], detail).await?;
    let profile = run.scoring();
    let explained = (detail == store::browse::Detail::Full).then_some(&profile);
    let results: Vec<views::CompoundView> = rows.iter().map(|r| views::compound(r, explained)).collect();
    Ok(Json(views::ResultPage { results, total: order.len() as i64, page, page_size }).into_response())
}

/// One compound's result, whole.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/results/{index}",
    operation_id = "getResult",
    tag = "results",
    summary = "One compound's result, whole",
    params(CompoundPath),
    responses(
        (status = 200, description = "the compound's result", body = views::CompoundView),
        (status = 400, description = "a malformed run id or index", body = ApiErrorBody),
        (status = 404, description = "no such run or compound, or no result for it yet", body = ApiErrorBody),
    )
)]
pub async fn get_result(State(state): State<AppState>, caller: Caller, ApiPath(at): ApiPath<CompoundPath>) -> Result<Response, ApiError> {
    let (run_id, index) = (parse_run_id(&at.run_id)?, at.index);
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
#[utoipa::path(
    get,
    path = "/api/v1/pipeline",
    operation_id = "pipelineOverview",
    tag = "pipeline",
    summary = "The pipeline as an operator sees it",
    description = "Per adapter (every registered one, in route order): pending (records waiting in its JetStream consumer), \
        in_flight (delivered, not yet acknowledged), redelivered, replicas_connected and replicas (each replica's heartbeat, \
        every heartbeat_seconds; a replica unheard for three beats is gone), per_second and errors_per_second (records forwarded \
        over the last window_seconds), dead_letters (total, and the newest with their reason, deliveries and compound). \
        The aggregator's backlog. rate_limits: each external service's shared rate state (slow_down: the server's throttling \
        signal as a factor of the request spacing, 1 Green to 8 Black; paused_for_ms; next_slot_in_ms).",
    responses((status = 200, description = "the overview", body = crate::pipeline::Overview))
)]
pub async fn pipeline_overview(State(state): State<AppState>, _caller: Caller) -> Result<Response, ApiError> {
    Ok(Json(state.overviews.get(&state).await?).into_response())
}

#[derive(serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    #[param(value_type = Option<export::ExportFormat>, inline, default = "csv")]
    format: Option<String>,
    /// The order: input (index, the default) or rank.
    #[param(value_type = Option<crate::openapi::ExportSort>, inline)]
    sort: Option<String>,
    /// csv and sdf: the columns to keep, comma-separated, in that order; section.* keeps a whole section.
    columns: Option<String>,
    // Read by `Caller`.
    /// The bearer token, for a download link (which cannot set a header).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

#[derive(serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DepictQuery {
    /// The structure (at most API_MAX_SMILES_LENGTH characters).
    #[param(required = true, max_length = 10000)]
    smiles: Option<String>,
    #[param(schema_with = crate::openapi::svg_width)]
    width: Option<u32>,
    #[param(schema_with = crate::openapi::svg_height)]
    height: Option<u32>,
    // Read by `Caller`.
    /// The bearer token, for an `<img>` (which cannot set a header).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// A result's picture takes `/depict`'s keys but `smiles` (it is of the compound's own structure).
struct PictureQuery;

impl IntoParams for PictureQuery {
    fn into_params(parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>) -> Vec<utoipa::openapi::path::Parameter> {
        DepictQuery::into_params(parameter_in).into_iter().filter(|p| p.name != "smiles").collect()
    }
}

fn depict_query(query: Option<&str>) -> Result<DepictQuery, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("the query cannot be read: {e}; accepted: smiles, width, height (pixels)")))
}

/// `GET /depict?smiles=...&width=&height=`: the structure as SVG.
#[utoipa::path(
    get,
    path = "/api/v1/depict",
    operation_id = "depict",
    tag = "structures",
    summary = "A structure as SVG, drawn by RDKit",
    description = "Kept by canonical SMILES and size; Cache-Control lets clients keep it a day. A SMILES RDKit cannot read is a 422.",
    params(DepictQuery),
    responses(
        (status = 200, description = "the picture", content_type = "image/svg+xml", body = String,
            headers(("Cache-Control" = String, description = "public, max-age=86400"))),
        (status = 400, description = "a malformed query", body = ApiErrorBody),
        (status = 422, description = "no smiles, one RDKit cannot read, or a size out of range", body = ApiErrorBody),
    )
)]
pub async fn depict(State(state): State<AppState>, _caller: Caller, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let q = depict_query(query.as_deref())?;
    let smiles = q.smiles.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::validation("smiles", "smiles is required"))?;
    if let Some(problem) = validate::smiles_problem(&smiles, &state.limits) {
        return Err(ApiError::validation("smiles", format!("smiles {problem}")));
    }
    let svg = state.pictures.get(&smiles, q.width.unwrap_or(depict::DEFAULT_WIDTH), q.height.unwrap_or(depict::DEFAULT_HEIGHT)).await?;
    Ok(depict::svg_response(svg))
}

/// `GET /runs/{id}/results/{index}/depiction.svg`: a compound's structure.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/results/{index}/depiction.svg",
    operation_id = "resultDepiction",
    tag = "results",
    summary = "A compound's structure as SVG",
    params(CompoundPath, PictureQuery),
    responses(
        (status = 200, description = "the picture", content_type = "image/svg+xml", body = String,
            headers(("Cache-Control" = String, description = "public, max-age=86400"))),
        (status = 400, description = "a malformed run id, index or query", body = ApiErrorBody),
        (status = 404, description = "no such run or compound", body = ApiErrorBody),
        (status = 422, description = "a compound whose input record could not be read, or a size out of range", body = ApiErrorBody),
    )
)]
pub async fn result_depiction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(at): ApiPath<CompoundPath>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (run_id, index) = (parse_run_id(&at.run_id)?, at.index);
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
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/events",
    operation_id = "runEvents",
    tag = "runs",
    summary = "The run's progress, live (Server-Sent Events)",
    description = "A `progress` event at every change (at least every second while the run moves), then one named after the \
        terminal status (`completed`, `failed`, `cancelled`; `deleted` if the run is deleted), then the stream closes. Each event's \
        data is the run's summary (the RunSummary schema: run_id, status, progress, compounds, stages, admission, updated_at, \
        error_message); its id changes with it, and Last-Event-ID resumes (the current state is skipped if it is the one the \
        listener had). A comment line every 15 s keeps proxies from closing it. A browser EventSource cannot set headers: with \
        API_AUTH=jwt it passes the token as ?access_token=.",
    params(
        RunPath,
        ("Last-Event-ID" = Option<String>, Header, description = "the id of the last event the listener had: resumes after it"),
        ("access_token" = Option<String>, Query, description = "the bearer token, for an EventSource (which cannot set a header)"),
    ),
    responses(
        (status = 200, description = "the event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "a malformed run id", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
    )
)]
pub async fn run_events(State(state): State<AppState>, caller: Caller, ApiPath(at): ApiPath<RunPath>, headers: HeaderMap) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
    let run = visible_run(&state, &caller, &run_id).await?;
    let now = crate::events::Snapshot::of(&run);
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // A run that has ended needs no feed: its final event, then the close.
    let rx = match now.is_final() {
        true => tokio::sync::watch::channel(std::sync::Arc::new(now.clone())).1,
        false => state.feeds.subscribe(&state.pool, &run_id, now.clone()),
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
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/export",
    operation_id = "exportRun",
    tag = "results",
    summary = "The whole run as CSV, SD file or JSON lines, streamed",
    description = "In input order (or by rank). CSV and SD share flat columns named by section: id, index, compound_id, smiles, \
        status, properties.<field>, admet.<endpoint> (and _drugbank_approved_percentile), pubchem.<field>, bioactivity.<field>, \
        scaffolds.<field>, scores.<name>, final_score, rank, errors.<adapter>, input.<name> (the input's SD data or CSV columns); lists and objects \
        are JSON text. SD: each molecule with RDKit 2D coordinates, its ID (or compound_id) as title, every non-empty value as \
        a data item; a compound RDKit cannot read keeps its record as a molecule without atoms. JSON lines: each result as \
        /results returns it. A finished run's export is the same bytes every time; X-Run-Status says the run's status \
        (running: what has arrived so far).",
    params(RunPath, ExportQuery),
    responses(
        (status = 200, description = "the export",
            content((String = "text/csv"), (String = "chemical/x-mdl-sdfile"), (String = "application/x-ndjson")),
            headers(
                ("X-Run-Status" = crate::openapi::RunStatus, description = "the run's status as the export began"),
                ("Content-Disposition" = String, description = "attachment; filename=\"<run_id>.<csv|sdf|jsonl>\""),
            )),
        (status = 400, description = "a malformed run id or query", body = ApiErrorBody),
        (status = 404, description = "no such run", body = ApiErrorBody),
    )
)]
pub async fn export_run(State(state): State<AppState>, caller: Caller, ApiPath(at): ApiPath<RunPath>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let run_id = parse_run_id(&at.run_id)?;
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
    match store::get_run(&state.pool, run_id).await? {
        Some(run) if caller.may_see(run.user_id.as_deref()) => Ok(run),
        _ => Err(run_not_found(run_id)),
    }
}

fn run_not_found(run_id: &RunId) -> ApiError {
    ApiError::NotFound(format!("run {run_id} not found"))
}

/// The OpenAPI document of this API, built from these handlers (`openapi`).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "service",
    summary = "This document (OpenAPI 3.1)",
    security(()),
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document()).into_response()
}

/// The process is up.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "service",
    summary = "Alive",
    security(()),
    responses((status = 200, description = "alive", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether the API can serve: Postgres migrated and NATS connected.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    checks: ReadinessChecks,
}

/// Each dependency: `ok` or `unavailable`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ReadinessChecks {
    postgres: &'static str,
    nats: &'static str,
}

/// Ready when Postgres answers with the schema migrated (the aggregator runs
/// the migrations) and JetStream is connected and set up.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "service",
    summary = "Ready: Postgres answers with the schema migrated, and NATS is connected",
    security(()),
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "not ready", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let latest = store::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let query = sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&state.pool);
    let db = tokio::time::timeout(Duration::from_secs(2), query).await;
    let db_ok = matches!(db, Ok(Ok(Some(v))) if v >= latest);
    let nats_ok = state.jetstream.get().map(|js| js.client().connection_state() == async_nats::connection::State::Connected).unwrap_or(false);
    let status = if db_ok && nats_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let check = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body =
        Readiness { status: if db_ok && nats_ok { "ready" } else { "not_ready" }, checks: ReadinessChecks { postgres: check(db_ok), nats: check(nats_ok) } };
    (status, Json(body)).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this endpoint".into())
}
