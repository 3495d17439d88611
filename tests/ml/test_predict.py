"""Prediction: original-pixel round trip, TTA un-flipping and spread, shipped-model lookup."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from spinegui.core import paths
from spinegui.ml.checkpoint import save_checkpoint
from spinegui.ml.network import build_network, soft_argmax
from spinegui.ml.predict import ModelNotFoundError, Predictor, default_model_path
from spinegui.ml.preprocess import denormalize_points, to_network_input

torch.set_num_threads(1)

V = 17
OFFSET = 0.1  # normalised x offset between the fake model's TR and TL outputs


class BrightSpotNet(nn.Module):
    """Finds the brightest spot; says TL is there and TR OFFSET to its right.

    Its answer is exactly known for any image, so the predictor's resizing,
    normalisation and TTA un-flipping can be checked to the pixel.
    """

    arch = "fake"
    template = "T1-L5"
    input_hw = (64, 32)

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        spot = soft_argmax(x * 200.0)[:, 0]  # (B, 2) normalised
        out = spot[:, None, None, :].repeat(1, V, 4, 1)
        out[:, :, 1, 0] += OFFSET  # TR
        out[:, :, 3, 0] += OFFSET  # BR
        return out.reshape(x.shape[0], -1) + self.dummy


def _fake_predictor():
    meta = {"template": "T1-L5", "input_hw": [64, 32], "preset": "tiny"}
    return Predictor(BrightSpotNet(), meta, "cpu")


def _spot_image(h, w, x, y):
    img = np.zeros((h, w), np.float32)
    img[y - 4 : y + 5, x - 4 : x + 5] = 1.0  # a blob survives the shrink to 64 x 32
    return img


def test_predictions_come_back_in_original_pixels_of_any_size():
    pred = _fake_predictor().predict(_spot_image(300, 150, 40, 210))
    assert pred.landmarks.shape == (V, 4, 2) and pred.spread is None
    assert (pred.width, pred.height) == (150, 300)
    tl = pred.landmarks[:, 0]
    # one network pixel is ~5 px of this image; the spot is found within that
    assert np.allclose(tl, [40, 210], atol=5)
    np.testing.assert_allclose(pred.landmarks[:, 1, 0] - tl[:, 0], OFFSET * 150, atol=1e-6)


def test_tta_unflips_swaps_left_right_and_reports_spread():
    predictor = _fake_predictor()
    img = _spot_image(300, 150, 40, 210)
    plain = predictor.predict(img)
    pred = predictor.predict(img, tta=True)
    assert pred.spread.shape == (V, 4)
    # mirrored run: its TL (after swapping back) sits OFFSET left of the spot,
    # its TR on the spot; averaging moves each corner half an offset
    np.testing.assert_allclose(pred.spread, OFFSET * 150, atol=0.6)
    shift = pred.landmarks[:, :, 0] - plain.landmarks[:, :, 0]
    np.testing.assert_allclose(shift, -OFFSET * 150 / 2, atol=0.6)
    np.testing.assert_allclose(pred.landmarks[..., 1], plain.landmarks[..., 1], atol=0.6)


def test_batch_handles_mixed_sizes_and_loaded_images(tmp_path):
    from spinegui.core.imageio import load_image

    predictor = _fake_predictor()
    path = tmp_path / "spot.png"
    cv2.imwrite(str(path), (_spot_image(200, 100, 70, 30) * 255).astype(np.uint8))
    preds = predictor.predict_batch(
        [_spot_image(300, 150, 40, 210), load_image(path)], batch_size=1
    )
    assert [(p.width, p.height) for p in preds] == [(150, 300), (100, 200)]
    assert np.allclose(preds[1].landmarks[:, 0], [70, 30], atol=4)


def test_loaded_checkpoint_predicts_what_the_network_says(tmp_path):
    torch.manual_seed(0)
    net = build_network("integral", "T1-L5", "tiny")
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, net, {"metrics": {}})
    predictor = Predictor.load(path, device="cpu")
    assert predictor.template == "T1-L5" and predictor.version == "model"

    rng = np.random.default_rng(0)
    image = rng.random((250, 110)).astype(np.float32)
    pred = predictor.predict(image)
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(to_network_input(image, "tiny"))[None, None]).numpy()
    expected = denormalize_points(out.reshape(V, 4, 2), 110, 250)
    np.testing.assert_allclose(pred.landmarks, expected, atol=1e-4)


def test_missing_model_file_is_a_user_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model file"):
        Predictor.load(tmp_path / "nope.safetensors", device="cpu")


def test_default_model_is_found_by_template(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelNotFoundError, match="T1-L5"):
        default_model_path("T1-L5")
    save_checkpoint(tmp_path / "c7.safetensors", build_network("integral", "C7-L5", "tiny"), {})
    save_checkpoint(tmp_path / "t1.safetensors", build_network("integral", "T1-L5", "tiny"), {})
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    assert default_model_path("T1-L5") == tmp_path / "t1.safetensors"
    assert default_model_path("C7-L5") == tmp_path / "c7.safetensors"
