#!/usr/bin/env bash
# The README's dashboard picture, from real data: builds Prometheus from the pinned module, runs
# the scale benchmark with the operator's /metrics at a known port, lets Prometheus scrape it
# every second, then evaluates the dashboard's own queries over the run and plots them.
#   scripts/dashboard-picture.sh [benchmark args...]   (default: --n 2000 --mode coalesced)
# Writes benches/dashboard.json (the evaluated series) and benches/dashboard.png.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib
prom="$(tests/monitoring/tools/build.sh prometheus)/prometheus"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metrics_port=$(free_port)
prom_port=$(free_port)
work=$(mktemp -d)
trap 'kill "$prom_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: live-snapshot-operator
    static_configs: [{targets: ["127.0.0.1:$metrics_port"], labels: {pod: bench-operator}}]
YAML
"$prom" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn &
prom_pid=$!
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--n 2000 --mode coalesced --resync 15 --samples 100 --drift 200)
cargo bench --bench scale --no-run
start=$(date +%s)
cargo bench --bench scale -- "${args[@]}" --metrics-addr "127.0.0.1:$metrics_port" | tee "$work/table.txt"
sleep 3 # one more scrape after the last phase, so the tail of the run is in the data
end=$(date +%s)
python3 scripts/dashboard_picture.py query --prometheus "http://127.0.0.1:$prom_port" \
  --start "$start" --end "$end" --out benches/dashboard.json \
  --note "scale benchmark ${args[*]}: convergence, 100 spec changes, restart and resync, drift; scraped by Prometheus every 1 s"
python3 scripts/dashboard_picture.py plot benches/dashboard.json benches/dashboard.png
