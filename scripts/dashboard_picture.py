#!/usr/bin/env python3
"""Evaluates every query of the chart's Grafana dashboard against a Prometheus that scraped a
benchmark run, over that run's window, and plots the panels in the dashboard's own layout to a
PNG. The series are saved beside it as JSON, so the picture can be re-plotted without a rerun.

  dashboard_picture.py query --prometheus URL --start T0 --end T1 --out data.json
  dashboard_picture.py plot data.json picture.png
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent.parent / "charts/live-snapshot-operator/files/dashboard.json"
# Grafana's $__rate_interval is max(4 x scrape interval, step + scrape interval); the run is
# scraped every second and queried at a one-second step.
RATE_INTERVAL = "5s"


def legend(fmt, labels):
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    while "{{" in out:
        a = out.index("{{")
        b = out.index("}}", a) + 2
        out = out[:a] + out[b:]
    return out.strip() or "value"


def query(args):
    dashboard = json.loads(DASHBOARD.read_text())
    panels = []
    for panel in dashboard["panels"]:
        series = []
        for target in panel.get("targets", []):
            # The namespace and shard variables at "All".
            expr = (
                target["expr"]
                .replace("$__rate_interval", RATE_INTERVAL)
                .replace("$namespace", ".*")
                .replace("$shard", ".*")
            )
            params = urllib.parse.urlencode(
                {"query": expr, "start": args.start, "end": args.end, "step": "1"}
            )
            with urllib.request.urlopen(f"{args.prometheus}/api/v1/query_range?{params}") as r:
                body = json.load(r)
            if body.get("status") != "success":
                sys.exit(f"query failed: {expr}: {body}")
            for result in body["data"]["result"]:
                series.append(
                    {
                        "legend": legend(target.get("legendFormat", ""), result["metric"]),
                        "points": [[float(t) - args.start, float(v)] for t, v in result["values"]],
                    }
                )
            print(f"{panel['title']}: {expr} -> {len(body['data']['result'])} series", file=sys.stderr)
        panels.append({"title": panel["title"], "grid": panel["gridPos"], "unit": panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""), "series": series})
    Path(args.out).write_text(json.dumps({"start": args.start, "end": args.end, "note": args.note, "panels": panels}, indent=1))


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(args.data).read_text())
    panels = data["panels"]
    # The clock starts with the first sample, not with the script (which builds first).
    firsts = [s["points"][0][0] for p in panels for s in p["series"] if s["points"]]
    t0 = min(firsts) if firsts else 0.0
    rows = max(p["grid"]["y"] + p["grid"]["h"] for p in panels)
    fig = plt.figure(figsize=(18, rows * 0.42))
    grid = fig.add_gridspec(rows, 24, hspace=6, wspace=2)
    for p in panels:
        g = p["grid"]
        ax = fig.add_subplot(grid[g["y"] : g["y"] + g["h"] - 1, g["x"] : g["x"] + g["w"]])
        ax.set_title(p["title"], fontsize=10, loc="left")
        for s in sorted(p["series"], key=lambda s: s["legend"])[:12]:
            xs, ys = [], []
            for t, v in s["points"]:
                t -= t0
                if v != v:  # NaN: a quantile over no calls
                    continue
                if xs and t - xs[-1] > 2.5:  # a gap (the operator restarting): no line across it
                    xs.append(float("nan"))
                    ys.append(float("nan"))
                xs.append(t)
                ys.append(v)
            ax.plot(xs, ys, label=s["legend"], linewidth=1.2)
        if p["series"]:
            ax.legend(fontsize=7, loc="best", ncol=2, framealpha=0.5)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("seconds into the run", fontsize=8)
        ax.grid(alpha=0.3)
        if p["unit"]:
            ax.set_ylabel(p["unit"], fontsize=8)
    fig.suptitle(data.get("note", ""), fontsize=11)
    fig.savefig(args.png, dpi=80, bbox_inches="tight")
    print(f"wrote {args.png}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query")
    q.add_argument("--prometheus", required=True)
    q.add_argument("--start", type=float, required=True)
    q.add_argument("--end", type=float, required=True)
    q.add_argument("--note", default="")
    q.add_argument("--out", required=True)
    p = sub.add_parser("plot")
    p.add_argument("data")
    p.add_argument("png")
    args = parser.parse_args()
    {"query": query, "plot": plot}[args.cmd](args)


if __name__ == "__main__":
    main()
