"""The refinement stage: crop geometry, training examples, the two-stage file and predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinegui.ml.data import split_data, synthetic_dataset
from spinegui.ml.refine_net import RefinerSpec, build_refiner, refine_chain
from spinegui.ml.refine_task import CropDataset
from spinegui.ml.vertebra_crops import (
    ChainFrames,
    chain_frames,
    cut_crops,
    from_frame,
    mirror_frame_points,
    to_frame,
)
from tests.ml.test_losses import spine

torch.set_num_threads(1)

W, H = 300, 600  # "original" image size


def spine_px() -> np.ndarray:
    return spine(17, frame_wh=(W, H), widths=(0.10, 0.16))


def test_frames_follow_the_spine_and_round_trip():
    pts = spine_px()
    frames = chain_frames(pts)
    assert np.allclose(np.linalg.norm(frames.axes, axis=1), 1.0)
    assert (frames.axes[:, 1] > 0).all()  # caudal is down the image
    centres = pts.mean(axis=1)
    np.testing.assert_allclose(frames.spacing[5], np.linalg.norm(centres[6] - centres[4]) / 2)
    t = to_frame(pts, frames)
    np.testing.assert_allclose(t.mean(axis=1), 0.0, atol=1e-12)  # each centred on itself
    np.testing.assert_allclose(from_frame(t, frames), pts, atol=1e-9)


def test_a_degenerate_chain_gets_a_usable_frame():
    pts = np.zeros((3, 4, 2))
    frames = chain_frames(pts)
    assert np.isfinite(frames.axes).all() and (frames.spacing > 0).all()


def test_mirroring_a_frame_twice_is_identity_and_swaps_sides():
    t = to_frame(spine_px(), chain_frames(spine_px()))
    m = mirror_frame_points(t)
    np.testing.assert_allclose(m[:, 0, 0], -t[:, 1, 0])  # TL of the mirror = mirrored TR
    np.testing.assert_allclose(mirror_frame_points(m), t)


def _dot(width, height, x, y, sigma=1.2):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)).astype(np.float32)


@pytest.mark.parametrize("corner", range(4))
def test_a_crop_from_a_stretched_cache_shows_a_corner_where_its_frame_says(corner):
    """The cache is anisotropically resized; the crop still shows original geometry."""
    pts = spine_px()
    v = 8
    x, y = pts[v, corner]
    cache_w, cache_h = 200, 500  # stretched differently in x and y
    fx, fy = cache_w / W, cache_h / H
    image = _dot(cache_w, cache_h, fx * (x + 0.5) - 0.5, fy * (y + 0.5) - 0.5)
    frames = chain_frames(pts)
    size, level = 64, 22.0
    crop = cut_crops(image, frames, (fx, fy), level, size)[v]
    peak = np.unravel_index(np.argmax(crop), crop.shape)[::-1]
    expected = to_frame(pts, frames)[v, corner] * level + (size - 1) / 2
    np.testing.assert_allclose(peak, expected, atol=1.0)


def test_training_crops_show_their_target_corners_after_moves_and_mirroring():
    """Every example's target corner is where that corner's dot appears in its crop."""
    pts = spine_px()
    cache_h, cache_w = 256, 128
    fx, fy = cache_w / W, cache_h / H
    data = synthetic_dataset("T1-L5", 1, seed=0, preset="tiny", size=(H, W))
    sample = data.samples[0]
    sample.landmarks = pts
    sample.width, sample.height = W, H
    spec = RefinerSpec(crop_size=64, px_per_level=22.0)
    for corner in range(4):
        for index in (2, 8, 14):  # image 0, vertebra = index
            x, y = pts[index, corner]
            sample.image = _dot(cache_w, cache_h, fx * (x + 0.5) - 0.5, fy * (y + 0.5) - 0.5)
            data.input_hw = (cache_h, cache_w)
            ds = CropDataset(data, spec, seed=corner, augment=True, epochs=1, curriculum=False)
            crop, target, _ = ds[index]
            px = target.numpy()[:8].reshape(4, 2) * spec.px_per_level + (spec.crop_size - 1) / 2
            peak = np.unravel_index(np.argmax(crop[0].numpy()), crop.shape[1:])[::-1]
            # a mirrored example names the dot's corner by its mirror image
            nearest = int(np.argmin(np.linalg.norm(px - np.array(peak), axis=1)))
            assert nearest in (corner, [1, 0, 3, 2][corner])
            assert np.linalg.norm(px[nearest] - np.array(peak)) < 1.5, (corner, index)


def test_each_image_also_gives_an_example_below_l5_and_l5_is_labelled():
    data = synthetic_dataset("T1-L5", 2, seed=0, preset="medium", size=(256, 128))
    ds = CropDataset(data, RefinerSpec(last_head=True), augment=False)
    assert len(ds) == 2 * 18
    targets = np.stack([ds[k][1].numpy() for k in range(18)])
    assert (targets[:17, 8] == 1).all() and targets[17, 8] == 0  # no corners below L5
    assert targets[:, 9].tolist() == [0.0] * 16 + [1.0, 0.0]  # only L5 is L5
    no_head = CropDataset(data, RefinerSpec(), augment=False)
    assert len(no_head) == 2 * 17


def test_repair_merges_two_boxes_on_one_vertebra_and_fills_a_skipped_one():
    from spinegui.ml.chain import repair

    true = spine_px()
    # vertebra 4 has two boxes (one a pixel off) and 5 none; vertebra 10 has none either
    broken = np.concatenate([true[:5], true[4:5] + 1.0, true[6:10], true[11:]])
    fixed, new = repair(broken)
    assert len(broken) == 16 and len(fixed) == 17
    assert np.flatnonzero(new).tolist() == [5, 10]
    np.testing.assert_allclose(fixed[4], true[4] + 0.5)  # the two merged
    np.testing.assert_allclose(fixed[10], (true[9] + true[11]) / 2)  # interpolated
    np.testing.assert_allclose(fixed.mean(axis=1), true.mean(axis=1), atol=2.0)
    same, none = repair(true)
    np.testing.assert_array_equal(same, true)
    assert not none.any()


class _BlobNet(torch.nn.Module):
    """Stand-in refiner: the mean box wherever the crop is; "L5" where the crop centre is bright."""

    def __init__(self):
        super().__init__()
        self.spec = RefinerSpec(crop_size=32, px_per_level=12.0, iterations=1, last_head=True)

    def forward(self, x):
        from spinegui.ml.refine_net import MEAN_BOX

        box = torch.tensor(MEAN_BOX, dtype=torch.float32).reshape(1, 8).expand(len(x), 8)
        centre = x[:, 0, 13:19, 13:19].mean(dim=(1, 2))  # crops are raw intensities here
        return torch.cat([box, (20 * centre - 5)[:, None]], dim=1)


@pytest.mark.parametrize("shift", [-1, 1])
def test_a_chain_a_level_off_is_moved_to_end_at_l5(shift):
    """The chain's last box sits on L4 (shift -1) or one below L5 (+1): it ends at L5 after."""
    true = spine_px()
    cache_h, cache_w = 512, 256
    fx, fy = cache_w / W, cache_h / H
    image = np.zeros((cache_h, cache_w), np.float32)
    cx, cy = true[-1].mean(axis=0)
    image[int(fy * cy) - 3 : int(fy * cy) + 4, int(fx * cx) - 3 : int(fx * cx) + 4] = 1.0
    f = chain_frames(true)
    if shift < 0:  # every box one level up
        moved = np.concatenate([true[:1] - f.spacing[0] * f.axes[0], true[:-1]])
    else:
        moved = np.concatenate([true[1:], true[-1:] + f.spacing[-1] * f.axes[-1]])
    out, _ = refine_chain(_BlobNet(), [image], [(fx, fy)], moved[None], tta=True)
    np.testing.assert_allclose(out[0].mean(axis=1), true.mean(axis=1), atol=0.05 * f.spacing.min())
    unchanged, _ = refine_chain(_BlobNet(), [image], [(fx, fy)], true[None], tta=False)
    np.testing.assert_allclose(unchanged[0].mean(axis=1), true.mean(axis=1), atol=1e-6)


