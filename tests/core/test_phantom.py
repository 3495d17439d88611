"""The phantom generator: exact landmarks, requested Cobb angles, reproducibility.

Images are rendered small (256 x 128) where the test only needs geometry:
the geometry does not depend on the image size beyond a uniform scale.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinegui.core.cobb import cobb_angles
from spinegui.core.landmarks import validate
from spinegui.core.phantom import Phantom, batch_seeds, generate_batch, generate_phantom
from spinegui.core.templates import get_template

SMALL = (256, 128)
COBB_TOLERANCE_DEG = 0.01  # exact by construction; only arccos rounding remains


def _tilts(landmarks: np.ndarray) -> np.ndarray:
    """Midline angle of every vertebra in degrees (left-edge to right-edge midpoint)."""
    left = landmarks[:, [0, 2]].mean(axis=1)
    right = landmarks[:, [1, 3]].mean(axis=1)
    d = right - left
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def test_image_shape_dtype_and_range():
    p = generate_phantom("C7-L5", 3)
    assert isinstance(p, Phantom)
    assert p.image.shape == (1024, 512)
    assert p.image.dtype == np.float32
    assert p.image.min() >= 0.0 and p.image.max() <= 1.0
    assert p.image.std() > 0.1  # an actual picture, not a flat field
    assert p.landmarks.dtype == np.float64


@pytest.mark.parametrize("size", [(256, 128), (600, 400), (1024, 512)])
def test_requested_size_is_honoured(size):
    assert generate_phantom("T1-L5", 1, size=size).image.shape == size


@pytest.mark.parametrize("template", ["C7-L5", "T1-L5"])
def test_landmark_count_follows_template(template):
    p = generate_phantom(template, 5, size=SMALL)
    t = get_template(template)
    assert p.landmarks.shape == (t.n_vertebrae, 4, 2)
    assert p.template == t.name


def test_same_seed_same_image_different_seed_different_image():
    a = generate_phantom("C7-L5", 11, size=SMALL)
    b = generate_phantom("C7-L5", 11, size=SMALL)
    c = generate_phantom("C7-L5", 12, size=SMALL)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.landmarks, b.landmarks)
    assert a.params == b.params
    assert not np.array_equal(a.image, c.image)
    assert not np.allclose(a.landmarks, c.landmarks)


@pytest.mark.parametrize("seed", range(40))
def test_landmarks_valid_and_inside_the_image(seed):
    template = "C7-L5" if seed % 2 else "T1-L5"
    p = generate_phantom(template, seed, size=SMALL, cobb_deg=float(seed * 90 / 39))
    h, w = p.image.shape
    assert validate(p.landmarks, template, image_size=(w, h), margin=0.0) == []
    assert p.landmarks[..., 0].min() >= 0 and p.landmarks[..., 0].max() <= w
    assert p.landmarks[..., 1].min() >= 0 and p.landmarks[..., 1].max() <= h


@pytest.mark.parametrize("curve", ["C", "S"])
@pytest.mark.parametrize("cobb", [0.0, 0.5, 5.0, 12.5, 25.0, 40.0, 60.0, 75.0, 90.0])
def test_requested_cobb_angle_is_reached(curve, cobb):
    for seed in range(3):
        p = generate_phantom("C7-L5", seed, cobb_deg=cobb, curve=curve, size=SMALL)
        assert p.cobb_deg == cobb and p.curve == curve
        main = cobb_angles(p.landmarks, image_height=p.image.shape[0]).main
        assert main == pytest.approx(cobb, abs=COBB_TOLERANCE_DEG)
        tilts = _tilts(p.landmarks)
        assert np.ptp(tilts) == pytest.approx(cobb, abs=COBB_TOLERANCE_DEG)


def test_cobb_angle_survives_rotation_and_framing():
    """Global rotation and scale move every vertebra alike, so angles between them hold."""
    cobbs = [
        cobb_angles(
            generate_phantom("T1-L5", s, cobb_deg=33.0, max_rotation_deg=8.0, size=SMALL).landmarks
        ).main
        for s in range(10)
    ]
    assert np.allclose(cobbs, 33.0, atol=COBB_TOLERANCE_DEG)


def _curves(tilts: np.ndarray) -> tuple[float, float]:
    """(main, second) signed tilt changes going down: the main curve between the most
    tilted vertebrae, the second the largest turn back beyond either of its ends."""
    upper, lower = sorted((int(np.argmax(tilts)), int(np.argmin(tilts))))
    main = tilts[lower] - tilts[upper]
    above, below = tilts[: upper + 1], tilts[lower:]
    # Going down, a turn back above the main curve ends at its upper end vertebra.
    back_above = tilts[upper] - (above.max() if main > 0 else above.min())
    back_below = (below.max() if main < 0 else below.min()) - tilts[lower]
    second = back_above if abs(back_above) > abs(back_below) else back_below
    return float(main), float(second)


@pytest.mark.parametrize("seed", range(8))
def test_s_curve_has_two_opposite_curves(seed):
    p = generate_phantom("C7-L5", seed, cobb_deg=40.0, curve="S", size=SMALL)
    main, second = _curves(_tilts(p.landmarks))
    assert abs(main) == pytest.approx(40.0, abs=COBB_TOLERANCE_DEG)
    assert np.sign(second) == -np.sign(main)
    assert 0.4 * 40.0 < abs(second) <= 40.0
    assert cobb_angles(p.landmarks, image_height=p.image.shape[0]).s_curve


@pytest.mark.parametrize("seed", range(8))
def test_c_curve_has_one_main_curve(seed):
    p = generate_phantom("C7-L5", seed, cobb_deg=40.0, curve="C", size=SMALL)
    main, second = _curves(_tilts(p.landmarks))
    assert abs(main) == pytest.approx(40.0, abs=COBB_TOLERANCE_DEG)
    # Compensatory curves exist but stay well below the main one.
    assert abs(second) < 0.5 * 40.0


def test_sampled_cobb_and_curve_cover_the_range_skewed_to_mild():
    ps = [generate_phantom("T1-L5", s, size=(64, 32)) for s in range(150)]
    cobbs = np.array([p.cobb_deg for p in ps])
    assert cobbs.min() >= 0 and cobbs.max() <= 90
    assert np.median(cobbs) < 35 and cobbs.max() > 50
    assert {p.curve for p in ps} == {"C", "S"}
    for p in ps[:20]:
        assert cobb_angles(p.landmarks).main == pytest.approx(p.cobb_deg, abs=COBB_TOLERANCE_DEG)


def test_bodies_are_drawn_at_the_landmarks():
    """Without blur and noise, each body is brighter just inside its corners than outside."""
    p = generate_phantom(
        "C7-L5", 2, cobb_deg=30.0, noise=False, blur=False, collimation=False, marker=False
    )
    img = p.image
    for quad in p.landmarks:
        centre = quad.mean(axis=0)
        for corner in quad:
            inward = corner + 0.15 * (centre - corner)
            outward = corner - 0.15 * (centre - corner)
            xi, yi = np.round(inward).astype(int)
            xo, yo = np.round(outward).astype(int)
            assert img[yi, xi] > img[yo, xo]


def test_params_are_json_serialisable_and_describe_the_image():
    p = generate_phantom("C7-L5", 4, size=SMALL)
    params = json.loads(json.dumps(p.params))
    assert params["seed"] == 4
    assert params["size"] == list(SMALL)
    assert len(params["tilts_deg"]) == 18
    assert np.ptp(params["tilts_deg"]) == pytest.approx(p.cobb_deg, abs=1e-6)


def test_batch_is_reproducible_with_independent_seeds():
    a = list(generate_batch("T1-L5", 4, seed=7, size=SMALL))
    b = list(generate_batch("T1-L5", 4, seed=7, size=SMALL))
    assert len(a) == 4
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    seeds = [x.params["seed"] for x in a]
    assert len(set(seeds)) == 4 and seeds == batch_seeds(7, 4)
    assert seeds != batch_seeds(8, 4)
    # Each image can be regenerated on its own from its recorded seed.
    again = generate_phantom("T1-L5", seeds[2], size=SMALL)
    assert np.array_equal(again.image, a[2].image)


def test_batch_passes_arguments_through():
    for p in generate_batch("C7-L5", 3, seed=1, cobb_deg=22.0, curve="S", size=SMALL):
        assert p.curve == "S" and p.cobb_deg == 22.0
        assert p.image.shape == SMALL


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"cobb_deg": 95.0}, ValueError),
        ({"cobb_deg": -1.0}, ValueError),
        ({"curve": "Z"}, ValueError),
        ({"size": (10, 5)}, ValueError),
        ({"sharpness": 3}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error):
        generate_phantom("C7-L5", 0, **kwargs)


def test_unknown_template_is_refused():
    from spinegui.core.errors import TemplateError

    with pytest.raises(TemplateError):
        generate_phantom("C1-S5", 0)
