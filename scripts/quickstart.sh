#!/usr/bin/env bash
# One command from a fresh checkout to templates Ready on a local control plane: builds the
# pinned tools (cached) and the operator, then runs lso-quickstart until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d /usr/local/go/bin ] && export PATH="/usr/local/go/bin:$PATH"
eval "$(scripts/setup-tools.sh)"
exec cargo run --quiet -p lso-sim --bin lso-quickstart
