//! The read path `plan` and `import` share with the operator: the same client, rate limiter
//! and coalesced domain listing.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::CloudArgs;
use crate::clouds::alibaba::gateway::RpcGateway;
use crate::clouds::alibaba::mps::MpsClient;
use crate::clouds::huawei::coalesce::Coalescing;
use crate::clouds::huawei::gateway::Gateway;
use crate::clouds::huawei::vod::VodClient;
use crate::clouds::huawei::{ApiError, Auth, ClientConfig, Credentials, LiveClient, SnapshotApi};
use crate::clouds::limiter::RateLimiter;

/// A listing serves every object of its domain for the whole run: a plan is one snapshot.
const LISTING_LIFETIME: Duration = Duration::from_secs(3600);

pub fn connect(args: &CloudArgs) -> Result<(Arc<LiveClient>, Arc<dyn SnapshotApi>), ApiError> {
    let endpoint = match (&args.endpoint, &args.region) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) if crate::clouds::huawei::endpoint::valid_region(r) => {
            crate::clouds::huawei::endpoint::for_region(r)
        }
        (None, Some(r)) => {
            return Err(ApiError::Config(format!(
                "--region {r:?} is not a region name"
            )));
        }
        (None, None) => return Err(ApiError::Config("give --endpoint or --region".into())),
    };
    let client = LiveClient::new(config(args, endpoint, args.project_id.clone()))?;
    let client = if args.upstream_qps > 0.0 {
        client.with_limiter(Arc::new(RateLimiter::new(args.upstream_qps, 1)))
    } else {
        client
    };
    let client = Arc::new(client);
    let coalesced: Arc<dyn SnapshotApi> =
        Arc::new(Coalescing::new(client.clone(), LISTING_LIFETIME));
    Ok((client, coalesced))
}

/// A VOD client for `import --asset`, with the same credentials and rate limit.
pub fn vod(args: &CloudArgs, endpoint: Option<&str>) -> Result<VodClient, ApiError> {
    let endpoint = match (endpoint, &args.region) {
        (Some(e), _) => e.to_string(),
        (None, Some(r)) if crate::clouds::huawei::endpoint::valid_region(r) => {
            format!("https://vod.{r}.myhuaweicloud.com")
        }
        _ => return Err(ApiError::Config("give --vod-endpoint or --region".into())),
    };
    let gateway = Gateway::new(config(args, endpoint, args.project_id.clone()))?
        .with_limiter(Arc::new(RateLimiter::new(args.upstream_qps.max(0.1), 1)));
    Ok(VodClient::new(gateway))
}

/// An MPS client for `import --pipeline`: the same access key flags, Alibaba Cloud's.
pub fn mps(args: &CloudArgs, region: &str, endpoint: Option<&str>) -> Result<MpsClient, ApiError> {
    if !crate::clouds::huawei::endpoint::valid_region(region) {
        return Err(ApiError::Config(format!(
            "--mps-region {region:?} is not a region name"
        )));
    }
    let endpoint = endpoint
        .map(str::to_string)
        .unwrap_or_else(|| crate::clouds::alibaba::mps_endpoint(region));
    let gateway = RpcGateway::new(config(args, endpoint, region.to_string()))?
        .with_limiter(Arc::new(RateLimiter::new(args.upstream_qps.max(0.1), 1)));
    Ok(MpsClient::new(gateway))
}

fn config(args: &CloudArgs, endpoint: String, project_id: String) -> ClientConfig {
    ClientConfig {
        endpoint,
        project_id,
        auth: Auth::AkSk(Credentials {
            access_key: args.access_key.clone(),
            secret_key: args.secret_key.clone(),
            security_token: None,
        }),
        timeout: Duration::from_secs(args.upstream_timeout_seconds.max(1)),
        allow_insecure_http: args.allow_insecure_http,
    }
}
