"""Time `rfm-stream batch` on Online Retail against a plain pandas script, whole processes, same run.

Prints, for each, the best and median wall time over --repeat runs and the
peak resident memory, then the ratio (target: batch <= 1.5x the plain
script), and checks that both tables agree customer for customer.

    python benchmarks/batch_bench.py [--input ../shared/data/online_retail.csv.gz] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from measure import run_measured  # beside this script

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "online_retail.csv.gz"


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of a command, its output discarded."""
    elapsed, peak_mb, code = run_measured(cmd, stderr=subprocess.DEVNULL)
    if code:
        sys.exit(f"{' '.join(cmd)} failed (exit {code})")
    return elapsed, peak_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(DEFAULT_INPUT))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="rfm-bench-"))
    ours = [sys.executable, "-m", "stream_app.cli", "batch", args.input, "--format", "online-retail", "--out", str(out / "ours.csv")]
    plain = [sys.executable, str(ROOT / "benchmarks" / "plain_pandas_rfm.py"), args.input, str(out / "plain.csv")]
    results = {}
    for name, cmd in (("rfm-stream batch", ours), ("plain pandas", plain)):
        runs = [run_once(cmd) for _ in range(args.repeat)]
        times = [t for t, _ in runs]
        results[name] = (min(times), statistics.median(times), max(m for _, m in runs))
    print(f"input: {args.input} ({sum(1 for _ in __import__('gzip').open(args.input)) - 1:,} lines)")
    print(f"{'':18} {'best s':>8} {'median s':>9} {'peak MiB':>9}")
    for name, (best, med, rss) in results.items():
        print(f"{name:18} {best:8.3f} {med:9.3f} {rss:9.0f}")
    ratio = results["rfm-stream batch"][1] / results["plain pandas"][1]
    print(f"ratio (median, batch / plain): {ratio:.2f}  target <= 1.50")
    a = pd.read_csv(out / "ours.csv", dtype=str).set_index("customer_id")
    b = pd.read_csv(out / "plain.csv", dtype=str).set_index("customer_id")
    exact = [c for c in b.columns if c != "aov"]
    same = a.index.equals(b.index) and (a[exact] == b[exact]).all().all()
    print(f"scores, segments, recency, frequency, monetary agree customer for customer: {same} ({len(a):,} customers)")
    cents = (a["aov"].astype(float) - b["aov"].astype(float)).abs()
    print(f"aov: {int((cents > 0).sum())} customers differ, by at most {cents.max():.2f} "
          "(the plain script rounds a float quotient; batch rounds the exact cents half-even)")
    if not same:
        diff = (a[exact] != b[exact]).any(axis=1)
        print(a[diff].head(), b[diff].head(), sep="\n")


if __name__ == "__main__":
    main()
