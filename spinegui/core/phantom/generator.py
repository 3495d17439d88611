"""Synthetic AP spine radiographs with exact vertebra-corner landmarks.

Tests, the demo project and the bundled model all need X-rays whose true
landmarks and Cobb angle are known exactly, in any number, without patient
data. The generator builds a spine whose midline tilts give the requested
Cobb angle by construction (see ``spine``), frames it with a similarity
transform (see ``acquisition``), and draws each vertebral body from its
landmark quadrilateral, so the landmarks are the drawn corners.

Every random choice comes from one generator seeded by ``seed``, in a fixed
order, so a seed and the arguments reproduce an image bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from spinegui.core.errors import TemplateError
from spinegui.core.phantom import acquisition, bones, soft
from spinegui.core.phantom.pen import Pen
from spinegui.core.phantom.spine import LEVELS, build_spine, sample_cobb
from spinegui.core.templates import get_template

DEFAULT_OPTIONS: dict = {
    "max_rotation_deg": 4.0,
    "spine_fraction": (0.7, 0.92),
    "noise": True,
    "blur": True,
    "collimation": True,
    "marker": True,
}
"""Keyword options of ``generate_phantom``; turn effects off for clean test images."""

S_CURVE_PROBABILITY = 0.45
_LOWRES = 4  # soft tissue is rendered this many times coarser than the image


@dataclass(frozen=True, eq=False)
class Phantom:
    """One synthetic radiograph and its ground truth.

    ``image``: float32 (H, W) in [0, 1], bone bright. ``landmarks``: (V, 4, 2)
    float64 pixel corners TL, TR, BL, BR per vertebra of ``template``, cranial
    to caudal. ``cobb_deg``: the requested main Cobb angle, which the
    landmarks reproduce. ``params``: every sampled choice, JSON-serialisable.
    """

    image: np.ndarray
    landmarks: np.ndarray
    template: str
    cobb_deg: float
    curve: str
    params: dict = field(default_factory=dict)


def _measured_slice(template_name: str) -> slice:
    t = get_template(template_name)
    missing = [v for v in t.vertebrae if v not in LEVELS]
    if missing:
        raise TemplateError(
            f"The phantom generator cannot draw vertebrae {', '.join(missing)} of template "
            f"{t.name}.",
            f"It draws {LEVELS[0]} to {LEVELS[-1]}.",
        )
    start = LEVELS.index(t.vertebrae[0])
    return slice(start, start + t.n_vertebrae)


def _options(options: dict) -> dict:
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(
            f"generate_phantom() got unknown options {sorted(unknown)}; "
            f"known: {sorted(DEFAULT_OPTIONS)}"
        )
    return {**DEFAULT_OPTIONS, **options}


def generate_phantom(
    template: str = "C7-L5",
    seed: int = 0,
    *,
    cobb_deg: float | None = None,
    curve: str | None = None,
    size: tuple[int, int] = (1024, 512),
    **options,
) -> Phantom:
    """Render one phantom; ``size`` is (height, width); options: see DEFAULT_OPTIONS."""
    opts = _options(options)
    measured = _measured_slice(template)
    h, w = (int(size[0]), int(size[1]))
    if h < 32 or w < 16:
        raise ValueError(f"size must be at least (32, 16), got {size!r}")
    if cobb_deg is not None and not 0.0 <= cobb_deg <= 90.0:
        raise ValueError(f"cobb_deg must lie in 0..90, got {cobb_deg!r}")
    if curve is not None and curve not in ("C", "S"):
        raise ValueError(f"curve must be 'C', 'S' or None, got {curve!r}")

    rng = np.random.default_rng(seed)
    sampled_cobb = sample_cobb(rng)
    sampled_curve = "S" if rng.random() < S_CURVE_PROBABILITY else "C"
    cobb = float(sampled_cobb if cobb_deg is None else cobb_deg)
    shape = curve or sampled_curve

    spine = build_spine(rng, cobb, shape, measured)
    body = soft.sample_body(rng, spine)
    look = acquisition.sample_look(rng)
    look["rib_jitter"] = rng.normal(0.0, 3.0, (12, 2)).round(2).tolist()
    matrix, rotation, view = acquisition.view_matrix(
        rng, spine.quads[measured], (h, w), opts["max_rotation_deg"], opts["spine_fraction"]
    )
    pen = Pen(matrix, rotation)

    low_shape = (max(8, round(h / _LOWRES)), max(4, round(w / _LOWRES)))
    low_pen = pen.scaled(low_shape[1] / w, low_shape[0] / h)
    density, lungs = soft.render_soft(rng, low_pen, low_shape, spine, body, look)
    texture = cv2.GaussianBlur(rng.standard_normal(low_shape).astype(np.float32), (0, 0), 0.7)

    bodies = np.zeros((h, w), np.float32)
    posterior = np.zeros((h, w), np.float32)
    back = np.zeros((h, w), np.float32)
    front = np.zeros((h, w), np.float32)
    bones.draw_pelvis(pen, bodies, spine, look)
    bones.draw_vertebrae(pen, bodies, posterior, spine, look)
    bones.draw_ribs(pen, back, front, spine, body, look)
    bones.draw_clavicles(pen, posterior, spine, look)
    soft.draw_vessels(rng, pen, front, spine, body, look)

    up = cv2.resize
    image = up(density, (w, h), interpolation=cv2.INTER_LINEAR)
    grain = up(texture, (w, h), interpolation=cv2.INTER_LINEAR)
    image += bodies * (1.0 + look["texture"] * grain)
    image += posterior
    # Ribs and vessels stand out against air, hardly against the abdomen.
    back += front
    back *= 0.35 + 0.65 * up(lungs, (w, h), interpolation=cv2.INTER_LINEAR)
    image += back
    image = acquisition.tone(image, look, view["px_per_mm"])

    landmarks = pen.px(spine.quads[measured])
    extras: dict = {}
    if opts["collimation"]:
        xs = landmarks[..., 0]
        extras.update(acquisition.collimate(rng, image, (int(xs.min()), int(xs.max()) + 1)))
    if opts["marker"]:
        extras.update(acquisition.mark(rng, image))
    if not opts["blur"]:
        look["blur_mm"] = 0.0
    if not opts["noise"]:
        look["noise"] = 0.0
    acquisition.detector(rng, image, look, view["px_per_mm"])

    params = {
        "seed": int(seed),
        "size": [h, w],
        "sampled_cobb_deg": sampled_cobb,
        "tilts_deg": [float(t) for t in spine.tilts_deg[measured]],
        "axial_rotation_deg": [float(a) for a in spine.axial_deg[measured]],
        **spine.info,
        **view,
        "look": look,
        **extras,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
    }
    return Phantom(
        image=image,
        landmarks=landmarks,
        template=get_template(template).name,
        cobb_deg=cobb,
        curve=shape,
        params=params,
    )


def batch_seeds(seed: int, count: int) -> list[int]:
    """Independent per-image seeds, stable for a given (seed, index)."""
    return [
        int(np.random.SeedSequence([int(seed), i]).generate_state(1, np.uint32)[0])
        for i in range(count)
    ]


def generate_batch(template: str, count: int, seed: int = 0, **kw) -> Iterator[Phantom]:
    """``count`` phantoms with independent seeds derived from ``seed`` (lazily)."""
    for s in batch_seeds(seed, count):
        yield generate_phantom(template, s, **kw)
