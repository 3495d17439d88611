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
    last_head: bool = False
    """A ninth output: is the vertebra at the centre the last one (L5)? Used for
    ``fix_level``. Opt-in (``--refiner '{"last_head": true}'``): on the T1-L5 data the
    re-levelling it drives moved more chains onto the wrong level than it fixed
    (validation corner error 32.6 -> 52.9 px, tilt error 3.0 -> 3.8 deg)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefinerSpec:
        """Read a card's refiner description, refusing values that would be unsafe to build."""
        names = {f.name for f in fields(cls)}
        values = dict(data)
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
                # channels-last: these small convolutions ran faster on CPU (54 -> 34 ms, 34 crops)
                x = x.to(device).contiguous(memory_format=torch.channels_last)
                out.append(net(x).float().cpu().numpy())
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
    is also run mirrored, and the distance between the two answers (original
    pixels, (N, V, 4), from the last pass) is returned as ``spread``, the
    window's uncertainty. The answers are not averaged: on the shipped T1-L5
    model averaging made the main Cobb angle worse (validation 2.66 -> 2.86
    deg, test 2.63 -> 2.79), so the mirror only measures doubt here.
    All crops of all images go through the network together, per pass.
    ``fix_level`` (with a ``last_head`` network) repairs the chain and sets
    its level at the sacrum (see the module docstring and ``chain``).
    """
    spec = net.spec
    n_iter = spec.iterations if iterations is None else int(iterations)
    chains = list(np.asarray(landmarks, dtype=np.float64))
    v = chains[0].shape[0] if chains else 0
    spreads: list[np.ndarray | None] = [None] * len(chains)
    net.eval()

    def run_pass(todo: list[bool], mirror: bool = tta):
        """One refinement pass over the chains marked in ``todo``; returns the L5 logits."""
        from spinegui.ml.vertebra_crops import chain_frames, cut_crops, from_frame

        frames = [chain_frames(c) if t else None for c, t in zip(chains, todo, strict=True)]
        crops = [
            cut_crops(img, f, sxy, spec.px_per_level, spec.crop_size)
            for img, f, sxy in zip(images, frames, scale_xys, strict=True)
            if f is not None
        ]
        if not crops:
            return [None] * len(chains)
        pred, logits, mirrored = _forward(net, np.concatenate(crops), device, mirror)
        out_logits: list[np.ndarray | None] = [None] * len(chains)
        start = 0
        for i, f in enumerate(frames):
            if f is None:
                continue
            stop = start + len(f)
            p = pred[start:stop]
            if mirrored is not None:
                m = mirrored[start:stop]
                spreads[i] = np.linalg.norm(from_frame(p, f) - from_frame(m, f), axis=-1)
            chains[i] = from_frame(p, f)
            if logits is not None:
                out_logits[i] = logits[start:stop]
            start = stop
        return out_logits

    for it in range(n_iter):  # the spread is the last pass's: mirror that one only
        run_pass([True] * len(chains), mirror=tta and it == n_iter - 1)
    if fix_level and spec.last_head and n_iter > 0 and v >= 3:
        _assemble(chains, spreads, v, run_pass)
    spread = None if any(x is None for x in spreads) else np.stack(spreads)
    return np.stack(chains), spread


def _extend(chain: np.ndarray, below: bool, count: int) -> np.ndarray:
    """``count`` boxes beyond one end, one local spacing apart, shaped like the end box."""
    from spinegui.ml.vertebra_crops import chain_frames

    f = chain_frames(chain)
    i = -1 if below else 0
    step = (1.0 if below else -1.0) * f.spacing[i] * f.axes[i]
    extra = [chain[i] + step * (k + 1) for k in range(count)]
    return (
        np.concatenate([chain, np.stack(extra)])
        if below
        else np.concatenate([np.stack(extra[::-1]), chain])
    )


def _assemble(chains: list, spreads: list, v: int, run_pass) -> None:
    """Repair each chain, find L5 at the sacrum, keep the V boxes ending there (in place).

    A chain that changes is placed again by two refinement passes; the L5
    output is read on the chain's last three boxes and one extrapolated below.
    """
    from spinegui.ml.chain import repair

    changed = []
    for i, c in enumerate(chains):
        fixed, new = repair(c)
        changed.append(len(fixed) != len(c) or bool(new.any()))
        chains[i] = fixed
    if any(changed):
        for _ in range(2):
            run_pass(changed)
    # L5 among the last three boxes and one extrapolated below (their logits only)
    sizes = [min(4, len(c) + 1) for c in chains]
    saved, saved_spreads = list(chains), list(spreads)
    chains[:] = [_extend(c, True, 1)[-k:] for c, k in zip(saved, sizes, strict=True)]
    logits = run_pass([True] * len(chains))
    chains[:], spreads[:] = saved, saved_spreads
    placed = [False] * len(chains)
    for i, c in enumerate(saved):
        last = len(c) + 1 - sizes[i] + int(np.argmax(logits[i]))  # len(c): the box below
        if last >= len(c):
            c = _extend(c, True, last - len(c) + 1)
        first = last - v + 1
        if first < 0:
            c = _extend(c, False, -first)
            last, first = last - first, 0
        chains[i] = c[first : last + 1]
        placed[i] = changed[i] or first != 0 or len(c) != len(saved[i]) or last != len(c) - 1
    if any(placed):
        for _ in range(2):
            run_pass(placed)
