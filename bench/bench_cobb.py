"""Cobb angles: agreement with the AASCE labels and speed.

Run: python bench/bench_cobb.py [path/to/boostnet_labeldata]

Agreement is measured against angles.csv, which the challenge organisers'
script produced, with and without the image height (the S-curve rule uses it).
Prints a skip message and exits 0 when the data is absent.
"""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io

from spinegui.core.cobb import cobb_angles
from spinegui.core.metrics import smape

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "aasce" / "boostnet_labeldata"


def jpeg_height(path: Path) -> int:
    """Image height from the JPEG frame header; decoding 481 X-rays would dominate the run."""
    data = path.read_bytes()[: 1 << 16]
    i = 2
    while i + 9 < len(data):
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return struct.unpack(">H", data[i + 5 : i + 7])[0]
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    raise ValueError(f"{path.name}: no JPEG frame header found")


def load(root: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    labels = root / "labels" / "training"
    names = [n.strip() for n in (labels / "filenames.csv").read_text().splitlines() if n.strip()]
    points = np.stack(
        [scipy.io.loadmat(labels / f"{n}.mat")["p2"].reshape(-1, 4, 2) for n in names]
    )
    heights = np.array([jpeg_height(root / "data" / "training" / n) for n in names], float)
    angles = np.loadtxt(labels / "angles.csv", delimiter=",", ndmin=2)
    return names, points, heights, angles


def agreement(ours: np.ndarray, truth: np.ndarray) -> dict[str, str]:
    dev = np.abs(ours - truth)
    n = len(truth)
    return {
        "SMAPE (%)": f"{smape(ours, truth):.4f}",
        "main within 0.01 deg": f"{int((dev[:, 0] <= 0.01).sum())}/{n}",
        "all 3 within 0.01 deg": f"{int((dev <= 0.01).all(axis=1).sum())}/{n}",
        "max deviation (deg)": f"{dev.max():.4f}",
    }


def calls_per_second(points: np.ndarray, heights: np.ndarray, seconds: float = 1.0) -> float:
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for p, h in zip(points, heights, strict=True):
            cobb_angles(p, h)
        calls += len(points)
    return calls / elapsed


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else DEFAULT_ROOT
    if not (root / "labels" / "training").is_dir():
        print(f"AASCE data not found at {root}; skipping the Cobb benchmark.")
        return 0
    names, points, heights, truth = load(root)
    with_height = np.array([cobb_angles(p, h).angles for p, h in zip(points, heights, strict=True)])
    without = np.array([cobb_angles(p).angles for p in points])
    rows = {"image height": agreement(with_height, truth), "no height": agreement(without, truth)}

    print(f"Cobb angles vs AASCE angles.csv ({len(names)} training images)")
    width = max(len(k) for k in rows["image height"])
    print(f"{'':{width}}  {'image height':>14}  {'no height':>14}")
    for key in rows["image height"]:
        print(f"{key:{width}}  {rows['image height'][key]:>14}  {rows['no height'][key]:>14}")
    print(f"{'speed (calls/s)':{width}}  {calls_per_second(points, heights):>14,.0f}")
    worst = int(np.argmax(np.abs(with_height - truth).max(axis=1)))
    print(f"largest deviation: {names[worst]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
