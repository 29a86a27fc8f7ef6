//! live-snapshot-operator: keeps Huawei Cloud Live snapshot templates equal to
//! `LiveSnapshotTemplate` objects.

pub mod cli;
pub mod conditions;
pub mod controller;
pub mod credentials;
pub mod desired;
pub mod gitops;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod resource;
pub mod telemetry;
pub mod upstream;
