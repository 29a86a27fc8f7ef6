#!/usr/bin/env bash
# Builds a Go tool pinned in this folder's go.mod (tool directives, with go.sum) once into a
# cache outside the clone, keyed by the pins, and prints the directory holding it.
#   scripts/tools/build.sh helm-docs   the chart's README from values.yaml (scripts/generate.sh)
#   scripts/tools/build.sh kubeconform the schema validator GitOps pipelines run (tests/e2e/gitops.rs)
set -euo pipefail
tool=${1:?usage: build.sh TOOL}
case "$tool" in
  helm-docs) pkg=github.com/norwoodj/helm-docs/cmd/helm-docs ;;
  kubeconform) pkg=github.com/yannh/kubeconform/cmd/kubeconform ;;
  *) echo "unknown tool: $tool" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/scripts-$key"
if [ ! -x "$out/$tool" ]; then
  mkdir -p "$out"
  echo "building $tool ($pkg, first run only)" >&2
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/$tool.tmp" "$pkg")
  mv "$out/$tool.tmp" "$out/$tool"
fi
echo "$out"
