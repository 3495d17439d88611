"""Model files: safetensors weights and JSON metadata in one file.

One file, so a model cannot lose its description when copied or e-mailed.
The safetensors header's string metadata holds a single key, ``spinegui``,
whose value is a JSON document: template, arch, preset, input size,
normalisation, data fingerprint, metrics, parent model, software version,
creation time and training configuration. The network is rebuilt from that
document, so loading needs no code from the trainer.

safetensors holds only raw tensors, so loading a file can never run code.
Files made with ``torch.save`` are pickles (or zips of pickles) that can; they
are recognised by their first bytes and refused without being opened by
``pickle`` or ``torch.load``.

Layout of a safetensors file: 8 bytes little-endian header length N, N bytes
of JSON header, then the tensor data, whose total length the header fixes.
``spinegui.core.model_card.read_description`` parses the header without torch,
so ``read_metadata`` reads only the header, a cut-off file is reported as such
instead of as a cryptic library error, and the model list gives every file
the same verdict as loading it does.

A two-stage model is the same one file: the whole-image network's tensors
under their usual names, the refinement stage's under ``refiner.``, and the
card's ``refiner`` entry describing it (``spinegui.ml.refine_net``). Older
readers see a whole-image model with extra tensors; ``load_bundle`` gives
both networks.

Nothing is built before the card has been checked against the weights: a
card is untrusted input, and a network is sized by it (the paper's CNN's
first FC layer grows with the input size; a forged 32768 x 16384 card once
asked for 275 GB before the weights were looked at). So the input size must
be within ``MAX_INPUT_SIDE``/``MAX_INPUT_PIXELS``, the expected tensor shapes
are computed on PyTorch's "meta" device (no memory), compared with the shapes
the file's header declares, and only then is anything allocated.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import nn

import spinegui
from spinegui.core.errors import FormatError, SpineguiError, TemplateError
from spinegui.core.model_card import FORMAT, FORMAT_VERSION, META_KEY, read_description
from spinegui.core.outputs import atomic_write
from spinegui.ml.network import build_network
from spinegui.ml.preprocess import NORMALISATION
from spinegui.ml.presets import Preset

MAX_INPUT_SIDE = 2048
MAX_INPUT_PIXELS = 2048 * 1024
"""Twice the paper's 1024 x 512 input: larger would cost memory no CPU or clinic GPU has."""
REFINER_PREFIX = "refiner."

META_FIELDS = (
    "template",
    "arch",
    "preset",
    "input_hw",
    "normalisation",
    "data_fingerprint",
    "metrics",
    "parent",
    "software_version",
    "created",
    "train_config",
)


