"""Training the refinement stage: vertebra crops with stage-one-like errors.

One training example is one vertebra of one X-ray: ~17 per image, so the 385
AASCE training images give ~6,500 per epoch and 20 corrected images in a
clinic ~340. The crop is not cut where the truth is but where a first stage
might have put it: the vertebra's frame (``vertebra_crops``) is moved along
and across the spine, turned and rescaled by random amounts sized like the
whole-image network's measured errors on validation X-rays (along the spine
sd 0.38 of a level, across 0.21, axis 6.4 degrees, spacing 11 %), and the
target is where the true corners lie in that moved frame. A share of the
examples gets a quarter of those errors, as a second iteration sees.

A curriculum, when starting from scratch: the first epochs see smaller
errors and only the corner term, because the tilt and shape terms, and large
moves along the spine, kept the network from learning where along the spine
the vertebra is (measured: the position along the spine was not learnt in
500 steps with them, and was by step 300 without). Fine-tuning starts at the
full errors.

With the L5 output (``RefinerSpec.last_head``) each image also gives one
example a level below L5 (the sacrum, no corners to learn there), and every
example is labelled by whether the vertebra nearest its (moved) centre is L5,
so the network learns L5 against L4 above and the sacrum below. Positives are
one in eighteen, so they weigh 8 in the loss.

Validation runs the whole pipeline: the frozen first stage (its predictions
on the validation images are computed once) and this refiner with mirror
TTA, scored in degrees and pixels (``task.clinical_figures``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spinegui.core.templates import get_template
from spinegui.ml.data import LandmarkData
from spinegui.ml.losses import LossParts
from spinegui.ml.task import TrainTask, clinical_figures
from spinegui.ml.train_config import TrainError

__all__ = ["PERTURBATION", "CropDataset", "RefineTask"]

PERTURBATION = {
    "along": 0.3,
    "across": 0.15,
    "angle_deg": 6.0,
    "log_scale": 0.1,
    "fine_share": 0.3,
    "fine_factor": 0.25,
    "clip_sd": 2.5,
}
"""Standard deviations of the frame errors a training crop is cut with (units of level
spacing; degrees; log of the scale), a little under stage one's measured ones so the
targets stay within the vertebra's own half-level."""

SMOOTH_L1_BETA = 0.02
"""2 % of a level: below it the loss is quadratic, so predictions settle, not oscillate."""


def _item_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index, 7]).generate_state(1)[0])


LAST_POS_WEIGHT = 8.0


