//! How a reconcile fails: the Kubernetes API, credentials, the upstream service, or a decision
//! that must be made again from fresher state.

use std::time::Duration;

use kube::runtime::finalizer;

use super::credentials_error::CredentialsError;
use crate::clouds::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Upstream(#[from] ApiError),
    /// The create was refused, so no template was made: the create intent is withdrawn.
    #[error(transparent)]
    CreateRefused(ApiError),
    #[error("the reconcile did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<ReconcileError>>),
    #[error("the object has no namespace")]
    NoNamespace,
    /// The cached object this reconcile started from is behind the API server (a lagging
    /// watch): the decision is made again from the fresh object, never from the stale copy.
    /// The fresh object is handed back through `sync`'s `fresh` slot.
    #[error("the cached object is behind the API server")]
    Stale,
    /// The object changed or went away while an intent was being recorded: nothing was
    /// written upstream, and the next reconcile starts from the newer object.
    #[error("the object changed while an intent was being recorded")]
    Superseded,
    /// Something the upstream object needs is missing (see `Observation::Unavailable`).
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
}
