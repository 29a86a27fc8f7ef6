//! Where an object's calls go and with which identity: the operator's defaults (only in the
//! namespaces the installer lets them serve), or a Secret named by the object. Also reads single
//! Secret keys for the kinds (a callback key, say). Secret values are read by a targeted GET when
//! a reconcile needs them and are not kept: nothing here caches a Secret.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

pub use super::credentials_error::CredentialsError;
use super::managed::Managed;
use crate::clouds::Service;
use crate::clouds::config::{Auth, ClientConfig, Credentials};
use crate::clouds::huawei::endpoint;

/// Keys of a credentials Secret.
pub mod keys {
    pub const ACCESS_KEY: &str = "accessKey";
    pub const SECRET_KEY: &str = "secretKey";
    pub const PROJECT_ID: &str = "projectId";
    pub const REGION: &str = "region";
    /// The Live endpoint.
    pub const ENDPOINT: &str = "endpoint";
    /// The VOD endpoint.
    pub const VOD_ENDPOINT: &str = "vodEndpoint";
    /// The Alibaba Cloud MPS endpoint.
    pub const MPS_ENDPOINT: &str = "mpsEndpoint";
    pub const SECURITY_TOKEN: &str = "securityToken";
}

/// Files holding the default credentials (a mounted Secret). They are read at every use, so a
/// Secret updated in place, or a security token refreshed beside it, takes effect without a
/// restart; a read costs a few microseconds against an upstream call's milliseconds.
#[derive(Clone, Debug, Default)]
pub struct AuthFiles {
    pub access_key: PathBuf,
    pub secret_key: PathBuf,
    pub security_token: Option<PathBuf>,
}

impl AuthFiles {
    pub fn read(&self) -> Result<Auth, CredentialsError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| CredentialsError::DefaultFile {
                    path: p.display().to_string(),
                    problem: e.to_string(),
                })
        };
        Ok(Auth::AkSk(Credentials {
            access_key: read(&self.access_key)?,
            secret_key: read(&self.secret_key)?,
            security_token: self
                .security_token
                .as_ref()
                .map(read)
                .transpose()?
                .filter(|t| !t.is_empty()),
        }))
    }
}

/// The operator-wide cloud settings.
#[derive(Clone, Debug, Default)]
pub struct CloudDefaults {
    /// Explicit Live endpoint; otherwise derived from the region.
    pub endpoint: Option<String>,
    /// Explicit VOD endpoint; otherwise derived from the region.
    pub vod_endpoint: Option<String>,
    /// Explicit Alibaba Cloud MPS endpoint (a private one, or the simulator); otherwise derived
    /// from each object's region.
    pub mps_endpoint: Option<String>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    /// Default credentials given as values (tests, the quick start, the environment)...
    pub auth: Option<Auth>,
    /// ...or as files, re-read at every use (the chart's mounted Secret).
    pub auth_files: Option<AuthFiles>,
    /// Namespaces whose objects may use the default credentials; `*` allows every namespace.
    /// Elsewhere an object must name its own credentials Secret.
    pub default_namespaces: Vec<String>,
    /// Endpoints a credentials Secret may name (compared by origin: scheme, host and port).
    pub endpoint_allowlist: Vec<String>,
    /// Allow plain http to hosts other than loopback.
    pub allow_insecure_http: bool,
    pub timeout: Duration,
}

impl CloudDefaults {
    fn serves(&self, namespace: &str) -> bool {
        self.default_namespaces
            .iter()
            .any(|n| n == "*" || n == namespace)
    }

    fn endpoint(&self, service: Service) -> Option<&String> {
        match service {
            Service::Live => self.endpoint.as_ref(),
            Service::Vod => self.vod_endpoint.as_ref(),
            Service::Mps => self.mps_endpoint.as_ref(),
        }
    }

    fn default_auth(&self) -> Result<Option<Auth>, CredentialsError> {
        match &self.auth_files {
            Some(files) => files.read().map(Some),
            None => Ok(self.auth.clone()),
        }
    }
}

