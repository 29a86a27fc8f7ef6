#!/usr/bin/env bash
# Builds promtool from the Prometheus module pinned in go.mod (a tool directive, with go.sum)
# once into a cache outside the clone, keyed by the pins, and prints the directory holding it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/monitoring-$key"
if [ ! -x "$out/promtool" ]; then
  mkdir -p "$out"
  echo "building promtool (github.com/prometheus/prometheus/cmd/promtool)" >&2
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/promtool.tmp" \
    github.com/prometheus/prometheus/cmd/promtool)
  mv "$out/promtool.tmp" "$out/promtool"
fi
echo "$out"
