//! live-snapshot-operator: keeps cloud snapshot resources equal to Kubernetes objects.
//!
//! - `core`: the one reconcile loop and what every managed kind shares (context, ownership and
//!   claims, status and Events, backoff, credentials, metrics);
//! - `kinds`: one folder per custom resource, saying how to observe, create, update, delete and
//!   diff its upstream object;
//! - `clouds`: the clients of the cloud APIs (signing, errors, wire models); they know no kind;
//! - the rest is the operator process: command line, leader election, health, telemetry and
//!   the GitOps toolkit.

pub mod cli;
pub mod clouds;
pub mod core;
pub mod gitops;
pub mod health;
pub mod kinds;
pub mod leader;
pub mod memory;
pub mod telemetry;