async fn read_secret(
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
) -> Result<Secret, CredentialsError> {
    match secrets.get_opt(name).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(CredentialsError::SecretMissing {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(CredentialsError::SecretForbidden {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(source) => Err(CredentialsError::Kube {
            name: name.into(),
            source,
        }),
    }
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string());
    let from_string = || {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.trim().to_string())
    };
    from_data.or_else(from_string).filter(|v| !v.is_empty())
}

fn required(secret: &Secret, key: &str) -> Result<String, CredentialsError> {
    value(secret, key).ok_or_else(|| CredentialsError::KeyMissing {
        name: secret.name_any(),
        key: key.into(),
    })
}

/// The AccessKey pair (and STS token) a credentials Secret holds, for either cloud.
fn secret_auth(secret: &Secret) -> Result<Auth, CredentialsError> {
    Ok(Auth::AkSk(Credentials {
        access_key: required(secret, keys::ACCESS_KEY)?,
        secret_key: required(secret, keys::SECRET_KEY)?,
        security_token: value(secret, keys::SECURITY_TOKEN),
    }))
}

/// The client configuration for one object.
pub async fn resolve<K: Managed>(
    client: &kube::Client,
    defaults: &CloudDefaults,
    obj: &K,
) -> Result<ClientConfig, CredentialsError> {
    let namespace = obj.namespace().unwrap_or_default();
    let service = K::service();
    if service == Service::Mps {
        return resolve_alibaba(client, defaults, obj, &namespace).await;
    }
    let Some(reference) = obj.credentials_secret() else {
        if !defaults.serves(&namespace) {
            return Err(CredentialsError::DefaultsNotAllowed { namespace });
        }
        let auth = defaults
            .default_auth()?
            .ok_or(CredentialsError::NoDefault)?;
        let project_id = defaults
            .project_id
            .clone()
            .ok_or(CredentialsError::NoDefault)?;
        return Ok(ClientConfig {
            endpoint: default_endpoint(defaults, service)?,
            project_id,
            auth,
            timeout: defaults.timeout,
            allow_insecure_http: defaults.allow_insecure_http,
        });
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = read_secret(&secrets, &namespace, reference).await?;
    let auth = secret_auth(&secret)?;
    let project_id = required(&secret, keys::PROJECT_ID)?;
    let endpoint_key = match service {
        Service::Live => keys::ENDPOINT,
        Service::Vod => keys::VOD_ENDPOINT,
        Service::Mps => keys::MPS_ENDPOINT,
    };
    let endpoint = match (value(&secret, endpoint_key), value(&secret, keys::REGION)) {
        (Some(e), _) => allowed_endpoint(defaults, reference, &e)?,
        (None, Some(region)) => {
            if !endpoint::valid_region(&region) {
                return Err(CredentialsError::KeyInvalid {
                    name: reference.to_string(),
                    key: keys::REGION.into(),
                    problem: "not a region id (lowercase words and numbers joined by hyphens, e.g. cn-north-4)".into(),
                });
            }
            endpoint::for_service(service, &region)
        }
        (None, None) => default_endpoint(defaults, service)?,
    };
    Ok(ClientConfig {
        endpoint,
        project_id,
        auth,
        timeout: defaults.timeout,
        allow_insecure_http: defaults.allow_insecure_http,
    })
}

/// Alibaba Cloud: an AccessKey pair (and optional STS token) from the object's Secret, never
/// the operator's Huawei defaults; the object's region decides the endpoint and plays the
/// project's part (what an upstream identity is scoped by).
async fn resolve_alibaba<K: Managed>(
    client: &kube::Client,
    defaults: &CloudDefaults,
    obj: &K,
    namespace: &str,
) -> Result<ClientConfig, CredentialsError> {
    let reference = obj
        .credentials_secret()
        .ok_or(CredentialsError::NoDefault)?;
    let region = obj.region().unwrap_or_default().to_string();
    if !endpoint::valid_region(&region) {
        return Err(CredentialsError::Region { region });
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = read_secret(&secrets, namespace, reference).await?;
    let auth = secret_auth(&secret)?;
    let endpoint = match (value(&secret, keys::MPS_ENDPOINT), &defaults.mps_endpoint) {
        (Some(e), _) => allowed_endpoint(defaults, reference, &e)?,
        (None, Some(e)) => {
            endpoint::origin(e, defaults.allow_insecure_http).map_err(|problem| {
                CredentialsError::DefaultEndpoint {
                    endpoint: e.clone(),
                    problem,
                }
            })?
        }
        (None, None) => Service::Mps.endpoint(&region),
    };
    Ok(ClientConfig {
        endpoint,
        project_id: region,
        auth,
        timeout: defaults.timeout,
        allow_insecure_http: defaults.allow_insecure_http,
    })
}

/// A Secret's endpoint, reduced to its origin, when that origin is allow-listed.
fn allowed_endpoint(
    defaults: &CloudDefaults,
    secret: &str,
    raw: &str,
) -> Result<String, CredentialsError> {
    let refused = || CredentialsError::EndpointNotAllowed {
        name: secret.into(),
        endpoint: raw.into(),
    };
    let origin = endpoint::origin(raw, defaults.allow_insecure_http).map_err(|_| refused())?;
    let listed = defaults
        .endpoint_allowlist
        .iter()
        .any(|a| endpoint::origin(a, defaults.allow_insecure_http).is_ok_and(|a| a == origin));
    if listed { Ok(origin) } else { Err(refused()) }
}

fn default_endpoint(
    defaults: &CloudDefaults,
    service: Service,
) -> Result<String, CredentialsError> {
    let raw = match (defaults.endpoint(service), &defaults.region) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) if endpoint::valid_region(r) => endpoint::for_service(service, r),
        (None, Some(r)) => {
            return Err(CredentialsError::DefaultEndpoint {
                endpoint: r.clone(),
                problem: "not a region id".into(),
            });
        }
        (None, None) => return Err(CredentialsError::NoEndpoint),
    };
    endpoint::origin(&raw, defaults.allow_insecure_http).map_err(|problem| {
        CredentialsError::DefaultEndpoint {
            endpoint: raw,
            problem,
        }
    })
}

/// One key of a Secret in `namespace` (a callback key, say), read when needed and not kept.
pub async fn secret_value(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, CredentialsError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = read_secret(&secrets, namespace, name).await?;
    required(&secret, key)
}