def _unwrap(model: nn.Module) -> nn.Module:
    """The network inside DistributedDataParallel / torch.compile wrappers.

    Saving the wrapper would prefix every weight name ("module.", "_orig_mod.")
    and lose the arch/template attributes the file is rebuilt from.
    """
    while not hasattr(model, "arch"):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TypeError("save_checkpoint needs a network made by build_network")
        model = inner
    return model


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any],
    half: bool = False,
    *,
    refiner: nn.Module | None = None,
) -> dict[str, Any]:
    """Write model + metadata atomically; returns the metadata as written.

    ``meta`` supplies the training-side fields (data_fingerprint, metrics,
    parent, train_config, ...); template, arch, preset and input size are
    taken from the model itself so they cannot disagree with the weights.
    ``half`` stores float weights as fp16: half the size for shipping, and
    predictions change by far less than a pixel. Written to a temporary file
    beside the target, fsynced, then renamed over it, so a crash or a full
    disk never leaves a half-written model under the real name. ``refiner``
    adds a refinement stage (see the module docstring); ``meta["refiner"]``
    may add to its card entry (its training run, metrics).
    """
    path = Path(path)
    model = _unwrap(model)
    doc: dict[str, Any] = {key: None for key in META_FIELDS}
    doc.update({"metrics": {}, "train_config": {}})
    doc.update(meta)
    doc.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "template": model.template,
            "arch": model.arch,
            "preset": getattr(model, "preset", None) or doc.get("preset") or "custom",
            "input_hw": [int(v) for v in model.input_hw],
            "normalisation": NORMALISATION,
            "software_version": spinegui.__version__,
            "created": doc.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
            "weights_dtype": "float16" if half else "float32",
        }
    )
    if refiner is not None:
        doc["refiner"] = {**(meta.get("refiner") or {}), **refiner.spec.to_json()}
        doc["refiner"]["arch"] = refiner.arch
    else:
        doc.pop("refiner", None)

    def stored(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float16 if half else torch.float32)
        return t.contiguous()

    tensors = {name: stored(t) for name, t in model.state_dict().items()}
    if refiner is not None:
        for name, t in refiner.state_dict().items():
            tensors[REFINER_PREFIX + name] = stored(t)
    data = st_save(tensors, metadata={META_KEY: json.dumps(doc, sort_keys=True)})

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return doc


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The spinegui metadata of a model file, reading only its header."""
    return read_description(path)[0]


def _declared_shapes(raw: bytes, name: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, as the file's header declares them (nothing loaded)."""
    try:
        header = json.loads(raw.decode("utf-8"))
        return {
            k: tuple(int(d) for d in v["shape"]) for k, v in header.items() if k != "__metadata__"
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FormatError(f"{name} is not a safetensors model file.", _RETRAIN) from None


_RETRAIN = "The file was altered or written by incompatible software; retrain the model."


def _meta_shapes(build) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the network ``build()`` makes, without allocating it."""
    with torch.device("meta"):
        net = build()
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _check_input_size(meta: dict[str, Any], name: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in meta["input_hw"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(
            f"The description stored in {name} is incomplete.",
            "Copy the model file again or retrain it.",
        ) from None
    if not (0 < h <= MAX_INPUT_SIDE and 0 < w <= MAX_INPUT_SIDE and h * w <= MAX_INPUT_PIXELS):
        raise FormatError(
            f"{name} describes a network for {h} x {w} images, larger than spinegui "
            f"builds (at most {MAX_INPUT_SIDE} px a side, {MAX_INPUT_PIXELS:,} px in all).",
            _RETRAIN,
        )
    return h, w


def check_card(path: Path, meta: dict[str, Any], raw: bytes) -> tuple[Preset, Any]:
    """(stage-one preset, refiner spec or None), once the card fits the declared weights.

    Raises FormatError naming what does not fit; allocates nothing.
    """
    from spinegui.ml.refine_net import RefinerSpec, build_refiner

    name = path.name
    h, w = _check_input_size(meta, name)
    try:
        preset = Preset(str(meta.get("preset") or "custom"), h, w)
        arch, template = str(meta["arch"]), str(meta["template"])
        expected = _meta_shapes(lambda: build_network(arch, template, preset))
    except (KeyError, TypeError, ValueError, SpineguiError):
        raise FormatError(
            f"The description stored in {name} is incomplete.",
            "Copy the model file again or retrain it.",
        ) from None
    spec = None
    if meta.get("refiner") is not None:
        if not isinstance(meta["refiner"], dict):
            raise FormatError(f"The refinement stage described in {name} is damaged.", _RETRAIN)
        spec = RefinerSpec.from_json(meta["refiner"])
        refiner_shapes = _meta_shapes(lambda: build_refiner(spec))
        expected.update({REFINER_PREFIX + k: v for k, v in refiner_shapes.items()})
    declared = _declared_shapes(raw, name)
    if declared != expected:
        what = f"a {arch} network for {template} at {h} x {w}"
        raise FormatError(
            f"The weights in {name} do not fit {what}"
            + (" with its refinement stage" if spec is not None else "")
            + ".",
            _RETRAIN,
        )
    return preset, spec


def _load_state(path: Path, net: nn.Module, prefix: str = "") -> None:
    state = net.state_dict()
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            loaded = {k: f.get_tensor(prefix + k).to(state[k].dtype) for k in state}
    except Exception as exc:  # safetensors raises its own untyped errors
        raise FormatError(
            f"The weights in {path.name} cannot be read ({exc}).",
            "Copy the model file again or retrain it.",
        ) from None
    net.load_state_dict(loaded)


def load_bundle(
    path: str | os.PathLike[str],
    *,
    expected_template: str | None = None,
    device: str | torch.device = "cpu",
    with_refiner: bool = True,
) -> tuple[nn.Module, nn.Module | None, dict[str, Any]]:
    """(whole-image network, refinement network or None, card), both in eval mode.

    ``expected_template`` is the project's template: a model for another
    spine template would output the wrong number of vertebrae, so it is
    refused with both names rather than failing later on a shape.
    """
    from spinegui.ml.refine_net import build_refiner

    path = Path(path)
    meta, raw, _size = read_description(path)
    if expected_template is not None and meta.get("template") != expected_template:
        raise TemplateError(
            f"Model {path.name} was trained for spine template {meta.get('template')}, "
            f"but this project uses {expected_template}.",
            f"Pick a model made for {expected_template}, or train one from this project.",
        )
    if meta.get("normalisation") != NORMALISATION:
        raise FormatError(
            f"Model {path.name} expects images or landmarks prepared differently "
            "from this version of spinegui.",
            "Retrain the model with this version.",
        )
    preset, spec = check_card(path, meta, raw)
    model = build_network(str(meta["arch"]), str(meta["template"]), preset)
    _load_state(path, model)
    model.to(device).eval()
    refiner = None
    if spec is not None and with_refiner:
        refiner = build_refiner(spec)
        _load_state(path, refiner, REFINER_PREFIX)
        refiner.to(device, memory_format=torch.channels_last).eval()  # see refine_net._forward
    return model, refiner, meta


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_template: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """The whole-image network a file describes (of a two-stage file: its first stage)."""
    model, _, meta = load_bundle(
        path, expected_template=expected_template, device=device, with_refiner=False
    )
    return model, meta
