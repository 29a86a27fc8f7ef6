//! live-snapshot-operator: keeps Huawei Cloud Live snapshot templates equal to
//! `LiveSnapshotTemplate` objects.

pub mod sim;
pub mod telemetry;
pub mod upstream;
