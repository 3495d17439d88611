"""The torch-free model card reader agrees with the checkpoint loader and refuses bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from spinegui.core.errors import FormatError
from spinegui.core.model_card import (
    card_summary,
    describe_card,
    list_shipped_models,
    read_model_card,
)


def fake_model(path: Path, template: str = "C7-L5", **fields) -> Path:
    """A header-valid spinegui model written without torch (the card never reads weights)."""
    doc = {
        "format": "spinegui-checkpoint",
        "format_version": 1,
        "template": template,
        "arch": "integral",
        "preset": "tiny",
        "input_hw": [64, 32],
        "created": "2026-01-01T00:00:00+00:00",
        **fields,
    }
    save_file({"w": np.zeros(8, np.float32)}, str(path), metadata={"spinegui": json.dumps(doc)})
    return path


def test_card_matches_what_the_checkpoint_loader_reads(tmp_path):
    from spinegui.ml.checkpoint import read_metadata, save_checkpoint
    from spinegui.ml.network import build_network

    path = tmp_path / "m.safetensors"
    save_checkpoint(path, build_network("integral", "C7-L5", "tiny"), {"metrics": {"mre": 3.5}})
    card = read_model_card(path)
    meta = read_metadata(path)
    assert {k: card[k] for k in meta} == meta
    assert card["version"] == "m"  # the same name Predictor.version gives
    assert card["path"] == str(path.resolve()) and card["size_bytes"] == path.stat().st_size
    assert describe_card(card) == "m - C7-L5, integral, tiny 64x32"
    summary = card_summary(card)
    assert summary["metrics"] == {"mre": 3.5} and "train_config" not in summary
    json.dumps(summary)  # storable in the project


def test_version_comes_from_the_metadata_when_present(tmp_path):
    assert read_model_card(fake_model(tmp_path / "a.safetensors", version="v7"))["version"] == "v7"
    assert read_model_card(fake_model(tmp_path / "b.safetensors", name="nice"))["version"] == "nice"


def test_fingerprint_tells_a_retrained_file_from_the_old_one(tmp_path):
    path = fake_model(tmp_path / "m.safetensors")
    first = read_model_card(path)["fingerprint"]
    assert read_model_card(path)["fingerprint"] == first
    fake_model(path, created="2026-02-02T00:00:00+00:00")
    assert read_model_card(path)["fingerprint"] != first


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty or cut off"),
        (b"\x80\x04\x95\x00\x00\x00", "pickle"),
        (b"PK\x03\x04rest", "torch.save"),
        (b"\xff" * 8 + b"{}", "not a safetensors"),
        (b"\x40\x00\x00\x00\x00\x00\x00\x00{}", "ends inside its header"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "not a spinegui model"),
    ],
)
def test_bad_files_are_refused_with_their_name(tmp_path, content, words):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(FormatError) as info:
        read_model_card(path)
    assert "bad.safetensors" in info.value.message and words in info.value.message
    assert info.value.hint


def test_a_cut_off_copy_is_named_as_such(tmp_path):
    path = fake_model(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(FormatError, match="cut off"):
        read_model_card(path)


def test_a_model_from_a_newer_spinegui_asks_for_an_update(tmp_path):
    path = fake_model(tmp_path / "m.safetensors", format_version=99, software_version="9.0")
    with pytest.raises(FormatError) as info:
        read_model_card(path)
    assert "newer" in info.value.message and "Update" in info.value.hint


def test_missing_file_and_folder_are_user_errors(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        read_model_card(tmp_path / "nope.safetensors")
    with pytest.raises(FormatError, match="folder"):
        read_model_card(tmp_path)


def test_shipped_list_skips_damaged_files_and_sorts_by_name(tmp_path):
    fake_model(tmp_path / "b.safetensors", template="T1-L5")
    fake_model(tmp_path / "a.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    (tmp_path / "README.md").write_text("not a model")
    assert [c["version"] for c in list_shipped_models(tmp_path)] == ["a", "b"]
    assert list_shipped_models(tmp_path / "missing") == []


def test_shipped_list_defaults_to_the_models_folder(tmp_path, monkeypatch):
    from spinegui.core import paths

    fake_model(tmp_path / "only.safetensors")
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path)
    assert [c["version"] for c in list_shipped_models()] == ["only"]
