"""The resume sidecar: model and optimiser tensors plus a ``ResumeState`` header.

Resuming needs the optimiser state and the epoch. They go into a sidecar
``<out>.resume.safetensors`` (tensors) whose header holds the ``ResumeState``
as JSON; nothing is ever pickled. The trainer rewrites it after every epoch
and removes it when the run finishes normally, because at the paper's size it
is three times the model (~800 MB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spinegui.ml.train_config import RESUME_SUFFIX, ResumeState, TrainError

__all__ = ["RESUME_KEY", "load_resume", "read_resume_state", "save_resume"]

RESUME_KEY = "spinegui_resume"
_PARAM_GROUPS = "optim_param_groups"


def save_resume(path: Path, model: nn.Module, optimizer, state: ResumeState) -> None:
    """Write the sidecar atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for k, t in model.state_dict().items():
        tensors[f"model/{k}"] = t.detach().cpu().contiguous()
    opt = optimizer.state_dict()
    for idx, st in opt["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"optim/{idx}/{k}"] = t.detach().cpu().contiguous()
    header = state.to_json()
    header[_PARAM_GROUPS] = opt["param_groups"]
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={RESUME_KEY: json.dumps(header)})
    os.replace(tmp, path)


def _missing(path: Path) -> TrainError:
    return TrainError(
        f"No resume file at {path}.",
        "Resume takes the checkpoint path of an interrupted run (its "
        f"'{RESUME_SUFFIX}' file must sit beside it), or that file itself.",
    )


def _not_ours(path: Path, exc: Exception) -> TrainError:
    return TrainError(
        f"{path} is not a spinegui resume file ({exc}).",
        "Start a new run, or fine-tune from the checkpoint with --init-from.",
    )


def _header(f) -> dict[str, Any]:
    header = json.loads((f.metadata() or {})[RESUME_KEY])
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


def read_resume_state(path: Path) -> ResumeState:
    """Only the header: what the run was and where it got to."""
    from safetensors import safe_open

    if not path.is_file():
        raise _missing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return ResumeState.from_json(_header(f))
    except (KeyError, ValueError, OSError) as exc:
        raise _not_ours(path, exc) from None


def load_resume(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], ResumeState]:
    """(model state, optimiser state dict, ResumeState) from a resume sidecar."""
    from safetensors import safe_open

    if not path.is_file():
        raise _missing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = _header(f)
            model_state: dict[str, torch.Tensor] = {}
            opt_state: dict[int, dict[str, torch.Tensor]] = {}
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                t = f.get_tensor(key)
                kind, _, rest = key.partition("/")
                if kind == "model":
                    model_state[rest] = t
                elif kind == "optim":
                    idx, _, name = rest.partition("/")
                    opt_state.setdefault(int(idx), {})[name] = t
        optim = {"state": opt_state, "param_groups": header.pop(_PARAM_GROUPS)}
    except (KeyError, ValueError, OSError) as exc:
        raise _not_ours(path, exc) from None
    return model_state, optim, ResumeState.from_json(header)
