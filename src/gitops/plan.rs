//! `plan`: what the operator would do upstream for a set of manifests, from read calls only.
//! Whether an object already owns a template that exists is known only to the cluster: with
//! `--cluster` the plan reads each object's `status.ownership` (a GET, nothing else); without
//! it, a template that exists is taken to be the object's own (the steady state of a repo whose
//! objects are applied), and the note says what happens if it is not.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use super::manifests::Document;
use crate::clouds::huawei::SnapshotApi;
use crate::kinds::live::desired::{desired, diff};
use crate::kinds::live::resource::{
    AdoptionPolicy, FieldDrift, LiveSnapshotTemplateSpec, ManagementPolicy,
};

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Absent upstream: the operator creates it.
    Create,
    /// Exists and differs: the operator updates these fields.
    Update,
    /// Exists and the manifest asks for adoption (IfMatching or Always), which is allowed.
    Adopt,
    /// Exists, differs, and adoption is refused (Never, or IfMatching with a difference) unless
    /// this object already owns it.
    AdoptionRefused,
    /// Exists and equals the manifest.
    NoChange,
    /// managementPolicy Observe: reported, never written.
    Observe,
    /// Two manifests claim one template.
    Conflict,
    /// The template could not be read.
    Error,
    /// In the cluster, no longer in the repository, deletionPolicy Delete: the operator
    /// deletes what it created upstream.
    Delete,
    /// In the cluster, no longer in the repository, and what it made upstream is kept.
    Orphan,
}

/// The plan for one object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    pub source: String,
    pub document: usize,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// What the object stands for upstream, as a reviewer reads it.
    pub target: String,
    pub domain: String,
    pub app_name: String,
    pub action: Action,
    /// Field by field, desired against observed (keys are never shown).
    pub changes: Vec<FieldDrift>,
    pub note: String,
}

impl Planned {
    /// The plan's mark for this object, as `terraform plan` marks its lines.
    pub fn mark(&self) -> &'static str {
        match self.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Adopt if self.changes.is_empty() => "&",
            Action::Adopt => "&~",
            Action::AdoptionRefused => "!",
            Action::NoChange => "=",
            Action::Observe => "?",
            Action::Conflict | Action::Error => "x",
            Action::Delete | Action::Orphan => "-",
        }
    }

    /// What happens to this object, in words.
    pub fn word(&self) -> &'static str {
        match self.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt if self.changes.is_empty() => "adopt",
            Action::Adopt => "adopt and update",
            Action::AdoptionRefused => "adoption refused",
            Action::NoChange => "no change",
            Action::Observe => "observe only",
            Action::Conflict => "conflict",
            Action::Error => "error",
            Action::Delete => "delete",
            Action::Orphan => "remove, keep upstream",
        }
    }

    /// Whether applying the manifest makes the operator write upstream.
    pub fn writes(&self) -> bool {
        match self.action {
            Action::Create | Action::Update | Action::Delete => true,
            Action::Adopt => !self.changes.is_empty(),
            _ => false,
        }
    }
}

