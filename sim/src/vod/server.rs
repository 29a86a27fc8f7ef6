//! The VOD simulator's HTTP surface: the asset, snapshot-task and cover routes with their
//! `/v1/` and `/v1.0/` prefixes, the gateway's signature check, paging with `null` for an empty
//! page, the VOD error bodies, throttling and fault injection like the Live simulator's.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::store::{AssetState, CoverError, ThumbnailParams, VodStore};
use crate::auth::{self, AuthConfig};
use crate::faults::{FaultSettings, Faults, Verdict};
use live_snapshot_operator::clouds::huawei::signer;

pub mod codes {
    pub const ILLEGAL: &str = "VOD.10053";
    pub const NOT_PUBLISHED: &str = "VOD.10060";
    pub const STATE: &str = "VOD.10061";
    pub const NOT_FOUND: &str = "VOD.10062";
    pub const TENANT: &str = "VOD.10057";
    pub const SIGNATURE: &str = "APIGW.0301";
    pub const NO_ROUTE: &str = "APIGW.0101";
    pub const THROTTLED: &str = "APIG.0308";
}

pub struct VodSimulator {
    pub store: VodStore,
    auth: std::sync::RwLock<AuthConfig>,
    pub faults: Faults,
}

impl VodSimulator {
    pub fn new(auth: AuthConfig, faults: FaultSettings) -> Arc<Self> {
        Arc::new(Self {
            store: VodStore::default(),
            auth: std::sync::RwLock::new(auth),
            faults: Faults::new(faults),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/{version}/{project_id}/asset/{*rest}", any(route))
            .route("/admin/stats", get(stats))
            .route("/healthz", get(|| async { "ok" }))
            .fallback(|| async { error(404, codes::NO_ROUTE, "API not found") })
            .with_state(self.clone())
    }
}

/// Starts a VOD simulator in this process on `addr`; returns it and its endpoint URL.
pub async fn spawn_local(
    addr: &str,
    keys: Vec<crate::KeyPair>,
    faults: FaultSettings,
) -> std::io::Result<(Arc<VodSimulator>, String)> {
    let sim = VodSimulator::new(AuthConfig::new(keys, Vec::new()), faults);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((sim, endpoint))
}

async fn stats(State(sim): State<Arc<VodSimulator>>) -> axum::Json<crate::faults::Stats> {
    axum::Json(sim.faults.stats())
}

fn error(status: u16, code: &str, msg: impl Into<String>) -> Response {
    let body = json!({"error_code": code, "error_msg": msg.into()});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    finish(status, body.to_string().into_bytes())
}

fn finish(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&hex::encode(rand::random::<[u8; 16]>())) {
        h.insert("x-request-id", v);
    }
    r
}

fn ok(body: Value) -> Response {
    finish(StatusCode::OK, body.to_string().into_bytes())
}

/// Which operation a method and path name, as the faults and call counts call it.
fn operation(method: &Method, version: &str, rest: &str) -> Option<&'static str> {
    Some(match (method.as_str(), version, rest) {
        ("GET", "v1", "thumbnail/details") => "thumbnail_details",
        ("GET", "v1", "thumbnails") => "list_tasks",
        ("DELETE", "v1", "thumbnails") => "delete_thumbnails",
        ("PUT", "v1.0", "cover") => "set_cover",
        ("GET", "v1.0", "details") => "show_asset",
        ("POST", "v1.0", "process") => "create_task",
        _ => return None,
    })
}

