//! `sendfilter serve`: the store's network face, a thin shell over the library on tokio
//! and axum.
//!
//! * `POST /v1/check` decides numbers with the same rules and answers as `filter`
//!   ([`check`]), through one long-lived [`Handle`] per (brand, purpose, class): live
//!   stops, new consents, the policy and the clock are followed as the handle does.
//! * `GET /livez` (the process answers), `GET /readyz` (the store is open and its journal
//!   watcher alive), `GET /metrics` (Prometheus text, [`metrics`]).
//!
//! * Webhooks ([`webhooks`], [`vonage`]) record replies through one `inbound` run
//!   ([`inbound`]), durable before the 2xx; the opt-out list (`/v1/stops/{number}`),
//!   its paged list per brand (`/v1/stops?brand=`), consents (`/v1/consents`, [`consents`]) and data-subject rights (`/v1/subjects/…`)
//!   are thin shells over the store and [`crate::rights`], each call audited ([`audit`]).
//! * Callers authenticate with bearer tokens ([`tokens`]); every route names what it
//!   needs ([`auth::ROUTES`]).
//!
//! Every request passes one gate ([`gate`]): a bounded number in flight (more get 503 with
//! `Retry-After`, so a gateway retries rather than loses an acknowledgement), a time limit
//! (408), and the counters. Bodies are limited (64 MiB for a check batch).

pub mod auth;
pub mod check;
pub mod check_line;
pub mod config;
pub mod consents;
mod dedup;
pub mod inbound;
pub mod metrics;
mod stop_list;
pub mod stop_writer;
mod stops;
mod subjects;
pub mod tally;
pub mod tokens;
pub mod vonage;
pub mod webhooks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::audit::AuditRecord;
use crate::store::access::Action;

use crate::decision::Class;
use crate::handle::{Handle, HandleError, HandleOptions};
use crate::phone::Regions;
pub use config::Config;
use metrics::Metrics;

/// Largest check batch body.
pub const MAX_BATCH_BODY: usize = 64 << 20;
/// Largest body of any other request (webhooks, single checks).
pub const MAX_BODY: usize = 1 << 20;
/// Most (brand, purpose, class) handles one service keeps open.
pub const MAX_HANDLES: usize = 256;
/// The brand name of the service's own handle (readiness and metrics only: it decides
/// nothing).
const HEALTH_BRAND: &str = "sendfilter:health";

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store cannot be opened.
    #[error(transparent)]
    Handle(#[from] HandleError),
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The brand registry cannot be read.
    #[error(transparent)]
    Brands(#[from] crate::store::brands::BrandError),
    /// The store cannot be opened for recording.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A worker thread cannot be started.
    #[error("starting a worker thread: {0}")]
    Thread(std::io::Error),
    /// Too many brands and purposes asked for at once.
    #[error("more than {MAX_HANDLES} brand/purpose/class combinations in use")]
    TooManyHandles,
}

/// What every request handler shares.
pub struct State {
    store: PathBuf,
    config: Config,
    region: Regions,
    handles: Mutex<HashMap<(String, String, Class, bool), Handle>>,
    health: Handle,
    metrics: Metrics,
    inbound: inbound::Inbound,
    /// The group commit of `PUT /v1/stops/{number}`.
    stops: stop_writer::StopWriter,
    in_flight: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    keys: auth::Keys,
    concat: vonage::Concat,
    /// Audit sums of checks and webhooks, written every [`tally::INTERVAL`].
    tally: Arc<tally::Tally>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("store", &self.store).finish_non_exhaustive()
    }
}

impl State {
    /// Opens the store in `dir` for serving with `config`.
    ///
    /// # Errors
    /// [`ServiceError`] when the store cannot be opened.
    pub fn open(dir: &Path, config: Config) -> Result<Arc<State>, ServiceError> {
        let region: Regions = match &config.region {
            Some(r) => r.parse().map_err(|e: crate::phone::UnknownRegion| {
                config::ConfigError::Parse { path: "region".into(), message: e.to_string() }
            })?,
            None => Regions::from(crate::phone::Region::NO),
        };
        let health = Handle::open(dir, HandleOptions::new(HEALTH_BRAND, "-"))?;
        // The webhooks record through one `inbound` run, which holds the store (and
        // releases its lock while it waits, as `sendfilter inbound` does).
        let store = crate::store::Store::open_with(
            dir,
            crate::store::StoreOptions { create: false, region: None, wait: true },
        )?;
        let inbound_regions = match &config.region {
            Some(_) => region.clone(),
            None => Regions::new(store.region(), Vec::new()),
        };
        let tally = Arc::new(tally::Tally::default());
        let inbound = inbound::Inbound::start(store, inbound_regions, Arc::clone(&tally))?;
        let stops = stop_writer::StopWriter::start(dir).map_err(ServiceError::Thread)?;
        let max = config.max_in_flight.unwrap_or(4096).max(1);
        let timeout = Duration::from_secs(config.request_timeout_secs.unwrap_or(30).max(1));
        Ok(Arc::new(State {
            store: dir.to_path_buf(),
            keys: auth::Keys::new(config.require_tokens),
            concat: vonage::Concat::default(),
            tally,
            config,
            region,
            handles: Mutex::new(HashMap::new()),
            health,
            metrics: Metrics::default(),
            inbound,
            stops,
            in_flight: Arc::new(tokio::sync::Semaphore::new(max)),
            timeout,
        }))
    }