/// A plan of every LiveSnapshotTemplate among `docs` (already validated).
pub async fn plan(
    docs: &[Document],
    api: Arc<dyn SnapshotApi>,
    cluster: Option<kube::Client>,
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Vec<Planned> {
    let mut planned = Vec::new();
    let mut specs = Vec::new();
    for doc in docs {
        if doc.value["apiVersion"] != "live.snapshot.dev/v1alpha1"
            || doc.value["kind"] != "LiveSnapshotTemplate"
        {
            continue;
        }
        let spec: Result<LiveSnapshotTemplateSpec, _> =
            serde_json::from_value(doc.value["spec"].clone());
        let meta = &doc.value["metadata"];
        let mut p = Planned {
            source: doc.source.clone(),
            document: doc.index,
            kind: "LiveSnapshotTemplate".into(),
            namespace: meta["namespace"].as_str().map(str::to_string),
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            target: String::new(),
            domain: String::new(),
            app_name: String::new(),
            action: Action::Error,
            changes: Vec::new(),
            note: String::new(),
        };
        match spec {
            Ok(spec) => {
                p.domain = spec.domain.clone();
                p.app_name = spec.app_name.clone();
                p.target = format!("{}/{}", spec.domain, spec.app_name);
                specs.push((planned.len(), spec));
            }
            Err(e) => p.note = format!("spec does not read: {e}"),
        }
        planned.push(p);
    }
    // Two objects aiming at one template would fight over it; the operator lets the first
    // claim win, so both are reported here, before either reaches a cluster.
    let mut by_identity: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, spec) in &specs {
        by_identity
            .entry((spec.domain.clone(), spec.app_name.clone()))
            .or_default()
            .push(*i);
    }
    for claimants in by_identity.values().filter(|c| c.len() > 1) {
        for &i in claimants {
            let others: Vec<String> = claimants
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| {
                    format!(
                        "{}:{} ({})",
                        planned[j].source, planned[j].document, planned[j].name
                    )
                })
                .collect();
            planned[i].action = Action::Conflict;
            planned[i].note = format!("the same template is also claimed by {}", others.join(", "));
        }
    }
    let todo: Vec<(usize, LiveSnapshotTemplateSpec, Option<String>, String)> = specs
        .into_iter()
        .filter(|(i, _)| planned[*i].action != Action::Conflict)
        .map(|(i, spec)| {
            (
                i,
                spec,
                planned[i].namespace.clone(),
                planned[i].name.clone(),
            )
        })
        .collect();
    let total = todo.len();
    let mut done = 0;
    let mut results = futures::stream::iter(todo)
        .map(|(i, spec, ns, name)| {
            let api = api.clone();
            let cluster = cluster.clone();
            async move {
                let seen = api.observe(&spec.domain, &spec.app_name).await;
                let owned = match cluster {
                    Some(c) => Some(owns(c, ns.as_deref(), &name).await),
                    None => None,
                };
                (i, spec, seen, owned)
            }
        })
        .buffer_unordered(8);
    while let Some((i, spec, seen, owned)) = results.next().await {
        done += 1;
        progress(done, total);
        let p = &mut planned[i];
        match seen {
            Err(e) => {
                p.action = Action::Error;
                p.note = e.to_string();
            }
            Ok(seen) => match owned {
                Some(Err(e)) => {
                    p.action = Action::Error;
                    p.note = format!("reading the object from the cluster: {e}");
                }
                Some(Ok(owned)) => decide(p, &spec, seen.as_ref(), Some(owned)),
                None => decide(p, &spec, seen.as_ref(), None),
            },
        }
    }
    planned
}

/// Whether the object in the cluster has claimed its template (any recorded ownership, a
/// create in flight included, which the operator treats as its own).
async fn owns(client: kube::Client, ns: Option<&str>, name: &str) -> Result<bool, kube::Error> {
    let api: kube::Api<crate::kinds::live::resource::LiveSnapshotTemplate> = match ns {
        Some(ns) => kube::Api::namespaced(client, ns),
        None => kube::Api::default_namespaced(client),
    };
    Ok(api
        .get_opt(name)
        .await?
        .and_then(|o| o.status)
        .is_some_and(|s| s.managed.ownership.is_some()))
}

fn decide(
    p: &mut Planned,
    spec: &LiveSnapshotTemplateSpec,
    seen: Option<&crate::clouds::huawei::LiveSnapshotConfig>,
    owned: Option<bool>,
) {
    let observe = spec.management_policy == ManagementPolicy::Observe;
    let Some(seen) = seen else {
        if observe {
            p.action = Action::Observe;
            p.note = "absent upstream; Observe reports NotFound and creates nothing".into();
        } else {
            p.action = Action::Create;
        }
        return;
    };
    // The callback key lives in a Secret the plan cannot read: it is left out of the diff.
    p.changes = diff(&desired(spec, None), seen);
    let same = p.changes.is_empty();
    if observe {
        p.action = if same {
            Action::NoChange
        } else {
            Action::Observe
        };
        if !same {
            p.note = "differs upstream; Observe reports the drift and writes nothing".into();
        }
        return;
    }
    let policy = spec.adoption_policy;
    let allowed = match policy {
        AdoptionPolicy::Never => false,
        AdoptionPolicy::IfMatching => same,
        AdoptionPolicy::Always => true,
    };
    let (action, note) = match owned {
        Some(true) => (
            if same {
                Action::NoChange
            } else {
                Action::Update
            },
            String::new(),
        ),
        Some(false) if allowed => (
            Action::Adopt,
            format!(
                "exists upstream and this object does not own it yet: taken over (adoptionPolicy {policy:?})"
            ),
        ),
        Some(false) => (
            Action::AdoptionRefused,
            format!(
                "exists upstream and this object does not own it: left alone and reported AlreadyExists (adoptionPolicy {policy:?})"
            ),
        ),
        // Unchanged objects stay quiet: a plan of a large repo should show what changes.
        None if same => (Action::NoChange, String::new()),
        None => (
            Action::Update,
            if allowed {
                format!(
                    "assumed to be this object's; if not, it is taken over (adoptionPolicy {policy:?}); --cluster tells"
                )
            } else {
                format!(
                    "assumed to be this object's; if not, it is left alone and reported AlreadyExists (adoptionPolicy {policy:?}); --cluster tells"
                )
            },
        ),
    };
    p.action = action;
    p.note = note;
}

