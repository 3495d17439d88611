"""``spinegui train --project``: the retrain the GUI's button runs, from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spinegui.cli import main
from spinegui.core.splits import val_target
from spinegui.core.store import Project
from spinegui.ml.checkpoint import read_metadata
from spinegui.ml.events import EndEvent, StartEvent
from spinegui.ml.retrain import (
    ComparisonEvent,
    RetrainSettings,
    adopt_candidate,
    build_card,
    discard_candidate,
    new_version_name,
    parse_event,
    train_arguments,
)
from tests.core.test_splits import add_phantoms, make_project

torch.set_num_threads(1)

RUN = ["--epochs", "1", "--device", "cpu", "--seed", "3"]


@pytest.fixture
def project_dir(tmp_path):
    return make_project(tmp_path, 6, n_unreviewed=1)


def _train(project_dir, *extra) -> int:
    return main(["train", "--project", str(project_dir), *RUN, *extra])


def test_same_seed_gives_the_same_model_from_the_command_line(project_dir, tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for out in (a, b):
        assert _train(project_dir, "--preset", "tiny", "--out", str(out), "--quiet") == 0
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    meta = read_metadata(a)
    assert meta["train_config"]["data"]["split"]["kind"] == "project"
    assert meta["data_fingerprint"] == read_metadata(b)["data_fingerprint"]


def test_project_run_locks_the_split_and_scores_both_models(project_dir, tmp_path, capsys):
    # First run from scratch, adopted: the project now has an active model.
    assert _train(project_dir, "--preset", "tiny", "--adopt", "--quiet") == 0
    capsys.readouterr()
    with Project.open(project_dir) as p:
        first = p.active_model()
        assert first is not None and first.version == "retrain-01"
        assert first.path == p.models_dir / "retrain-01.safetensors"
        val_before = {r.id for r in p.images() if r.split == "val"}
        assert len(val_before) == val_target(6)
        assert first.card["data_fingerprint"] and first.card["settings"]["epochs"] == 1
    # Second run fine-tunes the active model and reports both on the locked images.
    assert _train(project_dir, "--init-from", "active", "--json-progress") == 0
    events = [parse_event(line) for line in capsys.readouterr().out.splitlines()]
    assert isinstance(events[0], StartEvent) and events[0].preset == "tiny"
    end = next(e for e in events if isinstance(e, EndEvent))
    comp = events[-1]
    assert isinstance(comp, ComparisonEvent)
    assert comp.val_images == len(val_before) and len(comp.vertebrae) == 18
    assert comp.current["version"] == "retrain-01" and comp.new["version"] == "retrain-02"
    assert len(comp.new["per_vertebra_px"]) == 18
    for fig in (comp.current, comp.new):
        assert fig["mean_px"] > 0 and -1 <= fig["pearson_r"] <= 1
        assert fig["cobb_mae"] >= 0 and 0 <= fig["within5_pct"] <= fig["within10_pct"] <= 100
        assert fig["tilt_deg"] > 0 and len(fig["per_vertebra_tilt_deg"]) == 18
    # the event says which figures to show and how, clinician's first
    keys = [row["key"] for row in comp.rows]
    assert keys[0] == "cobb_mae" and {"within5_pct", "tilt_deg", "mean_px", "smape"} <= set(keys)
    assert all(row["key"] in comp.new for row in comp.rows)
    assert end.checkpoint.endswith("retrain-02.safetensors")
    assert read_metadata(end.checkpoint)["parent"] == "retrain-01"
    with Project.open(project_dir) as p:
        assert p.active_model().version == "retrain-01"  # no --adopt: unchanged
        assert {r.id for r in p.images() if r.split == "val"} == val_before


def test_new_reviewed_images_only_add_to_the_locked_validation(project_dir, tmp_path):
    out1, out2 = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert _train(project_dir, "--preset", "tiny", "--out", str(out1), "--no-compare") == 0
    val1 = set(read_metadata(out1)["train_config"]["val_ids"])
    with Project.open(project_dir) as p:
        add_phantoms(p, project_dir.parent / "images", 9)
    assert _train(project_dir, "--preset", "tiny", "--out", str(out2), "--no-compare") == 0
    cfg2 = read_metadata(out2)["train_config"]
    val2 = set(cfg2["val_ids"])
    assert val1 < val2 and len(val2) == val_target(15)
    assert cfg2["train_images"] + cfg2["val_images"] == 15


def test_too_little_reviewed_data_is_refused_with_what_to_do(tmp_path, capsys):
    project_dir = make_project(tmp_path, 3, n_unreviewed=2)
    assert _train(project_dir, "--preset", "tiny") == 2
    err = capsys.readouterr().err
    assert "review 2 more images" in err
    with Project.open(project_dir) as p:
        assert all(r.split is None for r in p.images())  # nothing locked by a refused run
        assert not list(p.models_dir.iterdir())


def test_init_from_active_without_a_model_is_a_user_error(project_dir, capsys):
    assert _train(project_dir, "--init-from", "active") == 2
    assert "no active model" in capsys.readouterr().err


def test_arguments_are_the_panel_settings():
    s = RetrainSettings(epochs=7, lr=5e-5, alpha=0.0, batch_size=2, start="scratch", preset="tiny")
    args = train_arguments("/p", "/p/models/retrain-01.safetensors", s)
    pairs = dict(zip(args[1::2], args[2::2], strict=False))
    assert args[0] == "train" and "--init-from" not in args
    assert pairs["--epochs"] == "7" and float(pairs["--lr"]) == 5e-5
    assert float(pairs["--alpha"]) == 0.0 and pairs["--batch-size"] == "2"
    assert pairs["--preset"] == "tiny"
    fine_tune = train_arguments("/p", "/o", RetrainSettings())
    assert "--preset" not in fine_tune  # the parent's size is taken
    assert fine_tune[fine_tune.index("--init-from") + 1] == "active"


def test_version_names_count_on_past_models_and_files(project_dir):
    with Project.open(project_dir) as p:
        assert new_version_name(p) == "retrain-01"
        (p.models_dir / "retrain-04.safetensors").write_bytes(b"")
        assert new_version_name(p) == "retrain-05"


def test_comparison_event_round_trips_through_json():
    event = ComparisonEvent(
        val_images=2,
        vertebrae=["T1"],
        current=None,
        new={"version": "retrain-01", "mean_px": 3.5, "smape": float("nan")},
        notes=["x"],
    )
    back = parse_event(event.to_json())
    assert isinstance(back, ComparisonEvent)
    assert back.new["mean_px"] == 3.5 and back.new["smape"] is None and back.current is None
    with pytest.raises(ValueError):
        parse_event("Data: project")
    assert isinstance(parse_event(json.dumps({"event": "end", **_end_fields()})), EndEvent)


def test_terminal_comparison_leads_with_the_angle_and_skips_unknown_mm():
    from spinegui.ml.retrain import format_comparison

    fig = {"version": "v", "cobb_mae": 3.25, "within5_pct": 80.0, "mean_px": 20.0, "mean_mm": None}
    event = ComparisonEvent(val_images=5, vertebrae=[], current=None, new=fig)
    text = format_comparison(event)
    lines = text.splitlines()
    assert lines[2].startswith("Main Cobb angle error (°)") and lines[2].endswith("3.2")
    assert any(line.startswith("Within 5° of") and line.endswith("80") for line in lines)
    assert "(mm)" not in text


def _end_fields():
    return {
        "status": "completed",
        "message": "ok",
        "epochs_run": 1,
        "best_epoch": 1,
        "best_val": {},
        "checkpoint": None,
    }


def test_adopt_registers_a_card_and_discard_deletes_files(project_dir, tmp_path):
    out = tmp_path / "m.safetensors"
    assert _train(project_dir, "--preset", "tiny", "--out", str(out), "--quiet") == 0
    with Project.open(project_dir) as p:
        card = build_card(out, parent=None, settings={"start": "from scratch"})
        assert card["data_fingerprint"] == read_metadata(out)["data_fingerprint"]
        assert card["settings"]["alpha"] == 0.01 and card["settings"]["lr"] == 1e-4
        record = adopt_candidate(p, "retrain-01", out, settings={"epochs": 1})
        assert p.active_model().version == "retrain-01" and record.parent is None
        assert record.card["settings"]["epochs"] == 1 and record.card["created"]
    other = tmp_path / "x.safetensors"
    other.write_bytes(b"1")
    (tmp_path / "x.resume.safetensors").write_bytes(b"2")
    removed = discard_candidate(other)
    assert len(removed) == 2 and not other.exists()
    assert np.isfinite(record.card["metrics"]["epoch"])
