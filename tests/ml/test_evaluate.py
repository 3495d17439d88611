"""Evaluation: the figures themselves, the mean-shape baseline, table and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spinegui.ml.checkpoint import save_checkpoint
from spinegui.ml.data import synthetic_dataset
from spinegui.ml.evaluate import evaluate, figures
from spinegui.ml.network import build_network
from spinegui.ml.predict import Predictor
from spinegui.ml.preprocess import denormalize_points

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset("T1-L5", 4, seed=21, preset="tiny", size=(128, 64))


def _predictor(tmp_path, meta=None):
    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, build_network("integral", "T1-L5", "tiny"), dict(meta or {}))
    return Predictor.load(path, device="cpu")


def test_perfect_predictions_score_perfectly(data):
    true = np.stack([s.landmarks for s in data])
    f = figures("x", true.copy(), true, [s.height for s in data])
    assert f.mean_px == 0 and f.median_px == 0 and f.smape == 0
    assert f.pearson_r == pytest.approx(1.0)
    assert f.per_vertebra_px == [0.0] * 17 and f.mean_mm is None
    assert f.cobb_mae == 0 and f.within5 == 1.0 and f.tilt_deg == 0 and f.cobb_bias == 0
    assert f.main_pred == f.main_true and len(f.main_true) == 4


def test_clinician_figures_of_a_uniform_tilt_error(data):
    """Rotating every vertebra's corners about its centre shows up as that tilt error."""
    true = np.stack([s.landmarks for s in data])
    a = np.radians(3.0)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # CCW on screen
    centres = true.mean(axis=2, keepdims=True)
    pred = (true - centres) @ rot.T + centres
    f = figures("x", pred, true, [s.height for s in data])
    assert f.tilt_deg == pytest.approx(3.0)
    assert f.per_vertebra_tilt_deg == pytest.approx([3.0] * 17)
    # every vertebra turned alike: no angle between them changes
    assert f.cobb_mae == pytest.approx(0.0, abs=1e-6)


def test_mm_uses_each_images_spacing(data):
    true = np.stack([s.landmarks for s in data])
    pred = true + np.array([3.0, 4.0])  # 5 px everywhere
    f = figures("x", pred, true, [128] * 4, spacings=[0.2, None, (0.1, 0.1), None])
    assert f.mean_px == pytest.approx(5.0)
    assert f.n_mm_images == 2 and f.mean_mm == pytest.approx((1.0 + 0.5) / 2)


def test_report_sets_model_beside_the_recorded_mean_shape(tmp_path, data):
    shape = data.mean_shape() + 0.01
    predictor = _predictor(
        tmp_path, {"mean_shape": shape.reshape(-1).tolist(), "train_config": {"train_images": 9}}
    )
    report = evaluate(predictor, data)
    assert report.model.n_images == 4 and report.template == "T1-L5"
    assert "9 training images" in report.baseline_note
    # the baseline is exactly the recorded mean shape stretched to each image
    true = np.stack([s.landmarks for s in data])
    base = np.stack([denormalize_points(shape, s.width, s.height) for s in data])
    expected = figures("b", base, true, [s.height for s in data])
    assert report.baseline.mean_px == pytest.approx(expected.mean_px)
    assert report.baseline.smape == pytest.approx(expected.smape)

    table = report.format_table()
    for text in ("mean shape", "Mean landmark error (px)", "Pearson r", "SMAPE", "ANOVA", "L5"):
        assert text in table
    parsed = json.loads(report.to_json())
    assert set(parsed) >= {"model", "baseline", "template", "baseline_note"}
    assert len(parsed["baseline"]["per_vertebra_px"]) == 17


def test_without_recorded_shape_the_evaluation_data_stands_in(tmp_path, data):
    report = evaluate(_predictor(tmp_path), data, tta=True)
    assert "evaluation images themselves" in report.baseline_note and report.tta


def test_data_for_another_network_size_is_refused(tmp_path):
    from spinegui.core.errors import SpineguiError

    other = synthetic_dataset("T1-L5", 1, preset="fast", size=(128, 64))
    with pytest.raises(SpineguiError, match="preset"):
        evaluate(_predictor(tmp_path), other)
