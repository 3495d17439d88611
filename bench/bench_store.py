"""Time the project store's user-visible operations and print a table.

What matters for the GUI: a committed drag (one durable ``move_corner``) must
be far below the ~100 ms a user notices; opening a project and listing its
images must feel instant at a realistic size (500 images with ground truth
and a prediction each). Run: ``python bench/bench_store.py [--images 500]``.
The numbers depend on the disk's fsync speed: run it on the disk you use.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from spinegui.core.store import Project


def spine(n_vertebrae: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([[0, 0], [100, 0], [0, 40], [100, 40]], float)
    pts = np.stack([base + np.array([400.0, 100.0 + 50 * v]) for v in range(n_vertebrae)])
    return pts + rng.normal(scale=2, size=pts.shape)


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, samples: list[float], unit: str = "ms") -> str:
    scale = 1e3 if unit == "ms" else 1e6
    med = statistics.median(samples) * scale
    p95 = sorted(samples)[int(0.95 * (len(samples) - 1))] * scale
    return f"| {name:<42} | {len(samples):>5} | {med:>9.3f} | {p95:>9.3f} | {unit:<4} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the project")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp) / "bench"
        rows = []
        with Project.create(folder, "T1-L5", user="bench") as p:
            p.add_model("v1", "models/v1.safetensors", card={"note": "bench"})
            p.set_active_model("v1")
            v = p.template.n_vertebrae
            adds = []
            for i in range(args.images):
                t0 = time.perf_counter()
                image_id = p.add_image(
                    folder / f"img{i:04d}.png", width=1024, height=2048, sha256=f"{i:064x}"
                )
                p.set_ground_truth(image_id, spine(v, rng), source="import", kind="import")
                adds.append(time.perf_counter() - t0)
                p.set_prediction(image_id, "v1", spine(v, rng), np.ones((v, 4)))
            rows.append(row("import one image (add + ground truth)", adds))
            target = 1
            edits = timed(
                lambda: p.move_corner(target, int(rng.integers(v)), 0, rng.uniform(0, 500, 2)),
                args.edits,
            )
            rows.append(row("durable corner edit (move_corner)", edits))
            rows.append(
                row("read ground truth of one image", timed(lambda: p.ground_truth(7), 200))
            )
            rows.append(
                row("read active prediction of one image", timed(lambda: p.prediction(7), 200))
            )

        def open_close():
            Project.open(folder).close()

        rows.append(row(f"open project ({args.images} images)", timed(open_close, 30)))
        with Project.open(folder) as p:
            rows.append(row(f"list images ({args.images} records)", timed(p.images, 30)))
            rows.append(row("read full edit history", timed(p.history, 10)))
        size_kb = (folder / "project.sqlite").stat().st_size / 1024

    print(f"| {'operation':<42} | {'n':>5} | {'median':>9} | {'p95':>9} | unit |")
    print(f"|{'-' * 44}|{'-' * 7}|{'-' * 11}|{'-' * 11}|------|")
    print("\n".join(rows))
    print(f"\nproject.sqlite after the run: {size_kb:.0f} KiB")


if __name__ == "__main__":
    main()
