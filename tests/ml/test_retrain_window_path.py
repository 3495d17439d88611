"""The retrain comparison scores models the way the review window predicts (mirror TTA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinegui.cli import main
from spinegui.core.imageio import load_image
from spinegui.core.store import Project
from spinegui.ml.data import project_dataset
from spinegui.ml.predict import Predictor
from spinegui.ml.retrain import compare_on_validation
from tests.core.test_splits import make_project

torch.set_num_threads(1)


def test_comparison_error_is_the_error_of_what_the_window_draws(tmp_path):
    folder = make_project(tmp_path, 6)
    model = tmp_path / "m.safetensors"
    args = ["train", "--project", str(folder), "--preset", "tiny", "--epochs", "1"]
    assert main([*args, "--device", "cpu", "--out", str(model), "--no-compare", "--quiet"]) == 0
    data = project_dataset(folder, "tiny")
    with Project.open(folder) as p:
        val = [r for r in p.images() if r.split == "val"]
        truths = [p.ground_truth(r.id) for r in val]
    val_set = data.select_ids([r.sha256 for r in val])
    event = compare_on_validation(val_set, [("new", "m", model)], device="cpu")

    predictor = Predictor.load(model, device="cpu")
    shown = [predictor.predict(load_image(r.path), tta=True).landmarks for r in val]  # the window
    plain = [predictor.predict(load_image(r.path), tta=False).landmarks for r in val]

    def mean_error(preds):
        return float(
            np.mean(
                [np.linalg.norm(a - b, axis=-1).mean() for a, b in zip(preds, truths, strict=True)]
            )
        )

    assert event.new["mean_px"] == pytest.approx(mean_error(shown), rel=1e-6)
    assert mean_error(plain) != pytest.approx(mean_error(shown), rel=1e-6)
