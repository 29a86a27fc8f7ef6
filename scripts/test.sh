#!/usr/bin/env bash
# The whole test suite: unit tests, the client against the simulator, the official Python SDK
# against the simulator, and the end-to-end suite on a real kube-apiserver + etcd.
# Ends with one line `tests: N passed, M failed` summing every test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# Before any long build: Rust, Go, and the Debian packages the suite uses (buildah, podman,
# lua5.1, python3-venv, a C toolchain), installed when missing, or a message naming them.
scripts/prereqs.sh test
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"
log=$(mktemp)
env_file=$(mktemp)
tools_log=$(mktemp)
trap 'rm -f "$log" "$env_file" "$tools_log"' EXIT
# The pinned Go tools (cached after the first run) build in the background while cargo builds
# the operator image in the foreground; on two cores each fills the other's idle moments:
#   - etcd, kube-apiserver, kube-controller-manager, kubectl, helm and the official Python
#     SDKs (scripts/setup-tools.sh);
#   - promtool (the alerts are checked and unit-tested), kstatus (objects read as Flux does),
#     kubeconform (the generated JSON schemas);
#   - kubelet and kube-scheduler for the one-node cluster (tests/e2e/node/up.sh);
#   - the previous release's operator and chart, for the upgrade test (a debug build of the
#     commit in tests/e2e/previous-release, cached once built).
(
  scripts/setup-tools.sh >"$env_file" && tests/monitoring/tools/build.sh >/dev/null &&
    tests/e2e/kstatus/build.sh >/dev/null && scripts/tools/build.sh kubeconform >/dev/null &&
    tests/e2e/tools/build.sh kubelet kube-scheduler >/dev/null && scripts/previous-release.sh >/dev/null
) 2>"$tools_log" &
tools=$!
# The operator image (release build, then buildah): the e2e suite runs it with podman.
scripts/build-image.sh
echo "waiting for the pinned Go tools (tail -f $tools_log shows their progress)"
if ! wait "$tools"; then
  cat "$tools_log" >&2
  echo "building the pinned tools failed (above)" >&2
  exit 1
fi
eval "$(cat "$env_file")"
status=0
cargo test --locked --workspace "$@" 2>&1 | tee "$log" || status=$?
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^(e2e|faults): [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
  END { printf "tests: %d passed, %d failed\n", p, f }
' "$log"
exit "$status"
