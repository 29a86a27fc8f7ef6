//! The Huawei Cloud VOD API (asset snapshots and covers): assets with states, snapshot tasks
//! whose results appear after a delay, the cover, the gateway signature and the VOD errors.

pub mod server;
pub mod store;

pub use server::{VodSimulator, spawn_local};
pub use store::{AssetState, VodStore};
