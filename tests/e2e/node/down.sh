#!/usr/bin/env bash
# Stops what tests/e2e/node/up.sh DIR started: the kubelet first, then every Pod's processes
# (through containerd, while it still runs, and then any shim left), then the rest, newest
# first; unmounts what the kubelet and containerd mounted under DIR; removes DIR and the CNI
# bridge.
set -uo pipefail
D=$1
stop() { # pid
  kill "$1" 2>/dev/null
  for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
}
pid_of() { awk -v n="$1" '$2 == n {print $1}' "$D/pids" 2>/dev/null; }
[ -n "$(pid_of kubelet)" ] && stop "$(pid_of kubelet)"
ctr() { command ctr --address "$D/containerd.sock" -n k8s.io "$@"; }
for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
for shim in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $D/containerd.sock"); do
  pkill -KILL -P "$shim" 2>/dev/null
  kill -KILL "$shim" 2>/dev/null
done
[ -f "$D/pids" ] && tac "$D/pids" | while read -r pid name; do stop "$pid"; done
grep " $D" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
ip link del lso0 2>/dev/null
rm -rf "$D"
true
