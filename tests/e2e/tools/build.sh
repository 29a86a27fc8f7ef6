#!/usr/bin/env bash
# Builds the pinned control-plane tools (etcd, kube-apiserver, kubectl, helm) once into a
# cache outside the clone, keyed by go.mod/go.sum, and prints the directory holding them.
# Idempotent: a second run with unchanged pins does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/$key"
tools=(etcd kube-apiserver kubectl helm)
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
build() { # name package [ldflags]
  [ -x "$out/$1" ] && return 0
  echo "building $1 ($2)" >&2
  go build -trimpath -ldflags "${3:-"-s -w"}" -o "$out/$1.tmp" "$2"
  mv "$out/$1.tmp" "$out/$1"
}
build etcd go.etcd.io/etcd/server/v3
build helm helm.sh/helm/v3/cmd/helm
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ld"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
echo "$out"
