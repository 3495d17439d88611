"""The paper's loss: L = MSE + alpha * BPD (eqs. 1-3).

Units and reductions (chosen so the paper's alpha = 0.01 is a sensible weight)
------------------------------------------------------------------------------
Networks predict coordinates normalised to [0, 1] of the image width/height.
The losses first scale them to pixels of the paper's 1024 x 512 input frame
(``PAPER_FRAME_WH`` = (512, 1024) for (x, y)), whatever preset is trained, and
then compute

* MSE = mean over images and over all 8V coordinates of the squared error
  (px^2), i.e. Keras' ``mean_squared_error``, the usual reading of eq. 1 in
  the TensorFlow the paper used (the paper does not say);
* BPD = sum over the (2V)^2 left-right edges of |d_e - d^_e| (px), mean over
  images, exactly eq. 2 and design.md.

Why this frame: BPD is linear in the coordinate scale and MSE quadratic, so
alpha is only meaningful in one unit. For independent errors of std s per
coordinate, |d_e - d^_e| ~ |N(0, 2 s^2)| has mean 2 s / sqrt(pi) ~ 1.13 s, so
alpha * BPD / MSE ~ 0.01 * 1.13 * (2V)^2 / s. Measured on a synthetic T1-L5
spine (V = 17, 1156 edges) with independent errors of the given fraction of
the image size (so 2% is 10 px in x and 20 px in y in the paper frame):

======================  =========  ===========  ======
error                   MSE        alpha * BPD  ratio
======================  =========  ===========  ======
10%, paper frame (px)   6590       1190         0.18
5%, paper frame         1650       616          0.37
2%, paper frame         261        250          0.96
1%, paper frame         66         126          1.9
2%, normalised units    4.0e-4     0.26         650
======================  =========  ===========  ======

(``tests/ml/test_losses.py::test_magnitudes_at_two_percent_error`` pins the
2% row.) In the paper frame BPD is the smaller term while predictions are far
off, about equal at 2% error, and dominates only once predictions are within
~10 px, where shape is what is left to learn. With the same alpha in
normalised units BPD would be 650 times the MSE; as BPD ignores translation,
the network would then barely learn where the spine is. Errors shared by all
landmarks (a shifted spine) add to MSE but not to BPD, so on real predictions
the ratio is lower still. ``frame_wh=None`` computes everything in
normalised units for anyone who wants them.

Distances use sqrt(squared length + 1e-12): the derivative of sqrt is infinite
at zero, and a fresh IntegralNet predicts every landmark at the image centre,
so all its predicted edges are zero, which would otherwise give NaN gradients. The
epsilon is far below any real distance (1e-6 px) and is applied to the true
and predicted edges alike, so identical shapes still give exactly zero.
Losses are computed in float32 even under autocast: 1156 summed terms of a
few pixels lose precision in fp16/bf16.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

PAPER_FRAME_WH: tuple[float, float] = (512.0, 1024.0)
"""(width, height) of the paper's network input: the loss's pixel frame."""

PAPER_ALPHA = 0.01
SQRT_EPS = 1e-12


class LossParts(NamedTuple):
    total: torch.Tensor
    mse: torch.Tensor
    bpd: torch.Tensor


def _as_points(
    pred: torch.Tensor, target: torch.Tensor, frame_wh: tuple[float, float] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both to (B, V, 4, 2) float32 (or float64 if given) in the loss frame."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if pred.ndim == 2:
        if pred.shape[1] % 8:
            raise ValueError(f"{pred.shape[1]} outputs is not 8 per vertebra")
        shape = (pred.shape[0], pred.shape[1] // 8, 4, 2)
    elif pred.ndim == 4 and pred.shape[2:] == (4, 2):
        shape = tuple(pred.shape)
    else:
        raise ValueError(f"expected (B, 8V) or (B, V, 4, 2), got {tuple(pred.shape)}")
    dtype = torch.float64 if pred.dtype == torch.float64 else torch.float32
    p = pred.reshape(shape).to(dtype)
    t = target.reshape(shape).to(dtype)
    if frame_wh is not None:
        scale = torch.tensor(frame_wh, dtype=dtype, device=p.device)
        p, t = p * scale, t * scale
    return p, t


def mse_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    frame_wh: tuple[float, float] | None = PAPER_FRAME_WH,
) -> torch.Tensor:
    """Eq. 1: mean squared coordinate error (see module docstring for units)."""
    p, t = _as_points(pred, target, frame_wh)
    return ((p - t) ** 2).mean()


def _edge_lengths(points: torch.Tensor) -> torch.Tensor:
    """(B, V, 4, 2) -> (B, 2V, 2V) distances from each left to each right corner."""
    b = points.shape[0]
    left = points[:, :, 0::2, :].reshape(b, -1, 2)  # TL, BL of every vertebra
    right = points[:, :, 1::2, :].reshape(b, -1, 2)  # TR, BR of every vertebra
    diff = left[:, :, None, :] - right[:, None, :, :]
    return torch.sqrt((diff**2).sum(dim=-1) + SQRT_EPS)


def bpd_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    frame_wh: tuple[float, float] | None = PAPER_FRAME_WH,
) -> torch.Tensor:
    """Eq. 2: sum over left-right edges of |d - d^|, mean over images."""
    p, t = _as_points(pred, target, frame_wh)
    return (_edge_lengths(t) - _edge_lengths(p)).abs().sum(dim=(1, 2)).mean()


def mse_bpd_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float = PAPER_ALPHA,
    frame_wh: tuple[float, float] | None = PAPER_FRAME_WH,
) -> LossParts:
    """Eq. 3. With alpha == 0 BPD is still reported (for logging) but detached."""
    mse = mse_loss(pred, target, frame_wh)
    if alpha == 0:
        with torch.no_grad():
            bpd = bpd_loss(pred, target, frame_wh)
        return LossParts(mse, mse, bpd)
    bpd = bpd_loss(pred, target, frame_wh)
    return LossParts(mse + alpha * bpd, mse, bpd)
