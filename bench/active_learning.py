"""Does correcting a few X-rays and pressing Retrain help on the *next* X-rays?

Simulates a reviewer on real AASCE images that the shipped T1-L5 model never
trained on (its card's recorded held-out ``test_ids``): the reviewer corrects
k images (here: takes their ground truth), retrains from the active model
with the panel's code path (a ``spinegui train --project --init-from active``
child process with the panel's default settings), and the error is measured
on the images that follow (the same evaluation images for every k, none of
them corrected), before and after. Printed as a curve over k = 5, 10, 20.

Skips cleanly (exit 0, a one-line reason) when there is no shipped T1-L5
model or no ../shared/aasce; --model points at another checkpoint.

    python bench/active_learning.py                         # k = 5 10 20, 30 epochs
    python bench/active_learning.py --ks 5 --epochs 3 --eval 10   # a quick look
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AASCE = ROOT.parent / "shared" / "aasce" / "boostnet_labeldata"


def find_model(explicit: str | None):
    """(path, card) of the shipped T1-L5 model, or None."""
    from spinegui.core.model_card import list_shipped_models, read_model_card

    if explicit:
        card = read_model_card(explicit)
        return Path(explicit), card
    cards = [c for c in list_shipped_models() if c.get("template") == "T1-L5"]
    return (Path(cards[0]["path"]), cards[0]) if cards else None


def held_out_ids(card) -> list[str]:
    split = ((card.get("train_config") or {}).get("data") or {}).get("split") or {}
    return list(split.get("test_ids") or [])


def score(model_path: Path, records, device: str) -> tuple[float, float | None]:
    """(mean landmark error px, Cobb SMAPE %) of a model on AASCE records."""
    from spinegui.core.imageio import load_image
    from spinegui.ml.evaluate import figures
    from spinegui.ml.predict import Predictor

    predictor = Predictor.load(model_path, device=device)
    preds, truth, heights = [], [], []
    for r in records:
        img = load_image(r.image)
        preds.append(predictor.predict(img.normalized()).landmarks)
        truth.append(np.asarray(r.landmarks, dtype=np.float64))
        heights.append(int(r.height or img.height))
    fig = figures("model", np.stack(preds), np.stack(truth), heights)
    return fig.mean_px, fig.smape


def make_project(folder: Path, records, model_path: Path, card) -> Path:
    from spinegui.core.store import Project, file_sha256

    with Project.create(folder, "T1-L5") as p:
        p.add_model("shipped", model_path, card={"preset": card.get("preset")})
        p.set_active_model("shipped")
        for r in records:
            iid = p.add_image(r.image, width=r.width, height=r.height, sha256=file_sha256(r.image))
            p.set_ground_truth(iid, r.landmarks, source="manual")  # "corrected"
            p.set_status(iid, "reviewed")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--eval", type=int, default=20, help="evaluation images after the k")
    ap.add_argument("--epochs", type=int, default=30, help="the panel's default")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the panel's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", help="checkpoint to start from (default: the shipped T1-L5)")
    ap.add_argument("--seed", type=int, default=0, help="order of the simulated worklist")
    args = ap.parse_args()

    if not (AASCE / "labels").is_dir():
        print(f"skip: no AASCE data at {AASCE}")
        return 0
    found = find_model(args.model)
    if found is None:
        print("skip: no shipped T1-L5 model in model/ (train one, or pass --model)")
        return 0
    model_path, card = found
    from spinegui.core.formats.aasce import read_aasce

    records = [r for r in read_aasce(AASCE).records if r.landmarks is not None]
    unseen = set(held_out_ids(card))
    if unseen:
        pool = [r for r in records if Path(r.image).name in unseen]
        where = f"{len(pool)} images the model's card lists as held out"
    else:
        pool = records
        where = f"all {len(pool)} images (WARNING: the card lists no held-out ids)"
    order = np.random.default_rng(args.seed).permutation(len(pool))
    pool = [pool[i] for i in order]
    k_max = max(args.ks)
    if len(pool) < k_max + 1:
        print(f"skip: only {len(pool)} unseen images, need more than {k_max}")
        return 0
    evaluation = pool[k_max : k_max + args.eval]
    print(f"Model {model_path.name}; pool: {where}; evaluating on {len(evaluation)} images")
    before_px, before_smape = score(model_path, evaluation, args.device)
    from spinegui.ml.retrain import default_lr

    lr = args.lr or default_lr("active")
    rows = []
    with tempfile.TemporaryDirectory(prefix="active_learning_") as tmp:
        for k in args.ks:
            project = make_project(Path(tmp) / f"k{k}", pool[:k], model_path, card)
            out = project / "models" / "retrain-01.safetensors"
            cmd = [sys.executable, "-m", "spinegui", "train", "--project", str(project),
                   "--init-from", "active", "--epochs", str(args.epochs), "--device",
                   args.device, "--out", str(out), "--no-compare", "--quiet",
                   "--lr", str(lr)]  # fmt: skip
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"k={k}: retrain failed ({proc.returncode}): {proc.stderr[-800:]}")
                continue
            after_px, after_smape = score(out, evaluation, args.device)
            rows.append((k, after_px, after_smape, seconds))
            print(f"  k={k}: done in {seconds:.0f} s", flush=True)

    def s(v):
        return "-" if v is None else f"{v:.2f}"

    print(
        f"\nActive-learning curve ({args.epochs} epochs per retrain at lr {lr:g}, "
        "from the shipped model)"
    )
    print(f"{'k':>4} {'px before':>10} {'px after':>10} {'SMAPE before':>13} {'SMAPE after':>12}")
    for k, px, sm, _ in rows:
        print(f"{k:>4} {before_px:>10.2f} {px:>10.2f} {s(before_smape):>13} {s(sm):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
