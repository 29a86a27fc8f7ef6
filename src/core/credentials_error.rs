//! Why an object's credentials could not be resolved.

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
        "the operator's default credentials do not serve namespace {namespace:?}: set spec.credentialsSecretRef to a Secret in this namespace, or ask the installer to list the namespace in cloud.credentials.namespaces"
    )]
    DefaultsNotAllowed { namespace: String },
    #[error("default credentials file {path}: {problem}")]
    DefaultFile { path: String, problem: String },
    #[error("the operator's endpoint {endpoint:?}: {problem}")]
    DefaultEndpoint { endpoint: String, problem: String },
    #[error(
        "no endpoint: set the operator's endpoint or region, or region in the credentials Secret"
    )]
    NoEndpoint,
    #[error(
        "region {region:?} is not a region id (lowercase words and numbers joined by hyphens, e.g. cn-shanghai)"
    )]
    Region { region: String },
    /// The namespace has not granted the operator `get` on its Secrets (see `SecretAccess`).
    #[error(
        "the operator may not read Secret {name:?}: namespace {namespace:?} has not granted it read access to its Secrets"
    )]
    SecretForbidden { namespace: String, name: String },
    #[error("reading Secret {name:?}: {source}")]
    Kube { name: String, source: kube::Error },
}

impl CredentialsError {
    /// Whether a change of the referenced Secret or of the configuration (rather than time)
    /// fixes it.
    pub fn waits_for_secret(&self) -> bool {
        // A grant (a RoleBinding) is not watched, so a refused read is retried with backoff.
        !matches!(
            self,
            CredentialsError::Kube { .. }
                | CredentialsError::DefaultFile { .. }
                | CredentialsError::SecretForbidden { .. }
        )
    }
}
