"""What a model type brings to the one training loop (``spinegui.ml.train``).

The loop owns everything that is the same for every network: devices and
processes, the optimiser and mixed precision, the shuffle, cancel and
divergence, validation scheduling, keeping the best checkpoint, resume. A
``TrainTask`` owns what differs: how the network is built or loaded, what a
training example is, the loss, what validation measures, what the checkpoint
holds. Two tasks exist: the whole-image landmark network (``LandmarkTask``)
and the per-vertebra refinement stage (``spinegui.ml.refine_task``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from spinegui.core.templates import get_template
from spinegui.ml.data import LandmarkData
from spinegui.ml.train_config import TrainConfig, TrainError

__all__ = ["LandmarkTask", "TrainTask", "clinical_figures", "validate"]


def clinical_figures(pred_px: np.ndarray, true_px: np.ndarray, heights: list[int]) -> dict:
    """Validation figures in pixels and degrees: what model selection and the GUI show.

    ``cobb_mae`` (main Cobb angle, degrees), ``within5`` (share of images
    within 5 degrees, 0-1), ``tilt_deg`` (mean vertebra tilt error), ``smape``
    (percent), ``mean_px``; angles are None when no image has one.
    """
    from spinegui.ml.evaluate import figures

    f = figures("validation", pred_px, true_px, heights)
    return {
        "mean_px": f.mean_px,
        "smape": f.smape,
        "cobb_mae": f.cobb_mae,
        "within5": f.within5,
        "tilt_deg": f.tilt_deg,
    }


class TrainTask:
    """The model-specific half of a training run; see the module docstring."""

    kind = "task"

    def __init__(self, config: TrainConfig, train_set: LandmarkData, val_set) -> None:
        self.cfg = config
        self.train_set = train_set
        self.val_set = val_set
        self.parent: str | None = None

    def build_model(self) -> nn.Module:
        """The network to train (new, or loaded from ``cfg.init_from``); sets ``parent``."""
        raise NotImplementedError

    def dataset(self):
        """A torch-style dataset of training examples with ``set_epoch(epoch)``."""
        raise NotImplementedError

    def examples_per_step(self) -> int:
        """Training examples in one mini-batch: ``batch_size`` X-rays' worth."""
        return self.cfg.batch_size

    def loss(self, net: nn.Module, batch, device, autocast):
        """``LossParts`` (total, mse, bpd) of one mini-batch.

        ``mse`` and ``bpd`` are the position and shape terms the monitor
        plots: the paper's MSE and BPD for the whole-image network.
        """
        raise NotImplementedError

    @staticmethod
    def forward(net: nn.Module, batch, device, autocast):
        """(prediction, target) of one (input, target, ...) mini-batch, on ``device``."""
        x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        with autocast():
            return net(x), y

    def validate(self, model: nn.Module, device) -> dict[str, float | None]:
        """Validation figures, ``total`` (the loss) among them; see ``clinical_figures``."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        """arch, template and preset as the start event reports them."""
        raise NotImplementedError

    def checkpoint_meta(self) -> dict[str, Any]:
        """Task-specific fields of the checkpoint's card."""
        return {}

    def save(self, out, model: nn.Module, meta: dict[str, Any]) -> None:
        from spinegui.ml.checkpoint import save_checkpoint

        save_checkpoint(out, model, meta)


# ---------------------------------------------------------------- whole image


def validate(
    model: nn.Module, data: LandmarkData, *, alpha: float, device, batch_size: int = 16
) -> dict[str, float | None]:
    """Whole-image network on ``data``: losses on normalised coords, errors in original pixels."""
    from spinegui.ml.losses import mse_bpd_loss
    from spinegui.ml.predict import forward_normalised
    from spinegui.ml.preprocess import denormalize_points

    if len(data) == 0:
        return {}
    pred = forward_normalised(model, data.images(), device, batch_size=batch_size)
    target = data.targets()
    parts = mse_bpd_loss(torch.from_numpy(pred), torch.from_numpy(target), alpha=alpha)
    v = get_template(data.template).n_vertebrae
    pred_px = np.stack(
        [
            np.asarray(denormalize_points(p.reshape(v, 4, 2), s.width, s.height))
            for p, s in zip(pred, data.samples, strict=True)
        ]
    )
    true_px = np.stack([s.landmarks for s in data.samples])
    figures = clinical_figures(pred_px, true_px, [s.height for s in data.samples])
    return {
        "mse": float(parts.mse),
        "bpd": float(parts.bpd),
        "total": float(parts.total),
        **figures,
    }


def _version_of(meta: dict[str, Any], path) -> str:
    from pathlib import Path

    for key in ("version", "name", "sha256"):
        if meta.get(key):
            return str(meta[key])
    return Path(path).stem


