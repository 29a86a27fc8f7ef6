//! Kubernetes-style conditions: `lastTransitionTime` moves only when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";
/// kstatus's abnormal-true pair, which Flux, kpt and `kubectl wait` read: Reconciling is True
/// while the operator is still working towards spec, Stalled is True when it cannot get there
/// without a person (a spec, Secret or upstream change).
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// True once an upstream object finished and failed (a job), with the upstream code.
pub const FAILED: &str = "Failed";

/// The condition a reconcile wants to state; turned into a `Condition` by [`merge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: Status,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Sets `want` into `conditions`, keeping the old transition time when the status is unchanged.
pub fn merge(conditions: &mut Vec<Condition>, want: &Desired, generation: Option<i64>, now: &Time) {
    let status = want.status.as_str();
    let message: String = want.message.chars().take(1024).collect();
    match conditions.iter_mut().find(|c| c.type_ == want.type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status.into();
            c.reason = want.reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: want.type_.into(),
            status: status.into(),
            reason: want.reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Vec::new();
        merge(
            &mut c,
            &Desired::new(READY, Status::False, "Creating", "creating"),
            Some(1),
            &at(10),
        );
        merge(
            &mut c,
            &Desired::new(READY, Status::False, "Updating", "other reason"),
            Some(2),
            &at(20),
        );
        assert_eq!(c[0].last_transition_time, at(10));
        assert_eq!(
            (c[0].reason.as_str(), c[0].observed_generation),
            ("Updating", Some(2))
        );
        merge(
            &mut c,
            &Desired::new(READY, Status::True, "Available", ""),
            Some(2),
            &at(30),
        );
        assert_eq!(c[0].last_transition_time, at(30));
        merge(
            &mut c,
            &Desired::new(SYNCED, Status::True, "ReconcileSuccess", ""),
            Some(2),
            &at(40),
        );
        assert_eq!(
            c.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(),
            [READY, SYNCED]
        );
    }
}
