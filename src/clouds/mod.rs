//! The cloud APIs the kinds talk to. A cloud knows nothing of kinds or of Kubernetes.

pub mod alibaba;
pub mod config;
pub mod error;
pub mod http;
pub mod huawei;
pub mod limiter;

/// The cloud services the kinds call; each has its own host per region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Huawei Cloud Live.
    Live,
    /// Huawei Cloud VOD.
    Vod,
    /// Alibaba Cloud ApsaraVideo Media Processing.
    Mps,
}

impl Service {
    /// The name of the service in messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Live => "live",
            Service::Vod => "vod",
            Service::Mps => "mts",
        }
    }

    /// The service's endpoint in a region that passed `huawei::endpoint::valid_region`.
    pub fn endpoint(self, region: &str) -> String {
        match self {
            Service::Live | Service::Vod => {
                format!("https://{}.{region}.myhuaweicloud.com", self.name())
            }
            Service::Mps => alibaba::mps_endpoint(region),
        }
    }
}
