"""Summarise the MSE vs MSE + alpha * BPD comparison that bench/gpu_session.sh runs.

    python bench/summarise_alpha.py LOGDIR

LOGDIR holds one ``cmp_<dataset>_a<alpha>_s<seed>.json`` per run (the output
of ``spinegui evaluate --json`` on the run's held-out test split). Prints, per
dataset and alpha, the mean and spread over seeds of the mean landmark error,
Pearson r and Cobb SMAPE, next to the mean-shape baseline.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

NAME = re.compile(r"cmp_(?P<data>\w+?)_a(?P<alpha>[\d.]+)_s(?P<seed>\d+)\.json$")


def load(logdir: Path) -> dict:
    runs: dict = defaultdict(list)
    for path in sorted(logdir.glob("cmp_*.json")):
        m = NAME.search(path.name)
        if m is None:
            continue
        report = json.loads(path.read_text())
        runs[(m["data"], float(m["alpha"]))].append(report)
    return runs


def mean_sd(values: list[float], fmt: str) -> str:
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    runs = load(Path(argv[0]))
    if not runs:
        print(f"No cmp_*.json results in {argv[0]}.")
        return 1
    print("| data | alpha | seeds | mean error (px) | Pearson r | Cobb SMAPE (%) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for data in sorted({d for d, _ in runs}):
        baseline = None
        for alpha in sorted(a for d, a in runs if d == data):
            reports = runs[(data, alpha)]
            model = [r["model"] for r in reports]
            baseline = baseline or reports[0]["baseline"]
            print(
                f"| {data} | {alpha:g} | {len(reports)} | "
                f"{mean_sd([m['mean_px'] for m in model], '.1f')} | "
                f"{mean_sd([m['pearson_r'] for m in model], '.4f')} | "
                f"{mean_sd([m['smape'] for m in model], '.1f')} |"
            )
        print(
            f"| {data} | mean shape | – | {baseline['mean_px']:.1f} | "
            f"{baseline['pearson_r']:.4f} | {baseline['smape']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
