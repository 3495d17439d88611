"""Phantom generator throughput and Cobb-angle exactness.

Prints images per second on one core at the training size and a small size,
then how closely the generated landmarks reproduce the requested Cobb angle
over many random phantoms. Run: python bench/bench_phantom.py [--count N]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

from spinegui.core.cobb import cobb_angles
from spinegui.core.landmarks import validate
from spinegui.core.phantom import generate_phantom


def throughput(size: tuple[int, int], count: int, template: str) -> float:
    generate_phantom(template, 0, size=size)  # warm caches and imports
    start = time.perf_counter()
    for seed in range(1, count + 1):
        generate_phantom(template, seed, size=size)
    return count / (time.perf_counter() - start)


def exactness(count: int) -> dict:
    errors, invalid = [], 0
    for seed in range(count):
        template = "C7-L5" if seed % 2 else "T1-L5"
        p = generate_phantom(template, 10_000 + seed, size=(256, 128))
        errors.append(abs(cobb_angles(p.landmarks).main - p.cobb_deg))
        h, w = p.image.shape
        invalid += bool(validate(p.landmarks, template, image_size=(w, h), margin=0.0))
    e = np.array(errors)
    return {"max": e.max(), "mean": e.mean(), "p99": np.percentile(e, 99), "invalid": invalid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="images per throughput row")
    parser.add_argument("--cobb-count", type=int, default=200, help="images for Cobb stats")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as in a data-loader worker
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    print("| template | size (H x W) | images/s (1 core) |")
    print("|---|---|---|")
    for template in ("C7-L5", "T1-L5"):
        for size in ((1024, 512), (256, 128)):
            rate = throughput(size, args.count, template)
            print(f"| {template} | {size[0]} x {size[1]} | {rate:.1f} |")

    stats = exactness(args.cobb_count)
    print()
    print(f"Cobb exactness over {args.cobb_count} random phantoms (requested vs measured main):")
    print(
        f"  max error {stats['max']:.2e} deg, mean {stats['mean']:.2e}, "
        f"p99 {stats['p99']:.2e}; landmark sets failing validate(): {stats['invalid']}"
    )


if __name__ == "__main__":
    main()
