"""Running a trained model on X-rays: landmarks back in original-image pixels.

``Predictor`` loads a checkpoint once and is then called per image (the GUI's
inference worker keeps one alive). Images of any size go in; the network sees
them stretched to its preset size, and because it predicts fractions of the
image width/height (``preprocess``), mapping back needs only the original
size, never a scale or offset.

A two-stage model (``spinegui.ml.refine_net``) then refines every vertebra
from crops of the X-ray cached at the refiner's larger size; ``stage_one_only``
skips that (the paper's network alone). Images are then cached once, at the
refiner's size, and shrunk from there for the first stage.

Test-time augmentation (``tta=True``) also runs the mirrored image, mirrors
the answer back (x -> 1 - x in normalised coordinates, which is exact for the
pixel-centre convention, and left/right corners swapped back) and averages
the two. The distance between the two estimates, per landmark, is returned
as ``spread``: a cheap "how sure is the model here" the GUI can draw, since a
landmark the network really sees moves with the mirror while a guess does not.
With a refinement stage only the vertebra crops are mirrored, and only for the
spread: the answer is the plain one, the same with and without ``tta`` (on the
shipped T1-L5 model any averaging made the main Cobb angle worse, see
``refine_chain``), so the window and ``spinegui predict`` give one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spinegui.core.errors import SpineguiError
from spinegui.core.templates import DEFAULT_TEMPLATE, get_template

__all__ = [
    "ModelNotFoundError",
    "Prediction",
    "Predictor",
    "default_model_path",
    "forward_normalised",
]


class ModelNotFoundError(SpineguiError):
    """No usable model for the request (none shipped, wrong template, missing file)."""


@dataclass(frozen=True, eq=False)
class Prediction:
    """One image's landmarks: (V, 4, 2) original-image pixels; ``spread`` (V, 4) px or None."""

    landmarks: np.ndarray
    spread: np.ndarray | None
    template: str
    model_version: str
    width: int
    height: int

    @property
    def flat(self) -> np.ndarray:
        """(4V, 2) in AASCE order."""
        return self.landmarks.reshape(-1, 2)


