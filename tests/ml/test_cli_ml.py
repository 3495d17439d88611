"""``spinegui train | predict | evaluate`` end to end, on tiny synthetic data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from spinegui.cli import main
from spinegui.ml.checkpoint import load_checkpoint, read_metadata
from spinegui.ml.events import EndEvent, EpochEvent, StartEvent, event_from_json

torch.set_num_threads(1)

TINY = ["--synthetic", "8", "--synthetic-size", "128x64", "--preset", "tiny", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint made by ``spinegui train`` (1 epoch, tiny)."""
    out = tmp_path_factory.mktemp("train") / "m.safetensors"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_json_progress_is_one_event_per_line(tmp_path, capsys):
    trained = tmp_path / "m.safetensors"
    rc = main(["train", *TINY, "--epochs", "2", "--out", str(trained), "--json-progress"])
    captured = capsys.readouterr()
    assert rc == 0
    lines = captured.out.splitlines()
    events = [event_from_json(line) for line in lines]  # every line parses
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], EndEvent)
    assert events[-1].status == "completed" and events[-1].checkpoint == str(trained)
    assert [e.epoch for e in events if isinstance(e, EpochEvent)] == [1, 2]
    assert "Data: synthetic" in captured.err  # human notes go to stderr
    meta = read_metadata(trained)
    assert meta["train_config"]["data"]["split"]["kind"] == "seeded"
    assert len(meta["train_config"]["data"]["split"]["test_ids"]) == 1


def test_train_progress_bar_goes_to_stderr(tmp_path, capsys):
    out = tmp_path / "bar.safetensors"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Best model (epoch 1)" in captured.err and out.exists()


def test_train_without_data_is_a_user_error(capsys):
    assert main(["train", "--epochs", "1"]) == 2
    assert "No training data" in capsys.readouterr().err


def test_resuming_a_fine_tune_keeps_its_starting_model(tmp_path):
    """init_from decides frozen batch norm; a resume must not drop it from the saved run."""
    import argparse

    from safetensors.torch import save_file

    from spinegui.commands import train as train_cmd
    from spinegui.ml.resume import RESUME_KEY
    from spinegui.ml.train_config import TrainConfig

    saved = TrainConfig(preset="tiny", lr=1e-5, init_from=str(tmp_path / "parent.safetensors"))
    header = {"config": saved.to_json(), "epoch": 1, "optim_param_groups": []}
    save_file(
        {"model/x": torch.zeros(1)},
        str(tmp_path / "m.resume.safetensors"),
        metadata={RESUME_KEY: json.dumps(header)},
    )
    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["--synthetic", "4", "--resume", str(tmp_path / "m.safetensors")])
    config = train_cmd.build_config(args)
    assert config.init_from == saved.init_from and config.lr == 1e-5


def _images(folder, count=2):
    from spinegui.core.phantom import generate_phantom

    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        ph = generate_phantom("T1-L5", 50 + i, size=(160, 90))
        path = folder / f"x{i}.png"
        cv2.imwrite(str(path), np.round(ph.image * 255).astype(np.uint8))
        paths.append(path)
    return paths


def test_predict_jsonl_reports_and_skips_a_bad_image(trained, tmp_path, capsys):
    good = _images(tmp_path / "img")
    bad = tmp_path / "img" / "broken.png"
    bad.write_bytes(b"not an image")
    rc = main(
        ["predict", "--model", str(trained), "--device", "cpu", "--tta", str(tmp_path / "img")]
    )
    captured = capsys.readouterr()
    assert rc == 1
    assert "skipped" in captured.err and "broken.png" in captured.err
    assert "Traceback" not in captured.err
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in rows] == [str(p) for p in good]
    for r in rows:
        assert {"image", "template", "landmarks", "model"} <= set(r)
        assert r["template"] == "T1-L5" and r["model"] == "m"
        assert np.asarray(r["landmarks"]).shape == (68, 2)
        assert (r["width"], r["height"]) == (90, 160)
        assert len(r["spread"]) == 68


def test_predict_csv_via_the_formats_writer(trained, tmp_path):
    from spinegui.core.formats.csvlong import read_csv

    paths = _images(tmp_path / "img", 1)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(trained), "--device", "cpu", "--quiet",
                 "--format", "csv", "--out", str(out), str(paths[0])]) == 0  # fmt: skip
    records = read_csv(out)
    assert len(records) == 1 and records[0].landmarks.shape == (17, 4, 2)


