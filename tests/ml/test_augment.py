"""Augmentation keeps labels on the content they mark."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.landmarks import validate
from spinegui.ml.augment import LR_SWAP, Augmenter, hflip
from tests.ml.test_losses import spine

W, H = 96, 160


def spine_px(v: int = 17) -> np.ndarray:
    """A plausible tilted spine in pixels of a W x H image, (V, 4, 2)."""
    return spine(v, frame_wh=(W, H), widths=(0.12, 0.18))


def dot_image(x: float, y: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2)).astype(np.float32)


def geometric_only(seed: int, **kw) -> Augmenter:
    return Augmenter(seed, intensity=False, **kw)


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    image = rng.random((H, W), dtype=np.float32)
    pts = spine_px()
    img2, pts2 = hflip(*hflip(image, pts))
    np.testing.assert_array_equal(img2, image)
    np.testing.assert_allclose(pts2, pts, atol=1e-12)


def test_flip_swaps_corner_names_so_boxes_stay_valid():
    pts = spine_px()
    assert validate(pts, "T1-L5", (W, H)) == []
    _, flipped = hflip(np.zeros((H, W), np.float32), pts)
    assert validate(flipped, "T1-L5", (W, H)) == []
    naive = pts.copy()
    naive[..., 0] = W - 1 - naive[..., 0]
    assert any(p.kind == "crossed_lr" for p in validate(naive, "T1-L5", (W, H)))


def test_flip_moves_a_dot_with_its_landmark():
    pts = spine_px()
    x, y = pts[4, 1]  # T5 top-right
    img, flipped = hflip(dot_image(x, y), pts)
    peak = np.unravel_index(np.argmax(img), img.shape)[::-1]
    np.testing.assert_allclose(peak, flipped[4, 0], atol=1.0)  # now the top-left corner


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_geometric_augmentation_moves_a_dot_to_its_transformed_landmark(seed, flip):
    pts = spine_px()
    v, c = [(0, 0), (8, 3), (16, 2), (3, 1)][seed]
    image = dot_image(*pts[v, c])
    aug = geometric_only(seed, rotation_deg=10, scale=(0.85, 1.15), shift=0.08, flip_p=float(flip))
    out, moved = aug(image, pts)
    assert np.abs(moved - pts).max() > 2  # something happened
    peak = np.unravel_index(np.argmax(out), out.shape)[::-1]
    renamed = LR_SWAP[c] if flip else c  # flipping renames left and right corners
    assert np.linalg.norm(peak - moved[v, renamed]) <= 1.0
    assert validate(moved, "T1-L5", (W, H)) == []


def test_landmarks_stay_on_the_image():
    pts = spine_px()
    pts[0, :, 1] -= pts[0, :, 1].min() - 1.0  # top vertebra touches the border
    image = np.zeros((H, W), np.float32)
    for seed in range(30):
        _, moved = geometric_only(seed, shift=0.2, scale=(0.8, 1.3))(image, pts)
        assert moved[..., 0].min() >= 0 and moved[..., 0].max() <= W - 1
        assert moved[..., 1].min() >= 0 and moved[..., 1].max() <= H - 1


def test_intensity_changes_pixels_not_landmarks():
    rng = np.random.default_rng(1)
    image = rng.random((H, W), dtype=np.float32) * 0.8 + 0.1
    pts = spine_px()
    aug = Augmenter(7, rotation_deg=0, scale=(1, 1), shift=0, flip_p=0)
    out, moved = aug(image, pts)
    np.testing.assert_array_equal(moved, pts)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - image).mean() > 0.005


def test_neutral_settings_are_identity():
    rng = np.random.default_rng(2)
    image = rng.random((H, W), dtype=np.float32)
    aug = Augmenter(0, rotation_deg=0, scale=(1, 1), shift=0, flip_p=0, intensity=False)
    out, moved = aug(image, spine_px())
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(moved, spine_px())


def test_same_seed_same_result_other_seed_other_result():
    rng = np.random.default_rng(3)
    image = rng.random((H, W), dtype=np.float32)
    a = Augmenter(11)(image, spine_px())
    b = Augmenter(11)(image, spine_px())
    c = Augmenter(12)(image, spine_px())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("seed", range(4))
def test_wider_field_of_view_shrinks_the_spine_and_keeps_labels_on_it(seed):
    """zoom_out: the picture shrinks into the frame; a dot still sits under its landmark."""
    pts = spine_px()
    x, y = pts[8, 3]
    aug = Augmenter(seed, intensity=False, flip_p=0.0, rotation_deg=0, scale=(1, 1), shift=0,
                    zoom_out=1.0, zoom_scale=(0.6, 0.8))  # fmt: skip
    img, moved = aug(dot_image(x, y), pts)
    peak = np.unravel_index(np.argmax(img), img.shape)[::-1]
    np.testing.assert_allclose(peak, moved[8, 3], atol=1.0)
    height = np.ptp(moved[..., 1]) / np.ptp(pts[..., 1])
    width = np.ptp(moved[..., 0]) / np.ptp(pts[..., 0])
    assert 0.6 - 1e-9 <= height <= 0.8 + 1e-9 and width <= height + 1e-9  # widened, not narrowed
    assert moved[..., 0].min() >= -0.5 and moved[..., 0].max() <= W - 0.5
    assert moved[..., 1].min() >= -0.5 and moved[..., 1].max() <= H - 0.5


def test_zoom_out_is_off_by_default_and_moves_the_spine_around():
    pts = spine_px()
    plain = Augmenter(0, intensity=False, flip_p=0.0, rotation_deg=0, scale=(1, 1), shift=0)
    _, same = plain(np.zeros((H, W), np.float32), pts)
    np.testing.assert_allclose(same, pts)
    tops = {
        round(float(Augmenter(s, intensity=False, flip_p=0.0, zoom_out=1.0)(
            np.zeros((H, W), np.float32), pts)[1][0, 0, 1]))
        for s in range(8)
    }  # fmt: skip
    assert len(tops) >= 4  # T1 is not pinned to one height any more
