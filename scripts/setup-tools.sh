#!/usr/bin/env bash
# Installs what the test suite needs and prints `export` lines for it; idempotent and fast
# when everything is already cached under ~/.cache/live-snapshot-operator:
#   - etcd, kube-apiserver, kubectl and helm, built from the Go module pinned in tests/e2e/tools;
#   - a Python virtualenv with the official Huawei Cloud Live and VOD SDKs and the Alibaba Cloud
#     MPS SDK (tests/official_sdk.rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/live-snapshot-operator
mkdir -p "$cache"

tools=$("$root/tests/e2e/tools/build.sh")

py="$cache/pyenv/bin/python"
sdk_version=3.1.219
mps_version=6.0.3
if ! "$py" -c "import huaweicloudsdklive, huaweicloudsdkvod, alibabacloud_mts20140618, sys; sys.exit(0)" 2>/dev/null; then
  echo "setting up the Python SDK virtualenv in $cache/pyenv" >&2
  [ -x "$py" ] || python3 -m venv "$cache/pyenv"
  "$cache/pyenv/bin/pip" install -q "huaweicloudsdklive==$sdk_version" "huaweicloudsdkvod==$sdk_version" \
    "huaweicloudsdkcore==$sdk_version" "alibabacloud-mts20140618==$mps_version" \
    "alibabacloud-tea-openapi==0.4.6" >&2
fi
echo "export LSO_TOOLS_DIR=$tools"
echo "export LSO_PYTHON=$py"
