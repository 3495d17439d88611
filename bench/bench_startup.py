"""Start-up time of the review window, as a user launching ``spinegui demo`` feels it.

Launches ``python -m spinegui demo --screenshot`` in a fresh process several
times with ``SPINEGUI_TIMING=1``; the app prints when its window is shown and
when the first prediction is drawn, and this script subtracts its own launch
time. The first-prediction time includes importing torch and loading the
model in the worker thread, on the CPU unless a GPU is found.

    python bench/bench_startup.py [--runs 3] [--models-folder DIR]

Without a shipped model pass ``--models-folder`` (a folder with a C7-L5
``.safetensors`` file), else "first prediction" stays empty.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(demo: Path, home: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "SPINEGUI_TIMING": "1",
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    shot = home / "shot.png"
    t0 = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spinegui",
            "demo",
            "--folder",
            str(demo),
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    t_exit = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"spinegui demo failed:\n{proc.stderr}")
    times = {"exit": t_exit}
    for line in proc.stderr.splitlines():
        if line.startswith("spinegui-timing "):
            _, event, stamp = line.split()
            times[event] = float(stamp) - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models-folder", type=Path, default=None)
    args = parser.parse_args()

    from spinegui.core.demo import build_demo_project

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        runs = []
        for i in range(args.runs):
            # A fresh project each run: stored predictions would skip the model entirely.
            demo = build_demo_project(home / f"demo{i}", count=4, models_folder=args.models_folder)
            runs.append(one_run(demo, home))

    print(
        f"spinegui start-up, {args.runs} runs (QT_QPA_PLATFORM="
        f"{os.environ.get('QT_QPA_PLATFORM', 'offscreen')}), seconds since launch"
    )
    print(f"{'milestone':<26}{'median':>8}{'min':>8}{'max':>8}")
    for key, label in (
        ("window_shown", "window shown"),
        ("first_prediction_drawn", "first prediction drawn"),
        ("exit", "screenshot saved, exited"),
    ):
        values = [r[key] for r in runs if key in r]
        if not values:
            print(f"{label:<26}{'—':>8}{'—':>8}{'—':>8}   (no model: pass --models-folder)")
            continue
        print(f"{label:<26}{statistics.median(values):>8.2f}{min(values):>8.2f}{max(values):>8.2f}")


if __name__ == "__main__":
    main()
