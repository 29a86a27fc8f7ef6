//! Typed upstream errors of every cloud, and what the operator should do about each.

use std::time::Duration;

use super::alibaba::codes as ali_codes;
use super::huawei::model::codes;
use super::huawei::vod_codes;

/// The upstream operation an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    List,
    Create,
    Update,
    Delete,
    /// VOD: ShowAssetDetail.
    ShowAsset,
    /// VOD: ListThumbnailInfo, the snapshot tasks of an asset.
    ListTasks,
    /// VOD: ListThumbnailDetails, the results of one task.
    ThumbnailDetails,
    /// VOD: CreateAssetProcessTask with snapshot settings.
    CreateTask,
    /// VOD: UpdateCoverByThumbnail.
    SetCover,
    /// VOD: DeleteThumbnails.
    DeleteThumbnails,
    /// MPS: SubmitSnapshotJob.
    SubmitJob,
    /// MPS: QuerySnapshotJobList.
    QueryJobs,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::ShowAsset => "show_asset",
            Operation::ListTasks => "list_tasks",
            Operation::ThumbnailDetails => "thumbnail_details",
            Operation::CreateTask => "create_task",
            Operation::SetCover => "set_cover",
            Operation::DeleteThumbnails => "delete_thumbnails",
            Operation::SubmitJob => "submit_snapshot_job",
            Operation::QueryJobs => "query_snapshot_jobs",
        }
    }

    /// A read: its refusal says nothing about the spec.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::List
                | Operation::ShowAsset
                | Operation::ListTasks
                | Operation::ThumbnailDetails
                | Operation::QueryJobs
        )
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error status.
    #[error("{operation}: HTTP {status} {code}: {message}{}", request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Status {
        operation: Operation,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("{operation}: no answer within {timeout:?}")]
    Timeout {
        operation: Operation,
        timeout: Duration,
    },
    #[error("{operation}: connection failed: {detail}")]
    Transport {
        operation: Operation,
        detail: String,
    },
    #[error("{operation}: unreadable answer: {detail}")]
    Decode {
        operation: Operation,
        detail: String,
    },
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A write the fence refused after the rate limiter granted it: never sent.
    #[error("{operation}: not sent: {reason}")]
    Fenced {
        operation: Operation,
        reason: String,
    },
}

/// What the caller should do with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong: fix the spec; retrying unchanged will not help.
    Terminal,
    /// Credentials are wrong or lack permission.
    Auth,
    /// Rate limited; retry after the given delay when the service said one.
    Throttled(Option<Duration>),
    /// Worth retrying with backoff: 5xx, timeouts, connection resets.
    Transient,
    /// The template does not exist.
    NotFound,
    /// Create of a template that already exists.
    AlreadyExists,
    /// The resource exists but is not in a state that allows this yet (a VOD asset still
    /// transcoding): retry later, without counting it as a failure of the spec.
    NotReady,
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Status {
                operation,
                status,
                code,
                retry_after,
                ..
            } => match classify(*status, code, *retry_after) {
                // A read the service refuses says nothing about the spec: retry it.
                ErrorClass::Terminal if operation.is_read() => ErrorClass::Transient,
                class => class,
            },
            ApiError::Timeout { .. } | ApiError::Transport { .. } => ErrorClass::Transient,
            // A garbled answer is most likely a proxy or a transient fault, not our request.
            ApiError::Decode { .. } => ErrorClass::Transient,
            ApiError::Config(_) => ErrorClass::Terminal,
            // Not sent: whoever leads now retries it.
            ApiError::Fenced { .. } => ErrorClass::Transient,
        }
    }

    /// The operation that failed, when it got as far as one.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            ApiError::Status { operation, .. }
            | ApiError::Timeout { operation, .. }
            | ApiError::Transport { operation, .. }
            | ApiError::Decode { operation, .. }
            | ApiError::Fenced { operation, .. } => Some(*operation),
            ApiError::Config(_) => None,
        }
    }

    /// The upstream error code, or a short name of the failure for transport errors.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Status { code, .. } => code,
            ApiError::Timeout { .. } => "Timeout",
            ApiError::Transport { .. } => "ConnectionFailed",
            ApiError::Decode { .. } => "BadResponse",
            ApiError::Config(_) => "InvalidConfig",
            ApiError::Fenced { .. } => "Fenced",
        }
    }
}

