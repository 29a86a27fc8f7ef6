//! Where a template's calls go and with which identity: the operator's defaults, or a Secret
//! named by the object. Also reads the callback key. Secret values stay in memory only.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::resource::LiveSnapshotTemplate;
use crate::upstream::{Auth, ClientConfig, Credentials};

/// Keys of a credentials Secret.
pub mod keys {
    pub const ACCESS_KEY: &str = "accessKey";
    pub const SECRET_KEY: &str = "secretKey";
    pub const PROJECT_ID: &str = "projectId";
    pub const REGION: &str = "region";
    pub const ENDPOINT: &str = "endpoint";
    pub const SECURITY_TOKEN: &str = "securityToken";
}

/// The operator-wide cloud settings.
#[derive(Clone, Debug, Default)]
pub struct CloudDefaults {
    /// Explicit endpoint; otherwise derived from the region.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub auth: Option<Auth>,
    /// Endpoints a credentials Secret may name (exact match, scheme included).
    pub endpoint_allowlist: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {name:?} not found in namespace {namespace:?}")]
    SecretMissing { namespace: String, name: String },
    #[error("Secret {name:?} has no usable key {key:?}")]
    KeyMissing { name: String, key: String },
    #[error("Secret {name:?} key {key:?}: {problem}")]
    KeyInvalid {
        name: String,
        key: String,
        problem: String,
    },
    #[error(
        "endpoint {endpoint:?} from Secret {name:?} is not on the operator's endpoint allowlist"
    )]
    EndpointNotAllowed { name: String, endpoint: String },
    #[error("no credentials: set credentialsSecretRef or give the operator default credentials")]
    NoDefault,
    #[error(
        "no endpoint: set the operator's endpoint or region, or region in the credentials Secret"
    )]
    NoEndpoint,
    #[error("reading Secret {name:?}: {source}")]
    Kube { name: String, source: kube::Error },
}

impl CredentialsError {
    /// Whether a change of the referenced Secret (rather than time) fixes it.
    pub fn waits_for_secret(&self) -> bool {
        !matches!(self, CredentialsError::Kube { .. })
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

/// The client configuration for one object.
pub async fn resolve(
    client: &kube::Client,
    defaults: &CloudDefaults,
    obj: &LiveSnapshotTemplate,
) -> Result<ClientConfig, CredentialsError> {
    let Some(reference) = &obj.spec.credentials_secret_ref else {
        let auth = defaults.auth.clone().ok_or(CredentialsError::NoDefault)?;
        let project_id = defaults
            .project_id
            .clone()
            .ok_or(CredentialsError::NoDefault)?;
        let endpoint = endpoint(defaults, None)?;
        return Ok(ClientConfig {
            endpoint,
            project_id,
            auth,
            timeout: defaults.timeout,
        });
    };
    let namespace = obj.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = read_secret(&secrets, &namespace, &reference.name).await?;
    let auth = Auth::AkSk(Credentials {
        access_key: required(&secret, keys::ACCESS_KEY)?,
        secret_key: required(&secret, keys::SECRET_KEY)?,
        security_token: value(&secret, keys::SECURITY_TOKEN),
    });
    let project_id = required(&secret, keys::PROJECT_ID)?;
    let endpoint = match value(&secret, keys::ENDPOINT) {
        Some(e) if defaults.endpoint_allowlist.iter().any(|a| a == &e) => e,
        Some(e) => {
            return Err(CredentialsError::EndpointNotAllowed {
                name: reference.name.clone(),
                endpoint: e,
            });
        }
        None => endpoint(defaults, value(&secret, keys::REGION))?,
    };
    Ok(ClientConfig {
        endpoint,
        project_id,
        auth,
        timeout: defaults.timeout,
    })
}

fn endpoint(
    defaults: &CloudDefaults,
    secret_region: Option<String>,
) -> Result<String, CredentialsError> {
    if let Some(region) = secret_region {
        return Ok(ClientConfig::endpoint_for_region(&region));
    }
    if let Some(e) = &defaults.endpoint {
        return Ok(e.clone());
    }
    defaults
        .region
        .as_deref()
        .map(ClientConfig::endpoint_for_region)
        .ok_or(CredentialsError::NoEndpoint)
}

/// The callback key, when the spec references one.
pub async fn auth_key(
    client: &kube::Client,
    obj: &LiveSnapshotTemplate,
) -> Result<Option<String>, CredentialsError> {
    let Some(reference) = obj
        .spec
        .callback
        .as_ref()
        .and_then(|c| c.auth_key_secret_ref.as_ref())
    else {
        return Ok(None);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = read_secret(&secrets, &namespace, &reference.name).await?;
    let key = required(&secret, &reference.key)?;
    let n = key.chars().count();
    if !(32..=128).contains(&n) {
        return Err(CredentialsError::KeyInvalid {
            name: reference.name.clone(),
            key: reference.key.clone(),
            problem: format!("a callback key must be 32 to 128 characters, this one has {n}"),
        });
    }
    Ok(Some(key))
}

/// Names of the Secrets an object reads.
pub fn referenced_secrets(obj: &LiveSnapshotTemplate) -> impl Iterator<Item = &str> {
    let creds = obj
        .spec
        .credentials_secret_ref
        .as_ref()
        .map(|r| r.name.as_str());
    let key = obj
        .spec
        .callback
        .as_ref()
        .and_then(|c| c.auth_key_secret_ref.as_ref())
        .map(|r| r.name.as_str());
    creds.into_iter().chain(key)
}
