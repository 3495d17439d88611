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

Whole-level slips: a crop shows one vertebra and its neighbours, so no crop
can tell T5 from T6; refinement keeps whatever level stage one chose. The
sacrum can: an extra output (``last_head``) says whether the vertebra at the
centre is the template's last one, L5, which sits on it. After refining,
the chain is scored with its last box, the box above and one extrapolated a
level below; if either neighbour looks more like L5, every label moves one
level (the missing end box is placed by extrapolation and refined).
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
    last_head: bool = True
    """A ninth output: is the vertebra at the centre the last one (L5)? Used for
    ``fix_level``; False for refiners trained without it."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefinerSpec:
        """Read a card's refiner description, refusing values that would be unsafe to build."""
        names = {f.name for f in fields(cls)}
        values = {"last_head": False, **dict(data)}  # cards from before the L5 output
        try:
            spec = cls(**{k: v for k, v in values.items() if k in names})
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
    """(B, 1, s, s) crops -> (B, 8 or 9): TL, TR, BL, BR (x, y) in the crop frame,
    then (``last_head``) the logit of "this is the last vertebra"."""

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
            nn.Linear(256, 9 if spec.last_head else 8),
        )
        with torch.no_grad():
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias[:8].copy_(torch.tensor(MEAN_BOX, dtype=torch.float32).reshape(8))

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


