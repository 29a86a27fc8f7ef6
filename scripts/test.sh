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
eval "$(scripts/setup-tools.sh)"
# The operator image (release build, then buildah): the e2e suite runs it with podman.
scripts/build-image.sh
# promtool from the pinned Prometheus module: the e2e suite checks and unit-tests the alerts.
tests/monitoring/tools/build.sh >/dev/null
# kstatus from the pinned cli-utils module: the e2e suite reads objects the way Flux does.
tests/e2e/kstatus/build.sh >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --workspace "$@" 2>&1 | tee "$log" || status=$?
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^(e2e|faults): [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4 }
  END { printf "tests: %d passed, %d failed\n", p, f }
' "$log"
exit "$status"
