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
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file as st_load_file
from safetensors.torch import save as st_save
from torch import nn

import spinegui
from spinegui.core.errors import FormatError, TemplateError
from spinegui.core.model_card import FORMAT, FORMAT_VERSION, META_KEY, read_description
from spinegui.core.outputs import atomic_write
from spinegui.ml.network import build_network
from spinegui.ml.preprocess import NORMALISATION
from spinegui.ml.presets import Preset

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
    path: str | os.PathLike[str], model: nn.Module, meta: dict[str, Any], half: bool = False
) -> dict[str, Any]:
    """Write model + metadata atomically; returns the metadata as written.

    ``meta`` supplies the training-side fields (data_fingerprint, metrics,
    parent, train_config, ...); template, arch, preset and input size are
    taken from the model itself so they cannot disagree with the weights.
    ``half`` stores float weights as fp16: half the size for shipping, and
    predictions change by far less than a pixel. Written to a temporary file
    beside the target, fsynced, then renamed over it, so a crash or a full
    disk never leaves a half-written model under the real name.
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
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float16 if half else torch.float32)
        tensors[name] = t.contiguous()
    data = st_save(tensors, metadata={META_KEY: json.dumps(doc, sort_keys=True)})

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return doc


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The spinegui metadata of a model file, reading only its header."""
    return read_description(path)[0]


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_template: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network a file describes and load its weights (eval mode).

    ``expected_template`` is the project's template: a model for another
    spine template would output the wrong number of vertebrae, so it is
    refused with both names rather than failing later on a shape.
    """
    path = Path(path)
    meta = read_metadata(path)
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
    try:
        h, w = (int(v) for v in meta["input_hw"])
        preset = Preset(str(meta.get("preset") or "custom"), h, w)
        model = build_network(str(meta["arch"]), str(meta["template"]), preset)
    except (KeyError, TypeError, ValueError):
        raise FormatError(
            f"The description stored in {path.name} is incomplete.",
            "Copy the model file again or retrain it.",
        ) from None
    try:
        tensors = st_load_file(path, device="cpu")
    except Exception as exc:  # safetensors raises its own untyped errors
        raise FormatError(
            f"The weights in {path.name} cannot be read ({exc}).",
            "Copy the model file again or retrain it.",
        ) from None
    state = model.state_dict()
    if set(tensors) != set(state) or any(tensors[k].shape != state[k].shape for k in state):
        raise FormatError(
            f"The weights in {path.name} do not fit a {meta['arch']} network for "
            f"{meta['template']} at {h} x {w}.",
            "The file was altered or written by incompatible software; retrain the model.",
        )
    model.load_state_dict({k: v.to(state[k].dtype) for k, v in tensors.items()})
    model.to(device).eval()
    return model, meta