def test_predict_csv_needs_out(trained, tmp_path, capsys):
    assert main(["predict", "--model", str(trained), "--format", "csv", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err


def test_evaluate_prints_the_baseline_and_json(trained, capsys):
    args = ["evaluate", "--model", str(trained), "--device", "cpu", "--synthetic", "3",
            "--synthetic-size", "128x64"]  # fmt: skip
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "mean shape" in table and "Per vertebra" in table and "T12" in table
    for row in ("Main Cobb angle error (deg)", "within 5 deg", "slope", "Vertebra tilt error"):
        assert row in table
    assert "training images" in table  # baseline from the model's own training data
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["n_images"] == 3 and "baseline" in report


def test_evaluate_plot_writes_a_png_and_never_replaces_one_unasked(trained, tmp_path, capsys):
    plot = tmp_path / "agreement.png"
    args = ["evaluate", "--model", str(trained), "--device", "cpu", "--synthetic", "4",
            "--synthetic-size", "128x64", "--plot", str(plot)]  # fmt: skip
    assert main(args) == 0
    assert f"Plots saved to {plot}" in capsys.readouterr().out
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600
    before = plot.read_bytes()
    assert main(args) == 2  # the file exists: refused before any work
    assert "--overwrite" in capsys.readouterr().err and plot.read_bytes() == before
    assert main([*args, "--overwrite"]) == 0


def test_evaluate_help_says_the_test_subset_is_a_fresh_split(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert 'NOT a folder\'s own "test" directory' in text
    assert "fresh seeded 80/15/5 split" in text


def test_evaluate_test_subset_uses_the_recorded_split(trained, capsys):
    assert main(["evaluate", "--model", str(trained), "--device", "cpu", "--synthetic", "8",
                 "--synthetic-size", "128x64", "--subset", "test", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["n_images"] == 1
    assert any("recorded in the checkpoint" in n for n in report["notes"])


def test_sigterm_stops_gracefully_and_the_run_resumes(tmp_path, capsys):
    out = tmp_path / "long.safetensors"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "spinegui", "train", *TINY, "--epochs", "500",
           "--out", str(out), "--json-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if json.loads(line)["event"] == "epoch":
                proc.send_signal(signal.SIGTERM)
                break
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    end = event_from_json(rest.strip().splitlines()[-1])
    assert isinstance(end, EndEvent) and end.status == "stopped"
    _model, meta = load_checkpoint(out)
    assert meta["metrics"]["epoch"] >= 1
    assert end.resume and os.path.exists(end.resume)

    # resume: the saved run's options are reused, only --epochs is given again
    done = end.epochs_run
    rc = main(["train", *TINY, "--resume", str(out), "--epochs", str(done + 1), "--json-progress"])
    events = [event_from_json(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert events[0].start_epoch == done + 1
    assert events[-1].status == "completed" and events[-1].epochs_run == done + 1


def test_refinement_stage_from_the_command_line(trained, tmp_path, capsys):
    """train --stage refine writes a two-stage model; evaluate scores it, or its first stage."""
    both = tmp_path / "both.safetensors"
    rc = main(["train", "--stage", "refine", "--base-model", str(trained), "--synthetic", "8",
               "--synthetic-size", "128x64", "--device", "cpu", "--epochs", "1", "--quiet",
               "--refiner", '{"crop_size": 32, "width": 4}', "--out", str(both)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    meta = read_metadata(both)
    config = meta["train_config"]
    assert meta["refiner"]["crop_size"] == 32 and config["stage"] == "refine"
    assert meta["refiner"]["last_head"] is False  # the L5 output is opt-in (measured worse)
    # the refinement stage's own defaults: 4 X-rays' crops a step, ten times the paper's rate
    assert (config["batch_size"], config["lr"], config["preset"]) == (4, 1e-3, "medium")
    capsys.readouterr()
    args = ["evaluate", "--model", str(both), "--device", "cpu", "--synthetic", "3",
            "--synthetic-size", "128x64", "--json"]  # fmt: skip
    assert main(args) == 0
    two = json.loads(capsys.readouterr().out)["model"]
    assert main([*args, "--stage-one-only"]) == 0
    one = json.loads(capsys.readouterr().out)["model"]
    assert main([*args[:2], str(trained), *args[3:]]) == 0
    base = json.loads(capsys.readouterr().out)["model"]
    assert one["mean_px"] == pytest.approx(base["mean_px"], rel=1e-4)  # first stage unchanged
    assert two["mean_px"] != pytest.approx(one["mean_px"], rel=1e-4)


def test_refine_settings_that_are_not_json_are_a_user_error(trained, capsys):
    args = ["train", "--stage", "refine", "--base-model", str(trained), "--synthetic", "4",
            "--refiner", "width=32"]  # fmt: skip
    assert main(args) == 2
    assert "JSON object" in capsys.readouterr().err