def test_the_curriculum_grows_errors_and_the_shape_term():
    data = synthetic_dataset("T1-L5", 2, seed=0, preset="tiny", size=(128, 64))
    ds = CropDataset(data, RefinerSpec(), epochs=10, curriculum=True)
    scales, weights = [], []
    for epoch in (1, 3, 5, 10):
        ds.set_epoch(epoch)
        scales.append(ds.error_scale)
        weights.append(ds.shape_weight)
    assert scales[0] == pytest.approx(0.3) and scales[-1] == 1.0
    assert scales == sorted(scales) and weights[0] == 0.0 and weights[-1] == 1.0
    fine_tune = CropDataset(data, RefinerSpec(), epochs=10, curriculum=False)
    assert fine_tune.error_scale == 1.0 and fine_tune.shape_weight == 1.0


def test_refining_moves_each_vertebra_by_what_the_network_predicts():
    """A network that always answers "the mean box, 0.2 of a level lower" moves every
    vertebra down its own axis by 0.2 of its spacing, once per iteration."""
    spec = RefinerSpec(crop_size=32, width=4, iterations=2, last_head=False)
    net = build_refiner(spec)
    box = np.array([[-0.7, -0.3], [0.7, -0.3], [-0.7, 0.3], [0.7, 0.3]])
    with torch.no_grad():
        net.head[-1].weight.zero_()
        shifted = box + np.array([0.0, 0.2])
        net.head[-1].bias.copy_(torch.tensor(shifted.reshape(8), dtype=torch.float32))
    pts = spine_px()[None]
    image = np.zeros((256, 128), np.float32)
    out, spread = refine_chain(net, [image], [(128 / W, 256 / H)], pts, tta=True, iterations=1)
    f = chain_frames(pts[0])
    expected_centres = f.centres + 0.2 * f.spacing[:, None] * f.axes
    np.testing.assert_allclose(out[0].mean(axis=1), expected_centres, atol=1e-6)
    assert spread.shape == (1, 17, 4) and np.allclose(spread, 0.0, atol=1e-6)  # symmetric box


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory):
    """A whole-image model and a two-stage model on top of it (1 epoch each, tiny)."""
    from spinegui.ml.train import train
    from spinegui.ml.train_config import TrainConfig

    folder = tmp_path_factory.mktemp("two_stage")
    small = synthetic_dataset("T1-L5", 8, seed=4, preset="tiny", size=(256, 128))
    tr, _, va = split_data(small, 0)
    first = folder / "first.safetensors"
    train(TrainConfig(preset="tiny", epochs=1, device="cpu", out=str(first)), tr, va)
    big = synthetic_dataset("T1-L5", 8, seed=4, preset="medium", size=(256, 128))
    tr2, _, va2 = split_data(big, 0)
    events = []
    config = TrainConfig(
        stage="refine", base_model=str(first), preset="medium", epochs=2, batch_size=1,
        lr=1e-3, lr_schedule="cosine", select_by="cobb", device="cpu",
        out=str(folder / "both.safetensors"), refiner={"crop_size": 32, "width": 4},
    )  # fmt: skip
    result = train(config, tr2, va2, on_event=events.append)
    return first, result, events, big


