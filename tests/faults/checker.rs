//! The invariants every fault scenario ends with, checked against the simulator's ground truth
//! (its store and its journal of committed writes), the API server, the operator's logs and
//! its metrics. Each returns what it found, so a failure says which promise broke and how.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use live_snapshot_operator::clouds::huawei::LiveSnapshotConfig;
use live_snapshot_operator::kinds::live::desired::{desired, diff};
use live_snapshot_operator::kinds::live::resource::{LiveSnapshotTemplate, ManagementPolicy};

use crate::harness::{AK, PROJECT, Scenario};

/// What the scenario set up that is not the operator's: templates someone else owns.
#[derive(Default)]
pub struct Ground {
    pub seeded: Vec<(String, LiveSnapshotConfig)>,
    /// Strings that must never appear anywhere the operator writes.
    pub secrets: Vec<String>,
    /// Access keys the operator processes sign with (writes by others are the test's own).
    pub operator_keys: Vec<String>,
    /// Upstream calls allowed in the quiet window once settled (0 with the suite's 5-minute
    /// resync; a scenario with a short resync allows its resync's listings).
    pub calls_allowed_when_settled: u64,
}

impl Ground {
    pub fn new() -> Self {
        Self {
            seeded: Vec::new(),
            secrets: vec![crate::harness::SK.to_string()],
            operator_keys: vec![AK.to_string()],
            calls_allowed_when_settled: 0,
        }
    }

    pub fn seed(&mut self, s: &Scenario, project: &str, t: LiveSnapshotConfig) {
        s.sim.store.insert_new(project, t.clone()).expect("seeded");
        self.seeded.push((project.to_string(), t));
    }
}

/// The outcome of a check: the invariants that held and those that did not.
#[derive(Default, Debug)]
pub struct Verdict {
    pub held: Vec<&'static str>,
    pub broken: Vec<String>,
}

impl Verdict {
    fn check(&mut self, name: &'static str, problems: Vec<String>) {
        if problems.is_empty() {
            self.held.push(name);
        } else {
            self.broken
                .extend(problems.into_iter().map(|p| format!("{name}: {p}")));
        }
    }

    pub fn assert_ok(&self, scenario: &str) {
        assert!(
            self.broken.is_empty(),
            "{scenario}: invariants broken:\n  {}",
            self.broken.join("\n  ")
        );
    }
}

fn project_of(o: &LiveSnapshotTemplate) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.managed.ownership.as_ref().map(|w| w.project_id.clone()))
        .unwrap_or_else(|| PROJECT.to_string())
}

/// Upstream holds exactly what the Manage objects ask for, with the spec's values, and nothing
/// else the operator created.
fn upstream_matches_objects(
    s: &Scenario,
    objects: &[LiveSnapshotTemplate],
    g: &Ground,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut wanted = Vec::new();
    for o in objects {
        if o.spec.management_policy != ManagementPolicy::Manage
            || o.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let owned = o
            .status
            .as_ref()
            .and_then(|s| s.managed.ownership.as_ref())
            .is_some();
        let project = project_of(o);
        wanted.push((
            project.clone(),
            o.spec.domain.clone(),
            o.spec.app_name.clone(),
        ));
        if !owned {
            continue;
        }
        match s.sim.store.get(&project, &o.spec.domain, &o.spec.app_name) {
            None => problems.push(format!(
                "{} owns a template that does not exist",
                o.name_any()
            )),
            Some(up) => {
                let d = diff(&desired(&o.spec, None), &up);
                if !d.is_empty() {
                    problems.push(format!("{} differs upstream in {:?}", o.name_any(), d));
                }
            }
        }
    }
    for w in s.sim.journal() {
        if w.operation != "create" || !g.operator_keys.contains(&w.access_key) {
            continue;
        }
        let id = (w.project.clone(), w.domain.clone(), w.app.clone());
        let exists = s.sim.store.get(&w.project, &w.domain, &w.app).is_some();
        if exists && !wanted.contains(&id) {
            problems.push(format!(
                "{id:?} was created by the operator and no object asks for it"
            ));
        }
    }
    problems
}

/// No identity was created twice, and none was created again after a delete.
fn no_duplicate_creates(s: &Scenario) -> Vec<String> {
    let mut creates: BTreeMap<(String, String, String), u32> = BTreeMap::new();
    let mut deleted = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for w in s.sim.journal() {
        let id = (w.project, w.domain, w.app);
        match w.operation {
            "create" => {
                if deleted.contains(&id) {
                    problems.push(format!("{id:?} created again after its delete"));
                }
                *creates.entry(id).or_default() += 1;
            }
            "delete" => {
                deleted.insert(id);
            }
            _ => {}
        }
    }
    problems.extend(
        creates
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, n)| format!("{id:?} created {n} times")),
    );
    problems
}

