#!/usr/bin/env bash
# Packages the Helm chart into dist/live-snapshot-operator-<version>.tgz with the pinned helm,
# after linting it strictly. Prints the archive's path.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
helm="$(tests/e2e/tools/build.sh helm)/helm"
chart=charts/live-snapshot-operator
# Offline, helm assumes Kubernetes 1.20, older than the chart's kubeVersion: lint for the
# version the test control plane runs.
kube=$(awk '$1=="k8s.io/kubernetes"{print substr($2, 2)}' tests/e2e/tools/go.mod)
"$helm" lint --strict --kube-version "$kube" "$chart" >&2
mkdir -p dist
out=$("$helm" package "$chart" -d dist)
echo "$out" >&2
echo "dist/$(sed -n 's/^version: //p' "$chart/Chart.yaml" | sed 's/^/live-snapshot-operator-/;s/$/.tgz/')"
