//! `live-api-sim`: a local stand-in for the Live snapshot-template API that speaks its wire
//! format, checks its signature, paginates, throttles and answers with its error bodies.

pub mod auth;
pub mod faults;
pub mod server;
pub mod store;
pub mod validate;

pub use auth::{AuthConfig, KeyPair};
pub use faults::{FaultSettings, Faults, Stats};
pub use server::{Arrival, Simulator, Write, serve, spawn_local};
pub use store::Store;
