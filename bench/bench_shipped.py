"""Latency of the shipped models on this machine: file in, landmarks out.

For each shipped checkpoint: median and 90th-percentile seconds per image for
the whole path a user waits for (decode the file, resize, forward pass, map
back to original pixels), with and without the mirrored test-time pass, on
real AASCE X-rays for T1-L5 (when ../shared/aasce is present) and on
synthetic ones for C7-L5.

    python bench/bench_shipped.py [--images 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AASCE = ROOT.parent / "shared" / "aasce" / "boostnet_labeldata" / "data" / "training"


def sample_files(template: str, n: int, tmp: Path) -> list[Path]:
    if template == "T1-L5" and AASCE.is_dir():
        return sorted(AASCE.glob("*.jpg"))[:n]
    import cv2
    import numpy as np

    from spinegui.core.phantom import generate_batch

    files = []
    for i, ph in enumerate(generate_batch(template, n, seed=123, size=(2048, 1024))):
        path = tmp / f"{i}.png"
        cv2.imwrite(str(path), np.round(ph.image * 65535).astype(np.uint16))
        files.append(path)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from spinegui.core.imageio import load_image
    from spinegui.core.model_card import list_shipped_models
    from spinegui.ml.predict import Predictor

    torch.set_num_threads(args.threads)
    print(f"# CPU, {args.threads} torch threads, torch {torch.__version__}")
    print("| model | template | images | TTA | median s/image | p90 s/image |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for card in list_shipped_models():
            files = sample_files(card["template"], args.images, Path(tmp))
            predictor = Predictor.load(card["path"], device="cpu")
            predictor.predict(load_image(files[0]))  # warm-up
            for tta in (False, True):
                times = []
                for f in files:
                    t0 = time.perf_counter()
                    predictor.predict(load_image(f), tta=tta)
                    times.append(time.perf_counter() - t0)
                p90 = statistics.quantiles(times, n=10)[-1]
                print(
                    f"| {card['version']} | {card['template']} | {len(files)} | "
                    f"{'on' if tta else 'off'} | {statistics.median(times):.3f} | {p90:.3f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
