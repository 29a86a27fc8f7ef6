//! The MPS simulator's HTTP face: `/` with the action in `x-acs-action` (v3) or `Action` (v1),
//! parameters in the query (or a form body), the gateway's checks, per-AccessKey rate limits of
//! 50 submits and 100 queries a second, the fault injection and call counts of the other
//! simulators, and the API's JSON answers and error bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use live_snapshot_operator::clouds::alibaba::codes;
use serde_json::{Value, json};

use super::auth::{self, Nonces};
use super::store::{Cursor, MpsStore, number};
use crate::faults::{FaultSettings, Faults, Verdict};

pub const HOST_ID: &str = "mts.sim.aliyuncs.com";
/// Per-AccessKey calls per second (mps-api.md).
const SUBMIT_QPS: u32 = 50;
const QUERY_QPS: u32 = 100;

pub struct MpsSimulator {
    pub store: MpsStore,
    keys: HashMap<String, String>,
    nonces: Nonces,
    /// Calls in the current second, by (AccessKey, action).
    rates: Mutex<HashMap<(String, String), (Instant, u32)>>,
    pub faults: Faults,
}

impl MpsSimulator {
    pub fn new(keys: Vec<crate::KeyPair>, faults: FaultSettings) -> Arc<Self> {
        Arc::new(Self {
            store: MpsStore::default(),
            keys: keys
                .into_iter()
                .map(|k| (k.access_key, k.secret_key))
                .collect(),
            nonces: Nonces::default(),
            rates: Mutex::default(),
            faults: Faults::new(faults),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", any(route))
            .route("/admin/stats", get(stats))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    /// Whether this call stays within the AccessKey's rate for the action.
    fn within_rate(&self, access_key: &str, action: &str) -> bool {
        let limit = if action == "SubmitSnapshotJob" {
            SUBMIT_QPS
        } else {
            QUERY_QPS
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let (start, n) = rates
            .entry((access_key.into(), action.into()))
            .or_insert((Instant::now(), 0));
        if start.elapsed().as_secs_f64() >= 1.0 {
            *start = Instant::now();
            *n = 0;
        }
        *n += 1;
        *n <= limit
    }
}

/// Starts an MPS simulator in this process on `addr`; returns it and its endpoint URL.
pub async fn spawn_local(
    addr: &str,
    keys: Vec<crate::KeyPair>,
    faults: FaultSettings,
) -> std::io::Result<(Arc<MpsSimulator>, String)> {
    let sim = MpsSimulator::new(keys, faults);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((sim, endpoint))
}

async fn stats(State(sim): State<Arc<MpsSimulator>>) -> axum::Json<crate::faults::Stats> {
    axum::Json(sim.faults.stats())
}

fn request_id() -> String {
    let h = hex::encode(rand::random::<[u8; 16]>()).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "RequestId": request_id(),
        "HostId": HOST_ID,
        "Code": code,
        "Message": message.into(),
        "Recommend": format!("https://error-center.aliyun.com/status/search?Keyword={code}"),
    });
    answer(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

fn ok(mut body: Value) -> Response {
    body["RequestId"] = request_id().into();
    answer(StatusCode::OK, body)
}

fn invalid(message: impl Into<String>) -> Response {
    error(400, codes::INVALID_PARAMETER, message)
}

/// Which operation an action is, as faults and call counts name it.
fn operation(action: &str) -> Option<&'static str> {
    match action {
        "SubmitSnapshotJob" => Some("submit_snapshot_job"),
        "QuerySnapshotJobList" => Some("query_snapshot_jobs"),
        _ => None,
    }
}

async fn route(
    State(sim): State<Arc<MpsSimulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.faults.delay().await;
    // The query decoded (`+` is a space), then a form body's parameters.
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let req = auth::Request {
        method: method.as_str(),
        path: uri.path(),
        headers: &headers,
        params: &params,
        body: if form { &[] } else { &body },
    };
    let caller = match auth::check(&sim.keys, &sim.nonces, &req) {
        Ok(c) => c,
        Err(r) => {
            sim.faults.record_status(r.status);
            return error(r.status, r.code, r.message);
        }
    };
    let Some(op) = operation(&caller.action) else {
        return error(
            404,
            codes::API_NOT_FOUND,
            "Specified api is not found,please check your url and method.",
        );
    };
    // Business parameters only: the v1 signing parameters are not the action's.
    const SIGNING: [&str; 8] = [
        "Action",
        "Format",
        "Version",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "AccessKeyId",
    ];
    let business: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| k != "Signature" && !SIGNING.contains(&k.as_str()))
        .collect();
    if !sim.within_rate(&caller.access_key, &caller.action) {
        sim.faults.record_status(400);
        let mut r = error(
            400,
            codes::THROTTLING_USER,
            "Request was denied due to user flow control.",
        );
        r.headers_mut()
            .insert("x-acs-retry-after", HeaderValue::from_static("1"));
        return r;
    }
    let response = match sim.faults.admit(op) {
        Verdict::Proceed => {
            let r = match op {
                "submit_snapshot_job" => submit(&sim, &business),
                _ => query(&sim, &business),
            };
            // A committed submit that goes unanswered, for restart tests.
            if op == "submit_snapshot_job"
                && r.status().is_success()
                && sim.faults.take_hang_after("create")
            {
                return std::future::pending().await;
            }
            r
        }
        Verdict::Throttle => error(
            400,
            codes::THROTTLING_USER,
            "Request was denied due to user flow control.",
        ),
        Verdict::Fail { status, code } => error(status, &code, "injected failure"),
        Verdict::Hang => std::future::pending().await,
        Verdict::Reset => return crate::faults::reset_response(),
    };
    sim.faults.record_status(response.status().as_u16());
    response
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A parameter refused: the error answer to send (kept small until it is sent).
struct Bad {
    code: &'static str,
    message: String,
}

impl Bad {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMETER, message)
    }

    fn response(self) -> Response {
        error(400, self.code, self.message)
    }
}

/// A JSON object parameter.
fn object(params: &[(String, String)], name: &str) -> Result<Value, Bad> {
    let raw = param(params, name).ok_or_else(|| {
        Bad::new(
            codes::MISSING_PARAMETER,
            format!("{name} is mandatory for this action."),
        )
    })?;
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Bad::invalid(format!(
            "The parameter {name} is not a JSON object."
        ))),
    }
}

