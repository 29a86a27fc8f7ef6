#!/usr/bin/env bash
# The previous release, for the upgrade test: its operator binary and its chart, from the commit
# in tests/e2e/previous-release (what last landed), built once and cached in
# ~/.cache/live-snapshot-operator/previous-release/<commit>/. Prints that directory.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"
commit=$(tr -d '[:space:]' < tests/e2e/previous-release)
cache="$HOME/.cache/live-snapshot-operator/previous-release"
out="$cache/$commit"
if [ ! -x "$out/live-snapshot-operator" ] || [ ! -d "$out/chart" ]; then
  if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "the previous release $commit is not in this clone's history; fetch it (git fetch origin $commit)" >&2
    exit 1
  fi
  src="$cache/src-$commit"
  rm -rf "$src" "$out"
  mkdir -p "$src" "$out"
  git archive "$commit" | tar -x -C "$src"
  echo "building the previous release ${commit:0:12} for the upgrade test (first run only)" >&2
  CARGO_TARGET_DIR="$cache/target" cargo build --quiet --locked \
    --manifest-path "$src/Cargo.toml" --bin live-snapshot-operator >&2
  cp "$cache/target/debug/live-snapshot-operator" "$out/live-snapshot-operator"
  cp -r "$src/charts/live-snapshot-operator" "$out/chart"
  rm -rf "$src"
fi
echo "$out"
