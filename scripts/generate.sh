#!/usr/bin/env bash
# Regenerates every generated file from the Rust types: crds/livesnapshottemplates.yaml (and
# the Helm chart's copy, when the chart exists). CI runs this and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked --bin live-snapshot-operator -- crd --output crds/livesnapshottemplates.yaml
if [ -d charts/live-snapshot-operator ]; then
  mkdir -p charts/live-snapshot-operator/crds
  cp crds/livesnapshottemplates.yaml charts/live-snapshot-operator/crds/livesnapshottemplates.yaml
fi
