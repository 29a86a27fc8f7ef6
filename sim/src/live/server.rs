//! The simulator's HTTP surface: the four snapshot operations on
//! `/v1/{project_id}/stream/snapshot`, plus `/admin/*` for fault injection and call counts.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::store::Store;
use super::validate::validate;
use crate::auth::{self, AuthConfig};
use crate::faults::{FaultSettings, Faults, Verdict};
use live_snapshot_operator::clouds::huawei::model::{
    ErrorBody, ListResponse, LiveSnapshotConfig, codes,
};
use live_snapshot_operator::clouds::huawei::signer;

/// One committed write, in the order the simulator made them: the ground truth that fault tests
/// check promises against.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Write {
    pub operation: &'static str,
    pub project: String,
    pub domain: String,
    pub app: String,
    /// The access key that signed the call (empty for token callers).
    pub access_key: String,
}

/// One request as it arrived, before any latency, fault or answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Arrival {
    pub operation: String,
    pub access_key: String,
}

pub struct Simulator {
    pub store: Store,
    journal: std::sync::Mutex<Vec<Write>>,
    arrivals: std::sync::Mutex<Vec<Arrival>>,
    /// Replaceable while serving, as an account's keys are rotated or revoked.
    auth: std::sync::RwLock<AuthConfig>,
    pub faults: Faults,
}

impl Simulator {
    pub fn new(store: Store, auth: AuthConfig, faults: FaultSettings) -> Arc<Self> {
        Arc::new(Self {
            store,
            journal: std::sync::Mutex::default(),
            arrivals: std::sync::Mutex::default(),
            auth: std::sync::RwLock::new(auth),
            faults: Faults::new(faults),
        })
    }

    /// Accepts exactly `keys` from now on (tokens unchanged): a rotation revokes the old key.
    pub fn set_keys(&self, keys: Vec<crate::KeyPair>) {
        let mut auth = self.auth.write().unwrap_or_else(|p| p.into_inner());
        let tokens = std::mem::take(&mut auth.tokens);
        let skew = auth.max_skew;
        *auth = AuthConfig::new(keys, tokens);
        auth.max_skew = skew;
    }

    /// Every request received so far, in order of arrival (who asked for what, and when relative
    /// to the others), whatever became of it.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every committed create, update and delete so far.
    pub fn journal(&self) -> Vec<Write> {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, operation: &'static str, project: &str, domain: &str, app: &str, ak: &str) {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Write {
                operation,
                project: project.into(),
                domain: domain.into(),
                app: app.into(),
                access_key: ak.into(),
            });
    }

    fn auth(&self) -> std::sync::RwLockReadGuard<'_, AuthConfig> {
        self.auth.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/{project_id}/stream/snapshot", any(snapshot))
            .route("/admin/stats", get(stats))
            .route("/admin/stats/reset", post(reset_stats))
            .route("/admin/faults", get(get_faults).put(put_faults))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.clone())
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts a simulator in this process on `addr` (e.g. "127.0.0.1:0"), accepting `keys` and
/// `tokens`, for tests, demos and benchmarks. Returns it and its endpoint URL; it serves until
/// the runtime stops.
pub async fn spawn_local(
    addr: &str,
    keys: Vec<crate::KeyPair>,
    tokens: Vec<String>,
    faults: FaultSettings,
) -> std::io::Result<(Arc<Simulator>, String)> {
    let sim = Simulator::new(Store::in_memory(), AuthConfig::new(keys, tokens), faults);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(listener, sim.clone(), std::future::pending()));
    Ok((sim, endpoint))
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    code: Option<String>,
    retry_after: Option<u64>,
    /// Break the connection instead of answering.
    reset: bool,
}

impl Answer {
    fn ok(body: Vec<u8>) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            code: None,
            retry_after: None,
            reset: false,
        }
    }
    fn error(status: u16, code: &str, msg: impl Into<String>) -> Self {
        let body = serde_json::to_vec(&ErrorBody::new(code, msg)).unwrap_or_default();
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            code: Some(code.to_string()),
            retry_after: None,
            reset: false,
        }
    }
    fn invalid(msg: impl Into<String>) -> Self {
        Self::error(400, codes::INVALID_PARAMETER, msg)
    }
}

fn operation_of(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::DELETE => "delete",
        _ => return None,
    })
}

