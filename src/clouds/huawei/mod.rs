//! Everything that speaks the Live snapshot-template API: the wire model, request signing,
//! typed errors, the HTTP client and the trait the operator uses to reach it.

pub mod api;
pub mod client;
pub mod coalesce;
pub mod endpoint;
/// Errors are shared by every cloud; re-exported here for the Huawei clients.
pub use super::error;
pub mod gateway;
pub mod model;
pub mod signer;
pub mod vod;
pub mod vod_codes;

pub use crate::clouds::config::{Auth, ClientConfig, Credentials};
pub use api::SnapshotApi;
pub use client::LiveClient;
pub use error::{ApiError, ErrorClass};
pub use model::{ListResponse, LiveSnapshotConfig, ObsLocation};