class CropDataset:
    """(crop (1, s, s) float32, target (10,) float32, index) per vertebra (+ one below L5).

    The target is the corners in the crop frame (8), the weight of the corner
    terms (1; 0 below L5, where there is no vertebra of the template) and
    whether the vertebra nearest the crop's centre is the last one (0/1).
    """

    def __init__(
        self,
        data: LandmarkData,
        spec,
        *,
        seed: int = 0,
        augment: bool = True,
        epochs: int = 1,
        curriculum: bool = True,
    ) -> None:
        from spinegui.ml.vertebra_crops import chain_frames

        self.samples = data.samples
        self.spec = spec
        self.seed = seed
        self.augment = augment
        self.epochs = max(1, int(epochs))
        self.curriculum = curriculum
        self.epoch = 1
        self.v = get_template(data.template).n_vertebrae
        self.frames = [chain_frames(s.landmarks) for s in self.samples]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def slots(self) -> int:
        """Examples per image: every vertebra, and one below the last with the L5 output."""
        return self.v + (1 if self.spec.last_head else 0)

    def __len__(self) -> int:
        return len(self.samples) * self.slots

    @property
    def error_scale(self) -> float:
        """Share of the full frame errors this epoch (0.3 rising to 1 by 40 % of the run)."""
        if not self.curriculum:
            return 1.0
        return min(1.0, 0.3 + 0.7 * (self.epoch - 1) / max(1.0, 0.4 * self.epochs))

    @property
    def shape_weight(self) -> float:
        """Weight of the tilt/shape loss term this epoch (0 rising to 1 by 30 % of the run)."""
        if not self.curriculum:
            return 1.0
        return min(1.0, (self.epoch - 1) / max(1.0, 0.3 * self.epochs))

    def perturbed(self, n: int, i: int, rng: np.random.Generator):
        """The frame of vertebra ``i`` of image ``n``, moved as a first stage might."""
        from spinegui.ml.vertebra_crops import ChainFrames

        f = self.frames[n]
        if i < self.v:
            c, u, s = f.centres[i], f.axes[i], f.spacing[i]
        else:  # one level below the last vertebra
            c, u, s = f.centres[-1] + f.spacing[-1] * f.axes[-1], f.axes[-1], f.spacing[-1]
        if not self.augment:
            return ChainFrames(c[None], u[None], s[None])
        p = PERTURBATION
        k = self.error_scale * (p["fine_factor"] if rng.random() < p["fine_share"] else 1.0)

        def draw(sd: float) -> float:
            return float(np.clip(rng.normal(0.0, sd * k), -p["clip_sd"] * sd, p["clip_sd"] * sd))

        along, across = draw(p["along"]), draw(p["across"])
        angle = np.radians(draw(p["angle_deg"]))
        scale = float(np.exp(draw(p["log_scale"])))
        perp = np.array([u[1], -u[0]])
        centre = c + s * (across * perp + along * u)
        ca, sa = np.cos(angle), np.sin(angle)
        axis = np.array([ca * u[0] - sa * u[1], sa * u[0] + ca * u[1]])
        return ChainFrames(centre[None], axis[None], np.array([s * scale]))

    def __getitem__(self, index: int):
        from spinegui.ml.augment import Augmenter
        from spinegui.ml.vertebra_crops import cut_crops, mirror_frame_points, to_frame

        n, i = divmod(int(index), self.slots)
        sample = self.samples[n]
        rng = np.random.default_rng(_item_seed(self.seed, self.epoch, index))
        frame = self.perturbed(n, i, rng)
        image = sample.image
        scale_xy = (image.shape[1] / sample.width, image.shape[0] / sample.height)
        crop = cut_crops(image, frame, scale_xy, self.spec.px_per_level, self.spec.crop_size)[0]
        target = to_frame(sample.landmarks[min(i, self.v - 1)][None], frame)[0]
        if self.augment:
            crop = Augmenter(rng).adjust_intensity(crop)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
                target = mirror_frame_points(target)
        y = np.zeros(10, np.float32)
        y[:8] = target.reshape(8)
        y[8] = 1.0 if i < self.v else 0.0
        y[9] = 1.0 if self._nearest(n, frame.centres[0]) == self.v - 1 else 0.0
        x = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None]
        return x, torch.from_numpy(y), index

    def _nearest(self, n: int, point: np.ndarray) -> int:
        """Index of the vertebra whose centre is nearest ``point`` (V: the one below L5)."""
        f = self.frames[n]
        below = f.centres[-1] + f.spacing[-1] * f.axes[-1]
        centres = np.vstack([f.centres, below[None]])
        return int(np.argmin(np.linalg.norm(centres - point, axis=1)))


def refine_loss(pred: torch.Tensor, target: torch.Tensor, shape_weight: float) -> LossParts:
    """Corner position term + shape term (midline and endplate vectors, i.e. the tilts)
    + the L5 term (weighted binary cross-entropy), when the network has that output.

    Reported as ``LossParts(total, mse=position, bpd=shape)`` so the retrain
    monitor's "position" and "shape" curves show the two terms; the L5 term is
    in the total only. Examples with corner weight 0 (below L5) add no corner terms.
    """
    pred, target = pred.float(), target.float()
    weight = target[:, 8:9]
    n = weight.sum().clamp(min=1.0)
    p = pred[:, :8].reshape(-1, 4, 2)
    t = target[:, :8].reshape(-1, 4, 2)

    def masked(a, b):
        per = F.smooth_l1_loss(a, b, beta=SMOOTH_L1_BETA, reduction="none")
        return (per.reshape(len(per), -1).mean(dim=1, keepdim=True) * weight).sum() / n

    position = masked(p, t)

    def midline(q):  # right-edge midpoint minus left-edge midpoint
        return (q[:, 1] + q[:, 3] - q[:, 0] - q[:, 2]) / 2.0

    def endplates(q):
        return torch.cat([q[:, 1] - q[:, 0], q[:, 3] - q[:, 2]], dim=1)

    shape = masked(midline(p), midline(t)) + 0.5 * masked(endplates(p), endplates(t))
    total = position + shape_weight * shape
    if pred.shape[1] > 8:
        last = F.binary_cross_entropy_with_logits(
            pred[:, 8],
            target[:, 9],
            pos_weight=torch.tensor(LAST_POS_WEIGHT, device=pred.device),
        )
        total = total + 0.1 * last
    return LossParts(total, position, shape)


def _version_of(meta: dict[str, Any], path) -> str:
    from spinegui.ml.task import _version_of as version

    return version(meta, path)