def test_the_refinement_run_writes_one_two_stage_file(two_stage):
    from spinegui.ml.checkpoint import read_metadata

    first, result, events, _ = two_stage
    assert result.ok and result.checkpoint is not None
    meta = read_metadata(result.checkpoint)
    base = read_metadata(first)
    assert meta["refiner"]["crop_size"] == 32 and meta["refiner"]["arch"] == "vertebra-crop"
    assert meta["input_hw"] == base["input_hw"] == [64, 32]  # the first stage, unchanged
    assert meta["stage_one"]["data_fingerprint"] == base["data_fingerprint"]
    assert meta["train_config"]["stage"] == "refine"
    val = next(e.val for e in events if e.kind == "epoch")
    assert {"cobb_mae", "tilt_deg", "mean_px", "within5"} <= set(val)
    assert events[0].arch == "vertebra-crop" and events[0].preset == "medium"


def test_the_predictor_runs_both_stages_or_the_first_alone(two_stage):
    from spinegui.ml.predict import Predictor

    first, result, _, data = two_stage
    both = Predictor.load(result.checkpoint, "cpu")
    alone = Predictor.load(result.checkpoint, "cpu", stage_one_only=True)
    original = Predictor.load(first, "cpu")
    assert (both.stages, alone.stages) == (2, 1)
    assert both.data_hw == (512, 256) and alone.data_hw == (64, 32)
    image = data.samples[0].image  # any grey image; predictions map back to its size
    a, b, c = both.predict(image, tta=True), alone.predict(image), original.predict(image)
    np.testing.assert_allclose(b.landmarks, c.landmarks, atol=1e-4)  # stage one unchanged
    assert not np.allclose(a.landmarks, b.landmarks)  # the refinement moved something
    assert a.spread is not None and a.spread.shape == (17, 4)
    assert a.landmarks.shape == (17, 4, 2) and (a.width, a.height) == (256, 512)
    # the mirrored pass measures doubt only: the window's answer is the command line's
    np.testing.assert_allclose(both.predict(image).landmarks, a.landmarks, atol=1e-6)
    assert both.predict(image).spread is None


