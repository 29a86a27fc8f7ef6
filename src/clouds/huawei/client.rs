//! HTTP client for the snapshot-template API, signing with AK/SK or sending an IAM token.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;

use super::api::{CallObserver, SnapshotApi};
use super::error::{ApiError, Operation};
use super::gateway::Gateway;
use super::model::{ListResponse, LiveSnapshotConfig};
use crate::clouds::limiter::RateLimiter;

/// The largest page the API serves.
pub const PAGE_LIMIT: u32 = 100;
/// Pages one listing may take (50,000 templates): a service whose `total` keeps growing cannot
/// keep a reconcile listing forever.
pub const MAX_PAGES: u32 = 500;
/// The largest answer read (a listing page of 100 templates is a few tens of KiB).
pub use crate::clouds::http::MAX_BODY_BYTES;

pub use crate::clouds::config::{Auth, ClientConfig, Credentials};

pub struct LiveClient {
    gw: Gateway,
}

impl std::fmt::Debug for LiveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveClient")
            .field("gateway", &self.gw)
            .finish()
    }
}

impl LiveClient {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        Ok(Self {
            gw: Gateway::new(config)?,
        })
    }

    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.gw = self.gw.with_observer(observer);
        self
    }

    /// Every call first takes a token from `limiter`.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.gw = self.gw.with_limiter(limiter);
        self
    }

    /// Every write is checked against `fence` right before it leaves.
    pub fn with_fence(mut self, fence: Option<Arc<dyn crate::clouds::http::WriteFence>>) -> Self {
        self.gw = self.gw.with_fence(fence);
        self
    }

    async fn call(
        &self,
        operation: Operation,
        method: Method,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let path = self.gw.path("v1", "stream/snapshot");
        self.gw.call(operation, method, &path, query, body).await
    }

    /// One page of a list call; `offset` is the page index.
    pub async fn list_page(
        &self,
        domain: &str,
        app_name: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse, ApiError> {
        let page = self.raw_page(domain, app_name, limit, offset).await?;
        Ok(ListResponse {
            total: page.total,
            offset: offset as i64,
            limit: limit as i64,
            snapshot_config_list: page
                .items
                .into_iter()
                .filter_map(|i| serde_json::from_value(i).ok())
                .collect(),
        })
    }

    async fn raw_page(
        &self,
        domain: &str,
        app_name: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<RawPage, ApiError> {
        let mut query = vec![("domain".to_string(), domain.to_string())];
        if let Some(app) = app_name {
            query.push(("app_name".into(), app.to_string()));
        }
        query.push(("limit".into(), limit.to_string()));
        query.push(("offset".into(), offset.to_string()));
        let bytes = self
            .call(Operation::List, Method::GET, &query, None)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
            operation: Operation::List,
            detail: e.to_string(),
        })
    }

    /// Every template of a domain (optionally one app), page by page until `total` is reached or
    /// a page brings nothing new; never more pages than `total` allows, whatever the service says.
    /// An item that does not parse is set aside in `unreadable` rather than failing the whole
    /// listing: it must not take down every other template of the domain.
    pub async fn list(&self, domain: &str, app_name: Option<&str>) -> Result<Listing, ApiError> {
        let mut seen = HashSet::new();
        let mut out = Listing::default();
        let mut page = 0u32;
        let mut max_pages = u32::MAX;
        // Whether every page agreed on `total`, no item came twice, and the items add up to it:
        // only such a listing proves that a template is absent.
        let mut consistent = true;
        let mut first_total = None;
        let mut total = 0u64;
        while page < max_pages {
            if page >= MAX_PAGES {
                return Err(ApiError::Decode {
                    operation: Operation::List,
                    detail: format!("listing of {domain} did not end within {MAX_PAGES} pages"),
                });
            }
            let resp = self.raw_page(domain, app_name, PAGE_LIMIT, page).await?;
            total = resp.total.max(0) as u64;
            consistent &= *first_total.get_or_insert(total) == total;
            max_pages = max_pages.min(
                total
                    .div_ceil(PAGE_LIMIT as u64)
                    .max(1)
                    .min(u32::MAX as u64) as u32,
            );
            let before = seen.len();
            for item in resp.items {
                let id = identity(&item);
                if !seen.insert(id.clone()) {
                    consistent = false;
                    continue;
                }
                match serde_json::from_value::<LiveSnapshotConfig>(item) {
                    Ok(c) => out.items.push(c),
                    Err(e) => out.unreadable.push((id.0, id.1, e.to_string())),
                }
            }
            // An empty page, or one holding nothing new (a server repeating itself), ends it.
            if seen.len() == before || seen.len() as u64 >= total {
                break;
            }
            page += 1;
        }
        out.complete = consistent && out.unreadable.is_empty() && seen.len() as u64 == total;
        Ok(out)
    }

    /// The readable templates of [`LiveClient::list`].
    pub async fn list_all(
        &self,
        domain: &str,
        app_name: Option<&str>,
    ) -> Result<Vec<LiveSnapshotConfig>, ApiError> {
        Ok(self.list(domain, app_name).await?.items)
    }

    fn encode(config: &LiveSnapshotConfig, operation: Operation) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(config).map_err(|e| ApiError::Decode {
            operation,
            detail: e.to_string(),
        })
    }
}

