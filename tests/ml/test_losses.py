"""MSE + alpha * BPD: definition, invariances, gradients, and scale."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from spinegui.ml.losses import (
    PAPER_FRAME_WH,
    LossParts,
    bpd_loss,
    mse_bpd_loss,
    mse_loss,
)

SWAP = [1, 0, 3, 2]


def spine(v: int = 17, frame_wh=(1.0, 1.0), widths=(0.06, 0.09)) -> np.ndarray:
    """A plausible curved, tilted spine, (V, 4, 2); normalised coordinates by default.

    ``frame_wh`` scales it to pixels of a W x H image; ``widths`` are the
    first and last vertebra's widths as fractions of W.
    """
    fw, fh = frame_wh
    y0 = np.linspace(0.12, 0.85, v) * fh
    h = 0.7 * 0.73 * fh / v
    xc = (0.5 + 0.05 * np.sin(np.linspace(0, np.pi, v))) * fw
    w = np.linspace(*widths, v) * fw
    tilt = 0.1 * np.cos(np.linspace(0, np.pi, v))
    pts = np.zeros((v, 4, 2))
    for i in range(v):
        for c, (sx, sy) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
            pts[i, c] = [xc[i] + sx * w[i] / 2, y0[i] + sy * h / 2 + sx * tilt[i] * w[i] / 2]
    return pts


def brute_force_bpd(pred: np.ndarray, target: np.ndarray, frame=PAPER_FRAME_WH) -> float:
    """Eq. 2 written as loops over images and all (2V)^2 left-right edges."""
    scale = np.array(frame if frame is not None else (1.0, 1.0))
    total = 0.0
    for p, t in zip(pred, target, strict=True):
        p, t = p * scale, t * scale
        lefts = [(v, c) for v in range(p.shape[0]) for c in (0, 2)]
        rights = [(v, c) for v in range(p.shape[0]) for c in (1, 3)]
        for (va, ca), (vb, cb) in itertools.product(lefts, rights):
            d = math.dist(t[va, ca], t[vb, cb])
            d_hat = math.dist(p[va, ca], p[vb, cb])
            total += abs(d - d_hat)
    return total / len(pred)


def mirror(points: np.ndarray, swap: bool) -> np.ndarray:
    out = points.copy()
    out[..., 0] = 1.0 - out[..., 0]
    return out[..., SWAP, :] if swap else out


def t64(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@pytest.mark.parametrize("frame", [PAPER_FRAME_WH, None])
def test_bpd_equals_brute_force_over_all_edges(frame):
    rng = np.random.default_rng(1)
    target = rng.random((3, 4, 4, 2))
    pred = rng.random((3, 4, 4, 2))
    got = float(bpd_loss(t64(pred), t64(target), frame_wh=frame))
    assert got == pytest.approx(brute_force_bpd(pred, target, frame), rel=1e-9)


def test_flat_and_grid_layouts_agree():
    rng = np.random.default_rng(2)
    pred, target = rng.random((2, 5, 4, 2)), rng.random((2, 5, 4, 2))
    grid = mse_bpd_loss(t64(pred), t64(target))
    flat = mse_bpd_loss(t64(pred.reshape(2, -1)), t64(target.reshape(2, -1)))
    for a, b in zip(grid, flat, strict=True):
        assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_mse_is_mean_over_coordinates_in_paper_pixels():
    target = torch.zeros(2, 17, 4, 2)
    pred = target.clone()
    pred[..., 0] += 0.01  # 5.12 px in x only
    assert float(mse_loss(pred, target)) == pytest.approx(5.12**2 / 2, rel=1e-5)
    assert float(mse_loss(pred, target, frame_wh=None)) == pytest.approx(1e-4 / 2, rel=1e-5)


def test_bpd_ignores_translation():
    t = spine()[None]
    shifted = t + np.array([0.03, -0.05])
    assert float(bpd_loss(t64(shifted), t64(t))) == pytest.approx(0.0, abs=1e-9)
    assert float(mse_loss(t64(shifted), t64(t))) > 100


def test_bpd_ignores_a_plain_mirror_image():
    """Same labels, mirrored positions: an isometry keeps every edge length."""
    t = spine()[None]
    assert float(bpd_loss(t64(mirror(t, swap=False)), t64(t))) == pytest.approx(0.0, abs=1e-9)


def test_bpd_is_unchanged_when_both_shapes_are_flipped_with_corner_swap():
    """What hflip augmentation does: mirror and rename L<->R, applied to pred and truth."""
    rng = np.random.default_rng(3)
    t = spine()[None]
    p = t + rng.normal(0, 0.01, t.shape)
    before = float(bpd_loss(t64(p), t64(t)))
    after = float(bpd_loss(t64(mirror(p, True)), t64(mirror(t, True))))
    assert before > 1
    assert after == pytest.approx(before, rel=1e-12)


def test_bpd_of_a_corner_swapped_mirror_is_the_asymmetry_of_the_distance_matrix():
    """Swapping the left and right sets transposes the left-right distance matrix.

    So a mirrored-and-renamed spine scores sum |D - D^T| against the original:
    zero only for a left-right symmetric spine, which a tilted one is not.
    """
    t = spine()
    px = t * np.array(PAPER_FRAME_WH)
    lefts, rights = px[:, 0::2].reshape(-1, 2), px[:, 1::2].reshape(-1, 2)
    d = np.linalg.norm(lefts[:, None] - rights[None], axis=-1)
    got = float(bpd_loss(t64(mirror(t, True)[None]), t64(t[None])))
    assert got == pytest.approx(np.abs(d - d.T).sum(), rel=1e-9)
    assert got > 1


def test_gradcheck_bpd_and_combined_loss():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 4, 2, dtype=torch.float64)
    pred = torch.rand(2, 3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: bpd_loss(p, target, frame_wh=None), (pred,))
    assert torch.autograd.gradcheck(lambda p: bpd_loss(p, target), (pred,))
    assert torch.autograd.gradcheck(lambda p: mse_bpd_loss(p, target).total, (pred,))


def test_gradient_is_finite_when_all_predicted_points_coincide():
    """A fresh IntegralNet predicts every landmark at the centre: d^ = 0 everywhere."""
    target = torch.tensor(spine()[None], dtype=torch.float32)
    pred = torch.full_like(target, 0.5, requires_grad=True)
    mse_bpd_loss(pred, target).total.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


def test_alpha_zero_is_exactly_mse():
    rng = np.random.default_rng(4)
    target = torch.tensor(rng.random((2, 17, 4, 2)), dtype=torch.float32)
    pred = torch.tensor(rng.random((2, 17, 4, 2)), dtype=torch.float32, requires_grad=True)
    parts = mse_bpd_loss(pred, target, alpha=0.0)
    assert isinstance(parts, LossParts)
    assert torch.equal(parts.total, mse_loss(pred, target))
    assert float(parts.bpd) > 0  # still reported for the log
    (g_total,) = torch.autograd.grad(parts.total, pred)
    (g_mse,) = torch.autograd.grad(mse_loss(pred, target), pred)
    assert torch.equal(g_total, g_mse)


def test_combined_loss_is_mse_plus_alpha_bpd():
    rng = np.random.default_rng(5)
    pred, target = t64(rng.random((2, 4, 4, 2))), t64(rng.random((2, 4, 4, 2)))
    parts = mse_bpd_loss(pred, target, alpha=0.3)
    assert float(parts.total) == pytest.approx(float(parts.mse + 0.3 * parts.bpd), rel=1e-12)


def test_half_precision_inputs_are_computed_in_float32():
    t = torch.tensor(spine()[None], dtype=torch.float16)
    parts = mse_bpd_loss(t + 0.01, t)
    assert parts.total.dtype == torch.float32


def test_magnitudes_at_two_percent_error():
    """The numbers behind the units decision in the losses module docstring."""
    rng = np.random.default_rng(0)
    t = np.repeat(spine()[None], 256, axis=0)
    p = t + rng.normal(0, 0.02, t.shape)
    parts = mse_bpd_loss(t64(p), t64(t))
    assert float(parts.mse) == pytest.approx(262, rel=0.05)
    assert float(0.01 * parts.bpd) == pytest.approx(250, rel=0.05)
    norm = mse_bpd_loss(t64(p), t64(t), frame_wh=None)
    assert float(0.01 * norm.bpd / norm.mse) == pytest.approx(650, rel=0.05)


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError):
        mse_bpd_loss(torch.zeros(2, 136), torch.zeros(2, 144))
    with pytest.raises(ValueError):
        bpd_loss(torch.zeros(2, 10), torch.zeros(2, 10))
