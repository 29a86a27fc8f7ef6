//! The operator image as users get it: built without pulling anything (scripts/build-image.sh),
//! reproducible, the same user, entrypoint and files as the Dockerfile, and run with podman the
//! way the chart runs the pod (non-root, read-only root filesystem, no capabilities,
//! credentials mounted as files) until a template is Ready and SIGTERM stops it cleanly.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{AK, PROJECT, SK, Scenario, Shared, eventually, spec};

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn build(repo: &std::path::Path) -> String {
    // scripts/test.sh built the release binary before cargo took the build directory.
    let (ok, out) = run(Command::new("bash")
        .arg("scripts/build-image.sh")
        .env("LSO_IMAGE_SKIP_CARGO", "1")
        .current_dir(repo));
    assert!(ok, "scripts/build-image.sh: {out}");
    out.lines().last().unwrap_or_default().trim().to_string()
}

fn inspect(image: &str, format: &str) -> String {
    let (ok, out) =
        run(Command::new("podman").args(["image", "inspect", "--format", format, image]));
    assert!(ok, "podman image inspect {image}: {out}");
    out.trim().to_string()
}

/// The value of the last `INSTRUCTION` line of the Dockerfile.
fn dockerfile(repo: &std::path::Path, instruction: &str) -> String {
    let text = std::fs::read_to_string(repo.join("Dockerfile")).expect("Dockerfile");
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub async fn image_builds_reproducibly_and_runs_as_the_chart_runs_it(shared: Arc<Shared>) {
    let repo = shared.repo.clone();
    let (image, first_id, second_id) = tokio::task::spawn_blocking(move || {
        let image = build(&repo);
        let first = inspect(&image, "{{.Id}}");
        let again = build(&repo);
        assert_eq!(again, image);
        (image, first, inspect(&again, "{{.Id}}"))
    })
    .await
    .unwrap();
    assert_eq!(first_id, second_id, "the same commit builds the same image");
    let size: u64 = inspect(&image, "{{.Size}}").parse().unwrap_or(0);
    println!(
        "image: {image} id {first_id} size {:.1} MiB",
        size as f64 / 1048576.0
    );
    assert!(size < 64 << 20, "the image stays small: {size} bytes");

    // The same contents as the Dockerfile describes.
    let repo = &shared.repo;
    assert_eq!(
        inspect(&image, "{{.Config.User}}"),
        dockerfile(repo, "USER")
    );
    let entrypoint: Vec<String> = serde_json::from_str(&dockerfile(repo, "ENTRYPOINT")).unwrap();
    assert_eq!(
        inspect(&image, "{{json .Config.Entrypoint}}"),
        serde_json::to_string(&entrypoint).unwrap()
    );
    let cmd: Vec<String> = serde_json::from_str(&dockerfile(repo, "CMD")).unwrap();
    assert_eq!(
        inspect(&image, "{{json .Config.Cmd}}"),
        serde_json::to_string(&cmd).unwrap()
    );
    assert!(inspect(&image, "{{json .Config.Env}}").contains(&dockerfile(repo, "ENV")));
    let port = dockerfile(repo, "EXPOSE");
    let exposed = inspect(&image, "{{json .Config.ExposedPorts}}");
    assert!(
        exposed.contains(&format!("\"{port}")),
        "{exposed} exposes {port}"
    );
    let labels = inspect(&image, "{{json .Config.Labels}}");
    for key in ["source", "version", "licenses", "revision"] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{key}")),
            "{labels}"
        );
    }
    let copied = dockerfile(repo, "COPY");
    let target = copied.split_whitespace().last().unwrap_or_default();
    assert_eq!(
        target, entrypoint[0],
        "the Dockerfile installs the binary the entrypoint names"
    );

    // Run it the way the chart's Deployment does.
    let s = Scenario::new(shared.clone(), "image").await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("live-credentials");
    std::fs::create_dir(&creds).unwrap();
    for (file, value) in [("access-key", AK), ("secret-key", SK)] {
        let p = creds.join(file);
        std::fs::write(&p, value).unwrap();
        // A Secret volume with defaultMode 0400 under fsGroup 65532.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o440)).unwrap();
        std::os::unix::fs::chown(&p, Some(0), Some(65532)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(&shared.cp.kubeconfig, &kubeconfig).unwrap();
    std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o444)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("lso-image-test-{port}");
    let (ok, out) = run(Command::new("podman")
        .args(["run", "-d", "--name", &name, "--network", "host"])
        .args(["--read-only", "--cap-drop", "all", "--user", "65532:65532"])
        .args(["--security-opt", "no-new-privileges"])
        // This machine's sandbox refuses raising limits; set them explicitly below its own.
        .args([
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=4096:4096",
        ])
        .args([
            "-v",
            &format!("{}:/etc/live-credentials:ro", creds.display()),
        ])
        .args([
            "-v",
            &format!("{}:/etc/kube/config:ro", kubeconfig.display()),
        ])
        .args(["-e", "KUBECONFIG=/etc/kube/config"])
        .arg(&image)
        .args(["run", "--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--endpoint", &s.endpoint, "--project-id", PROJECT])
        .args([
            "--namespace",
            &s.ns,
            "--default-credentials-namespaces",
            &s.ns,
        ])
        .args(["--access-key-file", "/etc/live-credentials/access-key"])
        .args(["--secret-key-file", "/etc/live-credentials/secret-key"]));
    assert!(ok, "podman run: {out}");
    let logs = || run(Command::new("podman").args(["logs", &name])).1;
    let http = format!("http://127.0.0.1:{port}");
    for path in ["/healthz", "/readyz"] {
        let url = format!("{http}{path}");
        eventually(&format!("{path} to answer 200"), || {
            let url = url.clone();
            async move {
                reqwest::get(&url)
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    let metrics = reqwest::get(format!("{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("live_snapshot_operator_reconciles_total"),
        "{metrics}"
    );
    assert!(
        !logs().contains(SK),
        "the secret key appears in the container's logs"
    );

    // SIGTERM, as the kubelet sends it, and a clean exit well within the grace period.
    let started = Instant::now();
    let (ok, out) = run(Command::new("podman").args(["stop", "--time", "20", &name]));
    let took = started.elapsed();
    assert!(ok, "podman stop: {out}");
    let code =
        run(Command::new("podman").args(["inspect", "--format", "{{.State.ExitCode}}", &name])).1;
    let all_logs = logs();
    let _ = run(Command::new("podman").args(["rm", "-f", &name]));
    assert_eq!(
        code.trim(),
        "0",
        "exit code after SIGTERM; logs:\n{all_logs}"
    );
    assert!(took < Duration::from_secs(20), "stopped in {took:?}");
}
