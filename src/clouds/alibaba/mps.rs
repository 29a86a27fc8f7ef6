//! ApsaraVideo Media Processing snapshot jobs: `SubmitSnapshotJob`, and `QuerySnapshotJobList`
//! by up to 10 ids or paged by filters (token paging, newest first). Wire format: mps-api.md.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::gateway::RpcGateway;
use crate::clouds::error::{ApiError, Operation};
use crate::clouds::http::decode;

/// Ids one by-id query takes at most.
pub const IDS_PER_QUERY: usize = 10;
/// Page size of a paged query: the most the API allows (1-300).
pub const PAGE_SIZE: usize = 300;
/// Pages a paged query follows at most (300,000 jobs): a token that never ends must not loop
/// forever. Listings are bounded by creation time, so a real one stays far below.
const MAX_PAGES: usize = 1000;

/// An OSS object: where a job reads its input or writes its output. `object` is sent
/// URL-encoded, as the API asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct OssFile {
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// A job's state (`Snapshoting` is the API's spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Submitted,
    Snapshotting,
    Success,
    Fail,
}

impl JobState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Submitted" => JobState::Submitted,
            "Snapshoting" => JobState::Snapshotting,
            "Success" => JobState::Success,
            "Fail" => JobState::Fail,
            _ => return None,
        })
    }

    pub fn as_upstream(self) -> &'static str {
        match self {
            JobState::Submitted => "Submitted",
            JobState::Snapshotting => "Snapshoting",
            JobState::Success => "Success",
            JobState::Fail => "Fail",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, JobState::Success | JobState::Fail)
    }
}

/// One snapshot job as the API shows it (scalars arrive as strings).
#[derive(Clone, Debug, PartialEq, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotJob {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub count: Option<i64>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub tile_count: Option<i64>,
    #[serde(default)]
    pub creation_time: Option<String>,
    #[serde(default)]
    pub pipeline_id: Option<String>,
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub input: Option<OssFile>,
    #[serde(default)]
    pub snapshot_config: Option<Value>,
    #[serde(default, rename = "MNSMessageResult")]
    pub mns_message_result: Option<MnsResult>,
}

/// `MNSMessageResult`: the notification of a job.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MnsResult {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

impl SnapshotJob {
    pub fn job_state(&self) -> Option<JobState> {
        JobState::parse(&self.state)
    }
}

/// A number sent as a string (`"3"`), as a number, or not at all.
fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Submitted {
    #[serde(default)]
    snapshot_job: Option<SnapshotJob>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct JobList {
    #[serde(default)]
    snapshot_job: Vec<SnapshotJob>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct IdList {
    #[serde(default)]
    string: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryAnswer {
    #[serde(default)]
    snapshot_job_list: Option<JobList>,
    #[serde(default)]
    non_exist_snapshot_job_ids: Option<IdList>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The answer to a by-id query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobsById {
    pub jobs: Vec<SnapshotJob>,
    /// Ids the service does not know.
    pub missing: Vec<String>,
}

/// Filters of a paged query; all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub pipeline_id: Option<String>,
    pub state: Option<JobState>,
    /// `YYYY-MM-DDThh:mm:ssZ`, UTC.
    pub created_from: Option<jiff::Timestamp>,
    pub created_to: Option<jiff::Timestamp>,
}

pub struct MpsClient {
    gw: RpcGateway,
}

impl std::fmt::Debug for MpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpsClient")
            .field("gateway", &self.gw)
            .finish()
    }
}

/// A JSON parameter (`Input`, `SnapshotConfig`) as its compact text.
fn to_json<T: Serialize>(operation: Operation, v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Decode {
        operation,
        detail: e.to_string(),
    })
}

/// `YYYY-MM-DDThh:mm:ssZ`, as the filters take times.
pub fn api_time(t: jiff::Timestamp) -> String {
    t.strftime(super::signer::DATE_FORMAT).to_string()
}

impl MpsClient {
    pub fn new(gateway: RpcGateway) -> Self {
        Self { gw: gateway }
    }

    pub fn region(&self) -> &str {
        self.gw.region()
    }

