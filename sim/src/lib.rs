//! Everything that stands in for the outside world, for demos, local development, benchmarks
//! and tests, and never ships in the operator binary: the cloud API simulators (one module per
//! API, sharing the gateway's signature check and fault injection) and a local control plane
//! (etcd and kube-apiserver built from pinned Go modules).

pub mod auth;
pub mod devenv;
pub mod faults;
pub mod live;
pub mod mps;
pub mod vod;

pub use auth::{AuthConfig, KeyPair};
pub use faults::{FaultSettings, Faults, Stats};
pub use live::{Arrival, Simulator, Store, Write, serve, spawn_local};
