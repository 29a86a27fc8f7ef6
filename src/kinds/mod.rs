//! The managed kinds: each folder is one custom resource and the adapter that plugs its
//! upstream object into the core. This is the one list of them: the core runs whichever it is
//! given.

pub mod live;
pub mod mps;
pub mod vod;

use crate::core::Kind;

/// The kinds the operator can manage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KindName {
    #[value(name = "LiveSnapshotTemplate")]
    LiveSnapshotTemplate,
    #[value(name = "VodAssetSnapshot")]
    VodAssetSnapshot,
    #[value(name = "MpsSnapshotJob")]
    MpsSnapshotJob,
}

impl KindName {
    pub const ALL: [KindName; 3] = [
        KindName::LiveSnapshotTemplate,
        KindName::VodAssetSnapshot,
        KindName::MpsSnapshotJob,
    ];
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KindName::LiveSnapshotTemplate => "LiveSnapshotTemplate",
            KindName::VodAssetSnapshot => "VodAssetSnapshot",
            KindName::MpsSnapshotJob => "MpsSnapshotJob",
        })
    }
}
impl KindName {
    /// The kind, as the core runs it.
    pub fn kind(self) -> Kind {
        match self {
            KindName::LiveSnapshotTemplate => Kind::of::<live::resource::LiveSnapshotTemplate>(),
            KindName::VodAssetSnapshot => Kind::of::<vod::resource::VodAssetSnapshot>(),
            KindName::MpsSnapshotJob => Kind::of::<mps::resource::MpsSnapshotJob>(),
        }
    }
}

/// Every kind, as the core runs them.
pub fn all() -> Vec<Kind> {
    KindName::ALL.iter().map(|k| k.kind()).collect()
}
