"""Acquisition: where the film frames the patient and how the detector renders density.

The view is a similarity transform (uniform scale, small rotation, shift),
never an anisotropic resize, because a non-uniform scale would change the
angles between vertebrae and break the Cobb angle the caller asked for.
"""

from __future__ import annotations

import cv2
import numpy as np

MARGIN = 0.025
"""Smallest gap, as a fraction of the image side, between any landmark and the border."""


def view_matrix(
    rng: np.random.Generator,
    landmarks_mm: np.ndarray,
    size: tuple[int, int],
    max_rotation_deg: float,
    spine_fraction: tuple[float, float],
) -> tuple[np.ndarray, float, dict]:
    """mm -> px matrix framing the labelled spine fully inside the image.

    The spine's vertical extent becomes a random fraction of the image height,
    unless it would then be too wide, in which case it is scaled down to fit.
    """
    h, w = size
    rot = float(rng.uniform(-1.0, 1.0) * max_rotation_deg)
    a = np.radians(rot)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = landmarks_mm.reshape(-1, 2) @ r.T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = hi - lo
    fraction = float(rng.uniform(*spine_fraction))
    scale = min(fraction * h / extent[1], (1 - 2 * MARGIN) * h / extent[1],
                0.8 * w / extent[0])  # fmt: skip
    room_y = h * (1 - 2 * MARGIN) - scale * extent[1]
    room_x = w * (1 - 2 * MARGIN) - scale * extent[0]
    top = h * MARGIN + room_y * float(rng.beta(2.0, 2.0))
    left = w * MARGIN + room_x * float(np.clip(rng.normal(0.5, 0.12), 0.0, 1.0))
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = np.array([left, top]) - scale * lo
    info = {"rotation_deg": rot, "px_per_mm": float(scale), "spine_fraction": float(
        scale * extent[1] / h)}  # fmt: skip
    return m, rot, info


def sample_look(rng: np.random.Generator) -> dict:
    """Densities of each tissue and the detector's rendering, all JSON-friendly floats."""
    u = rng.uniform
    return {
        "tissue": u(0.5, 0.62),
        "column": u(0.12, 0.2),
        "lung": u(0.3, 0.42),
        "vessel": u(0.025, 0.045),
        "gas": u(0.12, 0.25),
        "mottle": u(0.02, 0.05),
        "body": u(0.1, 0.15),
        "rim": u(0.05, 0.08),
        "posterior": u(0.06, 0.1),
        "rib": u(0.07, 0.11),
        "rib_width": u(8.0, 11.0),
        "clavicle": u(0.1, 0.15),
        "pelvis": u(0.12, 0.18),
        "texture": u(0.1, 0.25),
        "equalise": u(0.2, 0.7),
        "black": u(0.0, 0.06),
        "white": u(0.9, 1.1),
        "gamma": u(0.95, 1.6),
        "shoulder": u(0.6, 1.5),
        "heel": u(-0.12, 0.12),
        "blur_mm": u(0.45, 1.1),
        "noise": u(0.008, 0.03),
    }


def tone(density: np.ndarray, look: dict, px_per_mm: float) -> np.ndarray:
    """Detector response and the processing every digital radiograph gets.

    Clinical systems boost detail against a heavily blurred copy of the image
    so that bone reads equally well over lungs and abdomen; then come the
    window, gamma and the heel effect (brightness drifting along the tube axis).
    """
    h, w = density.shape
    f = 8
    small = cv2.resize(density, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(1.0, 20.0 * px_per_mm / f))
    smooth = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = look["equalise"]
    v = density * (1.0 + k) - smooth * k
    ramp = (1.0 + look["heel"] * (np.arange(h, dtype=np.float32) / h - 0.5))[:, None]
    lo, hi = look["black"], look["white"]
    v = (v - lo) * (ramp / (hi - lo))
    np.clip(v, 1e-4, 1.2, out=v)
    # Film-like shoulder: highlights compress instead of clipping, so dense
    # lumbar bone keeps its internal structure.
    c = look["shoulder"]
    v = v * ((1.2 + c) / 1.2) / (v + c)
    return np.exp(look["gamma"] * np.log(v)).astype(np.float32, copy=False)


def collimate(rng: np.random.Generator, image: np.ndarray, clear: tuple[int, int]) -> dict:
    """Shutter borders left and right (sometimes top/bottom), kept off the labelled spine.

    ``clear`` is the (left, right) pixel range that must stay exposed.
    """
    h, w = image.shape
    if rng.random() < 0.4:
        return {"collimation": None}
    value = float(rng.uniform(0.0, 0.08) if rng.random() < 0.75 else rng.uniform(0.8, 1.0))
    left = int(min(rng.uniform(0.0, 0.08) * w, max(clear[0] - 2, 0)))
    right = int(min(rng.uniform(0.0, 0.08) * w, max(w - clear[1] - 2, 0)))
    image[:, :left] = value
    image[:, w - right :] = value
    bottom = int(rng.uniform(0.0, 0.03) * h) if rng.random() < 0.3 else 0
    if bottom:
        image[h - bottom :] = value
    return {"collimation": {"left": left, "right": right, "bottom": bottom, "value": value}}


def _text(image: np.ndarray, text: str, x: float, y: float, scale: float, thick: int,
          value: float) -> None:  # fmt: skip
    """Burn text in at (x, baseline y); OpenCV draws text only into 8-bit images."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = thick + 2
    patch = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(patch, text, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
    x0, y0 = int(x) - pad, int(y) - pad - th
    h, w = image.shape
    ys, xs = (
        slice(max(y0, 0), min(y0 + patch.shape[0], h)),
        slice(max(x0, 0), min(x0 + patch.shape[1], w)),
    )
    part = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    roi = image[ys, xs]
    np.maximum(roi, part.astype(np.float32) * (value / 255.0), out=roi)


def mark(rng: np.random.Generator, image: np.ndarray) -> dict:
    """A lead side marker (R on the image left, L on the right) and sometimes a label."""
    h, w = image.shape
    side = "R" if rng.random() < 0.5 else "L"
    height = h * rng.uniform(0.025, 0.04)
    scale = height / 22.0  # FONT_HERSHEY_SIMPLEX capitals are ~22 px tall at scale 1
    thick = max(1, round(scale * 2.2))
    x = w * rng.uniform(0.03, 0.12)
    if side == "L":
        x = w - x - height * 0.8
    y = h * rng.uniform(0.05, 0.3)
    value = float(rng.uniform(0.9, 1.0))
    _text(image, side, x, y, scale, thick, value)
    info = {"marker": side}
    if rng.random() < 0.3:
        label = str(rng.choice(["AP", "ERECT", "STANDING", "PA"]))
        _text(image, label, w * rng.uniform(0.55, 0.7), h * 0.03 + height, 0.7 * scale,
              thick, value)  # fmt: skip
        info["label"] = label
    return info


def detector(rng: np.random.Generator, image: np.ndarray, look: dict, px_per_mm: float) -> None:
    """Unsharpness and quantum noise (stronger where the image is bright), in place."""
    sigma = look["blur_mm"] * px_per_mm
    if sigma > 0.3:
        cv2.GaussianBlur(image, (0, 0), sigma, dst=image)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image += noise * (look["noise"] * np.sqrt(image + 0.05))
    np.clip(image, 0.0, 1.0, out=image)