class LandmarkTask(TrainTask):
    """The paper's whole-image network (or the integral head): X-ray -> every corner."""

    kind = "landmarks"
    carried_refiner: nn.Module | None = None
    """Fine-tuning a two-stage model: its refinement stage, written back unchanged.

    A retrain adapts the first stage, which is what places the vertebrae at their
    levels: on 20 corrected X-rays from a new site (bench/new_site.py) tuning the
    first stage cut the corner error by 32 %, tuning the refinement stage by 0 %."""
    carried_refiner_card: dict[str, Any] | None = None

    def build_model(self) -> nn.Module:
        from spinegui.ml.checkpoint import load_bundle
        from spinegui.ml.network import build_network
        from spinegui.ml.presets import get_preset

        cfg = self.cfg
        preset = get_preset(cfg.preset)
        self.preset = preset
        if cfg.init_from:
            start, self.carried_refiner, meta = load_bundle(
                cfg.init_from, expected_template=cfg.template
            )
            self.carried_refiner_card = meta.get("refiner")
        if cfg.init_from and not cfg.resume:  # (resumed: the weights come from the resume file)
            model = start
            if meta.get("arch") != cfg.arch or tuple(meta.get("input_hw") or ()) != preset.hw:
                raise TrainError(
                    f"{cfg.init_from} is a {meta.get('arch')} network at "
                    f"{meta.get('input_hw')}, not {cfg.arch} at {list(preset.hw)}.",
                    "Fine-tune with the same --arch and --preset as the starting model.",
                )
            self.parent = _version_of(meta, cfg.init_from)
        else:
            model = build_network(cfg.arch, cfg.template, preset)
        self.input_hw = tuple(getattr(model, "input_hw", preset.hw))
        self._check_data(self.train_set, "training")
        if self.val_set is not None:
            self._check_data(self.val_set, "validation")
        return model

    def _check_data(self, data: LandmarkData, what: str) -> None:
        t = get_template(self.cfg.template).name
        if data.template != t:
            raise TrainError(
                f"The {what} data uses template {data.template}, the run template {t}.",
                "Pass --template matching the data.",
            )
        if tuple(data.input_hw) != tuple(self.input_hw):
            raise TrainError(
                f"The {what} data was cached at {data.input_hw}, "
                f"the network expects {self.input_hw}.",
                "Build the dataset with the same preset as the run.",
            )

    def dataset(self):
        from spinegui.ml.data import LandmarkTorchDataset

        return LandmarkTorchDataset(
            self.train_set, augment=self.cfg.augment, seed=self.cfg.seed, zoom_out=self.cfg.zoom_out
        )

    def loss(self, net, batch, device, autocast):
        from spinegui.ml.losses import mse_bpd_loss

        pred, y = self.forward(net, batch, device, autocast)
        return mse_bpd_loss(pred.float(), y, alpha=self.cfg.alpha)

    def validate(self, model, device):
        # Looked up at call time so tests can replace the module-level function.
        from spinegui.ml import task

        return task.validate(
            model,
            self.val_set,
            alpha=self.cfg.alpha,
            device=device,
            batch_size=self.cfg.val_batch_size,
        )

    def describe(self) -> dict[str, str]:
        return {
            "arch": self.cfg.arch,
            "template": get_template(self.cfg.template).name,
            "preset": self.preset.name,
        }

    def checkpoint_meta(self) -> dict[str, Any]:
        from spinegui.ml.preprocess import NORMALISATION

        return {
            "template": get_template(self.cfg.template).name,
            "arch": self.cfg.arch,
            "preset": self.preset.name,
            "input_hw": list(self.input_hw),
            "normalisation": dict(NORMALISATION),
            "mean_shape": [round(float(v), 6) for v in self.train_set.mean_shape().reshape(-1)],
            **({"refiner": self.carried_refiner_card} if self.carried_refiner is not None else {}),
        }

    def save(self, out, model, meta) -> None:
        from spinegui.ml.checkpoint import save_checkpoint

        save_checkpoint(out, model, meta, refiner=self.carried_refiner)


def check_config(cfg: TrainConfig, train_set: LandmarkData) -> None:
    """Refuse configurations no task can run."""
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise TrainError("Epochs and batch size must be at least 1.", "")
    from spinegui.ml.train_config import LR_SCHEDULES, SELECT_BY, STAGES

    for name, allowed in (
        ("stage", STAGES),
        ("lr_schedule", LR_SCHEDULES),
        ("select_by", SELECT_BY),
    ):
        if getattr(cfg, name) not in allowed:
            raise TrainError(
                f"Unknown {name.replace('_', ' ')} {getattr(cfg, name)!r}.",
                f"Choose one of: {', '.join(allowed)}.",
            )
    if not 0.0 <= cfg.zoom_out <= 1.0:  # also refuses NaN
        raise TrainError(
            f"--zoom-out is a share of the training images, not {cfg.zoom_out}.",
            "Give a number from 0 (never) to 1 (every image).",
        )
    if len(train_set) == 0:
        raise TrainError(
            "There are no training images.",
            "Add annotated images (a project needs reviewed images) and try again.",
        )
