//! The managed-resource core: one reconcile loop and everything every kind shares. A kind
//! plugs in through `managed.rs`; `settings.rs` what an installation decides,
//! `context.rs` what one kind's reconciles share, `controller.rs` the watches and the run
//! loop. The reconcile itself reads top to bottom in `reconcile.rs`.

pub mod backoff;
pub mod changes;
pub mod clients;
pub mod conditions;
pub mod context;
pub mod controller;
pub mod credentials;
pub mod credentials_error;
pub mod error;
pub mod managed;
pub mod metrics;
pub mod ownership;
pub mod proof;
pub mod reconcile;
pub mod report;
pub mod resync;
pub mod schedule;
pub mod settings;
pub mod shard;
pub mod sync;

pub use clients::{Fence, Fencing, UpstreamSettings};
pub use context::Context;
pub use controller::run;
pub use error::ReconcileError;
pub use reconcile::reconcile;
pub use settings::{Kind, MANAGER, SECRETS_CLUSTER_ROLE, SecretAccess, Settings};
