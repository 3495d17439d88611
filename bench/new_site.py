"""A new site: does the one-click retrain adapt the model to another hospital's X-rays?

Held-out AASCE X-rays (the model card's recorded test images, never trained
on) are re-acquired as another site would take them (``site_transform``:
wider field of view, another detector scale, exposure curve, contrast, blur,
noise, JPEG). A reviewer corrects the first ``--corrected`` of them (their
expert landmarks become the project's reviewed ground truth), presses Retrain
with the panel's default settings - the very command the panel runs, as a
child process - and the model's error on the next ``--eval`` images is
measured before and after, the way the window predicts (mirror TTA on). Each
seed is another site (other settings drawn) and another worklist order.

Prints one row per seed and the mean: corner error (px), main Cobb angle MAE
(deg), share within 5 deg, and the retrain's wall time. Skips cleanly (exit 0,
a one-line reason) without ../shared/aasce or a model.

    python bench/new_site.py                      # 3 seeds, 20 corrected, 40 evaluated
    python bench/new_site.py --seeds 0 --eval 10  # a quick look
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
sys.path.insert(0, str(ROOT / "bench"))
AASCE = ROOT.parent / "shared" / "aasce" / "boostnet_labeldata"

from site_transform import reacquire  # noqa: E402


def held_out(card, ids: list[str] | None) -> list[str]:
    split = ((card.get("train_config") or {}).get("data") or {}).get("split") or {}
    return list(ids or split.get("test_ids") or [])


def site_images(records, folder: Path, rng) -> list[dict]:
    """Re-acquire each record into ``folder``; returns path, landmarks and settings."""
    from spinegui.core.imageio import load_image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for r in records:
        loaded = load_image(r.image)
        image, landmarks, settings = reacquire(loaded.normalized(), r.landmarks, rng)
        path = folder / (Path(r.image).stem + ".png")
        cv2.imwrite(str(path), image)
        out.append({"path": path, "landmarks": landmarks, "settings": settings})
    return out


def score(model_path: Path, items: list[dict], device: str) -> dict:
    """The window's prediction (mirror TTA) on each image, scored in px and degrees."""
    from spinegui.core.imageio import load_image
    from spinegui.ml.evaluate import figures
    from spinegui.ml.predict import Predictor

    predictor = Predictor.load(model_path, device=device)
    preds, truth, heights = [], [], []
    for item in items:
        img = load_image(item["path"])
        preds.append(predictor.predict(img, tta=True).landmarks)
        truth.append(item["landmarks"])
        heights.append(img.height)
    f = figures("model", np.stack(preds), np.stack(truth), heights)
    return {"px": f.mean_px, "cobb": f.cobb_mae, "within5": f.within5, "smape": f.smape}


def make_project(folder: Path, items: list[dict], model_path: Path, card) -> Path:
    from spinegui.core.store import Project, file_sha256

    with Project.create(folder, "T1-L5") as p:
        p.add_model("shipped", model_path, card={"preset": card.get("preset")})
        p.set_active_model("shipped")
        for item in items:
            h, w = cv2.imread(str(item["path"]), cv2.IMREAD_GRAYSCALE).shape
            iid = p.add_image(item["path"], width=w, height=h, sha256=file_sha256(item["path"]))
            p.set_ground_truth(iid, item["landmarks"], source="manual")  # the correction
            p.set_status(iid, "reviewed")
    return folder


def retrain(project: Path, device: str, lr: float | None = None) -> tuple[Path, float, float]:
    """The panel's own command with its default settings (or another rate, to compare);
    (model, wall s, child CPU s)."""
    import resource

    from spinegui.ml.retrain import RetrainSettings, train_command

    out = project / "models" / "retrain-01.safetensors"
    settings = RetrainSettings(device=device)
    if lr is not None:
        settings.lr = lr
    program, arguments = train_command(project, out, settings)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([program, *arguments], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"retrain failed ({proc.returncode}): {proc.stderr[-800:]}")
    return out, wall, cpu


def _pct(a, b):
    return 100.0 * (b - a) / a if a else float("nan")


def _line(label, b, a, wall, cpu) -> str:
    return (
        f"| {label} | {b['px']:.1f} | {a['px']:.1f} | {_pct(b['px'], a['px']):+.0f} % "
        f"| {b['cobb']:.2f} | {a['cobb']:.2f} | {_pct(b['cobb'], a['cobb']):+.0f} % "
        f"| {100 * b['within5']:.0f} % | {100 * a['within5']:.0f} % | {wall:.0f} | {cpu:.0f} |"
    )


def print_table(rows: list[dict]) -> None:
    print(
        "\n| seed | corner px before | after | change | main Cobb MAE before | after | change "
        "| within 5 deg before | after | retrain wall s | CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(_line(r["seed"], r["before"], r["after"], r["wall_s"], r["cpu_s"]))
    if rows:
        keys = ("px", "cobb", "within5")
        mean = {s: {k: float(np.mean([r[s][k] for r in rows])) for k in keys}
                for s in ("before", "after")}  # fmt: skip
        wall = float(np.mean([r["wall_s"] for r in rows]))
        cpu = float(np.mean([r["cpu_s"] for r in rows]))
        print(_line("mean", mean["before"], mean["after"], wall, cpu))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--corrected", type=int, default=20)
    ap.add_argument("--eval", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lr", type=float, help="retrain learning rate (default: the panel's)")
    ap.add_argument("--model", help="checkpoint (default: the shipped T1-L5 model)")
    ap.add_argument("--ids", help="a file of image names to draw from (default: the card's test)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()

    if not (AASCE / "labels").is_dir():
        print(f"skip: no AASCE data at {AASCE}")
        return 0
    from spinegui.core.formats.aasce import read_aasce
    from spinegui.core.model_card import newest_shipped_model, read_model_card

    card = read_model_card(args.model) if args.model else newest_shipped_model("T1-L5")
    if card is None:
        print("skip: no shipped T1-L5 model (train one, or pass --model)")
        return 0
    model_path = Path(card["path"])
    ids = Path(args.ids).read_text().split("\n") if args.ids else None
    pool_ids = set(i for i in held_out(card, ids) if i)
    records = [
        r
        for r in read_aasce(AASCE).records
        if r.landmarks is not None and Path(r.image).name in pool_ids
    ]
    need = args.corrected + args.eval
    if len(records) < need:
        print(f"skip: {len(records)} held-out images, need {need}")
        return 0
    stages = "two stages" if card.get("refiner") else "one stage"
    print(
        f"Model {model_path.name} ({stages}); {len(records)} held-out X-rays; "
        f"{args.corrected} corrected, {args.eval} evaluated"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="new_site_") as tmp:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            order = rng.permutation(len(records))[:need]
            items = site_images([records[i] for i in order], Path(tmp) / f"site{seed}", rng)
            corrected, evaluation = items[: args.corrected], items[args.corrected :]
            before = score(model_path, evaluation, args.device)
            project = make_project(Path(tmp) / f"project{seed}", corrected, model_path, card)
            out, wall, cpu = retrain(project, args.device, args.lr)
            after = score(out, evaluation, args.device)
            rows.append({"seed": seed, "before": before, "after": after, "wall_s": wall,
                         "cpu_s": cpu})  # fmt: skip
            print(f"  seed {seed}: done (retrain {wall:.0f} s wall, {cpu:.0f} s CPU)", flush=True)

    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
