#!/usr/bin/env bash
# The whole test suite: unit tests, the client against the simulator, the official Python SDK
# against the simulator, and the end-to-end suite on a real kube-apiserver + etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
eval "$(scripts/setup-tools.sh)"
cargo test --locked "$@"
