//! Alibaba Cloud ApsaraVideo Media Processing (snapshot jobs): the gateway's signature checks
//! (ACS3-HMAC-SHA256 and RPC v1, timestamp, nonce), SubmitSnapshotJob and QuerySnapshotJobList
//! with the API's validation, jobs that progress over time, by-id and token paging, per-key rate
//! limits, fault injection and call counts.

pub mod auth;
pub mod server;
pub mod store;

pub use server::{MpsSimulator, spawn_local};
pub use store::MpsStore;