def _forward(net: nn.Module, crops: np.ndarray, device, tta: bool):
    """(N, s, s) crops -> ((N, 4, 2) frame corners, (N,) last-vertebra logits or None,
    (N, 4, 2) the mirrored pass's corners or None); batched, eval mode."""
    from spinegui.ml.vertebra_crops import mirror_frame_points

    def run(batch: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(batch), 256):
                x = torch.from_numpy(np.ascontiguousarray(batch[i : i + 256]))[:, None]
                out.append(net(x.to(device)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    n = len(crops)
    both = np.concatenate([crops, crops[:, :, ::-1]]) if tta else crops
    raw = run(both)
    corners = raw[:n, :8].reshape(n, 4, 2)
    logits = raw[:n, 8] if raw.shape[1] > 8 else None
    mirrored = None
    if tta:
        mirrored = mirror_frame_points(raw[n:, :8].reshape(n, 4, 2))
        if logits is not None:
            logits = (logits + raw[n:, 8]) / 2.0
    return corners, logits, mirrored


def _end_frames(frames, below: bool, steps: int):
    """Frames ``steps`` levels beyond the chain's last (or first) vertebra, extrapolated."""
    from spinegui.ml.vertebra_crops import ChainFrames

    i = -1 if below else 0
    sign = 1.0 if below else -1.0
    c, u, s = frames.centres[i], frames.axes[i], frames.spacing[i]
    centres = np.stack([c + sign * k * s * u for k in range(1, steps + 1)])
    return ChainFrames(centres, np.repeat(u[None], steps, 0), np.repeat(s, steps))


def refine_chain(
    net: nn.Module,
    images: list[np.ndarray],
    scale_xys: list[tuple[float, float]],
    landmarks: np.ndarray,
    *,
    tta: bool = False,
    iterations: int | None = None,
    device="cpu",
    fix_level: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refine (N, V, 4, 2) landmarks (original pixels) of N images; (refined, spread).

    ``images`` are the X-rays cached at the refiner's data preset, with
    ``scale_xys`` (cached / original size per axis). With ``tta`` every crop
    is also run mirrored; the two answers are averaged and their distance
    (original pixels, (N, V, 4), last iteration) is returned as ``spread``.
    All crops of all images go through the network together, per iteration.
    ``fix_level`` (with a ``last_head`` network) moves a chain that is a whole
    level off by one level (see the module docstring).
    """
    from spinegui.ml.vertebra_crops import chain_frames, cut_crops, from_frame

    spec = net.spec
    n_iter = spec.iterations if iterations is None else int(iterations)
    current = np.asarray(landmarks, dtype=np.float64).copy()
    spread = None
    net.eval()
    n_img, v = current.shape[:2]

    def corners_at(frame_sets):
        crops = np.concatenate(
            [
                cut_crops(img, f, sxy, spec.px_per_level, spec.crop_size)
                for img, f, sxy in zip(images, frame_sets, scale_xys, strict=True)
            ]
        )
        return _forward(net, crops, device, tta)

    for _ in range(n_iter):
        frames = [chain_frames(lm) for lm in current]
        pred, _, mirrored = corners_at(frames)
        if mirrored is not None:
            pred_a, pred = pred, (pred + mirrored) / 2.0
        pred = pred.reshape(n_img, v, 4, 2)
        current = np.stack([from_frame(p, f) for p, f in zip(pred, frames, strict=True)])
        if mirrored is not None:
            a = pred_a.reshape(n_img, v, 4, 2)
            b = mirrored.reshape(n_img, v, 4, 2)
            spread = np.stack(
                [
                    np.linalg.norm(from_frame(x, f) - from_frame(y, f), axis=-1)
                    for x, y, f in zip(a, b, frames, strict=True)
                ]
            )
    if fix_level and spec.last_head and n_iter > 0:
        current, spread = _fix_level(current, spread, corners_at, tta)
    return current, spread


def _frames_of(parts):
    """One ChainFrames from several (centres, axes and spacing stacked)."""
    from spinegui.ml.vertebra_crops import ChainFrames

    return ChainFrames(
        np.concatenate([p.centres for p in parts]),
        np.concatenate([p.axes for p in parts]),
        np.concatenate([p.spacing for p in parts]),
    )


def _fix_level(current, spread, corners_at, tta: bool):
    """Move each chain by one level when the box above its last, or one below, is L5."""
    from spinegui.ml.vertebra_crops import ChainFrames, chain_frames, from_frame

    n_img, v = current.shape[:2]
    frames = [chain_frames(lm) for lm in current]

    def box(f, i):
        return ChainFrames(f.centres[[i]], f.axes[[i]], f.spacing[[i]])

    # per image: box V-2, box V-1, and one level below the chain: which is L5?
    probe = [_frames_of([box(f, v - 2), box(f, v - 1), _end_frames(f, True, 1)]) for f in frames]
    _, logits, _ = corners_at(probe)
    shifts = np.argmax(logits.reshape(n_img, 3), axis=1) - 1  # -1: chain a level low
    if not shifts.any():
        return current, spread
    # The missing end box: below the chain (it sat a level high) or above it (a level
    # low); extrapolated, then placed by two refinement passes. Only moved chains are cut.
    moved = [int(i) for i in np.flatnonzero(shifts)]
    empty = ChainFrames(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
    new = {i: _end_frames(frames[i], shifts[i] > 0, 1) for i in moved}
    for _ in range(2):
        pred, _, mirrored = corners_at([new.get(i, empty) for i in range(n_img)])
        placed = pred if mirrored is None else (pred + mirrored) / 2.0
        corners = {i: from_frame(p[None], new[i])[0] for i, p in zip(moved, placed, strict=True)}
        new = {i: ChainFrames(corners[i].mean(axis=0)[None], new[i].axes, new[i].spacing)
               for i in moved}  # fmt: skip
    extra_spread = {}
    if mirrored is not None:
        extra_spread = {
            i: np.linalg.norm(
                from_frame(a[None], new[i])[0] - from_frame(b[None], new[i])[0], axis=-1
            )
            for i, a, b in zip(moved, pred, mirrored, strict=True)
        }
    out = current.copy()
    out_spread = None if spread is None else spread.copy()
    for i, k in enumerate(shifts):
        if k == 0:
            continue
        if k > 0:  # the chain sat a level too high: drop its top box, add the one below
            out[i] = np.concatenate([current[i, 1:], corners[i][None]])
        else:  # a level too low: the box above its last is L5; add the one above its top
            out[i] = np.concatenate([corners[i][None], current[i, :-1]])
        if out_spread is not None and extra_spread:
            kept = spread[i, 1:] if k > 0 else spread[i, :-1]
            parts = [kept, extra_spread[i][None]] if k > 0 else [extra_spread[i][None], kept]
            out_spread[i] = np.concatenate(parts)
    return out, out_spread