async fn route(
    State(sim): State<Arc<VodSimulator>>,
    Path((version, project, rest)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(op) = operation(&method, &version, rest.trim_end_matches('/')) else {
        return error(404, codes::NO_ROUTE, "API not found");
    };
    sim.faults.delay().await;
    let parts = auth::RequestParts::of(&method, &uri, &headers, &body, &project);
    let refused = {
        let cfg = sim.auth.read().unwrap_or_else(|p| p.into_inner());
        auth::check(&cfg, &parts).err()
    };
    if let Some(why) = refused {
        let (status, code) = match why {
            auth::Refusal::ProjectMismatch(_) => (403, codes::TENANT),
            auth::Refusal::Credentials(_) => (401, codes::SIGNATURE),
        };
        sim.faults.record_status(status);
        return error(status, code, why.message());
    }
    let answer = match sim.faults.admit(op) {
        Verdict::Proceed => {
            let answer = handle(&sim, op, &project, uri.query().unwrap_or(""), &body);
            // A committed write that goes unanswered, for restart tests (the same counters as
            // the Live simulator's create, update and delete).
            let write = match op {
                "create_task" => "create",
                "set_cover" => "update",
                "delete_thumbnails" => "delete",
                _ => "",
            };
            if answer.status().is_success() && sim.faults.take_hang_after(write) {
                return std::future::pending().await;
            }
            answer
        }
        Verdict::Throttle => error(
            429,
            codes::THROTTLED,
            "The throttling threshold has been reached: policy user over ratelimit,limit:100,time:1 second",
        ),
        Verdict::Fail { status, code } => error(status, &code, "injected failure"),
        Verdict::Hang => std::future::pending().await,
        Verdict::Reset => return crate::faults::reset_response(),
    };
    sim.faults.record_status(answer.status().as_u16());
    answer
}

fn illegal(field: &str) -> Response {
    error(
        400,
        codes::ILLEGAL,
        format!("The request parameter is illegal, illegal field: {field}."),
    )
}

fn not_found() -> Response {
    error(
        400,
        codes::NOT_FOUND,
        "Media asset or resource does not exist, please check.",
    )
}

/// An integer query parameter within `range`, or the default when absent; the parameter's
/// name when it is not.
fn int<'a>(
    query: &[(String, String)],
    name: &'a str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, &'a str> {
    match query.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(name),
    }
}

/// Every value of a parameter, whether repeated or comma-separated.
fn values(query: &[(String, String)], name: &str) -> Vec<String> {
    query
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(',').map(str::to_string))
        .filter(|v| !v.is_empty())
        .collect()
}

