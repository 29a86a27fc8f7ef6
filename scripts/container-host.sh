#!/usr/bin/env bash
# Makes this host able to run the operator image with podman/crun. Idempotent; needs root.
# On a host with cgroup v1 mounted and a controller left on the cgroup v2 hierarchy ("hybrid"
# mode, as on this project's CI machines), crun refuses to start containers; binding those
# controllers to v1 hierarchies of their own leaves v2 empty, which crun accepts.
set -euo pipefail
unified=/sys/fs/cgroup/unified/cgroup.controllers
if [ -r "$unified" ] && [ -n "$(cat "$unified")" ] && awk '$3 == "cgroup" {found=1} END {exit !found}' /proc/mounts; then
  for c in $(cat "$unified"); do
    mkdir -p "/run/lso-cgroup/$c"
    mountpoint -q "/run/lso-cgroup/$c" || mount -t cgroup -o "$c" none "/run/lso-cgroup/$c"
  done
fi
