//! Ownership a tenant cannot forge. The ownership record in an object's status is what the
//! operator acts on before a write or a delete, and anyone allowed to patch `*/status` in their
//! namespace can write one. So every record the operator writes carries a proof: an HMAC-SHA256,
//! with a key only the operator holds, over the object's kind, namespace, name and UID, the
//! upstream identity it claims, and the record itself. A record whose proof does not check is
//! not this operator's: it grants no claim, no write and no delete.
//!
//! The key lives in a Secret in the operator's own namespace, created on first start (32 random
//! bytes); tenants have no access to that namespace. Cost: no extra write (the proof rides in
//! the status write that records ownership), one HMAC per reconcile (microseconds), 64 bytes of
//! status per owned object.
//!
//! A record without a proof was written by a release before this one (or forged to look so):
//! it is honoured only the way `adoptionPolicy: IfMatching` is, where upstream already equals
//! the spec and nobody else holds the claim, and then re-recorded with a proof.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use sha2::Sha256;

use super::managed::{KindStatus, Managed, Ownership};

/// The Secret's data key holding the key.
const DATA_KEY: &str = "key";
/// The name of the key's Secret unless configured.
pub const DEFAULT_SECRET: &str = "live-snapshot-operator-ownership-key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the ownership key Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the ownership key Secret {0} holds no 32-byte `key`")]
    Malformed(String),
}

/// Where the key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A Secret in the operator's namespace, created when missing.
    Secret { namespace: String, name: String },
    /// A key given in process (tests, benchmarks).
    Fixed(Arc<OwnershipKey>),
}

pub struct OwnershipKey([u8; 32]);

impl std::fmt::Debug for OwnershipKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnershipKey(..)")
    }
}

/// What a record says about its ownership, as the operator judged it.
#[derive(Clone, Debug, PartialEq)]
pub enum Trust {
    /// Written by this operator for this object and identity.
    Proven(Ownership),
    /// Written without a proof (an earlier release, or a forgery): honoured only as
    /// `IfMatching` adoption would be.
    Unproven(Ownership),
    /// No record, or one whose proof does not check.
    None,
}

impl OwnershipKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The key from its Secret, which is created (immutable) when missing; a replica that lost
    /// the race to create it reads the winner's.
    pub async fn load_or_create(
        kube: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Self, KeyError> {
        let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
        let err = |source| KeyError::Kube {
            namespace: namespace.into(),
            name: name.into(),
            source,
        };
        if let Some(s) = api.get_opt(name).await.map_err(err)? {
            return Self::from_secret(&s, namespace, name);
        }
        let mut secret = Secret {
            immutable: Some(true),
            ..Default::default()
        };
        secret.metadata.name = Some(name.into());
        secret.metadata.labels = Some(
            [(
                "app.kubernetes.io/managed-by".to_string(),
                "live-snapshot-operator".to_string(),
            )]
            .into(),
        );
        let key = Self::random();
        secret.data = Some([(DATA_KEY.to_string(), ByteString(key.0.to_vec()))].into());
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(key),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let s = api.get(name).await.map_err(err)?;
                Self::from_secret(&s, namespace, name)
            }
            Err(e) => Err(err(e)),
        }
    }

    fn from_secret(s: &Secret, namespace: &str, name: &str) -> Result<Self, KeyError> {
        let bytes = s
            .data
            .as_ref()
            .and_then(|d| d.get(DATA_KEY))
            .map(|b| b.0.as_slice())
            .unwrap_or_default();
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| KeyError::Malformed(format!("{namespace}/{name}")))
    }

    /// HMAC takes a key of any length, so this is always `Some`; a `None` would prove nothing.
    fn mac<K: Managed>(&self, obj: &K, own: &Ownership) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).ok()?;
        // Length-prefixed fields: no two different records give one message.
        let fields = [
            K::KIND.to_string(),
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
            obj.uid().unwrap_or_default(),
            obj.identity(),
            format!("{:?}", own.state),
            own.project_id.clone(),
            own.endpoint.clone(),
            own.since.0.as_second().to_string(),
            own.key.clone().unwrap_or_default(),
        ];
        mac.update(b"lso-ownership-v1");
        for f in fields {
            mac.update(&(f.len() as u64).to_be_bytes());
            mac.update(f.as_bytes());
        }
        Some(mac)
    }

    /// `own` with its proof for `obj`.
    pub fn sign<K: Managed>(&self, obj: &K, own: &Ownership) -> Ownership {
        let proof = self
            .mac(obj, own)
            .map(|m| hex::encode(m.finalize().into_bytes()));
        Ownership {
            proof,
            ..own.clone()
        }
    }

    /// How far the record in `own` can be trusted for `obj`.
    pub fn judge<K: Managed>(&self, obj: &K, own: Option<&Ownership>) -> Trust {
        let Some(own) = own else {
            return Trust::None;
        };
        match own.proof.as_deref().map(hex::decode) {
            None => Trust::Unproven(own.clone()),
            Some(Ok(tag))
                if self
                    .mac(obj, own)
                    .is_some_and(|m| m.verify_slice(&tag).is_ok()) =>
            {
                Trust::Proven(own.clone())
            }
            Some(_) => Trust::None,
        }
    }

    /// The record, when it is proven.
    pub fn proven<K: Managed>(&self, obj: &K, own: Option<&Ownership>) -> Option<Ownership> {
        match self.judge(obj, own) {
            Trust::Proven(o) => Some(o),
            _ => None,
        }
    }
}

