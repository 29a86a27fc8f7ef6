#!/usr/bin/env bash
# Checks, and installs where it can, what the README's commands need before any long build, so
# a fresh machine gets a clear message instead of a failure twenty minutes in. Idempotent and
# quick when everything is present. Used by scripts/quickstart.sh, scripts/test.sh and .ci/run.
#
#   scripts/prereqs.sh quickstart   # Rust, Go, a C toolchain and cmake (aws-lc-sys)
#   scripts/prereqs.sh test         # the above, plus buildah, podman (crun), lua5.1 and
#                                   # python3-venv, and the host set-up podman needs here
set -euo pipefail
profile=${1:-test}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

fail() { echo "prerequisite missing: $*" >&2; exit 1; }

# Toolchains: nothing here can download one, so say where they come from.
command -v cargo >/dev/null || fail "cargo (Rust $(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/Cargo.toml") or newer): install it with rustup, https://rustup.rs"
want_go=$(awk '$1=="go"{print $2; exit}' "$root/tests/e2e/tools/go.mod")
command -v go >/dev/null || fail "go $want_go or newer (builds the pinned etcd and kube-apiserver): https://go.dev/dl"
have_go=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$want_go" "$have_go" | sort -V | head -1)" != "$want_go" ]; then
  fail "go $want_go or newer, found $have_go (tests/e2e/tools/go.mod pins it)"
fi

# Debian packages.
missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)   # aws-lc-sys, the TLS crypto of the operator
command -v git >/dev/null || missing+=(git)
if [ "$profile" = test ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)   # the official SDKs
  # The operator image is built with buildah and run with podman (crun) by the e2e suite.
  command -v buildah >/dev/null || missing+=(buildah)
  command -v podman >/dev/null || missing+=(podman)
  # Argo CD runs health checks in Lua 5.1; the e2e suite runs deploy/argocd/*.lua with it.
  command -v lua5.1 >/dev/null || missing+=(lua5.1)
  # The one-node cluster: containerd with runc, the CNI plugins, a static C library for the
  # pause program.
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "the Debian packages ${missing[*]}: sudo apt-get install ${missing[*]}"
  fi
  echo "==> installing the Debian packages ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

if [ "$profile" = test ]; then
  if [ "$(id -u)" = 0 ]; then
    "$root/scripts/container-host.sh"
  else
    echo "note: not root, so scripts/container-host.sh (podman's cgroup set-up) was not run" >&2
  fi
fi