fn oss_file(v: &Value, name: &str) -> Result<(), Bad> {
    for key in ["Bucket", "Location", "Object"] {
        if v[key].as_str().is_none_or(str::is_empty) {
            return Err(Bad::invalid(format!(
                "The parameter {name}.{key} is missing."
            )));
        }
    }
    Ok(())
}

fn submit(sim: &MpsSimulator, params: &[(String, String)]) -> Response {
    let checked = (|| {
        let input = object(params, "Input")?;
        oss_file(&input, "Input")?;
        let config = object(params, "SnapshotConfig")?;
        let output = config.get("OutputFile").ok_or_else(|| {
            Bad::new(
                codes::MISSING_PARAMETER,
                "SnapshotConfig.OutputFile is mandatory for this action.",
            )
        })?;
        oss_file(output, "SnapshotConfig.OutputFile")?;
        if let Some(points) = config.get("TimeArray") {
            if ["Num", "Time", "Interval"]
                .iter()
                .any(|k| config.get(*k).is_some())
            {
                return Err(Bad::new(
                    codes::AMBIGUITY,
                    "TimeArray cannot be combined with Num, Time or Interval.",
                ));
            }
            let n = points["TimePointList"].as_array().map_or(0, Vec::len);
            if !(1..=100).contains(&n) {
                return Err(Bad::invalid(
                    "TimeArray.TimePointList takes 1 to 100 points.",
                ));
            }
        }
        if config
            .get("Interval")
            .is_some_and(|i| number(i).is_none_or(|i| i <= 0))
        {
            return Err(Bad::invalid(
                "SnapshotConfig.Interval must be greater than 0.",
            ));
        }
        if config
            .get("Num")
            .is_some_and(|n| number(n).is_none_or(|n| n <= 0))
        {
            return Err(Bad::invalid("SnapshotConfig.Num must be greater than 0."));
        }
        if let Some(f) = config.get("FrameType")
            && !f
                .as_str()
                .is_some_and(|f| ["normal", "intra"].contains(&f.to_ascii_lowercase().as_str()))
        {
            return Err(Bad::invalid(
                "SnapshotConfig.FrameType must be normal or intra.",
            ));
        }
        for key in ["Width", "Height", "Time"] {
            if config
                .get(key)
                .is_some_and(|v| number(v).is_none_or(|n| n < 0))
            {
                return Err(Bad::invalid(format!(
                    "SnapshotConfig.{key} must be a non-negative integer."
                )));
            }
        }
        if let Some(points) = config["TimeArray"]["TimePointList"].as_array()
            && points.iter().any(|p| p.as_f64().is_none_or(|t| t < 0.0))
        {
            return Err(Bad::invalid(
                "TimeArray.TimePointList takes numbers of milliseconds.",
            ));
        }
        if let Some(tile) = config.get("TileOut") {
            for key in [
                "Lines",
                "Columns",
                "CellWidth",
                "CellHeight",
                "CellSelStep",
                "Margin",
                "Padding",
            ] {
                if tile
                    .get(key)
                    .is_some_and(|v| number(v).is_none_or(|n| n < 0))
                {
                    return Err(Bad::invalid(format!(
                        "SnapshotConfig.TileOut.{key} must be a non-negative integer."
                    )));
                }
            }
            let output = config.get("TileOutputFile").ok_or_else(|| {
                Bad::new(
                    codes::MISSING_PARAMETER,
                    "SnapshotConfig.TileOutputFile is mandatory with TileOut.",
                )
            })?;
            oss_file(output, "SnapshotConfig.TileOutputFile")?;
        }
        let user_data = param(params, "UserData").unwrap_or("");
        if user_data.len() > 1024 {
            return Err(Bad::invalid("UserData is longer than 1024 bytes."));
        }
        // Letters, digits and hyphens, not starting with a special character (the reference).
        if !user_data
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
            || user_data.starts_with('-')
        {
            return Err(Bad::invalid(
                "UserData takes letters, digits and hyphens, and must not start with a hyphen.",
            ));
        }
        if sim.store.timeout_answer() == super::store::TimeoutAnswer::SubmitError
            && sim.store.times_out(&input, &config)
        {
            return Err(Bad::new(
                codes::SNAPSHOT_TIMEOUT,
                "The snapshot took longer than 5 seconds.",
            ));
        }
        Ok((input, config))
    })();
    let (input, config) = match checked {
        Ok(v) => v,
        Err(bad) => return bad.response(),
    };
    let job = sim.store.submit(
        input,
        config,
        param(params, "PipelineId").unwrap_or(""),
        param(params, "UserData").unwrap_or(""),
    );
    ok(json!({"SnapshotJob": sim.store.view(&job)}))
}

