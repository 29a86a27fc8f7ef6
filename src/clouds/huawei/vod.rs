//! Huawei Cloud VOD, the calls a snapshot-and-cover resource needs: an asset's details and
//! cover, its snapshot tasks, a task's results (all pages), starting a task, setting the cover
//! from a snapshot, and deleting a task's snapshots. Wire format and paging per vod-api.md.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Operation};
use super::gateway::Gateway;
use crate::clouds::http::decode;

/// VOD error codes the operator acts on (vod-api.md, "Errors").
pub use super::vod_codes as codes;

/// Records per ListThumbnailDetails page (the API's maximum).
pub const DETAILS_PAGE: usize = 100;
/// The largest `offset` ListThumbnailDetails takes (0-20480): a task's results past
/// 20,480 + one page cannot be listed.
pub const MAX_DETAILS_OFFSET: usize = 20_480;
/// Pages one task's results may take within that range.
const MAX_DETAIL_PAGES: usize = MAX_DETAILS_OFFSET / DETAILS_PAGE + 2;

/// A task's results as far as the API lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    pub snapshots: Vec<Snapshot>,
    /// How many the task made (`total`): more than `snapshots` when they run past the offset
    /// range the API pages.
    pub total: i64,
}

/// The `thumbnail` object of CreateAssetProcessTask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThumbnailPara {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dots: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<i64>,
}

/// One snapshot: seconds into the video, and where the JPG is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub url: String,
}

/// One snapshot task of an asset, as ListThumbnailInfo shows it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ThumbnailTask {
    pub task_id: String,
    #[serde(default)]
    pub thumbnail_para: Option<ThumbnailPara>,
    #[serde(default)]
    pub thumbnail_count: Option<i64>,
}

/// What ShowAssetDetail says about the cover and the snapshot state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AssetDetail {
    pub asset_id: String,
    /// `base_info.cover_info_array[0].cover_url`, the cover now.
    pub cover_url: Option<String>,
    /// `thumbnail_info.thumbnail_status`.
    pub thumbnail_status: Option<String>,
    /// `thumbnail_info.exec_desc`: what went wrong, when a task failed.
    pub exec_desc: Option<String>,
    pub duration: Option<i64>,
}

#[derive(Deserialize)]
struct RawDetail {
    #[serde(default)]
    asset_id: String,
    #[serde(default)]
    base_info: Option<RawBase>,
    #[serde(default)]
    thumbnail_info: Option<RawThumbInfo>,
}

#[derive(Deserialize)]
struct RawBase {
    #[serde(default)]
    cover_info_array: Option<Vec<RawCover>>,
    #[serde(default)]
    meta_data: Option<RawMeta>,
}

#[derive(Deserialize)]
struct RawCover {
    #[serde(default)]
    cover_url: Option<String>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    duration: Option<i64>,
}

#[derive(Deserialize)]
struct RawThumbInfo {
    #[serde(default)]
    thumbnail_status: Option<String>,
    #[serde(default)]
    exec_desc: Option<String>,
}

#[derive(Deserialize)]
struct DetailsPage {
    #[serde(default)]
    total: i64,
    /// `null` on an empty page (seed 000); absent and `[]` are read the same way.
    #[serde(default)]
    thumbnail_result: Option<Vec<Snapshot>>,
}

#[derive(Deserialize)]
struct TasksPage {
    #[serde(default)]
    total: i64,
    #[serde(default)]
    thumbnails: Option<Vec<ThumbnailTask>>,
}

#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    thumbnail_task_id: Option<String>,
}

#[derive(Deserialize)]
struct DeleteResults {
    #[serde(default)]
    delete_result_array: Option<Vec<DeleteResult>>,
}

/// The outcome for one task of a DeleteThumbnails call.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DeleteResult {
    #[serde(default)]
    pub task_id: String,
    /// `DELETED`, `FAILED` or `UNKNOW` (spelled so).
    #[serde(default)]
    pub status: String,
}

pub struct VodClient {
    gw: Gateway,
}

