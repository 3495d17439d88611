"""X-rays as another site would acquire them: the re-acquisition ``bench/new_site.py`` uses.

A different hospital's X-rays differ from the AASCE training images in ways
that can be simulated from the images themselves, with the landmarks moved
exactly along:

- a wider field of view: more above T1 and below L5 and to the sides, sized
  so height/width goes from the training images' 2.7 to about 2.3 on average
  (what the held-out X-rays of this family have) and T1 sits lower. The new
  border mirrors the image's own edge and is then blurred (sigma 2 % of the
  height, about a third of a vertebra): anatomy-like brightness structure,
  but no crisp copy of T1-T4 above T1, which would be a harsher test than a
  real neck. The training augmentation pads differently (edge rows or flat
  grey), so this is not a copy of what the network saw;
- another detector scale (fewer pixels for the same anatomy);
- another exposure curve (gamma), contrast and brightness;
- blur (focal spot, motion), noise, and JPEG compression.

Each image draws its own settings from ``np.random.Generator``; a site is a
seed. Used by ``bench/new_site.py``; kept apart so other scripts can reuse it.
"""

from __future__ import annotations

import cv2
import numpy as np


def reacquire(
    image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(uint8 image, (V, 4, 2) landmarks in its pixels, the settings drawn) of one X-ray."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.asarray(img, np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = img.shape
    top = int(rng.uniform(0.05, 0.20) * h)
    bottom = int(rng.uniform(0.02, 0.10) * h)
    side = int(rng.uniform(0.08, 0.25) * w)
    padded = cv2.copyMakeBorder(img, top, bottom, side, side, cv2.BORDER_REFLECT_101)
    blurred = cv2.GaussianBlur(padded, (0, 0), 0.02 * h)
    inside = np.zeros(padded.shape, bool)
    inside[top : top + h, side : side + w] = True
    padded = np.where(inside, padded, blurred)
    pts = np.asarray(landmarks, dtype=np.float64) + np.array([side, top], dtype=np.float64)

    scale = rng.uniform(0.55, 0.9)
    ph, pw = padded.shape
    nw, nh = max(8, round(pw * scale)), max(8, round(ph * scale))
    small = cv2.resize(padded, (nw, nh), interpolation=cv2.INTER_AREA)
    pts = (pts + 0.5) * np.array([nw / pw, nh / ph]) - 0.5

    x = small.astype(np.float32) / 255.0
    gamma = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
    contrast = rng.uniform(0.75, 1.25)
    brightness = rng.uniform(-0.08, 0.08)
    x = np.clip(x, 0, 1) ** gamma
    x = (x - x.mean()) * contrast + x.mean() + brightness
    blur = rng.uniform(0.3, 2.0)
    x = cv2.GaussianBlur(x, (0, 0), blur)
    noise = rng.uniform(0.005, 0.035)
    x = x + rng.normal(0.0, noise, x.shape).astype(np.float32)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    quality = int(rng.integers(30, 75))
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if ok:
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    settings = {
        "pad_top": top / h,
        "pad_bottom": bottom / h,
        "pad_side": side / w,
        "scale": scale,
        "gamma": gamma,
        "contrast": contrast,
        "brightness": brightness,
        "blur_px": blur,
        "noise": noise,
        "jpeg_quality": quality,
        "aspect": out.shape[0] / out.shape[1],
    }
    return out, pts, settings
