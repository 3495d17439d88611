"""Render resources/phantom_montage.png: eight phantoms for the README.

Half the tiles carry the ground-truth vertebra boxes, so a reader sees both
what the network is shown and what it must find. Seeds are fixed, so the
montage changes only when the generator does.
Run: python bench/make_montage.py [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from spinegui.core.phantom import generate_phantom

TILE = (576, 288)  # (H, W) of one tile; rendered at 1024 x 512 and reduced
SEEDS = (3, 8, 14, 21, 5, 30, 42, 17)
REQUESTS = ((None, None), (35.0, "C"), (None, None), (55.0, "S"),
            (12.0, "C"), (None, None), (70.0, "S"), (25.0, "S"))  # fmt: skip
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "phantom_montage.png"


def tile(seed: int, cobb: float | None, curve: str | None, boxes: bool) -> np.ndarray:
    p = generate_phantom("C7-L5", seed, cobb_deg=cobb, curve=curve)
    scale = TILE[0] / p.image.shape[0]
    img = cv2.resize((p.image * 255).astype(np.uint8), (TILE[1], TILE[0]),
                     interpolation=cv2.INTER_AREA)  # fmt: skip
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if boxes:
        for quad in p.landmarks * scale:
            poly = np.round(quad[[0, 1, 3, 2]] * 16).astype(np.int32)
            cv2.polylines(out, [poly], True, (60, 200, 60), 1, cv2.LINE_AA, 4)
    caption = f"{p.curve}-curve  Cobb {p.cobb_deg:.0f} deg"
    cv2.rectangle(out, (0, TILE[0] - 24), (TILE[1], TILE[0]), (0, 0, 0), -1)
    cv2.putText(out, caption, (8, TILE[0] - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    tiles = [
        tile(seed, cobb, curve, boxes=i % 2 == 1)
        for i, (seed, (cobb, curve)) in enumerate(zip(SEEDS, REQUESTS, strict=True))
    ]
    gap = np.full((TILE[0], 4, 3), 255, np.uint8)
    rows = []
    for r in range(2):
        row = []
        for t in tiles[4 * r : 4 * r + 4]:
            row += [t, gap]
        rows.append(np.hstack(row[:-1]))
    sheet = np.vstack([rows[0], np.full((4, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