impl std::fmt::Debug for VodClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VodClient")
            .field("gateway", &self.gw)
            .finish()
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl VodClient {
    /// A client over `gateway` (built with its limiter and observer, as the caller wants).
    pub fn new(gateway: Gateway) -> Self {
        Self { gw: gateway }
    }

    pub fn project_id(&self) -> &str {
        self.gw.project_id()
    }

    /// The asset's cover and snapshot state; `None` when the asset does not exist (VOD.10062).
    pub async fn show_asset(&self, asset_id: &str) -> Result<Option<AssetDetail>, ApiError> {
        let path = self.gw.path("v1.0", "asset/details");
        let query = pairs(&[
            ("asset_id", asset_id),
            ("categories", "base_info"),
            ("categories", "thumbnail_info"),
        ]);
        let bytes = match self
            .gw
            .call(Operation::ShowAsset, Method::GET, &path, &query, None)
            .await
        {
            Ok(b) => b,
            Err(e) if e.code() == codes::NOT_FOUND => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: RawDetail = decode(Operation::ShowAsset, &bytes)?;
        let base = raw.base_info;
        Ok(Some(AssetDetail {
            asset_id: raw.asset_id,
            cover_url: base
                .as_ref()
                .and_then(|b| b.cover_info_array.as_ref())
                .and_then(|c| c.first())
                .and_then(|c| c.cover_url.clone()),
            thumbnail_status: raw
                .thumbnail_info
                .as_ref()
                .and_then(|t| t.thumbnail_status.clone()),
            exec_desc: raw
                .thumbnail_info
                .and_then(|t| t.exec_desc)
                .filter(|d| !d.is_empty()),
            duration: base.and_then(|b| b.meta_data).and_then(|m| m.duration),
        }))
    }

    /// Every snapshot task of an asset (all pages).
    pub async fn list_tasks(&self, asset_id: &str) -> Result<Vec<ThumbnailTask>, ApiError> {
        let path = self.gw.path("v1", "asset/thumbnails");
        let mut out: Vec<ThumbnailTask> = Vec::new();
        loop {
            let offset = out.len().to_string();
            let query = pairs(&[
                ("asset_id", asset_id),
                ("offset", &offset),
                ("limit", "100"),
            ]);
            let bytes = self
                .gw
                .call(Operation::ListTasks, Method::GET, &path, &query, None)
                .await?;
            let page: TasksPage = decode(Operation::ListTasks, &bytes)?;
            let items = page.thumbnails.unwrap_or_default();
            let got = items.len();
            out.extend(items);
            if got < 100 || out.len() as i64 >= page.total || out.len() > 20_000 {
                return Ok(out);
            }
        }
    }

    /// Every snapshot of a task the API lists, page by page: the offset advances by the
    /// records received, and the listing ends at `total`, a short page, an empty (`null`) one,
    /// or the end of the offset range (never asking past it, which the API refuses).
    pub async fn thumbnail_details(&self, task_id: &str) -> Result<Details, ApiError> {
        let path = self.gw.path("v1", "asset/thumbnail/details");
        let mut out: Vec<Snapshot> = Vec::new();
        let mut total = 0;
        for _ in 0..MAX_DETAIL_PAGES {
            // The last page starts at the largest offset the API takes and overlaps the one
            // before: its first records are already here.
            let at = out.len().min(MAX_DETAILS_OFFSET);
            let overlap = out.len() - at;
            if overlap >= DETAILS_PAGE {
                break;
            }
            let offset = at.to_string();
            let limit = DETAILS_PAGE.to_string();
            let query = pairs(&[("task_id", task_id), ("offset", &offset), ("limit", &limit)]);
            let bytes = self
                .gw
                .call(
                    Operation::ThumbnailDetails,
                    Method::GET,
                    &path,
                    &query,
                    None,
                )
                .await?;
            let page: DetailsPage = decode(Operation::ThumbnailDetails, &bytes)?;
            let items = page.thumbnail_result.unwrap_or_default();
            let got = items.len();
            out.extend(items.into_iter().skip(overlap));
            total = page.total;
            if got < DETAILS_PAGE || out.len() as i64 >= page.total {
                break;
            }
        }
        Ok(Details {
            total: total.max(out.len() as i64),
            snapshots: out,
        })
    }

    /// Starts a snapshot task; the task id the service returns.
    pub async fn create_task(
        &self,
        asset_id: &str,
        thumbnail: &ThumbnailPara,
    ) -> Result<String, ApiError> {
        let path = self.gw.path("v1.0", "asset/process");
        let body =
            serde_json::to_vec(&serde_json::json!({"asset_id": asset_id, "thumbnail": thumbnail}))
                .map_err(|e| ApiError::Decode {
                    operation: Operation::CreateTask,
                    detail: e.to_string(),
                })?;
        let bytes = self
            .gw
            .call(Operation::CreateTask, Method::POST, &path, &[], Some(body))
            .await?;
        let created: Created = decode(Operation::CreateTask, &bytes)?;
        created
            .thumbnail_task_id
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Decode {
                operation: Operation::CreateTask,
                detail: "the answer names no thumbnail_task_id".into(),
            })
    }

    /// Makes the snapshot at `thumbnail_url` the cover of the asset it belongs to.
    pub async fn set_cover(&self, thumbnail_url: &str) -> Result<(), ApiError> {
        let path = self.gw.path("v1.0", "asset/cover");
        let body = serde_json::to_vec(&serde_json::json!({"thumbnailUrl": thumbnail_url}))
            .map_err(|e| ApiError::Decode {
                operation: Operation::SetCover,
                detail: e.to_string(),
            })?;
        self.gw
            .call(Operation::SetCover, Method::PUT, &path, &[], Some(body))
            .await
            .map(drop)
    }

    /// Deletes the snapshots of up to 10 tasks of an asset.
    pub async fn delete_thumbnails(
        &self,
        asset_id: &str,
        task_ids: &[String],
    ) -> Result<Vec<DeleteResult>, ApiError> {
        let path = self.gw.path("v1", "asset/thumbnails");
        let mut query = pairs(&[("asset_id", asset_id)]);
        query.extend(
            task_ids
                .iter()
                .take(10)
                .map(|t| ("task_id".to_string(), t.clone())),
        );
        let bytes = self
            .gw
            .call(
                Operation::DeleteThumbnails,
                Method::DELETE,
                &path,
                &query,
                None,
            )
            .await?;
        let r: DeleteResults = decode(Operation::DeleteThumbnails, &bytes)?;
        Ok(r.delete_result_array.unwrap_or_default())
    }
}
