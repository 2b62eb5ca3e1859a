#!/usr/bin/env python3
"""Plot the memory soak's CSV (scripts/soak.sh): live heap and RSS over time, server kills marked.

usage: soak_plot.py soak.csv out.png   (falls back to an ASCII chart on stdout without matplotlib)
"""
import csv
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(src)))
    t = [float(r["t_s"]) / 60 for r in rows]
    heap = [int(r["live_heap_bytes"]) / 1024 for r in rows]
    rss = [int(r["rss_kib"]) for r in rows]
    kills = [float(r["t_s"]) / 60 for i, r in enumerate(rows) if i and r["kills"] != rows[i - 1]["kills"]]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        ascii_chart(t, heap)
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(t, heap, label="live heap (KiB)")
    ax.plot(t, rss, label="RSS (KiB)")
    for k in kills:
        ax.axvline(k, color="grey", alpha=0.3, linewidth=0.8)
    ax.set_xlabel("minutes (grey lines: server kill -9 + restart)")
    ax.set_ylabel("KiB")
    ax.set_ylim(bottom=0)
    ax.set_title("plue-http memory soak against the real OpenCode server (mio client)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def ascii_chart(t, heap, width=72, height=16):
    lo, hi = min(heap), max(heap)
    span = (hi - lo) or 1
    grid = [[" "] * width for _ in range(height)]
    for x, y in zip(t, heap):
        col = int(x / (t[-1] or 1) * (width - 1))
        row = height - 1 - int((y - lo) / span * (height - 1))
        grid[row][col] = "*"
    print(f"live heap KiB {hi:.0f}")
    for line in grid:
        print("|" + "".join(line))
    print(f"live heap KiB {lo:.0f}, 0..{t[-1]:.1f} min")


if __name__ == "__main__":
    main()
