//! live-snapshot-operator: keeps Huawei Cloud Live snapshot templates equal to
//! `LiveSnapshotTemplate` objects.

pub mod sim;
pub mod telemetry;
pub mod upstream;
pub mod resource;
pub mod conditions;
pub mod desired;
pub mod controller;
pub mod credentials;
pub mod metrics;