fn classify(status: u16, code: &str, retry_after: Option<Duration>) -> ErrorClass {
    match code {
        codes::ALREADY_EXISTS => return ErrorClass::AlreadyExists,
        codes::NOT_FOUND => return ErrorClass::NotFound,
        codes::DATABASE_FAILED | codes::STATE_NOT_ALLOWED => return ErrorClass::Transient,
        codes::THROTTLED | vod_codes::THROTTLED_GW => return ErrorClass::Throttled(retry_after),
        vod_codes::NOT_PUBLISHED | vod_codes::STATE_NOT_ALLOWED => return ErrorClass::NotReady,
        vod_codes::NOT_FOUND => return ErrorClass::NotFound,
        vod_codes::AUTH_FAILED | vod_codes::AUTH_FAILED_VST | vod_codes::TENANT_MISMATCH => {
            return ErrorClass::Auth;
        }
        vod_codes::INTERNAL | vod_codes::INTERNAL_COMM | vod_codes::INTERNAL_VST => {
            return ErrorClass::Transient;
        }
        c if ali_codes::THROTTLED.contains(&c) => return ErrorClass::Throttled(retry_after),
        c if ali_codes::AUTH.contains(&c) || c.starts_with("InvalidAccessKeyId") => {
            return ErrorClass::Auth;
        }
        c if ali_codes::TRANSIENT.contains(&c) => return ErrorClass::Transient,
        codes::SIGNATURE_FAILED
        | codes::SIGNATURE_FAILED_GW
        | codes::NO_PERMISSION
        | codes::ACCOUNT_NOT_ALLOWED => {
            return ErrorClass::Auth;
        }
        _ => {}
    }
    match status {
        429 => ErrorClass::Throttled(retry_after),
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        408 => ErrorClass::Transient,
        // A redirect is never followed; retrying would get the same answer.
        300..=399 => ErrorClass::Terminal,
        400..=499 => ErrorClass::Terminal,
        _ => ErrorClass::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: &str, retry: Option<u64>) -> ApiError {
        ApiError::Status {
            operation: Operation::Create,
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("r".into()),
            retry_after: retry.map(Duration::from_secs),
        }
    }

    #[test]
    fn classifies_by_code_then_status() {
        assert_eq!(
            status(400, codes::INVALID_PARAMETER, None).class(),
            ErrorClass::Terminal
        );
        assert_eq!(
            status(400, codes::ALREADY_EXISTS, None).class(),
            ErrorClass::AlreadyExists
        );
        assert_eq!(
            status(400, codes::NOT_FOUND, None).class(),
            ErrorClass::NotFound
        );
        assert_eq!(
            status(400, codes::DATABASE_FAILED, None).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            status(401, codes::NO_PERMISSION, None).class(),
            ErrorClass::Auth
        );
        assert_eq!(
            status(403, codes::SIGNATURE_FAILED_GW, None).class(),
            ErrorClass::Auth
        );
        assert_eq!(status(401, "X", None).class(), ErrorClass::Auth);
        assert_eq!(status(404, "X", None).class(), ErrorClass::NotFound);
        assert_eq!(
            status(429, codes::THROTTLED, Some(3)).class(),
            ErrorClass::Throttled(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            status(429, "other", None).class(),
            ErrorClass::Throttled(None)
        );
        assert_eq!(
            status(500, "LIVE.100011500", None).class(),
            ErrorClass::Transient
        );
        assert_eq!(status(503, "", None).class(), ErrorClass::Transient);
        let refused_list = ApiError::Status {
            operation: Operation::List,
            status: 400,
            code: codes::INVALID_PARAMETER.into(),
            message: "m".into(),
            request_id: None,
            retry_after: None,
        };
        assert_eq!(refused_list.class(), ErrorClass::Transient);
        let t = ApiError::Timeout {
            operation: Operation::List,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(t.class(), ErrorClass::Transient);
    }

    #[test]
    fn message_names_operation_code_and_request_id() {
        let s = status(400, codes::INVALID_PARAMETER, None).to_string();
        assert_eq!(s, "create: HTTP 400 LIVE.100011001: m (request id r)");
    }
}
