//! Command-line interface of the operator binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ObserveMode {
    Coalesced,
    PerObject,
}

/// The crate version and the commit it was built from (`build.rs`), for `--version`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LSO_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "live-snapshot-operator",
    version = VERSION,
    about = "Keeps Huawei Cloud Live snapshot templates, VOD asset snapshots and Alibaba Cloud MPS \
             snapshot jobs equal to their Kubernetes objects; validates, plans and imports their \
             manifests. Also a kubectl plugin when installed as kubectl-lso."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator against the cluster of the current kubeconfig (KUBECONFIG, ~/.kube/config)
    /// or, inside a pod, the in-cluster service account.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions of every kind as YAML, or write one file per kind
    /// (`<plural>.yaml`) into --output-dir.
    Crd {
        /// Directory to write the files into instead of standard output.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Also write each kind's JSON schema into this directory, in kubeconform's
        /// `{kind}_{version}.json` layout (kind in lower case).
        #[arg(long)]
        json_schema_dir: Option<PathBuf>,
    },
    /// Check manifests offline with the rules the API server applies at admission (schema and
    /// CEL) for every kind this operator serves. Exit 1 when any object is invalid.
    Validate(ValidateArgs),
    /// Show what the operator would do upstream for these manifests, making only read calls:
    /// create, update (field by field), adopt, conflict or nothing. Exit 0 without changes, 2
    /// with changes, 1 on errors (as `terraform plan -detailed-exitcode`).
    Plan(PlanArgs),
    /// Write manifests for the templates that exist upstream, ready to commit: adoption set,
    /// deletionPolicy Orphan, callback keys replaced by a Secret reference to fill in.
    Import(Box<ImportArgs>),
    /// Print a completion script for a shell, e.g.
    /// `live-snapshot-operator completions bash > /etc/bash_completion.d/live-snapshot-operator`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// GET a health endpoint and exit 0 when it answers 2xx, 1 otherwise: the chart's `helm
    /// test` Pod runs it from the operator image, which has no shell and no curl.
    Probe(ProbeArgs),
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// The URL to GET (plain http: the operator's health port).
    #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
    pub url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout_seconds: u64,
}

/// How `validate` reports: for people, for programs, or for CI systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One line per problem: `file:document: Kind/name: field: message`.
    Text,
    /// The verdict as JSON.
    Json,
    /// A JUnit XML report: one test case per object (GitLab, Jenkins, most CI systems).
    Junit,
    /// GitHub Actions workflow commands: an error annotation per problem.
    Github,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories (searched recursively for .yaml, .yml, .json), or - for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Validate against the CustomResourceDefinitions in this file (or directory) instead of
    /// the ones built in, e.g. the CRDs a cluster runs: `kubectl get crd -o yaml > crds.yaml`.
    /// Repeatable.
    #[arg(long = "crd", value_name = "FILE")]
    pub crd: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
}

/// Read-only cloud access for `plan` and `import`: the same variables as `run`.
#[derive(Args, Debug, Clone)]
pub struct CloudArgs {
    /// Live API endpoint; derived from --region when unset.
    #[arg(long, env = "LIVE_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Cloud region, e.g. cn-north-4.
    #[arg(long, env = "LIVE_REGION")]
    pub region: Option<String>,
    /// Project id the templates live in.
    #[arg(long, env = "LIVE_PROJECT_ID")]
    pub project_id: String,
    /// Access key (from the environment, never the command line, in CI).
    #[arg(long, env = "CLOUD_SDK_AK", hide_env_values = true)]
    pub access_key: String,
    /// Secret key.
    #[arg(long, env = "CLOUD_SDK_SK", hide_env_values = true)]
    pub secret_key: String,
    /// Allow plain http endpoints other than loopback.
    #[arg(long, env = "LSO_ALLOW_INSECURE_HTTP", default_value_t = false)]
    pub allow_insecure_http: bool,
    /// Upstream calls per second (keep it under the account's quota, shared with the operator).
    #[arg(long, default_value_t = 10.0)]
    pub upstream_qps: f64,
    /// Timeout of one upstream call, seconds.
    #[arg(long, default_value_t = 10)]
    pub upstream_timeout_seconds: u64,
}

