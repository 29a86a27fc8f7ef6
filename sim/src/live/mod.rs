//! The Huawei Cloud Live snapshot-template API (`live-api-sim`): its wire format, signature
//! check, paging, throttling and error bodies.

pub mod server;
pub mod store;
pub mod validate;

pub use server::{Arrival, Simulator, Write, serve, spawn_local};
pub use store::Store;
