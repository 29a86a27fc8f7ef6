#!/usr/bin/env bash
# Builds the kstatus checker from the cli-utils module pinned in go.mod once into a cache outside
# the clone, keyed by the pins and the source, and prints the path of the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)
cache=${LSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator/tools}
out="$cache/kstatus-$key/kstatus"
if [ ! -x "$out" ]; then
  mkdir -p "$(dirname "$out")"
  echo "building kstatus (sigs.k8s.io/cli-utils)" >&2
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
fi
echo "$out"