/// A list page as it arrives: items are parsed one by one so that one bad item stays one.
#[derive(serde::Deserialize)]
struct RawPage {
    #[serde(default)]
    total: i64,
    #[serde(default, rename = "snapshot_config_list")]
    items: Vec<serde_json::Value>,
}

/// What a listing found.
#[derive(Debug, Default)]
pub struct Listing {
    pub items: Vec<LiveSnapshotConfig>,
    /// (domain, app_name, why) of items the service sent that do not parse.
    pub unreadable: Vec<(String, String, String)>,
    /// The pages agreed on `total`, no item came twice, every item parsed, and they add up to
    /// `total`: absence from such a listing is as good as a targeted read's.
    pub complete: bool,
}

/// The (domain, app_name) of a raw item, as far as it says.
fn identity(item: &serde_json::Value) -> (String, String) {
    let field = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    (field("domain"), field("app_name"))
}

#[async_trait]
impl SnapshotApi for LiveClient {
    fn project_id(&self) -> &str {
        self.gw.project_id()
    }

    async fn observe(
        &self,
        domain: &str,
        app_name: &str,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        let found = self.list(domain, Some(app_name)).await?;
        if let Some((_, _, why)) = found
            .unreadable
            .iter()
            .find(|(d, a, _)| d == domain && a == app_name)
        {
            return Err(ApiError::Decode {
                operation: Operation::List,
                detail: format!(
                    "the service sent template {domain}/{app_name} in a form that does not parse: {why}"
                ),
            });
        }
        Ok(found
            .items
            .into_iter()
            .find(|c| c.domain == domain && c.app_name == app_name))
    }

    async fn list_domain(&self, domain: &str) -> Result<Vec<LiveSnapshotConfig>, ApiError> {
        self.list_all(domain, None).await
    }

    async fn list_domain_checked(
        &self,
        domain: &str,
    ) -> Result<(Vec<LiveSnapshotConfig>, bool), ApiError> {
        let listing = self.list(domain, None).await?;
        Ok((listing.items, listing.complete))
    }

    async fn create(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError> {
        let body = Self::encode(config, Operation::Create)?;
        self.call(Operation::Create, Method::POST, &[], Some(body))
            .await
            .map(drop)
    }

    async fn update(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError> {
        let body = Self::encode(config, Operation::Update)?;
        self.call(Operation::Update, Method::PUT, &[], Some(body))
            .await
            .map(drop)
    }

    async fn delete(&self, domain: &str, app_name: &str) -> Result<(), ApiError> {
        let query = vec![
            ("domain".to_string(), domain.to_string()),
            ("app_name".to_string(), app_name.to_string()),
        ];
        self.call(Operation::Delete, Method::DELETE, &query, None)
            .await
            .map(drop)
    }
}
