//! The managed kinds: each folder is one custom resource and the adapter that plugs its
//! upstream object into the core.

pub mod live;
pub mod mps;
pub mod vod;
