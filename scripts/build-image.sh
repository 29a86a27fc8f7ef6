#!/usr/bin/env bash
# Builds the operator image without pulling anything: the release binary, exactly the shared
# libraries it loads, CA certificates and a passwd naming the non-root user 65532, in one layer
# on `scratch`, with OCI labels. File times, owners and the creation time are fixed, so the same
# commit gives the same image ID twice in a row. Prints the image reference.
#
#   scripts/build-image.sh                 # into the local containers storage (podman, buildah)
#   IMAGE=registry.example.com/lso:dev scripts/build-image.sh
#   podman save "$(scripts/build-image.sh)" -o lso.tar && kind load image-archive lso.tar
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
image="${IMAGE:-ghcr.io/live-snapshot-operator/live-snapshot-operator:$version}"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

# LSO_IMAGE_SKIP_CARGO=1 packs the release binary already built (the test suite does so while
# cargo holds the build directory).
if [ -z "${LSO_IMAGE_SKIP_CARGO:-}" ]; then
  cargo build --quiet --release --locked --bin live-snapshot-operator >&2
fi
bin=target/release/live-snapshot-operator
[ -x "$bin" ] || { echo "no $bin: run scripts/build-image.sh (it builds it)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/local/bin/live-snapshot-operator"
# The dynamic loader and every library the binary loads, at the paths it looks for them.
ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $3} /^[[:space:]]*\// {print $1}' | sort -u |
  while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
install -d -m 0755 "$root/home/nonroot"
chown 65532:65532 "$root/home/nonroot"
install -d -m 1777 "$root/tmp"
layer="$root.tar"
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$root" -cf "$layer" --exclude=./home/nonroot .
tar --mtime=@0 --numeric-owner --owner=65532 --group=65532 -C "$root" -rf "$layer" ./home/nonroot
trap 'rm -rf "$root" "$layer"' EXIT

ctr=$(buildah from --quiet scratch)
buildah add --quiet "$ctr" "$layer" / >/dev/null
buildah config \
  --user 65532:65532 \
  --entrypoint '["/usr/local/bin/live-snapshot-operator"]' \
  --cmd run \
  --port 8080 \
  --workingdir / \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env MALLOC_ARENA_MAX=2 \
  --label org.opencontainers.image.title=live-snapshot-operator \
  --label org.opencontainers.image.description="Kubernetes operator for Huawei Cloud Live snapshot templates" \
  --label org.opencontainers.image.source=https://github.com/live-snapshot-operator/live-snapshot-operator \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --annotation org.opencontainers.image.source=https://github.com/live-snapshot-operator/live-snapshot-operator \
  --annotation org.opencontainers.image.version="$version" \
  --annotation org.opencontainers.image.revision="$revision" \
  --annotation org.opencontainers.image.licenses=Apache-2.0 \
  "$ctr"
buildah commit --quiet --rm --timestamp 0 "$ctr" "$image" >/dev/null
echo "$image"