/// How `plan` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// One block per object, then a summary.
    Text,
    /// `{"formatVersion": 1, "objects": [...], "exitCode": N}`.
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Files or directories (searched recursively for .yaml, .yml, .json), or - for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// Exit 1, as for an error, when an adoption would be refused (the object would report
    /// AlreadyExists after the merge).
    #[arg(long, default_value_t = false)]
    pub fail_on_refused_adoption: bool,
    /// Also read the objects from the cluster of the current kubeconfig (GETs and LISTs only):
    /// each object's status tells an adoption from an update and a submitted job from a new
    /// one, and objects of the manifests' namespaces that the repository no longer has are
    /// shown as deleted or orphaned, per their deletionPolicy.
    #[arg(long, default_value_t = false)]
    pub cluster: bool,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Ingest domain whose templates are imported (LiveSnapshotTemplate).
    #[arg(long, required_unless_present_any = ["asset", "pipeline"])]
    pub domain: Vec<String>,
    /// VOD asset whose snapshot tasks are imported (VodAssetSnapshot objects that follow each
    /// task by its id, managementPolicy Observe: they read and never write).
    #[arg(long)]
    pub asset: Vec<String>,
    /// VOD endpoint for --asset (default: https://vod.{--region}.myhuaweicloud.com).
    #[arg(long, env = "VOD_ENDPOINT")]
    pub vod_endpoint: Option<String>,
    /// MPS pipeline whose jobs are imported (MpsSnapshotJob objects that follow each job by
    /// its id: read-only). The --access-key and --secret-key are then the Alibaba Cloud ones.
    #[arg(long, requires = "mps_region")]
    pub pipeline: Vec<String>,
    /// Alibaba Cloud region of the pipelines, e.g. cn-shanghai.
    #[arg(long)]
    pub mps_region: Option<String>,
    /// MPS endpoint (default: the region's, as the official SDK maps it).
    #[arg(long, env = "MPS_ENDPOINT")]
    pub mps_endpoint: Option<String>,
    /// How far back jobs are imported, in hours.
    #[arg(long, default_value_t = 168)]
    pub since_hours: u64,
    /// Only this application.
    #[arg(long)]
    pub app: Option<String>,
    /// Namespace written into the manifests (none when unset: kubectl -n decides).
    #[arg(long)]
    pub namespace: Option<String>,
    /// deletionPolicy of the imported objects.
    #[arg(long, default_value = "Orphan", value_parser = ["Orphan", "Delete"])]
    pub deletion_policy: String,
    /// adoptionPolicy of the imported objects: IfMatching takes a template over only while it
    /// still equals the manifest, so applying an import changes nothing upstream.
    #[arg(long, default_value = "IfMatching", value_parser = ["IfMatching", "Always"])]
    pub adoption_policy: String,
    /// credentialsSecretRef to write into each object.
    #[arg(long)]
    pub credentials_secret: Option<String>,
    /// Write one file per object into this directory instead of one stream on stdout.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Live API endpoint, e.g. https://live.cn-north-4.myhuaweicloud.com or, for the simulator,
    /// http://127.0.0.1:8443. Derived from --region when unset.
    #[arg(long, env = "LIVE_ENDPOINT")]
    pub endpoint: Option<String>,
    /// VOD API endpoint, e.g. https://vod.cn-north-4.myhuaweicloud.com. Derived from --region
    /// when unset.
    #[arg(long, env = "VOD_ENDPOINT")]
    pub vod_endpoint: Option<String>,
    /// Alibaba Cloud MPS endpoint for every MpsSnapshotJob (a private endpoint, or the
    /// simulator); otherwise each object's spec.region decides it (https://mts.{region}.aliyuncs.com, or the host the official SDK maps it to).
    #[arg(long, env = "MPS_ENDPOINT")]
    pub mps_endpoint: Option<String>,
    /// Cloud region, e.g. cn-north-4 (used for the endpoints when --endpoint or --vod-endpoint
    /// is unset).
    #[arg(long, env = "LIVE_REGION")]
    pub region: Option<String>,
    /// The kinds to manage (comma-separated); each needs its CRD installed.
    #[arg(
        long,
        env = "LSO_KINDS",
        value_delimiter = ',',
        default_values_t = crate::kinds::KindName::ALL.to_vec()
    )]
    pub kinds: Vec<crate::kinds::KindName>,
    /// Default project id, for objects without credentialsSecretRef.
    #[arg(long, env = "LIVE_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Default access key (prefer --access-key-file or the environment over the command line).
    #[arg(long, env = "CLOUD_SDK_AK", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Default secret key.
    #[arg(long, env = "CLOUD_SDK_SK", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the default access key (e.g. a mounted Secret).
    #[arg(long, env = "CLOUD_SDK_AK_FILE")]
    pub access_key_file: Option<PathBuf>,
    /// File holding the default secret key.
    #[arg(long, env = "CLOUD_SDK_SK_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// File holding a security token for temporary AK/SK credentials.
    #[arg(long, env = "CLOUD_SDK_SECURITY_TOKEN_FILE")]
    pub security_token_file: Option<PathBuf>,
    /// Endpoints that a credentials Secret may name (comma-separated, exact match). A Secret
    /// naming any other endpoint is refused, so no namespace can aim the operator elsewhere.
    #[arg(long, env = "LIVE_ENDPOINT_ALLOWLIST", value_delimiter = ',')]
    pub endpoint_allowlist: Vec<String>,
    /// Namespaces whose objects may use the default credentials (comma-separated; `*` for every
    /// namespace). Elsewhere an object must name its own credentials Secret, so a tenant cannot
    /// spend the operator's account by leaving credentialsSecretRef out. Default: none.
    #[arg(
        long,
        env = "LSO_DEFAULT_CREDENTIALS_NAMESPACES",
        value_delimiter = ','
    )]
    pub default_credentials_namespaces: Vec<String>,
    /// Allow plain http endpoints other than loopback (never needed against the real service).
    #[arg(long, env = "LSO_ALLOW_INSECURE_HTTP", default_value_t = false)]
    pub allow_insecure_http: bool,
    /// Longest one reconcile may take, every upstream call included, seconds.
    #[arg(long, default_value_t = 120)]
    pub reconcile_timeout_seconds: u64,
    /// Seconds between checks of an in-sync object against upstream (jittered +-20%).
    #[arg(long, env = "LSO_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,
    /// Seconds before the first retry of a failed object; doubles per failure.
    #[arg(long, default_value_t = 1)]
    pub backoff_base_seconds: u64,
    /// Longest retry delay, seconds.
    #[arg(long, default_value_t = 300)]
    pub backoff_max_seconds: u64,
    /// Reconciles running at once.
    #[arg(long, env = "LSO_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Upstream calls per second allowed per credential and project (0: no client-side limit).
    /// Keep it under the account's API quota (documented around 100/s for media services).
    #[arg(long, env = "LSO_UPSTREAM_QPS", default_value_t = 50.0)]
    pub upstream_qps: f64,
    /// Calls that may be made at once above the rate after a quiet spell.
    #[arg(long, default_value_t = 20)]
    pub upstream_burst: u32,
    /// How templates are read: `coalesced` lists each domain once for all its templates (a
    /// template missing from the listing is confirmed by a targeted read before any create);
    /// `per-object` reads each template on its own.
    #[arg(long, value_enum, default_value_t = ObserveMode::Coalesced)]
    pub observe: ObserveMode,
    /// Seconds one domain listing serves the templates of that domain (coalesced mode).
    #[arg(long, default_value_t = 3)]
    pub coalesce_window_seconds: u64,
    /// Timeout of one upstream call, seconds.
    #[arg(long, default_value_t = 10)]
    pub upstream_timeout_seconds: u64,
    /// Watch only these namespaces (comma-separated or repeated; default: all namespaces).
    #[arg(long = "namespace", env = "LSO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Reconcile only shard INDEX of COUNT (e.g. 0/2): the objects whose spec.domain hashes to
    /// INDEX. Run COUNT deployments, one per index, and give each its share of --upstream-qps so
    /// that their sum stays under the account's quota.
    #[arg(long, env = "LSO_SHARD")]
    pub shard: Option<crate::core::shard::Shard>,
    /// Only objects matching this label selector, e.g. team=media.
    #[arg(long, env = "LSO_LABEL_SELECTOR")]
    pub label_selector: Option<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "LSO_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// The Secret holding the key that proves ownership records, as namespace/name (default:
    /// POD_NAMESPACE, else the leader election namespace, else "default", and the name
    /// live-snapshot-operator-ownership-key). Created on first start; keep it out of tenants'
    /// reach, and keep it: without it, owned objects are re-owned only where upstream equals
    /// their spec.
    #[arg(long, env = "LSO_OWNERSHIP_KEY_SECRET")]
    pub ownership_key_secret: Option<String>,
    /// Watch the metadata of Secrets (never their data), so that a changed Secret re-reconciles
    /// the objects naming it within seconds. Needs cluster-wide list and watch on Secrets (or in
    /// every --namespace); without it a Secret is read at each reconcile, so a change is seen
    /// within one resync period.
    #[arg(long, env = "LSO_WATCH_SECRETS", default_value_t = false)]
    pub watch_secrets: bool,
    /// The ClusterRole a namespace binds to let the operator read its Secrets, as a refused
    /// object's condition names it.
    #[arg(long, env = "LSO_SECRETS_CLUSTER_ROLE", default_value = crate::core::SECRETS_CLUSTER_ROLE)]
    pub secrets_cluster_role: String,
    /// The operator's ServiceAccount as namespace:name, for the RoleBinding a refused object's
    /// condition tells its namespace to create.
    #[arg(long, env = "LSO_SERVICE_ACCOUNT")]
    pub service_account: Option<String>,
    /// Elect a leader through a coordination.k8s.io Lease, so that of several replicas only one
    /// reconciles; the others stand by and take over within the lease duration.
    #[arg(long, env = "LSO_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the Lease (default: POD_NAMESPACE, else "default").
    #[arg(long, env = "LSO_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, default_value = "live-snapshot-operator")]
    pub leader_election_lease: String,
    /// This process's identity in the Lease (default: POD_NAME or the host name, plus a random suffix).
    #[arg(long, env = "LSO_LEADER_ELECTION_IDENTITY")]
    pub leader_election_identity: Option<String>,
    /// Seconds a leader's lease stays valid without renewal; a standby takes over after it.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Seconds before expiry at which the leader renews.
    #[arg(long, default_value_t = 5)]
    pub lease_grace_seconds: u64,
    /// Export tracing spans (one per reconcile, one per upstream call) over OTLP/HTTP to this
    /// collector base URL, e.g. http://otel-collector:4318. Off when unset.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "LSO_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log level or filter (RUST_LOG syntax), e.g. info or live_snapshot_operator=debug.
    #[arg(long, env = "LSO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}
