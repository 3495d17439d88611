"""Model files: round trip, metadata, and every way a file can be wrong."""

from __future__ import annotations

import json
import os
import pickle
from datetime import datetime

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import spinegui
from spinegui.core.errors import FormatError, OutputError, SpineguiError, TemplateError
from spinegui.ml import checkpoint as ckpt
from spinegui.ml.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from spinegui.ml.network import build_network


def trained_like(arch: str = "paper", template: str = "T1-L5") -> nn.Module:
    """A tiny network whose weights and BN statistics are not the defaults."""
    torch.manual_seed(0)
    net = build_network(arch, template, "tiny")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    net.train()
    net(torch.rand(4, 1, 64, 32))  # moves the batch-norm running statistics
    return net.eval()


META = {
    "data_fingerprint": "sha256:abc",
    "metrics": {"mean_px": 12.5},
    "parent": "model-0",
    "train_config": {"lr": 1e-4, "alpha": 0.01},
}


@pytest.mark.parametrize("arch", ["paper", "integral"])
def test_round_trip_gives_identical_predictions_and_full_metadata(tmp_path, arch):
    net = trained_like(arch)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, net, META)
    loaded, meta = load_checkpoint(path, expected_template="T1-L5")
    x = torch.rand(2, 1, 64, 32)
    assert not loaded.training
    assert torch.equal(loaded(x), net(x))
    assert (meta["template"], meta["arch"], meta["preset"]) == ("T1-L5", arch, "tiny")
    assert meta["input_hw"] == [64, 32]
    assert meta["software_version"] == spinegui.__version__
    assert datetime.fromisoformat(meta["created"]).utcoffset().total_seconds() == 0
    for key, value in META.items():
        assert meta[key] == value
    assert set(ckpt.META_FIELDS) <= set(meta)
    assert read_metadata(path) == meta
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp files left


