//! A throwaway Kubernetes control plane on 127.0.0.1 (etcd + kube-apiserver built from the
//! pinned Go module in tests/e2e/tools), for the end-to-end suite and the local quick start.
//! Everything lives in a temporary directory and is torn down when the value is dropped.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum DevEnvError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("building the control-plane tools failed: {0}")]
    Build(String),
    #[error("{what} did not become ready within {secs}s; its log is {log}:\n{tail}")]
    NotReady {
        what: &'static str,
        secs: u64,
        log: String,
        tail: String,
    },
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("readiness probe client: {0}")]
    Probe(String),
    #[error("{0}")]
    Command(String),
}

/// Where the pinned tools are: `LSO_TOOLS_DIR`, or built (once, cached) by the repo's script.
pub fn tools_dir(repo_root: &Path) -> Result<PathBuf, DevEnvError> {
    if let Some(dir) = std::env::var_os("LSO_TOOLS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("bash")
        .arg(repo_root.join("tests/e2e/tools/build.sh"))
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(DevEnvError::Build(format!(
            "tests/e2e/tools/build.sh exited with {}",
            out.status
        )));
    }
    let dir = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(PathBuf::from(dir))
}

pub struct ControlPlane {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub server: String,
    pub tools: PathBuf,
    /// Behind a lock so a shared control plane's API server can be restarted under its users.
    children: std::sync::Mutex<Vec<(&'static str, Child)>>,
    apiserver_args: Vec<String>,
    token: String,
    ca_pem: String,
}

fn free_port() -> Result<u16, DevEnvError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Spawns a child that is killed with us even if we are killed (PR_SET_PDEATHSIG).
fn spawn(cmd: &mut Command, log: &Path) -> Result<Child, DevEnvError> {
    spawn_to(cmd, std::fs::File::create(log)?)
}

fn spawn_to(cmd: &mut Command, file: std::fs::File) -> Result<Child, DevEnvError> {
    cmd.stdout(file.try_clone()?)
        .stderr(file)
        .stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Ok(cmd.spawn()?)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits until `/readyz` answers.
    pub async fn start(tools: &Path) -> Result<Self, DevEnvError> {
        let dir = tempfile::Builder::new()
            .prefix("lso-control-plane-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        let mut cp = ControlPlane {
            dir,
            kubeconfig: d.join("kubeconfig"),
            server: String::new(),
            tools: tools.to_path_buf(),
            children: Default::default(),
            apiserver_args: Vec::new(),
            token: String::new(),
            ca_pem: String::new(),
        };

        // Certificates: a CA, a serving certificate for 127.0.0.1, a service-account key.
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "lso-local-ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let serving_key = KeyPair::generate()?;
        let mut serving =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let serving_cert = serving.signed_by(&serving_key, &ca)?;
        let sa_key = KeyPair::generate()?;
        std::fs::write(d.join("ca.crt"), ca.pem())?;
        std::fs::write(d.join("apiserver.crt"), serving_cert.pem())?;
        std::fs::write(d.join("apiserver.key"), serving_key.serialize_pem())?;
        std::fs::write(d.join("sa.key"), sa_key.serialize_pem())?;
        std::fs::write(d.join("sa.pub"), sa_key.public_key_pem())?;
        let token = hex::encode(rand::random::<[u8; 16]>());
        std::fs::write(
            d.join("tokens.csv"),
            format!("{token},admin,admin-uid,\"system:masters\"\n"),
        )?;

        let (client_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = spawn(
            Command::new(tools.join("etcd"))
                .arg(format!("--data-dir={}", d.join("etcd").display()))
                .arg(format!("--listen-client-urls={etcd_url}"))
                .arg(format!("--advertise-client-urls={etcd_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=default={peer_url}"))
                .arg("--unsafe-no-fsync")
                .arg("--log-level=warn"),
            &d.join("etcd.log"),
        )?;
        cp.children_mut().push(("etcd", etcd));

        cp.apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            String::from("--bind-address=127.0.0.1"),
            String::from("--advertise-address=127.0.0.1"),
            format!("--secure-port={api_port}"),
            format!("--tls-cert-file={}", d.join("apiserver.crt").display()),
            format!(
                "--tls-private-key-file={}",
                d.join("apiserver.key").display()
            ),
            format!("--cert-dir={}", d.join("certs").display()),
            String::from("--authorization-mode=RBAC"),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            String::from("--service-cluster-ip-range=10.0.0.0/24"),
            String::from("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
            format!("--service-account-key-file={}", d.join("sa.pub").display()),
            format!(
                "--service-account-signing-key-file={}",
                d.join("sa.key").display()
            ),
            String::from("--disable-admission-plugins=ServiceAccount"),
            String::from("--endpoint-reconciler-type=none"),
            String::from("--allow-privileged=true"),
        ];
        let apiserver = cp.spawn_apiserver()?;
        cp.children_mut().push(("kube-apiserver", apiserver));
        cp.server = format!("https://127.0.0.1:{api_port}");

        let ca_b64 = base64_encode(ca.pem().as_bytes());
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {ca_b64}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n    namespace: default\ncurrent-context: local\n",
            cp.server
        );
        let mut f = std::fs::File::create(&cp.kubeconfig)?;
        f.write_all(kubeconfig.as_bytes())?;
        cp.token = token;
        cp.ca_pem = ca.pem();
        cp.wait_ready().await?;
        Ok(cp)
    }

    fn children_mut(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, Child)>> {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn_apiserver(&self) -> Result<Child, DevEnvError> {
        let log = self.dir.path().join("kube-apiserver.log");
        let mut cmd = Command::new(self.tools.join("kube-apiserver"));
        cmd.args(&self.apiserver_args);
        // Appends, so a restart keeps the first run's log.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        spawn_to(&mut cmd, file)
    }

    /// Stops kube-apiserver and starts it again on the same port and etcd, as an upgrade or a
    /// crash of the control plane would, and waits until it is ready.
    pub async fn restart_apiserver(&self) -> Result<(), DevEnvError> {
        {
            let mut children = self.children_mut();
            if let Some(i) = children.iter().position(|(n, _)| *n == "kube-apiserver") {
                let (_, mut old) = children.remove(i);
                let _ = old.kill();
                let _ = old.wait();
            }
        }
        let fresh = self.spawn_apiserver()?;
        self.children_mut().push(("kube-apiserver", fresh));
        self.wait_ready().await
    }

    /// Starts kube-controller-manager with only the named controllers (for example
    /// `clusterrole-aggregation`, which fills the built-in admin/edit/view roles from the
    /// ClusterRoles labelled to aggregate into them), stopped with the control plane. Nothing
    /// is served: it only watches and writes through the admin kubeconfig.
    pub fn start_controller_manager(&self, controllers: &str) -> Result<(), DevEnvError> {
        let mut children = self.children_mut();
        if children
            .iter()
            .any(|(n, _)| *n == "kube-controller-manager")
        {
            return Ok(());
        }
        let binary = self.tools.join("kube-controller-manager");
        if !binary.exists() {
            return Err(DevEnvError::Build(format!(
                "{} is missing: tests/e2e/tools/build.sh builds it",
                binary.display()
            )));
        }
        let child = spawn(
            Command::new(binary)
                .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
                .arg(format!("--controllers={controllers}"))
                .arg("--leader-elect=false")
                .arg("--secure-port=0")
                .arg("--use-service-account-credentials=false"),
            &self.dir.path().join("kube-controller-manager.log"),
        )?;
        children.push(("kube-controller-manager", child));
        Ok(())
    }

    async fn wait_ready(&self) -> Result<(), DevEnvError> {
        let (token, ca_pem) = (self.token.as_str(), self.ca_pem.as_str());
        let deadline = Instant::now() + Duration::from_secs(90);
        let url = format!("{}/readyz", self.server);
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca_pem.as_bytes())
                    .map_err(|e| DevEnvError::Probe(e.to_string()))?,
            )
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| DevEnvError::Probe(e.to_string()))?;
        loop {
            for (name, child) in self.children_mut().iter_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = self.dir.path().join(format!("{name}.log"));
                    let tail = format!("exited with {status}\n{}", tail(&log));
                    return Err(DevEnvError::NotReady {
                        what: name,
                        secs: 0,
                        log: log.display().to_string(),
                        tail,
                    });
                }
            }
            let ok = http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.dir.path().join("kube-apiserver.log");
                return Err(DevEnvError::NotReady {
                    what: "kube-apiserver",
                    secs: 90,
                    log: log.display().to_string(),
                    tail: tail(&log),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A user's own cluster instead of a local one: nothing is started or stopped, the tools
    /// (helm, kubectl) still come from `tools`.
    pub fn external(kubeconfig: &Path, tools: &Path) -> Result<Self, DevEnvError> {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)
            .map_err(|e| DevEnvError::Kubeconfig(e.to_string()))?;
        let context = kc.current_context.clone().unwrap_or_default();
        let cluster = kc
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_default();
        let server = kc
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .ok_or_else(|| DevEnvError::Kubeconfig(format!("no server for context {context:?}")))?;
        Ok(ControlPlane {
            dir: tempfile::Builder::new().prefix("lso-external-").tempdir()?,
            kubeconfig: kubeconfig.to_path_buf(),
            server,
            tools: tools.to_path_buf(),
            children: Default::default(),
            apiserver_args: Vec::new(),
            token: String::new(),
            ca_pem: String::new(),
        })
    }

    /// A client for the admin identity.
    pub async fn client(&self) -> Result<kube::Client, DevEnvError> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| DevEnvError::Kubeconfig(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| DevEnvError::Kubeconfig(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| DevEnvError::Kubeconfig(e.to_string()))
    }

    /// Installs the CRD from `repo`/crds the way users are told to (server-side apply) and waits
    /// until it is Established.
    pub fn install_crd(&self, repo: &Path) -> Result<(), DevEnvError> {
        let steps: [&[&str]; 2] = [
            &["apply", "--server-side", "-f", "crds/"],
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/livesnapshottemplates.live.snapshot.dev",
                "crd/vodassetsnapshots.live.snapshot.dev",
                "crd/mpssnapshotjobs.live.snapshot.dev",
            ],
        ];
        for args in steps {
            let out = self.kubectl().args(args).current_dir(repo).output()?;
            if !out.status.success() {
                return Err(DevEnvError::Command(format!(
                    "kubectl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        Ok(())
    }

    /// Server-side applies every YAML document of the files in `dir` (sorted by name) with
    /// the admin client, CustomResourceDefinitions first, and waits until each CRD is
    /// Established. What `kubectl apply --server-side -f DIR` does, without needing kubectl:
    /// the quick start builds only etcd and kube-apiserver.
    pub async fn apply_dir(&self, dir: &Path) -> Result<Vec<String>, DevEnvError> {
        use kube::api::{Api, DynamicObject, Patch, PatchParams};
        let client = self.client().await?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file)?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value = serde_yaml::Value::deserialize(doc)
                    .map_err(|e| DevEnvError::Command(format!("{}: {e}", file.display())))?;
                if value.is_null() {
                    continue;
                }
                let obj: DynamicObject = serde_yaml::from_value(value)
                    .map_err(|e| DevEnvError::Command(format!("{}: {e}", file.display())))?;
                docs.push(obj);
            }
        }
        let is_crd = |o: &DynamicObject| {
            o.types
                .as_ref()
                .is_some_and(|t| t.kind == "CustomResourceDefinition")
        };
        // CRDs first: the documents after them may be of the kinds they define.
        docs.sort_by_key(|o| !is_crd(o));
        let params = PatchParams::apply("lso-quickstart").force();
        let mut applied = Vec::new();
        for obj in docs {
            let types = obj
                .types
                .clone()
                .ok_or_else(|| DevEnvError::Command("a document without apiVersion/kind".into()))?;
            let gvk = kube::api::GroupVersionKind::try_from(&types)
                .map_err(|e| DevEnvError::Command(e.to_string()))?;
            let name = obj.metadata.name.clone().unwrap_or_default();
            let (resource, caps) = self.wait_for_kind(&client, &gvk).await?;
            let api: Api<DynamicObject> = match caps.scope {
                kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
                kube::discovery::Scope::Namespaced => Api::namespaced_with(
                    client.clone(),
                    obj.metadata.namespace.as_deref().unwrap_or("default"),
                    &resource,
                ),
            };
            api.patch(&name, &params, &Patch::Apply(&obj))
                .await
                .map_err(|e| DevEnvError::Command(format!("apply {} {name}: {e}", gvk.kind)))?;
            if is_crd(&obj) {
                self.wait_established(&client, &name).await?;
            }
            applied.push(format!("{}/{name}", resource.plural));
        }
        Ok(applied)
    }

    /// Discovery of a kind just defined by a CRD can lag its Established condition briefly.
    async fn wait_for_kind(
        &self,
        client: &kube::Client,
        gvk: &kube::api::GroupVersionKind,
    ) -> Result<(kube::api::ApiResource, kube::discovery::ApiCapabilities), DevEnvError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match kube::discovery::pinned_kind(client, gvk).await {
                Ok(found) => return Ok(found),
                Err(e) if Instant::now() > deadline => {
                    return Err(DevEnvError::Command(format!(
                        "no API serves {}: {e}",
                        gvk.kind
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn wait_established(&self, client: &kube::Client, name: &str) -> Result<(), DevEnvError> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let crd = api
                .get(name)
                .await
                .map_err(|e| DevEnvError::Command(format!("read CRD {name}: {e}")))?;
            let established = crd.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if established {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DevEnvError::Command(format!(
                    "CRD {name} not Established within 60s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `kubectl` from the pinned tools when present, else the one on PATH.
    pub fn kubectl(&self) -> Command {
        let pinned = self.tools.join("kubectl");
        let mut cmd = Command::new(if pinned.exists() {
            pinned
        } else {
            PathBuf::from("kubectl")
        });
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    pub fn helm(&self) -> Command {
        let mut cmd = Command::new(self.tools.join("helm"));
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.path().join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.path().join("helm/data"));
        cmd
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // API server first, so it does not log etcd errors while going down.
        for (_, child) in self.children_mut().iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn base64_encode(data: &[u8]) -> String {
    use k8s_openapi::ByteString;
    // ByteString serialises as standard base64, which is what kubeconfig wants.
    serde_json::to_value(ByteString(data.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