fn time(params: &[(String, String)], name: &str) -> Result<Option<jiff::Timestamp>, Bad> {
    match param(params, name) {
        None => Ok(None),
        Some(t) => utc(t)
            .map(Some)
            .ok_or_else(|| Bad::invalid(format!("{name} must be YYYY-MM-DDThh:mm:ssZ."))),
    }
}

/// `YYYY-MM-DDThh:mm:ssZ` exactly, as a UTC instant.
pub fn utc(t: &str) -> Option<jiff::Timestamp> {
    jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%SZ", t)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn query(sim: &MpsSimulator, params: &[(String, String)]) -> Response {
    if let Some(ids) = param(params, "SnapshotJobIds") {
        // Whether ids combine with filters is not documented (mps-api.md); the simulator
        // refuses the combination rather than let one silently win.
        if let Some((name, _)) = params.iter().find(|(k, v)| {
            !v.is_empty()
                && [
                    "PipelineId",
                    "State",
                    "StartOfJobCreatedTimeRange",
                    "EndOfJobCreatedTimeRange",
                    "NextPageToken",
                    "MaximumPageSize",
                ]
                .contains(&k.as_str())
        }) {
            return invalid(format!(
                "SnapshotJobIds cannot be combined with {name} (unconfirmed: the simulator refuses it)."
            ));
        }
        let ids: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .collect();
        if ids.len() > 10 {
            return invalid("SnapshotJobIds takes at most 10 ids.");
        }
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match sim.store.find(id) {
                Some(j) => found.push(sim.store.view(&j)),
                None => missing.push(id.to_string()),
            }
        }
        let mut body = json!({"SnapshotJobList": {"SnapshotJob": found}});
        if !missing.is_empty() {
            body["NonExistSnapshotJobIds"] = json!({"String": missing});
        }
        return ok(body);
    }
    let size = match param(params, "MaximumPageSize") {
        None => 30,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=300).contains(&n) => n,
            _ => return invalid("MaximumPageSize must be an integer from 1 to 300."),
        },
    };
    let state = param(params, "State");
    if state.is_some_and(|s| !["Submitted", "Snapshoting", "Success", "Fail"].contains(&s)) {
        return invalid("State must be Submitted, Snapshoting, Success or Fail.");
    }
    let (from, to) = match (
        time(params, "StartOfJobCreatedTimeRange"),
        time(params, "EndOfJobCreatedTimeRange"),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(bad), _) | (_, Err(bad)) => return bad.response(),
    };
    let pipeline = param(params, "PipelineId");
    // A token is valid only with the filters it was issued for.
    let filter = format!("{pipeline:?}|{state:?}|{from:?}|{to:?}");
    let offset = match param(params, "NextPageToken") {
        None => 0,
        Some(t) => match sim.store.take_token(t) {
            Some(c) if c.filter == filter => c.offset,
            _ => return invalid("The NextPageToken is not valid."),
        },
    };
    let (jobs, total) = sim.store.page(pipeline, state, from, to, offset, size);
    let page: Vec<Value> = jobs.iter().map(|j| sim.store.view(j)).collect();
    let mut body = json!({"SnapshotJobList": {"SnapshotJob": page}});
    let next = offset + size;
    if next < total {
        body["NextPageToken"] = sim
            .store
            .issue_token(Cursor {
                filter,
                offset: next,
            })
            .into();
    }
    ok(body)
}
