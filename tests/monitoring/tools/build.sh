#!/usr/bin/env bash
# Builds a tool of the Prometheus module pinned in go.mod (tool directives, with go.sum) once into
# a cache outside the clone, keyed by the pins, and prints the directory holding it.
#   build.sh             promtool (CI checks and unit-tests the alert rules with it)
#   build.sh prometheus  the server (scripts/dashboard-picture.sh scrapes a benchmark with it)
set -euo pipefail
tool=${1:-promtool}
case "$tool" in promtool | prometheus) ;; *) echo "unknown tool: $tool" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/monitoring-$key"
if [ ! -x "$out/$tool" ]; then
  mkdir -p "$out"
  echo "building $tool (github.com/prometheus/prometheus/cmd/$tool)" >&2
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/$tool.tmp" \
    "github.com/prometheus/prometheus/cmd/$tool")
  mv "$out/$tool.tmp" "$out/$tool"
fi
echo "$out"
