//! The cloud APIs the kinds talk to. A cloud knows nothing of kinds or of Kubernetes.

pub mod alibaba;
pub mod error;
pub mod http;
pub mod huawei;
