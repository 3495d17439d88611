"""Shared fixtures. GUI tests run offscreen; real-data tests skip without the data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
AASCE_ROOT = REPO_ROOT.parent / "shared" / "aasce" / "boostnet_labeldata"


@pytest.fixture(scope="session")
def aasce_dir() -> Path:
    """The AASCE dataset folder as distributed (boostnet_labeldata), or skip."""
    if not (AASCE_ROOT / "labels" / "training").is_dir():
        pytest.skip("AASCE data not present at ../shared/aasce")
    return AASCE_ROOT
