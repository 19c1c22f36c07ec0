"""Time `rfm-stream report` on Online Retail, whole process (target: about 5 s), best and median of --repeat.

    python benchmarks/report_bench.py [--input ../shared/data/online_retail.csv.gz] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "online_retail.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stream_app.cli", "report", args.input, "--format", "online-retail",
                            "--out", str(Path(tmp) / "report.html")], check=True, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    print(f"report of {args.input}: best {min(times):.2f} s, median {statistics.median(times):.2f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
