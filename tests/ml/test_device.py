"""Device choice: auto order, explicit requests that cannot be met, mixed precision."""

from __future__ import annotations

import pytest
import torch

from spinegui.core.errors import SpineguiError
from spinegui.ml import device as dev
from spinegui.ml.device import autocast, autocast_dtype, describe_device, pick_device

HAS_CUDA = torch.cuda.is_available()


def fake_hardware(monkeypatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(dev, "_mps_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    fake_hardware(monkeypatch, cuda, mps)
    assert pick_device("auto").type == expected
    assert pick_device("").type == expected


def test_explicit_cpu_always_works():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")


def test_unavailable_accelerators_are_errors_not_silent_fallbacks(monkeypatch):
    fake_hardware(monkeypatch, cuda=False, mps=False)
    with pytest.raises(SpineguiError, match="No CUDA GPU") as err:
        pick_device("cuda")
    assert "--device cpu" in err.value.hint
    with pytest.raises(SpineguiError, match="MPS"):
        pick_device("mps")


def test_gpu_index_beyond_the_machine(monkeypatch):
    fake_hardware(monkeypatch, cuda=True, mps=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SpineguiError, match="no GPU 3"):
        pick_device("cuda:3")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:1", "tpu"])
def test_unknown_device_names(bad):
    with pytest.raises(SpineguiError, match="Unknown device"):
        pick_device(bad)


def test_autocast_is_a_no_op_on_cpu():
    assert autocast_dtype("cpu") is None
    a = torch.rand(4, 4)
    with autocast(torch.device("cpu")):
        assert (a @ a).dtype == torch.float32
        assert not torch.is_autocast_enabled("cpu")


def test_describe_cpu():
    n = torch.get_num_threads()
    assert describe_device("cpu") == f"CPU ({n} thread{'' if n == 1 else 's'})"


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_cuda_autocast_and_description():
    d = pick_device("auto")
    assert d.type == "cuda"
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert autocast_dtype(d) == expected
    a = torch.rand(8, 8, device=d)
    with autocast(d):
        assert (a @ a).dtype == expected
    assert (a @ a).dtype == torch.float32
    assert describe_device(d).endswith("(CUDA)")
    assert torch.cuda.get_device_name(0) in describe_device(d)