/// The plan as a reviewer reads it, one object per block, then a summary line.
pub fn render(planned: &[Planned]) -> String {
    let mut out = String::new();
    for p in planned {
        let (mark, word) = (p.mark(), p.word());
        let ns = p
            .namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{mark} {word}: {} {ns}{} -> {}  ({}:{})\n",
            p.kind, p.name, p.target, p.source, p.document
        ));
        for c in &p.changes {
            out.push_str(&format!(
                "      {}: {:?} -> {:?}\n",
                c.field, c.observed, c.desired
            ));
        }
        if !p.note.is_empty() {
            out.push_str(&format!("      # {}\n", p.note));
        }
    }
    let count = |a: Action| planned.iter().filter(|p| p.action == a).count();
    out.push_str(&format!(
        "\nPlan: {} to create, {} to update, {} to adopt, {} refused adoption, {} unchanged, {} observe-only, {} to delete, {} to remove keeping upstream, {} conflicts, {} errors.\n",
        count(Action::Create),
        count(Action::Update),
        count(Action::Adopt),
        count(Action::AdoptionRefused),
        count(Action::NoChange),
        count(Action::Observe),
        count(Action::Delete),
        count(Action::Orphan),
        count(Action::Conflict),
        count(Action::Error),
    ));
    out.push_str(&kinds_line(planned));
    out
}

/// How many objects of each kind were planned, so a kind that is missing is visible.
fn kinds_line(planned: &[Planned]) -> String {
    let kinds = ["LiveSnapshotTemplate", "VodAssetSnapshot", "MpsSnapshotJob"];
    let parts: Vec<String> = kinds
        .iter()
        .map(|k| format!("{} {k}", planned.iter().filter(|p| p.kind == *k).count()))
        .collect();
    format!("Objects: {}.\n", parts.join(", "))
}

/// The plan as a pull-request comment: a table of what changes, then the summary.
pub fn markdown(planned: &[Planned]) -> String {
    let mut out = String::from("### live-snapshot-operator plan\n\n");
    let changing: Vec<&Planned> = planned
        .iter()
        .filter(|p| p.action != Action::NoChange)
        .collect();
    if changing.is_empty() {
        out.push_str("No changes upstream.\n\n");
    } else {
        out.push_str(
            "| | action | kind | object | upstream | details |\n|---|---|---|---|---|---|\n",
        );
        for p in changing {
            let (mark, word) = (p.mark(), p.word());
            let mut details: Vec<String> = p
                .changes
                .iter()
                .map(|c| format!("`{}`: {:?} → {:?}", c.field, c.observed, c.desired))
                .collect();
            if !p.note.is_empty() {
                details.push(p.note.clone());
            }
            let ns = p
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            out.push_str(&format!(
                "| `{mark}` | {word} | {} | `{ns}{}` | `{}` | {} |\n",
                p.kind,
                p.name,
                p.target,
                details.join("<br>").replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    let summary = render(planned);
    for line in summary
        .lines()
        .filter(|l| l.starts_with("Plan:") || l.starts_with("Objects:"))
    {
        out.push_str(&format!("{line}\n"));
    }
    out
}

/// 0 nothing to do, 2 changes, 1 errors or conflicts (and refused adoptions when
/// `refused_adoption_fails`): `terraform plan -detailed-exitcode`.
pub fn exit_code(planned: &[Planned], refused_adoption_fails: bool) -> u8 {
    if planned.iter().any(|p| {
        matches!(p.action, Action::Error | Action::Conflict)
            || (refused_adoption_fails && p.action == Action::AdoptionRefused)
    }) {
        1
    } else if planned.iter().any(Planned::writes) {
        2
    } else {
        0
    }
}