fn handle(sim: &VodSimulator, op: &str, project: &str, raw_query: &str, body: &[u8]) -> Response {
    let query = signer::parse_query(raw_query);
    let one = |name: &str| values(&query, name).into_iter().next();
    match op {
        "thumbnail_details" => {
            let Some(task) = one("task_id").filter(|t| t.len() <= 1024) else {
                return illegal("task_id");
            };
            let (offset, limit) = match (
                int(&query, "offset", 0, 0..=20480),
                int(&query, "limit", 20, 1..=100),
            ) {
                (Ok(o), Ok(l)) => (o, l),
                (Err(field), _) | (_, Err(field)) => return illegal(field),
            };
            let Some(task) = sim.store.find_task(project, &task) else {
                return not_found();
            };
            let all = sim.store.visible(&task);
            let page: Vec<_> = all
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            // The real service answers an empty page with null, not [] (seed 000).
            let items = if page.is_empty() {
                Value::Null
            } else {
                json!(page)
            };
            ok(json!({"total": all.len(), "thumbnail_result": items}))
        }
        "list_tasks" => {
            let Some(asset) = one("asset_id") else {
                return illegal("asset_id");
            };
            let (offset, limit) = match (
                int(&query, "offset", 0, 0..=20000),
                int(&query, "limit", 10, 1..=100),
            ) {
                (Ok(o), Ok(l)) => (o, l),
                (Err(field), _) | (_, Err(field)) => return illegal(field),
            };
            let Some(a) = sim.store.asset(project, &asset) else {
                return not_found();
            };
            let wanted = one("task_id");
            let tasks: Vec<Value> = a
                .tasks
                .iter()
                .filter(|t| wanted.as_ref().is_none_or(|w| w == &t.id))
                .map(|t| {
                    json!({"task_id": t.id, "thumbnail_para": t.params,
                           "thumbnail_count": sim.store.visible(t).len()})
                })
                .collect();
            let total = tasks.len();
            let page: Vec<Value> = tasks
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            ok(json!({"total": total, "thumbnails": page}))
        }
        "delete_thumbnails" => {
            let Some(asset) = one("asset_id") else {
                return illegal("asset_id");
            };
            let tasks = values(&query, "task_id");
            if tasks.is_empty() || tasks.len() > 10 {
                return illegal("task_id");
            }
            if sim.store.asset(project, &asset).is_none() {
                return not_found();
            }
            let results: Vec<Value> = sim
                .store
                .delete_tasks(project, &asset, &tasks)
                .into_iter()
                .map(|(t, gone)| {
                    json!({"asset_id": asset, "task_id": t,
                           "status": if gone { "DELETED" } else { "FAILED" }})
                })
                .collect();
            ok(json!({"delete_result_array": results}))
        }
        "set_cover" => {
            let url = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("thumbnailUrl")?.as_str().map(str::to_string))
                .filter(|u| !u.is_empty());
            let Some(url) = url else {
                return illegal("thumbnailUrl");
            };
            match sim.store.set_cover(project, &url) {
                Ok(()) => finish(StatusCode::NO_CONTENT, Vec::new()),
                Err(CoverError::Unknown) => not_found(),
                Err(CoverError::State) => error(
                    403,
                    codes::STATE,
                    "The current media asset state does not allow the update.",
                ),
            }
        }
        "show_asset" => {
            let Some(asset) = one("asset_id") else {
                return illegal("asset_id");
            };
            let Some(a) = sim.store.asset(project, &asset) else {
                return not_found();
            };
            // The asset's snapshot state is its newest task's, as VOD keeps one per asset.
            let (status, exec_desc) = match a.tasks.last() {
                None => ("UN_THUMBNAIL", None),
                Some(t) if !sim.store.done(t) => ("THUMBNAILING", None),
                Some(t) if t.fails.is_some() => ("THUMBNAIL_FAILED", t.fails.clone()),
                Some(_) => ("THUMBNAIL_SUCCEED", None),
            };
            let sample: Vec<_> = a.tasks.iter().flat_map(|t| sim.store.visible(t)).collect();
            let covers: Vec<Value> = a
                .cover_url
                .iter()
                .map(|u| json!({"cover_id": 0, "cover_url": u}))
                .collect();
            ok(json!({
                "asset_id": a.id,
                "base_info": {
                    "title": a.id,
                    "meta_data": {"duration": a.duration, "duration_ms": a.duration * 1000},
                    "cover_info_array": covers,
                },
                "thumbnail_info": {"thumbnail_status": status, "sample": sample, "exec_desc": exec_desc.unwrap_or_default()},
            }))
        }
        "create_task" => {
            let Ok(req) = serde_json::from_slice::<Value>(body) else {
                return illegal("body");
            };
            let Some(asset) = req["asset_id"].as_str().filter(|a| !a.is_empty()) else {
                return illegal("asset_id");
            };
            let Ok(params) = serde_json::from_value::<ThumbnailParams>(req["thumbnail"].clone())
            else {
                return illegal("thumbnail");
            };
            if let Err(field) = check_thumbnail(&params) {
                return illegal(field);
            }
            match sim.store.asset(project, asset) {
                None => not_found(),
                Some(a) if a.state != AssetState::Published => error(
                    403,
                    codes::NOT_PUBLISHED,
                    "The media asset is not downloaded successfully or not published.",
                ),
                Some(_) => match sim.store.start_task(project, asset, params) {
                    Some(id) => ok(json!({"asset_id": asset, "thumbnail_task_id": id})),
                    None => not_found(),
                },
            }
        }
        _ => error(404, codes::NO_ROUTE, "API not found"),
    }
}

/// The ranges of the `thumbnail` object (vod-api.md); the field named is the first offender.
pub fn check_thumbnail(p: &ThumbnailParams) -> Result<(), &'static str> {
    match p.kind.as_str() {
        "time" => {
            if p.time.is_some_and(|t| !(0..=100).contains(&t)) {
                return Err("thumbnail.time");
            }
        }
        "dots" => {
            if p.dots
                .as_ref()
                .is_none_or(|d| d.is_empty() || d.iter().any(|x| *x < 0))
            {
                return Err("thumbnail.dots");
            }
        }
        "quantity" => {
            if p.quantity.is_none_or(|q| !(1..=10).contains(&q)) {
                return Err("thumbnail.quantity");
            }
            if p.quantity_time.is_some_and(|t| t < 0) {
                return Err("thumbnail.quantity_time");
            }
        }
        _ => return Err("thumbnail.type"),
    }
    if p.format.is_some_and(|f| f != 1) {
        return Err("thumbnail.format");
    }
    if p.aspect_ratio.is_some_and(|a| !(0..=1).contains(&a)) {
        return Err("thumbnail.aspect_ratio");
    }
    Ok(())
}
