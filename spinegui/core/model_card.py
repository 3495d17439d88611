"""What a model file says about itself, read without torch.

The window shows the active model's version, template and size preset at
start-up and the demo project picks the shipped model by template; importing
torch for that would add about a second to start-up before any X-ray is
shown. A ``.safetensors`` file starts with 8 bytes of little-endian header
length and then a JSON header, whose ``__metadata__["spinegui"]`` entry is
the JSON document ``spinegui.ml.checkpoint`` writes. So plain Python suffices.

The checks mirror ``spinegui.ml.checkpoint.read_metadata`` (pickles refused
unopened, cut-off files named as such) so a file gets the same verdict in the
model list as when it is loaded for prediction.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from spinegui.core import paths
from spinegui.core.errors import FormatError

__all__ = [
    "CARD_SUMMARY_KEYS",
    "card_summary",
    "describe_card",
    "list_shipped_models",
    "read_model_card",
]

META_KEY = "spinegui"
FORMAT = "spinegui-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit

CARD_SUMMARY_KEYS = (
    "version",
    "template",
    "arch",
    "preset",
    "input_hw",
    "created",
    "parent",
    "metrics",
    "data_fingerprint",
    "software_version",
    "fingerprint",
)
"""The card fields worth copying into a project's model table (no training config)."""

_CUT_OFF_HINT = "Copy the model file again; the copy was probably interrupted."
_NOT_OURS_HINT = "spinegui models are .safetensors files written by spinegui."


def _pickle_kind(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "a PyTorch zip file (torch.save)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle (torch.save or pickle.dump)"
    return None


def _read_raw_header(path: Path) -> tuple[bytes, int]:
    """(header bytes, file size), refusing anything that is not a whole safetensors file."""
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except FileNotFoundError:
        raise FormatError(
            f"Model file {path} does not exist.",
            "Check the path, or pick a model from the project's model list.",
        ) from None
    except IsADirectoryError:
        raise FormatError(
            f"{path} is a folder, not a model file.", "Pick the .safetensors file."
        ) from None
    except OSError as exc:
        raise FormatError(
            f"Cannot read model file {path}: {exc.strerror or exc}.",
            "Check that the file exists and that you may read it.",
        ) from None
    with f:
        head = f.read(8)
        kind = _pickle_kind(head)
        if kind:
            raise FormatError(
                f"{path.name} is {kind}, not a spinegui model. Such files can run arbitrary "
                "code when opened, so spinegui does not open them.",
                "Convert it with the tool that made it to a .safetensors model, "
                "or retrain in spinegui.",
            )
        if len(head) < 8:
            raise FormatError(f"{path.name} is empty or cut off ({size} bytes).", _CUT_OFF_HINT)
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or n < 2:
            raise FormatError(f"{path.name} is not a safetensors model file.", _NOT_OURS_HINT)
        if 8 + n > size:
            raise FormatError(f"{path.name} is cut off: it ends inside its header.", _CUT_OFF_HINT)
        return f.read(n), size


def read_model_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's description plus ``version``, ``path``, ``size_bytes`` and ``fingerprint``.

    ``version`` follows ``Predictor.version`` (the stored version or name,
    else the file name without extension) so the name shown before loading
    is the name predictions are stored under. ``fingerprint`` hashes the
    header, which holds the creation time and every tensor's offsets, so a
    retrained file under the same name gets a new fingerprint.
    """
    path = Path(path)
    raw, size = _read_raw_header(path)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError
        data_len = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError):
        raise FormatError(f"{path.name} is not a safetensors model file.", _NOT_OURS_HINT) from None
    expected = 8 + len(raw) + data_len
    if size < expected:
        raise FormatError(
            f"{path.name} is cut off: {size} of {expected} bytes are present.", _CUT_OFF_HINT
        )
    st_meta = header.get("__metadata__") or {}
    if not isinstance(st_meta, dict) or META_KEY not in st_meta:
        raise FormatError(
            f"{path.name} is a safetensors file but not a spinegui model (no spinegui metadata).",
            "Use a model trained and saved by spinegui.",
        )
    try:
        doc = json.loads(st_meta[META_KEY])
        if not isinstance(doc, dict):
            raise ValueError
    except (ValueError, TypeError):
        raise FormatError(
            f"The description stored in {path.name} is damaged.",
            "Copy the model file again or retrain it.",
        ) from None
    fmt_version = doc.get("format_version")
    if not isinstance(fmt_version, int) or doc.get("format") != FORMAT:
        raise FormatError(
            f"{path.name} does not carry a valid spinegui model description.",
            "Use a model trained and saved by spinegui.",
        )
    if fmt_version > FORMAT_VERSION:
        raise FormatError(
            f"{path.name} was saved by a newer spinegui "
            f"({doc.get('software_version', '?')}, model format {fmt_version}); this version "
            f"reads model format {FORMAT_VERSION}.",
            "Update spinegui to use this model.",
        )
    card = dict(doc)
    card["version"] = next((str(doc[k]) for k in ("version", "name") if doc.get(k)), path.stem)
    card["path"] = str(path.resolve())
    card["size_bytes"] = size
    card["fingerprint"] = hashlib.sha256(raw).hexdigest()[:16]
    return card


def card_summary(card: dict[str, Any]) -> dict[str, Any]:
    """The part of a card a project keeps: small, and enough to tell models apart."""
    return {k: card.get(k) for k in CARD_SUMMARY_KEYS}


def describe_card(card: dict[str, Any]) -> str:
    """One line for a status bar or model list, e.g. 'v3 - C7-L5, integral, fast 256x128'."""
    hw = card.get("input_hw") or ()
    size = f" {hw[0]}x{hw[1]}" if len(hw) == 2 else ""
    parts = [card.get("template"), card.get("arch"), f"{card.get('preset') or '?'}{size}"]
    return f"{card.get('version', '?')} - " + ", ".join(str(p) for p in parts if p)


def list_shipped_models(folder: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Cards of the readable models in ``folder`` (default: the shipped ``model/``), by name.

    A damaged or foreign file is skipped rather than reported: one bad file
    in the folder must not hide the good models from the user.
    """
    root = Path(folder) if folder is not None else paths.models_dir()
    if not root.is_dir():
        return []
    cards = []
    for path in sorted(root.glob("*.safetensors")):
        try:
            cards.append(read_model_card(path))
        except (FormatError, OSError):
            continue
    return cards
