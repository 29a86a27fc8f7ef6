//! The GitOps toolkit behind the `validate`, `plan` and `import` subcommands: what a repo owner
//! runs before a merge, and how existing cloud templates become manifests.

pub mod cloud;
pub mod import;
pub mod kubernetes_cel;
pub mod manifests;
pub mod plan;
pub mod plan_kinds;
pub mod report;
pub mod validate;
