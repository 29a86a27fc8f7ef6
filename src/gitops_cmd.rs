//! The `validate`, `plan` and `import` subcommands: arguments in, text or JSON out, and an
//! exit code CI can branch on.

use std::io::IsTerminal;

use live_snapshot_operator::cli::{ImportArgs, PlanArgs, PlanFormat, ReportFormat, ValidateArgs};
use live_snapshot_operator::gitops::{
    cloud, import, manifests, plan, plan_kinds, report, validate,
};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Read(#[from] manifests::ReadError),
    #[error("upstream: {0}")]
    Upstream(#[from] live_snapshot_operator::clouds::huawei::ApiError),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Encode(String),
    #[error(transparent)]
    Schema(#[from] validate::SchemaError),
    #[error("--crd {path}: {reason}")]
    Crd { path: String, reason: String },
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, CommandError> {
    serde_json::to_string_pretty(v).map_err(|e| CommandError::Encode(e.to_string()))
}

/// Progress on stderr for runs long enough to need it, and only where a person watches.
fn progress(what: &'static str) -> impl Fn(usize, usize) + Send + Sync {
    let show = std::io::stderr().is_terminal();
    move |done, total| {
        if show && (done == total || done % 25 == 0) {
            eprint!("\r{what}: {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    }
}

/// The kinds to validate against: those of the `--crd` files (every CustomResourceDefinition
/// document in them), or the ones this build installs.
fn kinds(crd_files: &[std::path::PathBuf]) -> Result<Vec<validate::ServedKind>, CommandError> {
    if crd_files.is_empty() {
        return Ok(validate::served_kinds());
    }
    let mut crds = Vec::new();
    for doc in manifests::read(crd_files)? {
        if doc.value["kind"] != "CustomResourceDefinition" {
            continue;
        }
        let crd = serde_json::from_value(doc.value).map_err(|e| CommandError::Crd {
            path: format!("{}:{}", doc.source, doc.index),
            reason: e.to_string(),
        })?;
        crds.push(crd);
    }
    if crds.is_empty() {
        return Err(CommandError::Crd {
            path: crd_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: "no CustomResourceDefinition in these files".into(),
        });
    }
    Ok(validate::kinds_of(&crds)?)
}

pub fn validate(args: &ValidateArgs) -> Result<u8, CommandError> {
    let kinds = kinds(&args.crd)?;
    let (docs, unreadable) = manifests::read_lenient(&args.paths)?;
    let mut verdict = validate::validate_with(&kinds, &docs);
    // A file that is not YAML is reported, and the others are still checked.
    for e in unreadable {
        let (source, document, message) = match e {
            manifests::ReadError::Yaml {
                path,
                index,
                source,
            } => (path, index, format!("not YAML, skipped: {source}")),
            manifests::ReadError::Io { path, source } => (path, 0, source.to_string()),
        };
        verdict.findings.push(validate::Finding {
            source,
            document,
            kind: String::new(),
            name: String::new(),
            field: String::new(),
            message,
        });
    }
    match args.output {
        ReportFormat::Json => println!("{}", json(&verdict)?),
        ReportFormat::Junit => print!("{}", report::junit(&verdict)),
        ReportFormat::Github => print!("{}", report::github(&verdict)),
        ReportFormat::Text => {
            for f in &verdict.findings {
                println!("{f}");
            }
            eprintln!(
                "{} objects checked, {} other documents skipped, {} errors",
                verdict.checked,
                verdict.skipped,
                verdict.findings.len()
            );
        }
    }
    Ok(u8::from(!verdict.findings.is_empty()))
}

pub async fn plan(args: &PlanArgs) -> Result<u8, CommandError> {
    let docs = manifests::read(&args.paths)?;
    let verdict = validate::validate(&docs);
    if !verdict.findings.is_empty() {
        for f in &verdict.findings {
            eprintln!("{f}");
        }
        eprintln!("invalid manifests: fix them before planning (see `validate`)");
        return Ok(1);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (_, api) = cloud::connect(&args.cloud)?;
    let cluster = match args.cluster {
        true => Some(kube::Client::try_default().await?),
        false => None,
    };
    let mut planned = plan::plan(&docs, api, cluster.clone(), progress("reading upstream")).await;
    planned.extend(plan_kinds::plan(&docs, cluster.as_ref()).await);
    if let Some(client) = &cluster {
        planned.extend(plan_kinds::removed(&docs, client).await);
    }
    let code = plan::exit_code(&planned, args.fail_on_refused_adoption);
    match args.output {
        PlanFormat::Json => println!(
            "{}",
            json(&serde_json::json!({"formatVersion": 1, "objects": planned, "exitCode": code}))?
        ),
        PlanFormat::Text => print!("{}", plan::render(&planned)),
        PlanFormat::Markdown => print!("{}", plan::markdown(&planned)),
    }
    Ok(code)
}

/// Objects that follow what VOD assets and MPS pipelines already hold: each snapshot task of
/// the assets, each job of the pipelines within `--since-hours`, by its id.
async fn import_followers(
    args: &ImportArgs,
    opts: &import::Options<'_>,
) -> Result<Vec<(String, serde_json::Value)>, CommandError> {
    let mut out = Vec::new();
    if !args.asset.is_empty() {
        let vod = cloud::vod(&args.cloud, args.vod_endpoint.as_deref())?;
        for asset in &args.asset {
            let tasks = vod.list_tasks(asset).await?;
            eprintln!("asset {asset}: {} snapshot tasks", tasks.len());
            out.extend(
                tasks
                    .iter()
                    .map(|t| import::vod_manifest(asset, &t.task_id, opts)),
            );
        }
    }
    if let Some(region) = args
        .mps_region
        .as_deref()
        .filter(|_| !args.pipeline.is_empty())
    {
        let mps = cloud::mps(&args.cloud, region, args.mps_endpoint.as_deref())?;
        let now = jiff::Timestamp::now();
        let since = jiff::SignedDuration::from_hours(args.since_hours.min(100_000) as i64);
        for pipeline in &args.pipeline {
            let filter = live_snapshot_operator::clouds::alibaba::mps::JobFilter {
                pipeline_id: Some(pipeline.clone()),
                created_from: Some(now - since),
                created_to: Some(now + live_snapshot_operator::kinds::mps::lookup::CLOCK_SKEW),
                ..Default::default()
            };
            let jobs = mps.list(&filter).await?;
            eprintln!("pipeline {pipeline}: {} jobs", jobs.len());
            out.extend(
                jobs.iter()
                    .map(|j| import::mps_manifest(region, &j.id, opts)),
            );
        }
    }
    Ok(out)
}

pub async fn import(args: &ImportArgs) -> Result<u8, CommandError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (client, _) = cloud::connect(&args.cloud)?;
    let mut templates = Vec::new();
    for domain in &args.domain {
        let listing = client.list(domain, args.app.as_deref()).await?;
        for (d, a, why) in &listing.unreadable {
            eprintln!("skipped {d}/{a}: the service sent it in a form that does not parse: {why}");
        }
        let found: Vec<_> = listing
            .items
            .into_iter()
            .filter(|t| &t.domain == domain && args.app.as_ref().is_none_or(|a| &t.app_name == a))
            .collect();
        eprintln!("{domain}: {} templates", found.len());
        templates.extend(found);
    }
    let opts = import::Options {
        namespace: args.namespace.as_deref(),
        deletion_policy: &args.deletion_policy,
        adoption_policy: &args.adoption_policy,
        credentials_secret: args.credentials_secret.as_deref(),
    };
    let mut objects = import::manifests(&templates, &opts);
    objects.extend(import_followers(args, &opts).await?);
    let header = format!(
        "# Imported by `live-snapshot-operator import` from project {}. Applying it adopts the\n# template without changing it upstream (adoptionPolicy {}, deletionPolicy {}).\n",
        args.cloud.project_id, args.adoption_policy, args.deletion_policy
    );
    let mut stream = String::new();
    let mut invalid = 0;
    // Each kind's schema, generated once for every manifest written.
    let kinds = validate::served_kinds();
    for (name, obj) in &objects {
        let kind = kinds.iter().find(|k| obj["kind"] == k.kind.as_str());
        let problems = kind.map(|k| validate::check(k, obj)).unwrap_or_default();
        for (field, message) in problems {
            invalid += 1;
            eprintln!(
                "warning: {name}: {field}: {message} (upstream holds a value the CRD refuses; edit before applying)"
            );
        }
        let mut text = header.clone();
        if obj["spec"]["callback"]["authKeySecretRef"].is_object() {
            text.push_str(&format!(
                "# The template has a callback key: create a Secret with it and replace {:?} below.\n",
                import::KEY_SECRET_PLACEHOLDER
            ));
        }
        text.push_str(
            &serde_yaml::to_string(obj).map_err(|e| CommandError::Encode(e.to_string()))?,
        );
        match &args.out_dir {
            Some(dir) => {
                let path = dir.join(format!("{name}.yaml"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, text))
                    .map_err(|source| CommandError::Write {
                        path: path.display().to_string(),
                        source,
                    })?;
            }
            None => {
                stream.push_str("---\n");
                stream.push_str(&text);
            }
        }
    }
    print!("{stream}");
    eprintln!("{} manifests written", objects.len());
    Ok(u8::from(invalid > 0))
}