def test_fine_tuning_a_two_stage_model_retrains_its_refinement_stage(two_stage, tmp_path):
    from spinegui.ml.checkpoint import load_bundle
    from spinegui.ml.train import train
    from spinegui.ml.train_config import TrainConfig

    _, result, _, data = two_stage
    tr, _, va = split_data(data, 0)
    out = tmp_path / "tuned.safetensors"
    config = TrainConfig(
        stage="refine", init_from=str(result.checkpoint), preset="medium", epochs=1,
        batch_size=1, lr=1e-4, device="cpu", out=str(out),
    )  # fmt: skip
    tuned = train(config, tr, va)
    assert tuned.ok
    s1, r1, meta = load_bundle(out)
    s0, r0, _ = load_bundle(result.checkpoint)
    assert meta["parent"] == "both"
    for k, v in s0.state_dict().items():  # the first stage is carried over untouched
        assert torch.equal(s1.state_dict()[k], v), k
    assert any(not torch.equal(r1.state_dict()[k], v) for k, v in r0.state_dict().items())


def test_a_retrain_of_a_two_stage_model_tunes_its_first_stage_and_keeps_the_refiner(
    two_stage, tmp_path
):
    """What the panel runs (no --stage): the first stage learns the site, the
    refinement stage is written back unchanged, so the file stays two-stage."""
    import argparse

    from spinegui.commands.train import add_arguments, build_config
    from spinegui.ml.checkpoint import load_bundle
    from spinegui.ml.train import train
    from spinegui.ml.train_config import TrainConfig

    _, result, _, _ = two_stage
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--synthetic", "4", "--init-from", str(result.checkpoint)]
    cli = build_config(parser.parse_args(argv))
    assert (cli.stage, cli.preset) == ("landmarks", "tiny")  # the first stage, at its size
    small = synthetic_dataset("T1-L5", 8, seed=5, preset="tiny", size=(256, 128))
    tr, _, va = split_data(small, 0)
    out = tmp_path / "tuned.safetensors"
    config = TrainConfig(
        init_from=str(result.checkpoint), preset="tiny", epochs=1, lr=1e-3, device="cpu",
        out=str(out),
    )  # fmt: skip
    assert train(config, tr, va).ok
    s1, r1, meta = load_bundle(out)
    s0, r0, old = load_bundle(result.checkpoint)
    assert r1 is not None and meta["refiner"] == old["refiner"]
    for k, v in r0.state_dict().items():
        assert torch.equal(r1.state_dict()[k], v), k
    assert any(not torch.equal(s1.state_dict()[k], v) for k, v in s0.state_dict().items())
    assert meta["parent"] == "both"


def test_a_refinement_run_without_a_first_stage_is_refused(tmp_path):
    from spinegui.ml.train import train
    from spinegui.ml.train_config import TrainConfig, TrainError

    data = synthetic_dataset("T1-L5", 3, seed=0, preset="medium", size=(128, 64))
    with pytest.raises(TrainError, match="base-model"):
        train(TrainConfig(stage="refine", preset="medium", device="cpu"), data, None)


def test_frames_as_data():
    f = ChainFrames(np.zeros((2, 2)), np.array([[0.0, 1.0], [0.0, 1.0]]), np.ones(2))
    np.testing.assert_allclose(f.perpendicular, [[1.0, 0.0], [1.0, 0.0]])
    assert len(f) == 2