    /// Closes the inbound feed and waits until what it was given is recorded (after the
    /// server stopped).
    pub fn close(&self) {
        self.inbound.close();
        self.stops.close();
        self.flush_audit();
    }

    /// Writes the audit sums of checks and webhooks (see [`tally`]); a failure is told on
    /// stderr and the sums are kept for the next write.
    pub fn flush_audit(&self) {
        if let Err(e) = self.tally.flush(&self.store) {
            eprintln!("sendfilter serve: writing the audit trail: {e}");
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The handle deciding for (brand, purpose, class); `stamp`: with the brand's opt-out
    /// routes and footers from the registry (for checks that carry a message).
    fn handle(
        &self,
        brand: &str,
        purpose: &str,
        class: Class,
        stamp: bool,
    ) -> Result<Handle, ServiceError> {
        let brand = crate::brand::canonical(brand).map_err(HandleError::from)?;
        let key = (brand.to_string(), purpose.to_string(), class, stamp);
        if let Some(h) = self.handles.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(h.clone());
        }
        let mut opts = HandleOptions::new(&brand, purpose);
        opts.filter.class = class;
        opts.filter.region = self.region.clone();
        if stamp {
            let (footer, routes) = registry_footers(&self.store, &brand, &self.region);
            opts.filter.footer = footer;
            opts.filter.routes = routes;
        }
        let h = Handle::open(&self.store, opts)?;
        let mut map = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_HANDLES && !map.contains_key(&key) {
            return Err(ServiceError::TooManyHandles);
        }
        Ok(map.entry(key).or_insert(h).clone())
    }
}

/// The brand's opt-out footer and routes per country from the registry, as `filter`
/// builds them without `--shortcode`/`--footer`: each route with its country's default
/// template. An unregistered brand has none (a marketing message is then refused).
fn registry_footers(
    dir: &Path,
    brand: &str,
    region: &Regions,
) -> (Option<crate::sms::Footer>, Option<Arc<crate::filter::Routes>>) {
    use crate::sms::{Footer, default_template};
    let Some(b) =
        crate::store::brands::Registry::load(dir).ok().and_then(|r| r.get(brand).cloned())
    else {
        return (None, None);
    };
    let footers: Vec<_> = b
        .routes_for(region.primary())
        .into_iter()
        .filter_map(|(country, r)| {
            let template = default_template(r.language.footer_region());
            Some((country, Footer::new(template, brand, Some(&r.number)).ok()?))
        })
        .collect();
    if footers.is_empty() {
        return (None, None);
    }
    let first = footers.first().map(|(_, f)| f.clone());
    (first, Some(Arc::new(crate::filter::Routes::new(footers))))
}

/// An error answer: a status and a JSON body `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string() + "\n";
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// The service's routes over `state`.
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/check", post(check_route).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_route))
        .route("/v1/inbound", post(webhooks::generic))
        .route("/v1/inbound/twilio", post(webhooks::twilio))
        .route("/v1/inbound/46elks", post(webhooks::elks))
        .route("/v1/inbound/sinch", post(webhooks::sinch))
        .route("/v1/inbound/vonage", get(vonage::vonage).post(vonage::vonage))
        .route("/v1/inbound/infobip", post(webhooks::infobip))
        .route("/v1/subjects/{number}", get(subjects::export))
        .route("/v1/stops", get(stop_list::list))
        .route("/v1/stops/{number}", get(stops::get).put(stops::put))
        .route("/v1/consents", post(consents::post).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)))
        .route("/v1/subjects/{number}/erase", post(subjects::erase))
        .route("/v1/subjects/{number}/correct", post(subjects::correct))
        .route("/v1/subjects/{number}/move", post(subjects::move_to))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), gate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes; then stops accepting
