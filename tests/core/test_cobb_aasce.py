"""Acceptance: our Cobb angles reproduce the angles shipped with the AASCE labels.

angles.csv was produced by the challenge organisers' script, so agreement here
means scores we report are comparable with the challenge's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from spinegui.core.cobb import cobb_angles
from spinegui.core.metrics import smape

pytestmark = pytest.mark.aasce

N_IMAGES = 481


def jpeg_height(path: Path) -> int:
    """Image height from the JPEG frame header, without decoding the pixels."""
    with path.open("rb") as f:
        data = f.read(1 << 16)
    i = 2  # after the SOI marker
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError(f"{path.name}: malformed JPEG marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return struct.unpack(">H", data[i + 5 : i + 7])[0]
        i += 2 + length
    raise ValueError(f"{path.name}: no frame header in the first 64 KiB")


@dataclass
class Labels:
    names: list[str]
    points: np.ndarray  # (N, 17, 4, 2)
    heights: np.ndarray  # (N,)
    angles: np.ndarray  # (N, 3)


@pytest.fixture(scope="module")
def labels(aasce_dir: Path) -> Labels:
    label_dir = aasce_dir / "labels" / "training"
    text = (label_dir / "filenames.csv").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    points = np.stack(
        [scipy.io.loadmat(label_dir / f"{name}.mat")["p2"].reshape(-1, 4, 2) for name in names]
    )
    heights = np.array([jpeg_height(aasce_dir / "data" / "training" / n) for n in names])
    angles = np.loadtxt(label_dir / "angles.csv", delimiter=",", ndmin=2)
    return Labels(names, points, heights.astype(float), angles)


def test_dataset_is_complete(labels):
    assert len(labels.names) == N_IMAGES
    assert labels.points.shape == (N_IMAGES, 17, 4, 2)
    assert labels.angles.shape == (N_IMAGES, 3)
    assert labels.heights.min() >= 900


def test_cobb_angles_match_the_challenge_labels(labels):
    ours = np.array(
        [cobb_angles(p, h).angles for p, h in zip(labels.points, labels.heights, strict=True)]
    )
    deviation = np.abs(ours - labels.angles)
    main_ok = deviation[:, 0] <= 0.01
    failing = [labels.names[i] for i in np.flatnonzero(~main_ok)]
    assert smape(ours, labels.angles) <= 0.5
    assert main_ok.sum() >= 475, f"main angle off by > 0.01 deg on {failing}"
    # Stricter than the acceptance above, as measured: angles.csv keeps 5 significant
    # digits and all three angles of every image agree to that rounding.
    assert deviation.max() <= 0.01, f"worst: {labels.names[int(np.argmax(deviation.max(1)))]}"


def test_annotation_error_with_an_obtuse_angle_is_reproduced(labels):
    # One label has a 156.4 degree angle from swapped corners; the rules keep it.
    row = int(np.argmax(labels.angles[:, 0]))
    assert labels.angles[row, 0] > 90
    result = cobb_angles(labels.points[row], labels.heights[row])
    assert result.main == pytest.approx(labels.angles[row, 0], abs=0.01)


def test_without_image_height_stays_within_the_challenge_tolerance(labels):
    ours = np.array([cobb_angles(p).angles for p in labels.points])
    assert smape(ours, labels.angles) <= 0.5
    np.testing.assert_allclose(ours[:, 0], labels.angles[:, 0], atol=0.01)
