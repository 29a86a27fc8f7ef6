#!/usr/bin/env bash
# One command from a fresh checkout to all three kinds Ready on a local control plane: checks
# prerequisites, builds etcd and kube-apiserver from the pinned Go module (cached) while cargo
# builds the quick start, then runs lso-quickstart until Ctrl-C. Nothing else is built: no
# kubectl, helm or image (lso-quickstart applies crds/ and examples/ with its own client).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/prereqs.sh quickstart
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

# cargo in the background, its log to a file: the Go builds print the progress meanwhile, and
# the two overlap their downloads and links on two cores.
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${cargo_pid:-}" ] && kill "$cargo_pid" 2>/dev/null; true' EXIT
echo "==> cargo build -p lso-sim --bin lso-quickstart (in the background, log: $log)"
cargo build --locked -p lso-sim --bin lso-quickstart >"$log" 2>&1 &
cargo_pid=$!
echo "==> etcd and kube-apiserver from tests/e2e/tools (built once, cached)"
tools=$(tests/e2e/tools/build.sh etcd kube-apiserver)
echo "==> Go tools ready after $((SECONDS - started))s; waiting for cargo"
while kill -0 "$cargo_pid" 2>/dev/null; do
  sleep 15
  kill -0 "$cargo_pid" 2>/dev/null && echo "  cargo: $(grep -c '^ *Compiling' "$log") crates compiled, $((SECONDS - started))s"
done
if ! wait "$cargo_pid"; then
  cargo_pid=
  tail -40 "$log" >&2
  echo "cargo build failed (above)" >&2
  exit 1
fi
cargo_pid=
rm -f "$log"
echo "==> built everything in $((SECONDS - started))s; starting"
export LSO_TOOLS_DIR=$tools
exec target/debug/lso-quickstart