/// and lets requests in flight finish.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let s = Arc::clone(&state);
    let sums = tokio::spawn(async move {
        let mut every = tokio::time::interval(tally::INTERVAL);
        every.tick().await;
        loop {
            every.tick().await;
            let s = Arc::clone(&s);
            let _ = tokio::task::spawn_blocking(move || s.flush_audit()).await;
        }
    });
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    sums.abort();
    served
}

/// The gate every request passes: the route's authentication ([`auth`]: 401/403, and
/// 405 for a method the route does not have), bounded in flight (503 + `Retry-After`), a
/// time limit (408), counters. The caller goes on to the handler as an extension.
async fn gate(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let found =
        auth::find(req.method(), req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let route = match found {
        Ok(r) => r.path,
        Err(label) => label,
    };
    let response = match found {
        Err("unmatched") => next.run(req).await,
        Err(_) => ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route")
            .into_response(),
        Ok(r) => {
            let caller = match r.need {
                auth::Need::Role(action) => {
                    state.keys.authorize(&state.store, req.headers(), action).map(Some)
                }
                auth::Need::Open | auth::Need::Gateway => Ok(None),
            };
            match caller {
                Err(e) => e.into_response(),
                Ok(caller) => {
                    if let Some(c) = caller {
                        req.extensions_mut().insert(c);
                    }
                    admit(&state, r.need == auth::Need::Open || r.path == "/metrics", req, next)
                        .await
                }
            }
        }
    };
    state.metrics.request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Runs the request within the in-flight bound (probes: always) and the time limit.
async fn admit(state: &State, probe: bool, req: Request, next: Next) -> Response {
    let permit = if probe { None } else { state.in_flight.clone().try_acquire_owned().ok() };
    if !probe && permit.is_none() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight: retry",
        )
        .into_response();
    }
    let r = match tokio::time::timeout(state.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request took too long").into_response()
        }
    };
    drop(permit);
    r
}

/// Writes the audit record of one API call that revealed or changed personal data: the
/// caller (token name and role) as actor, `action`, `command` (method and route
/// template), and for subject-level calls the subject reference of `subject` (never the
/// number). The caller must not answer with the data when this fails (fail closed).
///
/// # Errors
/// 500 when the trail cannot be written.
fn audit(
    dir: &Path,
    caller: &auth::Caller,
    action: Action,
    command: &str,
    subject: Option<(&crate::store::Store, crate::E164)>,
    rec: AuditRecord,
) -> Result<(), ApiError> {
    let internal = |e: crate::store::StoreError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("audit trail: {e}"))
    };
    let subject = match subject {
        Some((store, n)) => Some(crate::audit::subject_ref(store, n).map_err(internal)?),
        None => rec.subject,
    };
    let rec = AuditRecord {
        actor: caller.name.clone(),
        role: caller.role.clone(),
        action: action.as_str().into(),
        command: format!("serve {command}"),
        outcome: if rec.outcome.is_empty() { "ok".into() } else { rec.outcome },
        subject,
        ..rec
    };
    crate::audit::record(dir, &rec).map(|_| ()).map_err(internal)
}

async fn readyz(axum::extract::State(state): axum::extract::State<Arc<State>>) -> Response {
    if let Some(why) = state.inbound.failure() {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    match state.health.health() {
        Ok(()) => {
            let v = state.health.view();
            let body = serde_json::json!({
                "ready": true,
                "generation": crate::StandingSource::generation(&*v),
                "journal_seq": crate::StandingSource::journal_seq(&*v),
            });
            (StatusCode::OK, body.to_string() + "\n").into_response()
        }
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn metrics_route(axum::extract::State(state): axum::extract::State<Arc<State>>) -> Response {
    let v = state.health.view();
    let text = state
        .metrics
        .render(crate::StandingSource::journal_seq(&*v), crate::StandingSource::generation(&*v));
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"))
}

async fn check_route(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    caller: Option<Extension<auth::Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = caller.map_or_else(
        || auth::Caller { name: "local".into(), role: "open".into() },
        |Extension(c)| c,
    );
    let ndjson = is_ndjson(&headers);
    if !ndjson && body.len() > MAX_BODY {
        return Err(ApiError::too_large("one check is at most 1 MiB: send batches as NDJSON"));
    }
    let out = if ndjson {
        let s = Arc::clone(&state);
        tokio::task::spawn_blocking(move || check::answer(&s, &caller, &body, true))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
    } else {
        check::answer(&state, &caller, &body, false)?
    };
    let mut r = out.into_response();
    let ct = if ndjson { "application/x-ndjson" } else { "application/json" };
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(r)
}