async fn snapshot(
    State(sim): State<Arc<Simulator>>,
    Path(project): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = hex::encode(rand::random::<[u8; 16]>());
    sim.arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arrival {
            operation: operation_of(&method).unwrap_or("other").to_string(),
            access_key: access_key(&headers),
        });
    let answer = handle(&sim, &project, &method, &uri, &headers, &body).await;
    if answer.reset {
        // Headers go out, then the body fails: the client sees the connection break mid-answer.
        let body = axum::body::Body::from_stream(futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
        }));
        return (StatusCode::OK, body).into_response();
    }
    sim.faults.record_status(answer.status.as_u16());
    tracing::info!(
        target: "live_api_sim",
        "{} {}{} -> {} {} {}ms request_id={}",
        method,
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default(),
        answer.status.as_u16(),
        answer.code.as_deref().unwrap_or(""),
        started.elapsed().as_millis(),
        request_id
    );
    let mut response = (answer.status, answer.body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-request-id", v);
    }
    if let Some(secs) = answer.retry_after {
        h.insert("retry-after", HeaderValue::from(secs));
    }
    response
}

async fn handle(
    sim: &Simulator,
    project: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    sim.faults.delay().await;
    let parts = auth::RequestParts::of(method, uri, headers, body, project);
    if let Err(why) = auth::check(&sim.auth(), &parts) {
        return Answer::error(401, codes::SIGNATURE_FAILED, why.message());
    }
    let Some(operation) = operation_of(method) else {
        return Answer::error(
            405,
            codes::INVALID_PARAMETER,
            format!("method {method} is not supported"),
        );
    };
    match sim.faults.admit(operation) {
        Verdict::Proceed => {}
        Verdict::Throttle => {
            let mut a = Answer::error(
                429,
                codes::THROTTLED,
                "The throttling threshold has been reached: policy user over ratelimit",
            );
            a.retry_after = Some(sim.faults.retry_after_secs());
            return a;
        }
        Verdict::Fail { status, code } => {
            let mut a = Answer::error(status, &code, "injected failure");
            if status == 429 {
                a.retry_after = Some(sim.faults.retry_after_secs());
            }
            return a;
        }
        Verdict::Hang => std::future::pending::<()>().await,
        Verdict::Reset => {
            let mut a = Answer::ok(Vec::new());
            a.reset = true;
            return a;
        }
    }
    let ak = access_key(headers);
    let query = signer::parse_query(uri.query().unwrap_or(""));
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match operation {
        "list" => list(
            sim,
            project,
            param("domain"),
            param("app_name"),
            param("limit"),
            param("offset"),
        ),
        "create" | "update" => {
            let config: LiveSnapshotConfig = match serde_json::from_slice(body) {
                Ok(c) => c,
                Err(e) => {
                    return Answer::invalid(format!(
                        "Request Illegal: body is not a LiveSnapshotConfig: {e}"
                    ));
                }
            };
            if let Err(msg) = validate(&config) {
                return Answer::invalid(format!("Request Illegal: {msg}"));
            }
            let (domain, app) = (config.domain.clone(), config.app_name.clone());
            let answer = if operation == "create" {
                create(sim, project, config)
            } else {
                update(sim, project, config)
            };
            committed(sim, operation, answer, project, &domain, &app, &ak).await
        }
        _ => {
            let (domain, app) = (
                param("domain").unwrap_or("").to_string(),
                param("app_name").unwrap_or("").to_string(),
            );
            let answer = delete(sim, project, Some(&domain), Some(&app));
            committed(sim, operation, answer, project, &domain, &app, &ak).await
        }
    }
}

fn list(
    sim: &Simulator,
    project: &str,
    domain: Option<&str>,
    app: Option<&str>,
    limit: Option<&str>,
    offset: Option<&str>,
) -> Answer {
    let Some(domain) = domain.filter(|d| !d.is_empty()) else {
        return Answer::invalid("Request Illegal: domain is required");
    };
    let limit = match limit.map(str::parse::<i64>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return Answer::invalid("Request Illegal: limit must be an integer in [1, 100]"),
    };
    let offset = match offset.map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        _ => return Answer::invalid("Request Illegal: offset must be a non-negative integer"),
    };
    let all = sim
        .store
        .list(project, domain, app.filter(|a| !a.is_empty()));
    // Page-number semantics: offset is the 0-based page index.
    let page: Vec<_> = all
        .iter()
        .skip((offset * limit) as usize)
        .take(limit as usize)
        .cloned()
        .collect();
    let resp = ListResponse {
        total: all.len() as i64,
        offset,
        limit,
        snapshot_config_list: page,
    };
    let faults = sim.faults.settings();
    if faults.extra_list_items.is_empty() && faults.total_offset == 0 && !faults.endless_listing {
        return Answer::ok(serde_json::to_vec(&resp).unwrap_or_default());
    }
    Answer::ok(
        broken_listing(resp, &faults, domain, app)
            .to_string()
            .into_bytes(),
    )
}