    /// Submits a job; the job as the service answered it.
    pub async fn submit(
        &self,
        input: &OssFile,
        snapshot_config: &Value,
        pipeline_id: &str,
        user_data: &str,
    ) -> Result<SnapshotJob, ApiError> {
        let op = Operation::SubmitJob;
        let params = vec![
            ("Input".to_string(), to_json(op, input)?),
            ("SnapshotConfig".to_string(), to_json(op, snapshot_config)?),
            ("PipelineId".to_string(), pipeline_id.to_string()),
            ("UserData".to_string(), user_data.to_string()),
        ];
        let bytes = self.gw.call(op, "SubmitSnapshotJob", &params).await?;
        let answer: Submitted = decode(op, &bytes)?;
        answer
            .snapshot_job
            .filter(|j| !j.id.is_empty())
            .ok_or_else(|| ApiError::Decode {
                operation: op,
                detail: "the answer names no SnapshotJob.Id".into(),
            })
    }

    /// Up to [`IDS_PER_QUERY`] jobs by id, in one call.
    pub async fn query_ids(&self, ids: &[String]) -> Result<JobsById, ApiError> {
        if ids.is_empty() {
            return Ok(JobsById::default());
        }
        if ids.len() > IDS_PER_QUERY {
            return Err(ApiError::Config(format!(
                "a query takes at most {IDS_PER_QUERY} job ids, not {}",
                ids.len()
            )));
        }
        let op = Operation::QueryJobs;
        let params = vec![("SnapshotJobIds".to_string(), ids.join(","))];
        let bytes = self.gw.call(op, "QuerySnapshotJobList", &params).await?;
        let answer: QueryAnswer = decode(op, &bytes)?;
        Ok(JobsById {
            jobs: answer
                .snapshot_job_list
                .map(|l| l.snapshot_job)
                .unwrap_or_default(),
            missing: answer
                .non_exist_snapshot_job_ids
                .map(|l| l.string)
                .unwrap_or_default(),
        })
    }

    /// Every job matching `filter`, newest first, following the page token to its end.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<SnapshotJob>, ApiError> {
        let mut out = Vec::new();
        self.for_each(filter, |j| out.push(j)).await?;
        Ok(out)
    }

    /// Hands every job matching `filter` to `each`, page by page, without holding the listing;
    /// returns the number of calls made.
    pub async fn for_each(
        &self,
        filter: &JobFilter,
        mut each: impl FnMut(SnapshotJob),
    ) -> Result<usize, ApiError> {
        let op = Operation::QueryJobs;
        let mut base = vec![("MaximumPageSize".to_string(), PAGE_SIZE.to_string())];
        if let Some(p) = &filter.pipeline_id {
            base.push(("PipelineId".into(), p.clone()));
        }
        if let Some(s) = filter.state {
            base.push(("State".into(), s.as_upstream().into()));
        }
        if let Some(t) = filter.created_from {
            base.push(("StartOfJobCreatedTimeRange".into(), api_time(t)));
        }
        if let Some(t) = filter.created_to {
            base.push(("EndOfJobCreatedTimeRange".into(), api_time(t)));
        }
        let mut token: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let mut params = base.clone();
            if let Some(t) = &token {
                params.push(("NextPageToken".into(), t.clone()));
            }
            let bytes = self.gw.call(op, "QuerySnapshotJobList", &params).await?;
            let answer: QueryAnswer = decode(op, &bytes)?;
            for job in answer
                .snapshot_job_list
                .map(|l| l.snapshot_job)
                .unwrap_or_default()
            {
                each(job);
            }
            match answer.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(page),
            }
        }
        Err(ApiError::Decode {
            operation: op,
            detail: format!("the listing did not end within {MAX_PAGES} pages"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_read_numbers_sent_as_strings() {
        let j: SnapshotJob = serde_json::from_value(serde_json::json!({
            "Id": "a", "State": "Snapshoting", "Count": "3", "TileCount": 1,
            "SnapshotConfig": {"Num": "3"}
        }))
        .unwrap();
        assert_eq!((j.count, j.tile_count), (Some(3), Some(1)));
        assert_eq!(j.job_state(), Some(JobState::Snapshotting));
        assert!(!JobState::Snapshotting.is_final() && JobState::Fail.is_final());
    }
}
