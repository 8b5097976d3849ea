#!/usr/bin/env python3
"""Draws docs/benchmarks.png from docs/ratios.csv: one bar per workload
metric (Strata / Redis, medians), the goal as a tick, green where the goal
holds. Needs matplotlib (`pip install matplotlib`); the server and tests
do not.

    python3 tools/plot_ratios.py [docs/ratios.csv] [docs/benchmarks.png]
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/ratios.csv"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.png"
    rows = []
    with open(src, newline="") as f:
        for r in csv.reader(line for line in f if not line.startswith("#")):
            if len(r) < 5:
                continue
            name, metric, value, goal, better = (x.strip() for x in r[:5])
            rows.append((f"{name}: {metric}", float(value), float(goal) if goal else None, better))
    rows.reverse()
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.2))
    for i, (label, value, goal, better) in enumerate(rows):
        met = goal is None or (value >= goal if better == "higher" else value <= goal)
        ax.barh(i, value, color="#4c9a2a" if met else "#c0504d", height=0.6)
        ax.text(value + 0.03, i, f"{value:.2f}x", va="center", fontsize=8)
        if goal is not None:
            ax.plot([goal, goal], [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"{label} ({'higher' if b == 'higher' else 'lower'} is better)" for label, _, _, b in rows],
        fontsize=8,
    )
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("Strata / Redis (median of alternating rounds); black tick: goal")
    ax.set_title("Strata against redis-server 7.0 on the same 2-core machine")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
