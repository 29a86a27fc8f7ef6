//! `live-api-sim`: run the Live snapshot-template API simulator locally.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use lso_sim::{AuthConfig, FaultSettings, KeyPair, Simulator, Store, serve};

/// A local stand-in for Huawei Cloud Live's snapshot-template API
/// (`/v1/{project_id}/stream/snapshot`: GET list, POST create, PUT update, DELETE delete).
///
/// Requests must be signed with SDK-HMAC-SHA256 by one of the --key pairs (the signature is
/// rebuilt from the SignedHeaders the caller sent; x-sdk-date must be signed and within 15
/// minutes), or carry one of the --token values in X-Auth-Token. Wrong credentials get
/// 401 APIG.0301.
///
/// Paging: `offset` is a 0-based PAGE NUMBER (not a record offset), `limit` is 1-100
/// (default 10); answers carry `total`.
///
/// Admin endpoints (no auth, bind to loopback): GET /admin/stats (calls per operation, answers
/// per status, 429 count), POST /admin/stats/reset, GET and PUT /admin/faults (JSON with the
/// same names as the fault flags below, e.g. {"qps_cap":100,"latency_ms":20,"fail_next":3}).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", env = "LIVE_SIM_LISTEN")]
    listen: SocketAddr,
    /// An accepted access key pair, as ACCESS_KEY:SECRET_KEY. Repeatable.
    #[arg(
        long = "key",
        env = "LIVE_SIM_KEYS",
        value_delimiter = ',',
        default_value = "SIMACCESSKEY0000:simSecretKey0123456789abcdefghijklmn"
    )]
    keys: Vec<KeyPair>,
    /// An accepted IAM token for X-Auth-Token. Repeatable.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Keep templates in this JSON file, loaded at start and rewritten after every change.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Probability (0..1) that a call answers 500, as OPERATION=RATE (list, create, update,
    /// delete). Repeatable.
    #[arg(long = "error-rate", value_parser = parse_rate)]
    error_rates: Vec<(String, f64)>,
    /// Milliseconds added to every call.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Calls per second above which answers are 429 APIG.0308 with Retry-After; 0 = no cap.
    #[arg(long, default_value_t = 0)]
    qps_cap: u32,
    /// Answer the next N calls with 500.
    #[arg(long, default_value_t = 0)]
    fail_next: u32,
    /// Log format for the one line per call: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
}

fn parse_rate(s: &str) -> Result<(String, f64), String> {
    let (op, rate) = s.split_once('=').ok_or("expected OPERATION=RATE")?;
    if !["list", "create", "update", "delete"].contains(&op) {
        return Err(format!("unknown operation {op:?}"));
    }
    let rate: f64 = rate.parse().map_err(|e| format!("rate: {e}"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err("rate must be within 0..1".into());
    }
    Ok((op.to_string(), rate))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    live_snapshot_operator::telemetry::init(&args.log_format, "info", None)?;
    let store = match &args.state_file {
        Some(p) => Store::with_file(p.clone())?,
        None => Store::in_memory(),
    };
    let faults = FaultSettings {
        error_rate: args.error_rates.iter().cloned().collect::<BTreeMap<_, _>>(),
        latency_ms: args.latency_ms,
        qps_cap: args.qps_cap,
        fail_next: args.fail_next,
        ..Default::default()
    };
    let sim = Simulator::new(
        store,
        AuthConfig::new(args.keys.clone(), args.tokens.clone()),
        faults,
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(
        "live-api-sim listening on http://{} ({} templates, {} access keys)",
        listener.local_addr()?,
        sim.store.len(),
        args.keys.len()
    );
    serve(listener, sim, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