def forward_normalised(
    model: nn.Module, images: np.ndarray, device, *, batch_size: int = 16
) -> np.ndarray:
    """(N, h, w) network-size images -> (N, 8V) float32 normalised coordinates.

    Puts the model in eval mode (batch-norm statistics, no dropout); the
    training loop sets train mode again at the start of each epoch.
    """
    from spinegui.ml.device import autocast

    model.eval()
    out = []
    device = torch.device(device)
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], np.float32))
            x = x[:, None].to(device)
            with autocast(device):
                y = model(x)
            out.append(y.float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def _as_unit_image(image) -> tuple[np.ndarray, int, int]:
    """(pixels float32 [0,1], width, height) from a LoadedImage or an array."""
    if hasattr(image, "normalized") and callable(image.normalized):
        pixels = np.asarray(image.normalized(), dtype=np.float32)
    else:
        arr = np.asarray(image)
        if arr.dtype.kind in "ui":
            pixels = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
        elif arr.dtype == np.bool_:
            pixels = arr.astype(np.float32)
        else:
            pixels = arr.astype(np.float32, copy=False)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim != 2:
        from spinegui.core.errors import ImageLoadError

        raise ImageLoadError(
            f"Expected a greyscale image, got an array of shape {pixels.shape}.",
            "Load the X-ray with spinegui.core.imageio.load_image.",
        )
    return pixels, int(pixels.shape[1]), int(pixels.shape[0])


class Predictor:
    """A loaded model and everything needed to map its output back to pixels."""

    def __init__(
        self,
        model: nn.Module,
        meta: dict[str, Any],
        device: torch.device | str = "cpu",
        path: Path | None = None,
        refiner: nn.Module | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.refiner = refiner.to(self.device).eval() if refiner is not None else None
        self.meta = dict(meta)
        self.path = path
        self.template = get_template(meta.get("template") or model.template).name
        self.input_hw = tuple(meta.get("input_hw") or model.input_hw)
        self.preset = meta.get("preset")
        self.n_vertebrae = get_template(self.template).n_vertebrae

    @property
    def data_hw(self) -> tuple[int, int]:
        """The size images are cached at for ``predict_resized``: the refiner's, else the input."""
        if self.refiner is None:
            return self.input_hw
        from spinegui.ml.presets import get_preset

        return get_preset(self.refiner.spec.data_preset).hw

    @property
    def stages(self) -> int:
        return 1 if self.refiner is None else 2

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "auto",
        *,
        expected_template: str | None = None,
        stage_one_only: bool = False,
    ) -> Predictor:
        """Load a checkpoint once; raises ModelNotFoundError when the file is missing."""
        from spinegui.ml.checkpoint import load_bundle
        from spinegui.ml.device import pick_device

        p = Path(path)
        if not p.is_file():
            raise ModelNotFoundError(
                f"There is no model file at {p}.",
                "Pass the path of a .safetensors checkpoint written by spinegui train.",
            )
        dev = pick_device(device)
        model, refiner, meta = load_bundle(
            p, expected_template=expected_template, device=str(dev), with_refiner=not stage_one_only
        )
        return cls(model, meta, dev, p, refiner)

    @property
    def version(self) -> str:
        """A name for this model in results and the project store."""
        for key in ("version", "name"):
            if self.meta.get(key):
                return str(self.meta[key])
        return self.path.stem if self.path is not None else "unnamed"

    # ------------------------------------------------------------- predictions

    def network_preset(self):
        """The preset evaluation data is cached at (``data_hw``)."""
        from spinegui.ml.presets import Preset

        if self.refiner is not None:
            from spinegui.ml.presets import get_preset

            return get_preset(self.refiner.spec.data_preset)
        h, w = self.input_hw
        return Preset(str(self.preset or "model"), int(h), int(w))

    def predict(self, image, tta: bool = False) -> Prediction:
        """Landmarks of one image (a [0,1] (H, W) array or a LoadedImage)."""
        return self.predict_batch([image], tta=tta)[0]

    def predict_batch(
        self,
        images: Iterable,
        tta: bool = False,
        *,
        batch_size: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """Landmarks of many images, batched through the network."""
        from spinegui.ml.preprocess import to_network_input

        preset = self.network_preset()
        results: list[Prediction] = []
        chunk: list[tuple[np.ndarray, int, int]] = []

        def flush() -> None:
            net = np.stack([c[0] for c in chunk])
            sizes = [(c[1], c[2]) for c in chunk]
            results.extend(self.predict_resized(net, sizes, tta=tta, batch_size=batch_size))
            if progress:
                progress(len(chunk))
            chunk.clear()

        for image in images:
            pixels, w, h = _as_unit_image(image)
            chunk.append((to_network_input(pixels, preset), w, h))
            if len(chunk) >= batch_size:
                flush()
        if chunk:
            flush()
        return results

    def predict_normalised(
        self, net_images: np.ndarray, tta: bool = False, *, batch_size: int = 8
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, h, w) network-size images -> ((N, V, 4, 2) normalised, flipped estimate or None).

        The second array is the un-mirrored TTA estimate (before averaging),
        so callers can measure the spread in whatever pixels they need.
        """
        from spinegui.ml.augment import LR_SWAP

        v = self.n_vertebrae
        a = forward_normalised(self.model, net_images, self.device, batch_size=batch_size)
        a = a.reshape(-1, v, 4, 2).astype(np.float64)
        if not tta:
            return a, None
        flipped = np.ascontiguousarray(net_images[:, :, ::-1])
        b = forward_normalised(self.model, flipped, self.device, batch_size=batch_size)
        b = b.reshape(-1, v, 4, 2).astype(np.float64)[:, :, LR_SWAP, :]
        b[..., 0] = 1.0 - b[..., 0]
        return a, b

    def predict_resized(
        self,
        net_images: np.ndarray,
        sizes: Sequence[tuple[int, int]],
        tta: bool = False,
        *,
        batch_size: int = 8,
    ) -> list[Prediction]:
        """Images cached at ``data_hw``, with their original (width, height)."""
        from spinegui.ml.preprocess import denormalize_points

        net_images = np.asarray(net_images, dtype=np.float32)
        first = net_images
        if tuple(net_images.shape[1:]) != tuple(self.input_hw):
            from spinegui.ml.preprocess import to_network_input
            from spinegui.ml.presets import Preset

            stage_one = Preset("stage-one", *self.input_hw)
            first = np.stack([to_network_input(img, stage_one) for img in net_images])
        # With a refinement stage the mirror is the refiner's (for the spread only):
        # averaging a mirrored first stage made the refined angles worse (measured).
        first_tta = tta and self.refiner is None
        a, b = self.predict_normalised(first, first_tta, batch_size=batch_size)
        landmarks, spreads = [], []
        for i, (w, h) in enumerate(sizes):
            pa = denormalize_points(a[i], w, h)
            spread = None
            if b is not None:
                pb = denormalize_points(b[i], w, h)
                spread = np.linalg.norm(pa - pb, axis=-1)
                pa = (pa + pb) / 2.0
            landmarks.append(pa)
            spreads.append(spread)
        if self.refiner is not None and len(sizes):
            from spinegui.ml.refine_net import refine_chain

            scales = [
                (img.shape[1] / float(w), img.shape[0] / float(h))
                for img, (w, h) in zip(net_images, sizes, strict=True)
            ]
            refined, spread = refine_chain(
                self.refiner, list(net_images), scales, np.stack(landmarks), tta=tta,
                device=self.device,
            )  # fmt: skip
            landmarks = list(refined)
            spreads = list(spread) if spread is not None else [None] * len(sizes)
        return [
            Prediction(pa, sp, self.template, self.version, int(w), int(h))
            for pa, sp, (w, h) in zip(landmarks, spreads, sizes, strict=True)
        ]


# -------------------------------------------------------------- shipped models


def default_model_path(template: str = DEFAULT_TEMPLATE) -> Path:
    """The shipped model for ``template`` (newest ``created`` if several ship).

    Looks in ``spinegui.core.paths.models_dir()``: the repository's
    ``model/`` folder in a checkout or editable install, the
    ``spinegui._models`` package in a wheel.
    """
    from spinegui.core.model_card import newest_shipped_model
    from spinegui.core.paths import models_dir

    t = get_template(template).name
    card = newest_shipped_model(t)
    if card is None:
        raise ModelNotFoundError(
            f"No model for template {t} ships with this installation (looked in {models_dir()}).",
            "Train one with 'spinegui train' and pass it with --model.",
        )
    return Path(card["path"])
