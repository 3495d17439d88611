"""The models in model/ load, match their cards, and do their job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinegui.core.model_card import list_shipped_models
from spinegui.core.phantom import generate_batch
from spinegui.ml.predict import Predictor, default_model_path

SHIPPED = list_shipped_models()


def test_both_templates_ship_a_model():
    assert {card["template"] for card in SHIPPED} == {"C7-L5", "T1-L5"}
    for template in ("C7-L5", "T1-L5"):
        assert default_model_path(template).is_file()


@pytest.mark.parametrize("card", SHIPPED, ids=[c["version"] for c in SHIPPED])
def test_each_shipped_model_has_a_card_and_fits_the_size_limit(card):
    path = Path(card["path"])
    assert path.stat().st_size <= 40 * 1024 * 1024
    assert path.with_suffix(".md").is_file()
    assert "not a medical device" in path.with_suffix(".md").read_text()


def test_the_demo_model_finds_the_spine_on_unseen_phantoms():
    """Far better than the mean shape it would fall back to if it had learned nothing."""
    predictor = Predictor.load(default_model_path("C7-L5"), device="cpu")
    errors, baseline = [], []
    mean_shape = None
    for ph in generate_batch("C7-L5", 6, seed=10_000, size=(1024, 512)):
        pred = predictor.predict(ph.image, tta=True)
        assert pred.landmarks.shape == (18, 4, 2)
        assert pred.spread is not None and pred.spread.shape == (18, 4)
        errors.append(np.linalg.norm(pred.landmarks - ph.landmarks, axis=-1).mean())
        mean_shape = ph.landmarks if mean_shape is None else mean_shape
        baseline.append(np.linalg.norm(mean_shape - ph.landmarks, axis=-1).mean())
    # The card reports under a pixel on held-out phantoms; 5 px leaves room for seeds.
    assert np.mean(errors) < 5.0
    assert np.mean(errors) < 0.5 * np.mean(baseline[1:])


def test_the_shipped_models_have_both_stages_and_the_paper_network_runs_alone():
    for template in ("C7-L5", "T1-L5"):
        path = default_model_path(template)
        assert Predictor.load(path, device="cpu").stages == 2
        assert Predictor.load(path, device="cpu", stage_one_only=True).stages == 1
