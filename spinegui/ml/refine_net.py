"""The refinement stage: a small CNN that looks at one vertebra at a time.

The whole-image network (the paper's CNN at 256 x 128) gets the spine's
course right but reads each vertebra from a few network pixels: tilts come
out about 0.8 times the true ones and curves are under-read. This stage
crops every vertebra where stage one put it, aligned and scaled to the local
spine (``vertebra_crops``), and predicts that vertebra's four corners in the
crop's frame; the corners go back to the X-ray and the crops are cut again
from the improved chain (``iterations``), so a vertebra stage one missed by
half a level is first brought close, then placed.

Network: a stride-2 stem and four blocks of two 3x3 convolutions (batch norm,
ReLU) with max pooling, widths w, 2w, 4w, 8w, then FC 256 and 8 outputs.
Each crop is standardised (zero mean, unit variance) first, so exposure and
contrast of the X-ray do not matter, and two coordinate channels (CoordConv)
are added: the target is "the vertebra at the centre", and a plain CNN learns
that position only slowly, because the spine looks alike a level up or down
(measured: without them the position along the spine was still not learnt
after 500 steps; see the README).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from spinegui.core.errors import FormatError

__all__ = ["RefineNet", "RefinerSpec", "build_refiner", "refine_chain"]

MEAN_BOX = ((-0.76, -0.3), (0.76, -0.3), (-0.76, 0.3), (0.76, 0.3))
"""Corners (TL, TR, BL, BR) of an average vertebra in its crop frame (units of
level spacing); the output starts here, so the first predictions are boxes."""


@dataclass(frozen=True)
class RefinerSpec:
    """What a refinement network is: stored in the model card, rebuilt from it.

    ``data_preset`` is the size the whole X-ray is cached at before cropping
    (crops are cut from that image, in the original image's geometry).
    """

    crop_size: int = 64
    px_per_level: float = 22.0
    width: int = 32
    coord: bool = True
    iterations: int = 2
    data_preset: str = "medium"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefinerSpec:
        """Read a card's refiner description, refusing values that would be unsafe to build."""
        names = {f.name for f in fields(cls)}
        try:
            spec = cls(**{k: v for k, v in dict(data).items() if k in names})
            size, width = int(spec.crop_size), int(spec.width)
            level, iters = float(spec.px_per_level), int(spec.iterations)
        except (TypeError, ValueError):
            raise FormatError(
                "The refinement stage's description in the model file is damaged.",
                "Copy the model file again or retrain it.",
            ) from None
        if not (
            16 <= size <= 256
            and size % 16 == 0
            and 1 <= width <= 128
            and 2.0 <= level <= size
            and 0 <= iters <= 5
        ):
            raise FormatError(
                f"The refinement stage's description is out of range (crop {size} px, "
                f"width {width}, {level} px per level, {iters} iterations).",
                "The file was altered or written by incompatible software; retrain the model.",
            )
        return spec


class _Block(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class RefineNet(nn.Module):
    """(B, 1, s, s) crops -> (B, 8): TL, TR, BL, BR (x, y) in the crop frame."""

    arch = "vertebra-crop"

    def __init__(self, spec: RefinerSpec) -> None:
        super().__init__()
        self.spec = spec
        w, size = int(spec.width), int(spec.crop_size)
        c_in = 3 if spec.coord else 1
        self.features = nn.Sequential(
            nn.Conv2d(c_in, w, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            _Block(w, w),
            nn.MaxPool2d(2),
            _Block(w, 2 * w),
            nn.MaxPool2d(2),
            _Block(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _Block(4 * w, 8 * w),
        )
        m = size // 16
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(8 * w * m * m, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, 8),
        )
        with torch.no_grad():
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.copy_(torch.tensor(MEAN_BOX, dtype=torch.float32).reshape(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=(2, 3), keepdim=True)
        sd = x.std(dim=(2, 3), keepdim=True) + 1e-3
        x = (x - mu) / sd
        if self.spec.coord:
            b, _, h, w = x.shape
            gy = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
            gx = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
            x = torch.cat(
                [x, gy.view(1, 1, h, 1).expand(b, 1, h, w), gx.view(1, 1, 1, w).expand(b, 1, h, w)],
                dim=1,
            )
        return self.head(self.features(x))


def build_refiner(spec: RefinerSpec | dict[str, Any]) -> RefineNet:
    """The one place refinement networks are made, so a card can rebuild one."""
    if not isinstance(spec, RefinerSpec):
        spec = RefinerSpec.from_json(spec)
    return RefineNet(spec)


def _forward(net: nn.Module, crops: np.ndarray, device) -> np.ndarray:
    """(N, s, s) crops -> (N, 4, 2) frame corners, in batches, eval mode."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), 256):
            x = torch.from_numpy(np.ascontiguousarray(crops[i : i + 256]))[:, None].to(device)
            out.append(net(x).float().cpu().numpy())
    return np.concatenate(out).reshape(-1, 4, 2).astype(np.float64)


def refine_chain(
    net: nn.Module,
    images: list[np.ndarray],
    scale_xys: list[tuple[float, float]],
    landmarks: np.ndarray,
    *,
    tta: bool = False,
    iterations: int | None = None,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refine (N, V, 4, 2) landmarks (original pixels) of N images; (refined, spread).

    ``images`` are the X-rays cached at the refiner's data preset, with
    ``scale_xys`` (cached / original size per axis). With ``tta`` every crop
    is also run mirrored; the two answers are averaged and their distance
    (original pixels, (N, V, 4), last iteration) is returned as ``spread``.
    All crops of all images go through the network together, per iteration.
    """
    from spinegui.ml.vertebra_crops import chain_frames, cut_crops, from_frame, mirror_frame_points

    spec = net.spec
    n_iter = spec.iterations if iterations is None else int(iterations)
    current = np.asarray(landmarks, dtype=np.float64).copy()
    spread = None
    net.eval()
    v = current.shape[1]
    for _ in range(n_iter):
        frames = [chain_frames(lm) for lm in current]
        crops = np.concatenate(
            [
                cut_crops(img, f, sxy, spec.px_per_level, spec.crop_size)
                for img, f, sxy in zip(images, frames, scale_xys, strict=True)
            ]
        )
        pred = _forward(net, crops, device)
        if tta:
            mirrored = mirror_frame_points(_forward(net, crops[:, :, ::-1], device))
            pred_a, pred_b = pred, mirrored
            pred = (pred_a + pred_b) / 2.0
        pred = pred.reshape(len(current), v, 4, 2)
        current = np.stack([from_frame(p, f) for p, f in zip(pred, frames, strict=True)])
        if tta:
            a = pred_a.reshape(len(current), v, 4, 2)
            b = pred_b.reshape(len(current), v, 4, 2)
            spread = np.stack(
                [
                    np.linalg.norm(from_frame(x, f) - from_frame(y, f), axis=-1)
                    for x, y, f in zip(a, b, frames, strict=True)
                ]
            )
    return current, spread
