"""Wall time of a one-click retrain, the way the panel runs it: a ``spinegui train`` child.

Builds a synthetic project of N corrected, reviewed phantom X-rays (real PNG
files at a clinical-ish size), gives it an active model, then times
``python -m spinegui train --project P --init-from active ...`` from process
start to exit: interpreter and torch start-up, reading and resizing the
images, training, and the before/after comparison. That whole span is what a
reviewer waits for after pressing Retrain.

    python bench/bench_retrain.py                      # 20 and 80 images, 3 epochs, fast
    python bench/bench_retrain.py --sizes 20 --epochs 1 --preset tiny
    python bench/bench_retrain.py --epochs 30          # the panel's default epoch count

The per-epoch column lets you scale to any epoch count without rerunning.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spinegui.core.phantom import batch_seeds, generate_phantom  # noqa: E402
from spinegui.core.store import Project, file_sha256  # noqa: E402

TEMPLATE = "C7-L5"


def build_project(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> Path:
    """A project of ``n`` reviewed phantoms whose landmarks count as hand-corrected."""
    images = folder / "images"
    images.mkdir(parents=True)
    with Project.create(folder / "project", TEMPLATE) as p:
        for i, s in enumerate(batch_seeds(seed, n)):
            ph = generate_phantom(TEMPLATE, s, size=size)
            path = images / f"xray_{i:03d}.png"
            cv2.imwrite(str(path), np.clip(ph.image * 65535, 0, 65535).astype(np.uint16))
            iid = p.add_image(path, width=size[1], height=size[0], sha256=file_sha256(path))
            p.set_ground_truth(iid, ph.landmarks, source="manual")
            p.set_status(iid, "reviewed")
    return folder / "project"


def spinegui(*args: str, json_lines: bool = False) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "spinegui", *args] + (["--json-progress"] if json_lines else [])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"spinegui {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    events = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return seconds, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 80])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--preset", default="fast", help="network size (default: the default, fast)")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--image-size", default="1024x512", help="phantom HxW in pixels (default 1024x512)"
    )
    args = ap.parse_args()
    h, w = (int(v) for v in args.image_size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_retrain_") as tmp:
        for n in args.sizes:
            t0 = time.perf_counter()
            project = build_project(Path(tmp) / f"n{n}", n, (h, w))
            build_s = time.perf_counter() - t0
            common = ["--project", str(project), "--device", args.device, "--seed", "0"]
            # The parent model the button fine-tunes; not part of the timing.
            spinegui("train", *common, "--preset", args.preset, "--epochs", "1", "--adopt",
                     "--no-compare", "--quiet")  # fmt: skip
            seconds, events = spinegui(
                "train", *common, "--init-from", "active", "--epochs", str(args.epochs),
                json_lines=True,
            )  # fmt: skip
            start = next(e for e in events if e["event"] == "start")
            epochs = [e for e in events if e["event"] == "epoch"]
            first_step = next(e for e in events if e["event"] == "step")["time"]
            end = next(e for e in events if e["event"] == "end")["time"]
            per_epoch = (end - first_step) / max(len(epochs), 1)
            comp = next((e for e in events if e["event"] == "comparison"), None)
            rows.append(
                (n, start["train_images"], start["val_images"], len(epochs), seconds, per_epoch,
                 start["device"], (comp or {}).get("new", {}).get("mean_px"), build_s)
            )  # fmt: skip
    print(f"\nOne-click retrain, preset {args.preset}, {h}x{w} phantoms, {args.epochs} epochs")
    print(
        f"{'images':>6} {'train':>5} {'val':>4} {'epochs':>6} {'wall s':>8} {'s/epoch':>8} "
        f"{'val px':>7}  device"
    )
    for n, tr, va, ep, wall, per, dev, px, _ in rows:
        px_s = "-" if px is None else f"{px:.1f}"
        print(f"{n:>6} {tr:>5} {va:>4} {ep:>6} {wall:>8.1f} {per:>8.2f} {px_s:>7}  {dev}")
    print(
        "wall s: process start to exit (start-up, reading images, training, comparison). "
        "Estimate for E epochs: wall + (E - epochs) * s/epoch."
    )


if __name__ == "__main__":
    main()
