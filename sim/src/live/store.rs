//! The simulator's templates, keyed by (project, domain, app_name), optionally kept in a JSON
//! file so that state survives a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use live_snapshot_operator::clouds::huawei::LiveSnapshotConfig;

type Key = (String, String, String);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Default)]
pub struct Store {
    templates: Mutex<BTreeMap<Key, LiveSnapshotConfig>>,
    file: Option<PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    project: String,
    template: LiveSnapshotConfig,
}

impl Store {
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A store backed by `path`: loaded now when the file exists, rewritten after every change.
    pub fn with_file(path: PathBuf) -> Result<Self, StoreError> {
        let mut map = BTreeMap::new();
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let saved: Vec<Saved> =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                    path: path.clone(),
                    source,
                })?;
            for s in saved {
                map.insert(
                    key(&s.project, &s.template.domain, &s.template.app_name),
                    s.template,
                );
            }
        }
        Ok(Self {
            templates: Mutex::new(map),
            file: Some(path),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, LiveSnapshotConfig>> {
        // A panic while holding the lock leaves a consistent map (every change is one insert or
        // remove), so a poisoned lock is safe to reuse.
        self.templates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Templates of a domain (optionally one app), ordered by app name.
    pub fn list(
        &self,
        project: &str,
        domain: &str,
        app_name: Option<&str>,
    ) -> Vec<LiveSnapshotConfig> {
        let map = self.lock();
        let lo = key(project, domain, "");
        map.range(lo..)
            .take_while(|((p, d, _), _)| p == project && d == domain)
            .filter(|((_, _, a), _)| app_name.is_none_or(|want| want == a))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn get(&self, project: &str, domain: &str, app: &str) -> Option<LiveSnapshotConfig> {
        self.lock().get(&key(project, domain, app)).cloned()
    }

    /// Inserts when absent; returns false when the template exists.
    pub fn insert_new(
        &self,
        project: &str,
        config: LiveSnapshotConfig,
    ) -> Result<bool, StoreError> {
        let mut map = self.lock();
        let k = key(project, &config.domain, &config.app_name);
        if map.contains_key(&k) {
            return Ok(false);
        }
        map.insert(k, config);
        self.save(&map)?;
        Ok(true)
    }

    /// Replaces an existing template; returns false when absent.
    pub fn replace(&self, project: &str, config: LiveSnapshotConfig) -> Result<bool, StoreError> {
        let mut map = self.lock();
        let k = key(project, &config.domain, &config.app_name);
        let Some(slot) = map.get_mut(&k) else {
            return Ok(false);
        };
        *slot = config;
        self.save(&map)?;
        Ok(true)
    }

    pub fn remove(&self, project: &str, domain: &str, app: &str) -> Result<bool, StoreError> {
        let mut map = self.lock();
        let removed = map.remove(&key(project, domain, app)).is_some();
        if removed {
            self.save(&map)?;
        }
        Ok(removed)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn save(&self, map: &BTreeMap<Key, LiveSnapshotConfig>) -> Result<(), StoreError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let saved: Vec<Saved> = map
            .iter()
            .map(|((p, _, _), t)| Saved {
                project: p.clone(),
                template: t.clone(),
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&saved).map_err(|source| StoreError::Json {
            path: path.clone(),
            source,
        })?;
        // Write then rename, so a crash never leaves a half-written state file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|source| StoreError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })
    }
}

fn key(project: &str, domain: &str, app: &str) -> Key {
    (project.to_string(), domain.to_string(), app.to_string())
}
