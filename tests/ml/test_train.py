"""The training loop: events, checkpoints, cancel, divergence, resume, reproducibility."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spinegui.ml import losses
from spinegui.ml import task as task_mod
from spinegui.ml.checkpoint import load_checkpoint, read_metadata
from spinegui.ml.data import split_data, synthetic_dataset
from spinegui.ml.events import EndEvent, EpochEvent, StartEvent, StepEvent, event_from_json
from spinegui.ml.train import TrainConfig, TrainError, resume_path_for, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sets():
    data = synthetic_dataset("T1-L5", 8, seed=11, preset="tiny", size=(128, 64))
    train_set, _test, val_set = split_data(data, seed=0)
    return train_set, val_set


def _config(tmp_path, name="m", **kw):
    base = dict(preset="tiny", epochs=2, device="cpu", out=str(tmp_path / f"{name}.safetensors"))
    base.update(kw)
    return TrainConfig(**base)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_events_carry_progress_and_validation_metrics(tmp_path, sets):
    events = []
    result = train(_config(tmp_path), *sets, on_event=events.append)
    assert result.status == "completed" and result.ok
    kinds = [type(e) for e in events]
    assert kinds[0] is StartEvent and kinds[-1] is EndEvent
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(steps) == 2 * events[0].steps_per_epoch  # interval 0: every step is reported
    assert [e.epoch for e in epochs] == [1, 2]
    for e in steps:
        d = e.to_dict()
        for key in ("epoch", "step", "steps_per_epoch", "mse", "bpd", "total", "images_per_s"):
            assert isinstance(d[key], int | float), key
        assert "eta_s" in d
        assert math.isclose(e.total, e.mse + 0.01 * e.bpd, rel_tol=1e-4)
    assert steps[-1].eta_s == 0.0
    assert set(epochs[0].val) == {
        "mse", "bpd", "total", "mean_px", "smape", "cobb_mae", "within5", "tilt_deg"
    }  # fmt: skip
    assert epochs[0].val["mean_px"] > 0
    assert epochs[0].images_seen == len(sets[0])
    # every event survives the JSON line the GUI reads
    for e in events:
        back = event_from_json(e.to_json())
        assert type(back) is type(e)
        assert json.loads(back.to_json()) == json.loads(e.to_json())


def test_best_checkpoint_has_full_metadata(tmp_path, sets):
    result = train(_config(tmp_path, epochs=1), *sets)
    meta = read_metadata(result.checkpoint)
    assert meta["template"] == "T1-L5" and meta["arch"] == "paper"
    assert meta["preset"] == "tiny" and meta["input_hw"] == [64, 32]
    assert meta["data_fingerprint"] == sets[0].fingerprint()
    assert meta["metrics"]["epoch"] == 1 and "mean_px" in meta["metrics"]["val"]
    assert meta["parent"] is None
    tc = meta["train_config"]
    assert (tc["lr"], tc["beta1"], tc["beta2"], tc["batch_size"], tc["alpha"]) == (
        1e-4,
        0.9,
        0.999,
        4,
        0.01,
    )
    assert tc["train_images"] == len(sets[0]) and tc["val_ids"] == sets[1].ids
    assert len(meta["mean_shape"]) == 136
    model, _ = load_checkpoint(result.checkpoint, expected_template="T1-L5")
    assert model.input_hw == (64, 32)
    # a finished run cleans up its resume file
    assert not resume_path_for(result.checkpoint).exists() and result.resume is None


def test_same_seed_gives_identical_weights_on_cpu(tmp_path, sets):
    a = train(_config(tmp_path, "a", seed=5), *sets)
    b = train(_config(tmp_path, "b", seed=5), *sets)
    c = train(_config(tmp_path, "c", seed=6), *sets)
    wa, wb, wc = (load_file(str(r.checkpoint)) for r in (a, b, c))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa if wa[k].is_floating_point())


def test_cancel_keeps_the_last_good_checkpoint(tmp_path, sets):
    events = []
    saved = {}

    def on_event(e):
        events.append(e)
        if isinstance(e, EpochEvent) and e.epoch == 1:
            saved["sha"] = _sha(tmp_path / "m.safetensors")

    def should_stop():
        return any(isinstance(e, StepEvent) and e.epoch == 2 for e in events)

    result = train(_config(tmp_path, epochs=5), *sets, on_event=on_event, should_stop=should_stop)
    assert result.status == "stopped" and not result.ok
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert "epoch 1" in result.message
    assert _sha(result.checkpoint) == saved["sha"]
    assert result.resume is not None and result.resume.exists()
    assert isinstance(events[-1], EndEvent) and events[-1].status == "stopped"


def test_nan_loss_stops_with_a_message_and_keeps_good_weights(tmp_path, sets, monkeypatch):
    real = losses.mse_bpd_loss
    calls = {"n": 0}
    steps_per_epoch = math.ceil(len(sets[0]) / 4)

    def poisoned(pred, target, alpha=0.01, **kw):
        calls["n"] += 1
        parts = real(pred, target, alpha=alpha, **kw)
        if pred.requires_grad and calls["n"] > steps_per_epoch:  # training, epoch 2
            nan = parts.total * float("nan")
            return losses.LossParts(nan, parts.mse, parts.bpd)
        return parts

    monkeypatch.setattr(losses, "mse_bpd_loss", poisoned)
    result = train(_config(tmp_path, epochs=3), *sets)
    assert result.status == "diverged"
    assert "NaN" in result.message and "epoch 2" in result.message
    assert result.best_epoch == 1
    model, meta = load_checkpoint(result.checkpoint)
    assert meta["metrics"]["epoch"] == 1
    assert all(
        torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()
    )


def test_exploding_loss_counts_as_divergence(tmp_path, sets, monkeypatch):
    real = losses.mse_bpd_loss

    def exploding(pred, target, alpha=0.01, **kw):
        parts = real(pred, target, alpha=alpha, **kw)
        if pred.requires_grad and exploding.seen:
            return losses.LossParts(parts.total * 1e9, parts.mse, parts.bpd)
        exploding.seen = pred.requires_grad or exploding.seen
        return parts

    exploding.seen = False
    monkeypatch.setattr(losses, "mse_bpd_loss", exploding)
    result = train(_config(tmp_path, epochs=2), *sets)
    assert result.status == "diverged" and "lower learning rate" in result.message
    assert result.checkpoint is None  # it diverged before any epoch finished


def test_resume_continues_from_the_saved_epoch_exactly(tmp_path, sets):
    full = train(_config(tmp_path, "full", epochs=3, keep_resume=True), *sets)
    assert full.status == "completed"

    events = []

    def stop_in_epoch_2():
        return any(isinstance(e, StepEvent) and e.epoch == 2 for e in events)

    first = train(
        _config(tmp_path, "part", epochs=3),
        *sets,
        on_event=events.append,
        should_stop=stop_in_epoch_2,
    )
    assert first.status == "stopped" and first.epochs_run == 1
    resumed_events = []
    second = train(
        _config(tmp_path, "part", epochs=3, resume=str(first.checkpoint), keep_resume=True),
        *sets,
        on_event=resumed_events.append,
    )
    assert second.status == "completed" and second.epochs_run == 3
    assert resumed_events[0].start_epoch == 2
    assert [e.epoch for e in resumed_events if isinstance(e, EpochEvent)] == [2, 3]
    assert [h["epoch"] for h in second.history] == [1, 2, 3]
    # the interrupted-and-resumed run ends with exactly the uninterrupted run's weights
    last_full = load_file(str(resume_path_for(full.checkpoint)))
    last_resumed = load_file(str(resume_path_for(second.checkpoint)))
    for k, v in last_full.items():
        if k.startswith("model/"):
            torch.testing.assert_close(last_resumed[k], v, rtol=0, atol=0)


def test_resume_refuses_a_different_architecture(tmp_path, sets):
    events = []
    first = train(
        _config(tmp_path, epochs=3),
        *sets,
        on_event=events.append,
        should_stop=lambda: any(isinstance(e, EpochEvent) for e in events),
    )
    with pytest.raises(TrainError, match="arch"):
        train(_config(tmp_path, epochs=3, arch="integral", resume=str(first.checkpoint)), *sets)


def test_early_stopping_after_patience_epochs(tmp_path, sets, monkeypatch):
    flat = {"mse": 1.0, "bpd": 1.0, "total": 2.0, "mean_px": 3.0, "smape": 4.0}
    monkeypatch.setattr(task_mod, "validate", lambda *a, **k: dict(flat))
    result = train(_config(tmp_path, epochs=10, patience=2), *sets)
    assert result.status == "early_stopped" and result.ok
    assert result.epochs_run == 3 and result.best_epoch == 1


def test_fine_tune_records_the_parent_and_checks_the_network(tmp_path, sets):
    base = train(_config(tmp_path, "base", epochs=1), *sets)
    tuned = train(_config(tmp_path, "tuned", epochs=1, init_from=str(base.checkpoint)), *sets)
    assert read_metadata(tuned.checkpoint)["parent"] == "base"
    with pytest.raises(TrainError, match="same --arch"):
        train(
            _config(tmp_path, "x", epochs=1, arch="integral", init_from=str(base.checkpoint)),
            *sets,
        )


def test_data_at_another_size_is_refused(tmp_path, sets):
    with pytest.raises(TrainError, match="preset"):
        train(_config(tmp_path, preset="fast"), *sets)


def test_train_means_are_finite_numbers(tmp_path, sets):
    result = train(_config(tmp_path, epochs=1, augment=False), *sets)
    h = result.history[0]
    assert all(np.isfinite(v) for v in h["train"].values())


def _bn_stats(path):
    from spinegui.ml.checkpoint import load_checkpoint

    model, _ = load_checkpoint(path)
    return [m.running_mean.clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_fine_tuning_keeps_batch_norm_statistics_unless_told_otherwise(tmp_path, sets):
    base = train(_config(tmp_path, "base", epochs=1), *sets)
    kept = train(_config(tmp_path, "kept", epochs=1, init_from=str(base.checkpoint)), *sets)
    moved = train(
        _config(tmp_path, "moved", epochs=1, init_from=str(base.checkpoint), freeze_bn=False),
        *sets,
    )
    for a, b in zip(_bn_stats(base.checkpoint), _bn_stats(kept.checkpoint), strict=True):
        torch.testing.assert_close(a, b)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(_bn_stats(base.checkpoint), _bn_stats(moved.checkpoint), strict=True)
    )


def test_the_kept_checkpoint_is_the_epoch_with_the_lowest_cobb_error(tmp_path, sets, monkeypatch):
    """Loss keeps falling while the main-angle error is best in epoch 2: epoch 2 is kept."""
    cobb = iter([9.0, 4.0, 6.0])
    loss = iter([3.0, 2.0, 1.0])

    def fake(*a, **k):
        return {"total": next(loss), "cobb_mae": next(cobb), "mean_px": 1.0}

    monkeypatch.setattr(task_mod, "validate", fake)
    result = train(_config(tmp_path, epochs=3, patience=None, select_by="cobb"), *sets)
    assert result.best_epoch == 2 and result.best_val["cobb_mae"] == 4.0
    assert read_metadata(result.checkpoint)["metrics"]["epoch"] == 2


def test_selection_by_loss_when_asked_and_by_loss_while_no_angle_is_measurable():
    from spinegui.ml.train import selection_score

    assert selection_score("loss", {"total": 2.0, "cobb_mae": 1.0}) == 2.0
    assert selection_score("cobb", {"total": 2.0, "cobb_mae": 1.0}) == 1.0
    # no angle yet: the loss decides, and any measured angle beats it
    unmeasured = selection_score("cobb", {"total": 2.0, "cobb_mae": None})
    assert unmeasured > selection_score("cobb", {"total": 0.1, "cobb_mae": 80.0})
    assert unmeasured < selection_score("cobb", {"total": 3.0, "cobb_mae": None})


def test_resume_state_round_trips_through_the_sidecar(tmp_path, sets):
    from spinegui.ml.resume import read_resume_state

    events = []
    first = train(
        _config(tmp_path, epochs=3),
        *sets,
        on_event=events.append,
        should_stop=lambda: any(isinstance(e, EpochEvent) and e.epoch == 2 for e in events),
    )
    state = read_resume_state(first.resume)
    assert state.epoch == 2 and state.best_epoch == first.best_epoch
    assert [h["epoch"] for h in state.history] == [1, 2]
    assert state.train_config.epochs == 3 and state.out == str(first.checkpoint)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_zoom_out_share_outside_0_1_is_refused(tmp_path, sets, share):
    with pytest.raises(TrainError, match="zoom-out"):
        train(_config(tmp_path, zoom_out=share), *sets)
