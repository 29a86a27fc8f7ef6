//! Records the commit the binary is built from, for `--version`: `LSO_GIT_COMMIT` when set (an
//! image build without `.git`), else `git rev-parse`, else "unknown".
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LSO_GIT_COMMIT");
    let commit = std::env::var("LSO_GIT_COMMIT").ok().or_else(git_head);
    let commit = commit.unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LSO_GIT_COMMIT={commit}");
}

fn git_head() -> Option<String> {
    let dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let dir = String::from_utf8(dir.stdout).ok()?.trim().to_string();
    // A new commit moves the branch ref (or HEAD itself when detached); both are watched.
    // Only files that exist: cargo reruns a build script on every build for a missing one.
    let mut watched = vec![format!("{dir}/HEAD"), format!("{dir}/packed-refs")];
    if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD"))
        && let Some(reference) = head.strip_prefix("ref: ")
    {
        watched.push(format!("{dir}/{}", reference.trim()));
    }
    for path in watched.iter().filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