/// Someone else's templates were neither changed nor deleted.
fn seeded_untouched(s: &Scenario, g: &Ground) -> Vec<String> {
    let mut problems = Vec::new();
    let journal = s.sim.journal();
    for (project, t) in &g.seeded {
        if s.sim.store.get(project, &t.domain, &t.app_name).as_ref() != Some(t) {
            problems.push(format!(
                "{project}/{}/{} changed or vanished",
                t.domain, t.app_name
            ));
        }
        if journal.iter().any(|w| {
            w.operation != "create"
                && w.project == *project
                && w.domain == t.domain
                && w.app == t.app_name
        }) {
            problems.push(format!("{project}/{}/{} was written", t.domain, t.app_name));
        }
    }
    problems
}

/// Once converged, no object keeps calling upstream: over `window` the simulator sees no call
/// (the resync period of the suite is 5 minutes).
async fn no_hot_loop(s: &Scenario, window: Duration, allowed: u64) -> Vec<String> {
    let total = || s.sim.faults.stats().calls.values().sum::<u64>();
    let before = total();
    tokio::time::sleep(window).await;
    let made = total() - before;
    if made <= allowed {
        Vec::new()
    } else {
        vec![format!(
            "{made} upstream calls in {window:?} after convergence (allowed {allowed})"
        )]
    }
}

/// No secret value in logs, Events, status or metrics.
async fn no_secret_leaks(s: &Scenario, logs: &str, metrics: &str, g: &Ground) -> Vec<String> {
    let objects = s.objects().await;
    let status = serde_json::to_string(&objects.iter().map(|o| &o.status).collect::<Vec<_>>())
        .unwrap_or_default();
    let api: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(s.client.clone(), &s.ns);
    let events = api
        .list(&Default::default())
        .await
        .map(|l| serde_json::to_string(&l.items).unwrap_or_default())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for secret in &g.secrets {
        for (place, text) in [
            ("logs", logs),
            ("events", &events),
            ("status", &status),
            ("metrics", metrics),
        ] {
            if text.contains(secret.as_str()) {
                problems.push(format!("a secret value appears in {place}"));
            }
        }
    }
    problems
}

/// Every invariant, after the objects have settled.
pub async fn check(s: &Scenario, g: &Ground, logs: &str, metrics: &str) -> Verdict {
    let objects = s.objects().await;
    let mut v = Verdict::default();
    v.check(
        "upstream equals the objects",
        upstream_matches_objects(s, &objects, g),
    );
    v.check("no template created twice", no_duplicate_creates(s));
    v.check("others' templates untouched", seeded_untouched(s, g));
    v.check(
        "no hot loop",
        no_hot_loop(s, Duration::from_secs(3), g.calls_allowed_when_settled).await,
    );
    v.check(
        "no secret in logs, events, status, metrics",
        no_secret_leaks(s, logs, metrics, g).await,
    );
    v
}

/// Waits until every object is Ready=True or shows one of `allowed` (documented failure
/// reasons) on Synced, up to `bound`; returns how long it took.
pub async fn settle(s: &Scenario, bound: Duration, allowed: &[&str]) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let objects = s.objects().await;
        let pending: Vec<String> = objects
            .iter()
            .filter(|o| {
                let st = o.status.as_ref();
                let fresh = st.and_then(|s| s.managed.observed_generation) == o.metadata.generation;
                let cond =
                    |t: &str| st.and_then(|s| s.managed.conditions.iter().find(|c| c.type_ == t));
                let ready = cond("Ready").is_some_and(|c| c.status == "True");
                let documented =
                    cond("Synced").is_some_and(|c| allowed.contains(&c.reason.as_str()));
                !(fresh && (ready || documented))
            })
            .map(|o| {
                let why = o
                    .status
                    .as_ref()
                    .and_then(|s| s.managed.conditions.iter().find(|c| c.type_ == "Synced"))
                    .map(|c| format!("{} {}", c.reason, c.message))
                    .unwrap_or_default();
                format!("{} ({why})", o.name_any())
            })
            .collect();
        if pending.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > bound {
            return Err(format!("not settled within {bound:?}: {pending:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
