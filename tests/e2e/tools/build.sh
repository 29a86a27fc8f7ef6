#!/usr/bin/env bash
# Builds the pinned control-plane tools (etcd, kube-apiserver, kube-controller-manager, kubectl,
# helm; and, when asked, kubelet and kube-scheduler for the one-node cluster) once into a cache
# outside the clone, keyed by go.mod/go.sum, and prints the directory holding them.
# Idempotent: a second run with unchanged pins does nothing.
#
#   tests/e2e/tools/build.sh                      # all five (the test suite)
#   tests/e2e/tools/build.sh etcd kube-apiserver  # only these (the quick start)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/$key"
all=(etcd kube-apiserver kube-controller-manager kubectl helm)
if [ $# -gt 0 ]; then tools=("$@"); else tools=("${all[@]}"); fi
have_all=1
for t in "${tools[@]}"; do [ -x "$out/$t" ] || have_all=0; done
if [ "$have_all" = 1 ]; then echo "$out"; exit 0; fi

mkdir -p "$out"
cd "$here"
kver=$(awk '$1=="k8s.io/kubernetes"{print $2}' go.mod)
major=$(echo "$kver" | sed -E 's/^v([0-9]+)\..*/\1/')
minor=$(echo "$kver" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$kver -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
wanted() { local t; for t in "${tools[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
build() { # name package [ldflags]
  wanted "$1" || return 0
  [ -x "$out/$1" ] && return 0
  local started=$SECONDS
  echo "building $1 from $2 (first run only; a few minutes on two cores)" >&2
  go build -trimpath -ldflags "${3:-"-s -w"}" -o "$out/$1.tmp" "$2" &
  local pid=$!
  # A line every 30 s, so a long build is not taken for a hang.
  while ! wait_for "$pid" 30; do echo "  still building $1: $((SECONDS - started))s" >&2; done
  wait "$pid"
  mv "$out/$1.tmp" "$out/$1"
  echo "built $1 in $((SECONDS - started))s" >&2
}
wait_for() { # pid seconds: 0 once the process has ended, 1 if still running after that long
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
for t in "${tools[@]}"; do
  case "$t" in etcd|kube-apiserver|kube-controller-manager|kubectl|helm|kubelet|kube-scheduler) ;; *) echo "unknown tool $t (one of ${all[*]} kubelet kube-scheduler)" >&2; exit 2 ;; esac
done
build etcd go.etcd.io/etcd/server/v3
build helm helm.sh/helm/v3/cmd/helm
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ld"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ld"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
build kubelet k8s.io/kubernetes/cmd/kubelet "$ld"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ld"
echo "$out"
