"""How long a clinician waits for red boxes: inference through the GUI's worker service.

Two numbers per model, each measured in a fresh Python process so the first
one really includes importing torch:

- first: from ``set_model`` + ``request`` on a just-built service to the
  first ``predictionReady`` (torch import, checkpoint load, one prediction);
- request: from ``request(image_id, path)`` to ``predictionReady`` once the
  model is warm, which is what flipping to the next image costs (reading the
  PNG, resizing, the network, the thread hop back to the GUI thread). Median
  and 90th percentile of --repeats requests; ``direct`` is the same
  prediction called in the worker-free way, so the difference is the
  service's own overhead.

Uses the shipped C7-L5 models when there are any, else untrained networks
saved at each --presets (speed does not depend on training). The image is a
1536 x 768 16-bit phantom, the demo project's size.

    python bench/bench_inference.py                        # CPU, tiny and fast presets
    python bench/bench_inference.py --device auto --presets tiny fast medium paper
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

IMAGE_SIZE = (1536, 768)


def child(model: Path, image: Path, device: str, tta: bool, repeats: int) -> dict:
    """Runs in a fresh process: time the service, print one JSON line."""
    t_start = time.perf_counter()
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from spinegui.gui.inference import InferenceService

    _app = QCoreApplication.instance() or QCoreApplication([])
    service = InferenceService(device=device, tta=tta)
    state: dict = {"results": [], "failures": []}
    service.predictionReady.connect(lambda r: state["results"].append(time.perf_counter()))
    service.failed.connect(lambda i, m: state["failures"].append(m))
    service.modelLoaded.connect(lambda v, d: state.update(device=d, loaded=time.perf_counter()))

    def wait_for(n: int) -> None:
        loop = QEventLoop()

        def check(*_args) -> None:
            if len(state["results"]) >= n or state["failures"]:
                loop.quit()

        service.predictionReady.connect(check)
        service.failed.connect(check)
        if not (len(state["results"]) >= n or state["failures"]):
            loop.exec()
        service.predictionReady.disconnect(check)
        service.failed.disconnect(check)
        if state["failures"]:
            raise SystemExit(state["failures"][0])

    try:
        t0 = time.perf_counter()
        service.set_model(model)
        service.request(0, image)
        wait_for(1)
        first = state["results"][0] - t0
        load = state["loaded"] - t0
        latencies = []
        for i in range(1, repeats + 1):
            t = time.perf_counter()
            service.request(i, image)
            wait_for(i + 1)
            latencies.append(state["results"][i] - t)
    finally:
        service.shutdown()

    from spinegui.core.imageio import load_image
    from spinegui.ml.predict import Predictor

    predictor = Predictor.load(model, device=device)
    direct = []
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict(load_image(image), tta=tta)
        direct.append(time.perf_counter() - t)
    return {
        "device": state.get("device", "?"),
        "python_start_to_import": t0 - t_start,
        "load": load,
        "first": first,
        "median": statistics.median(latencies),
        "p90": sorted(latencies)[max(0, round(0.9 * len(latencies)) - 1)],
        "direct": statistics.median(direct),
    }


def models_to_bench(presets: list[str], tmp: Path) -> list[tuple[str, Path]]:
    from spinegui.core.model_card import list_shipped_models

    shipped = [c for c in list_shipped_models() if c.get("template") == "C7-L5"]
    if shipped:
        return [(f"{c['version']} ({c.get('preset')})", Path(c["path"])) for c in shipped]
    import torch

    from spinegui.ml.checkpoint import save_checkpoint
    from spinegui.ml.network import build_network

    torch.manual_seed(0)
    out = []
    for preset in presets:
        path = tmp / f"untrained-{preset}.safetensors"
        save_checkpoint(path, build_network("integral", "C7-L5", preset), {})
        out.append((f"untrained ({preset})", path))
    return out


def write_image(tmp: Path) -> Path:
    import cv2
    import numpy as np

    from spinegui.core.phantom import generate_phantom

    ph = generate_phantom("C7-L5", 1, cobb_deg=30.0, curve="S", size=IMAGE_SIZE)
    path = tmp / "phantom.png"
    cv2.imwrite(str(path), np.round(np.clip(ph.image, 0, 1) * 65535).astype(np.uint16))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: cpu)")
    ap.add_argument("--presets", nargs="+", default=["tiny", "fast"])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "IMAGE", "TTA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        model, image, tta = args.child
        print(json.dumps(child(Path(model), Path(image), args.device, tta == "1", args.repeats)))
        return 0

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        image = write_image(tmp)
        rows = []
        for name, path in models_to_bench(args.presets, tmp):
            for tta in (False, True):
                cmd = [sys.executable, __file__, "--device", args.device]
                cmd += ["--repeats", str(args.repeats), "--child", str(path), str(image)]
                cmd.append("1" if tta else "0")
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(f"{name}: failed\n{proc.stderr or proc.stdout}", file=sys.stderr)
                    return 1
                rows.append((name, tta, json.loads(proc.stdout.strip().splitlines()[-1])))

    print(f"Image {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} 16-bit PNG, {args.repeats} requests per row")
    header = (
        f"{'model':<22} {'tta':>3} {'device':<18} {'load*':>7} {'first*':>7} "
        f"{'req med':>8} {'req p90':>8} {'direct':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, tta, r in rows:
        print(
            f"{name:<22} {'on' if tta else 'off':>3} {r['device'][:18]:<18} "
            f"{r['load'] * 1e3:6.0f}ms {r['first'] * 1e3:6.0f}ms "
            f"{r['median'] * 1e3:6.1f}ms {r['p90'] * 1e3:6.1f}ms {r['direct'] * 1e3:6.1f}ms"
        )
    print("* in a fresh process: includes importing torch and reading the checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