STAGE_ONE_KEYS = ("train_config", "metrics", "data_fingerprint", "created", "parent")


class RefineTask(TrainTask):
    """The refinement stage on top of a frozen first stage; writes a two-stage model file."""

    kind = "refine"

    def build_model(self) -> nn.Module:
        from spinegui.ml.checkpoint import load_bundle
        from spinegui.ml.presets import get_preset
        from spinegui.ml.refine_net import RefinerSpec, build_refiner

        cfg = self.cfg
        base = cfg.base_model or cfg.init_from
        if not base:
            raise TrainError(
                "The refinement stage is trained on top of a first stage, and none was given.",
                "Pass --base-model with a whole-image model (or --init-from a two-stage model).",
            )
        self.stage_one, old_refiner, self.base_meta = load_bundle(
            base, expected_template=cfg.template, with_refiner=bool(cfg.init_from)
        )
        self.stage_one.eval()
        if cfg.init_from:
            if old_refiner is None:
                raise TrainError(
                    f"{cfg.init_from} has no refinement stage to fine-tune.",
                    "Train one with --stage refine --base-model, or retrain the first stage.",
                )
            spec = old_refiner.spec
            refiner = old_refiner.train()
            self.parent = _version_of(self.base_meta, cfg.init_from)
        else:
            spec = RefinerSpec.from_json({**cfg.refiner, "data_preset": cfg.preset})
            refiner = build_refiner(spec)
        self.spec = spec
        hw = get_preset(spec.data_preset).hw
        for what, data in (("training", self.train_set), ("validation", self.val_set)):
            if data is not None and tuple(data.input_hw) != tuple(hw):
                raise TrainError(
                    f"The {what} data was cached at {data.input_hw}; the refinement stage "
                    f"crops from images cached at {hw} (preset {spec.data_preset}).",
                    "Build the dataset with the refinement stage's preset.",
                )
        self._first_stage: np.ndarray | None = None
        return refiner

    def dataset(self):
        self.ds = CropDataset(
            self.train_set,
            self.spec,
            seed=self.cfg.seed,
            augment=self.cfg.augment,
            epochs=self.cfg.epochs,
            curriculum=not self.cfg.init_from,
        )
        return self.ds

    def examples_per_step(self) -> int:
        """``batch_size`` counts X-rays here too: a step takes all their vertebrae's crops."""
        return self.cfg.batch_size * self.ds.slots

    def loss(self, net, batch, device, autocast):
        pred, y = self.forward(net, batch, device, autocast)
        return refine_loss(pred, y, self.ds.shape_weight)

    def first_stage(self, device) -> np.ndarray:
        """Stage one's (mirror TTA) landmarks on the validation images; computed once."""
        if self._first_stage is None:
            from spinegui.ml.predict import Predictor

            predictor = Predictor(self.stage_one, self.base_meta, device)
            sizes = [(s.width, s.height) for s in self.val_set.samples]
            preds = predictor.predict_resized(self.val_set.images(), sizes)
            self._first_stage = np.stack([p.landmarks for p in preds])
        return self._first_stage

    def validate(self, model, device) -> dict[str, float | None]:
        from spinegui.ml.refine_net import refine_chain

        data = self.val_set
        if data is None or len(data) == 0:
            return {}
        images = [s.image for s in data.samples]
        scales = [(s.image.shape[1] / s.width, s.image.shape[0] / s.height) for s in data.samples]
        # Scored as the window predicts: plain answers (the mirror only measures doubt).
        refined, _ = refine_chain(model, images, scales, self.first_stage(device), device=device)
        true = np.stack([s.landmarks for s in data.samples])
        figures = clinical_figures(refined, true, [s.height for s in data.samples])
        return {"total": figures["mean_px"], **figures}

    def describe(self) -> dict[str, str]:
        return {
            "arch": "vertebra-crop",
            "template": get_template(self.cfg.template).name,
            "preset": self.spec.data_preset,
        }

    def checkpoint_meta(self) -> dict[str, Any]:
        base = self.base_meta
        stage_one = base.get("stage_one") or {k: base.get(k) for k in STAGE_ONE_KEYS}
        keep = ("template", "arch", "preset", "input_hw", "normalisation", "mean_shape")
        return {
            **{k: base.get(k) for k in keep},
            "stage_one": stage_one,
            "refiner": self.spec.to_json(),
        }

    def save(self, out, model, meta) -> None:
        from spinegui.ml.checkpoint import save_checkpoint

        save_checkpoint(out, self.stage_one, meta, refiner=model)