/// Puts an unproven record back where no record stands, so a status write keeps it as it was.
pub fn keep_unproven<S: KindStatus>(current: &mut S, unproven: Option<&Ownership>) {
    if current.managed().ownership.is_none()
        && let Some(u) = unproven
    {
        current.managed_mut().ownership = Some(u.clone());
    }
}

/// The object's status with only a proven ownership record in it, and an unproven record
/// (none, or one written without a proof) aside. A record whose proof fails is dropped: the next
/// status write removes it.
pub fn trusted_status<K: Managed>(key: &OwnershipKey, obj: &K) -> (K::Status, Option<Ownership>) {
    let mut status = obj.status().cloned().unwrap_or_default();
    let record = status.managed_mut().ownership.take();
    match key.judge(obj, record.as_ref()) {
        Trust::Proven(own) => {
            status.managed_mut().ownership = Some(own);
            (status, None)
        }
        Trust::Unproven(own) => (status, Some(own)),
        Trust::None => (status, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::managed::OwnershipState;
    use crate::kinds::live::resource::{LiveSnapshotTemplate, LiveSnapshotTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn obj(name: &str, uid: &str) -> LiveSnapshotTemplate {
        let spec: LiveSnapshotTemplateSpec = serde_json::from_value(serde_json::json!({
            "domain": "push.example.com", "appName": "live", "timeInterval": 10,
            "obsLocation": {"bucket": "b", "location": "cn-north-4", "object": "o/"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut o = LiveSnapshotTemplate::new(name, spec);
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(uid.into());
        o
    }

    #[test]
    fn a_proof_holds_only_for_its_object_record_and_key() {
        let key = OwnershipKey::new([7; 32]);
        let own = Ownership {
            state: OwnershipState::Created,
            project_id: "p".into(),
            endpoint: "https://e".into(),
            since: Time(jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default()),
            key: None,
            proof: None,
        };
        let a = obj("a", "uid-a");
        let signed = key.sign(&a, &own);
        assert_eq!(key.judge(&a, Some(&signed)), Trust::Proven(signed.clone()));
        // Read back from status, the record has seconds only: still proven.
        let json = serde_json::to_value(&signed).unwrap_or_default();
        let read: Ownership = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(key.judge(&a, Some(&read)), Trust::Proven(_)));
        // Another object, an earlier date, another key: nothing.
        assert_eq!(key.judge(&obj("a", "uid-b"), Some(&signed)), Trust::None);
        let earlier = Ownership {
            since: Time(jiff::Timestamp::from_second(1).unwrap_or_default()),
            ..signed.clone()
        };
        assert_eq!(key.judge(&a, Some(&earlier)), Trust::None);
        assert_eq!(
            OwnershipKey::new([8; 32]).judge(&a, Some(&signed)),
            Trust::None
        );
        // No proof at all: unproven, honoured only as IfMatching.
        assert_eq!(key.judge(&a, Some(&own)), Trust::Unproven(own.clone()));
        assert_eq!(key.judge(&a, None), Trust::None);
    }
}