/// A listing as a broken service would send it: raw extra items, a lying total, no end.
fn broken_listing(
    resp: ListResponse,
    faults: &FaultSettings,
    domain: &str,
    app: Option<&str>,
) -> serde_json::Value {
    let (offset, mut total) = (resp.offset, resp.total);
    let mut items: Vec<serde_json::Value> = resp
        .snapshot_config_list
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    if offset == 0 {
        let wanted = |v: &&serde_json::Value| {
            app.is_none_or(|a| v.get("app_name").and_then(|x| x.as_str()) == Some(a))
        };
        let extra: Vec<_> = faults
            .extra_list_items
            .iter()
            .filter(wanted)
            .cloned()
            .collect();
        total += extra.len() as i64;
        items.extend(extra);
    }
    if faults.endless_listing {
        let ghost = LiveSnapshotConfig {
            domain: domain.to_string(),
            app_name: format!("ghost-{offset}"),
            time_interval: 10,
            obs_location: live_snapshot_operator::clouds::huawei::ObsLocation {
                bucket: "ghost".into(),
                location: "cn-north-4".into(),
                object: "ghost/".into(),
            },
            ..Default::default()
        };
        items.extend(serde_json::to_value(ghost).ok());
        total = i64::MAX / 2;
    }
    serde_json::json!({
        "total": total + faults.total_offset,
        "offset": offset,
        "limit": resp.limit,
        "snapshot_config_list": items,
    })
}

fn store_failure(e: super::store::StoreError) -> Answer {
    tracing::error!(target: "live_api_sim", "{e}");
    Answer::error(
        500,
        codes::INTERNAL,
        "Internal error: state could not be saved",
    )
}

/// Journals a write that took effect and, when asked to, never answers it.
async fn committed(
    sim: &Simulator,
    operation: &'static str,
    answer: Answer,
    project: &str,
    domain: &str,
    app: &str,
    ak: &str,
) -> Answer {
    if answer.status.is_success() {
        sim.record(operation, project, domain, app, ak);
        if sim.faults.take_hang_after(operation) {
            // The write is committed but the caller never hears so.
            std::future::pending::<()>().await;
        }
    }
    answer
}

/// The access key of an AK/SK-signed call.
fn access_key(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Access=").nth(1))
        .and_then(|v| v.split(',').next())
        .unwrap_or("")
        .trim()
        .to_string()
}

fn create(sim: &Simulator, project: &str, config: LiveSnapshotConfig) -> Answer {
    match sim.store.insert_new(project, config) {
        Ok(true) => Answer::ok(Vec::new()),
        Ok(false) => Answer::error(400, codes::ALREADY_EXISTS, "The resource already exists"),
        Err(e) => store_failure(e),
    }
}

fn update(sim: &Simulator, project: &str, config: LiveSnapshotConfig) -> Answer {
    match sim.store.replace(project, config) {
        Ok(true) => Answer::ok(Vec::new()),
        Ok(false) => Answer::error(400, codes::NOT_FOUND, "The resource does not exist"),
        Err(e) => store_failure(e),
    }
}

fn delete(sim: &Simulator, project: &str, domain: Option<&str>, app: Option<&str>) -> Answer {
    let (Some(domain), Some(app)) = (
        domain.filter(|d| !d.is_empty()),
        app.filter(|a| !a.is_empty()),
    ) else {
        return Answer::invalid("Request Illegal: domain and app_name are required");
    };
    match sim.store.remove(project, domain, app) {
        Ok(true) => Answer::ok(Vec::new()),
        Ok(false) => Answer::error(400, codes::NOT_FOUND, "The resource does not exist"),
        Err(e) => store_failure(e),
    }
}

async fn stats(State(sim): State<Arc<Simulator>>) -> impl IntoResponse {
    let mut s = sim.faults.stats();
    s.templates = sim.store.len();
    axum::Json(s)
}

async fn reset_stats(State(sim): State<Arc<Simulator>>) -> impl IntoResponse {
    sim.faults.reset_stats();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sim): State<Arc<Simulator>>) -> impl IntoResponse {
    axum::Json(sim.faults.settings())
}

async fn put_faults(
    State(sim): State<Arc<Simulator>>,
    axum::Json(settings): axum::Json<FaultSettings>,
) -> impl IntoResponse {
    sim.faults.set(settings.clone());
    axum::Json(settings)
}