def test_half_storage_is_smaller_and_predicts_nearly_the_same(tmp_path):
    net = trained_like()
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_checkpoint(full, net, META)
    save_checkpoint(half, net, META, half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, meta = load_checkpoint(half)
    assert meta["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(2, 1, 64, 32)
    assert torch.allclose(loaded(x), net(x), atol=2e-3)
    assert loaded.state_dict()["backbone.blocks.0.body.5.num_batches_tracked"].item() == 1


def test_a_wrapped_model_is_saved_as_the_network_inside(tmp_path):
    class Wrapper(nn.Module):  # what DistributedDataParallel looks like
        def __init__(self, module):
            super().__init__()
            self.module = module

    net = trained_like()
    save_checkpoint(tmp_path / "w.safetensors", Wrapper(net), META)
    loaded, _ = load_checkpoint(tmp_path / "w.safetensors")
    x = torch.rand(1, 1, 64, 32)
    assert torch.equal(loaded(x), net(x))


def test_other_template_is_refused_naming_both(tmp_path):
    path = tmp_path / "c7.safetensors"
    save_checkpoint(path, trained_like(template="C7-L5"), META)
    with pytest.raises(TemplateError) as err:
        load_checkpoint(path, expected_template="T1-L5")
    assert "C7-L5" in str(err.value) and "T1-L5" in str(err.value)


@pytest.mark.parametrize("keep", [4, 100, -10])
def test_truncated_file_is_reported_as_cut_off(tmp_path, keep):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, trained_like(), META)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(FormatError, match="cut off") as err:
        load_checkpoint(path)
    assert err.value.hint
    with pytest.raises(FormatError, match="cut off"):
        read_metadata(path)


class _Boom:
    """Unpickling this would create a marker file: proof that a loader ran pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch_zip", "pickle"])
def test_pickle_files_are_refused_unopened(tmp_path, how):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.safetensors"
    payload = {"weights": torch.zeros(2), "x": _Boom(str(marker))}
    if how == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(FormatError, match="does not open them"):
        load_checkpoint(path)
    with pytest.raises(FormatError):
        read_metadata(path)
    assert not marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def _rewrite_meta(src, dst, change) -> None:
    """Copy a checkpoint with its spinegui metadata edited."""
    from safetensors.torch import load_file

    meta = read_metadata(src)
    change(meta)
    save_file(load_file(src), dst, metadata={"spinegui": json.dumps(meta)})


def test_newer_format_version_is_refused(tmp_path):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like(), META)
    _rewrite_meta(src, dst, lambda m: m.update(format_version=99, software_version="9.0"))
    with pytest.raises(FormatError, match="newer spinegui") as err:
        read_metadata(dst)
    assert "Update" in err.value.hint


def test_other_normalisation_is_refused(tmp_path):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like(), META)
    _rewrite_meta(src, dst, lambda m: m.update(normalisation={"coords": "x / width"}))
    with pytest.raises(FormatError, match="prepared differently"):
        load_checkpoint(dst)


def test_plain_safetensors_without_spinegui_metadata(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, path)
    with pytest.raises(FormatError, match="not a spinegui model"):
        read_metadata(path)


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like("paper"), META)
    _rewrite_meta(src, dst, lambda m: m.update(arch="integral"))
    with pytest.raises(FormatError, match="do not fit"):
        load_checkpoint(dst)


def test_random_bytes_are_not_a_model(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(SpineguiError):
        load_checkpoint(path)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, trained_like(), META)
    before = path.read_bytes()

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "replace", fail)
    with pytest.raises(OutputError, match="disk is full"):
        save_checkpoint(path, trained_like("integral"), META)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_overwrite_replaces_the_model(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, trained_like("paper"), META)
    save_checkpoint(path, trained_like("integral"), {**META, "parent": "m-1"})
    assert read_metadata(path)["arch"] == "integral"
    assert read_metadata(path)["parent"] == "m-1"


# --- a card is checked against the weights before anything is built (issue 10, group 5)


@pytest.fixture
def only_meta_builds(monkeypatch):
    """Fail the test if a network is built for real before the card was checked."""
    real = ckpt.build_network
    built = []

    def guarded(arch, template, preset, *a, **k):
        if torch.get_default_device().type != "meta":
            built.append(tuple(preset.hw))
        return real(arch, template, preset, *a, **k)

    monkeypatch.setattr(ckpt, "build_network", guarded)
    return built


@pytest.mark.parametrize(
    ("arch", "hw"),
    [("paper", [4096, 2048]), ("paper", [32768, 16384]), ("integral", [16384, 8192])],
)
def test_a_card_asking_for_a_huge_network_is_refused_before_building(
    tmp_path, only_meta_builds, arch, hw
):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like(arch), META)
    _rewrite_meta(src, dst, lambda m: m.update(input_hw=hw))
    with pytest.raises(FormatError, match="larger than spinegui builds"):
        load_checkpoint(dst)
    assert only_meta_builds == []


def test_a_card_that_does_not_fit_its_weights_is_refused_before_building(
    tmp_path, only_meta_builds
):
    """A plausible size (512 x 256) that the stored (64 x 32) weights do not fit."""
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like("paper"), META)
    _rewrite_meta(src, dst, lambda m: m.update(input_hw=[512, 256], preset="medium"))
    with pytest.raises(FormatError, match="do not fit a paper network for T1-L5 at 512 x 256"):
        load_checkpoint(dst)
    assert only_meta_builds == []
    load_checkpoint(src)  # the genuine file still loads, built once at its own size
    assert only_meta_builds == [(64, 32)]


def test_an_oversized_description_is_refused_unparsed(tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    meta = {"format": "spinegui-checkpoint", "format_version": 1, "pad": "x" * (5 * 2**20)}
    save_file({"w": torch.zeros(1)}, path, metadata={"spinegui": json.dumps(meta)})
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda *a, **k: parsed.append(1) or real_loads(*a, **k))
    with pytest.raises(FormatError, match="description; spinegui reads model descriptions"):
        read_metadata(path)
    assert parsed == []


# --- two-stage files


def _refiner(seed=0, **spec):
    from spinegui.ml.refine_net import RefinerSpec, build_refiner

    torch.manual_seed(seed)
    net = build_refiner(RefinerSpec(crop_size=32, width=4, **spec))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return net.eval()


def test_a_two_stage_file_holds_both_networks(tmp_path):
    net, refiner = trained_like(), _refiner()
    path = tmp_path / "two.safetensors"
    save_checkpoint(path, net, {**META, "refiner": {"metrics": {"cobb_mae": 3.0}}}, refiner=refiner)
    model, ref, meta = ckpt.load_bundle(path)
    x, crops = torch.rand(2, 1, 64, 32), torch.rand(3, 1, 32, 32)
    assert torch.equal(model(x), net(x)) and torch.equal(ref(crops), refiner(crops))
    assert meta["refiner"]["crop_size"] == 32 and meta["refiner"]["metrics"]["cobb_mae"] == 3.0
    assert meta["refiner"]["arch"] == "vertebra-crop"
    alone, _ = load_checkpoint(path)  # the first stage on its own
    assert torch.equal(alone(x), net(x))
    assert ckpt.load_bundle(path, with_refiner=False)[1] is None


@pytest.mark.parametrize("change", [{"crop_size": 4096}, {"width": 10**6}, {"iterations": 50}])
def test_a_refiner_card_out_of_range_is_refused_before_building(tmp_path, change):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like(), META, refiner=_refiner())
    _rewrite_meta(src, dst, lambda m: m["refiner"].update(change))
    with pytest.raises(FormatError, match="out of range"):
        ckpt.load_bundle(dst)


def test_refiner_weights_that_do_not_fit_its_card(tmp_path):
    src, dst = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(src, trained_like(), META, refiner=_refiner())
    _rewrite_meta(src, dst, lambda m: m["refiner"].update(width=8))
    with pytest.raises(FormatError, match="with its refinement stage"):
        ckpt.load_bundle(dst)
