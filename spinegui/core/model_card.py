"""What a model file says about itself, read without torch.

The window shows the active model's version, template and size preset at
start-up and the demo project picks the shipped model by template; importing
torch for that would add about a second to start-up before any X-ray is
shown. A ``.safetensors`` file starts with 8 bytes of little-endian header
length and then a JSON header, whose ``__metadata__["spinegui"]`` entry is
the JSON document ``spinegui.ml.checkpoint`` writes. So plain Python suffices.

``read_description`` is the one reader of that header: ``read_model_card``
and ``spinegui.ml.checkpoint.read_metadata`` both use it (pickles refused
unopened, cut-off files named as such), so a file gets the same verdict in the
model list as when it is loaded for prediction.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spinegui import __version__
from spinegui.core import paths
from spinegui.core.errors import FormatError

if TYPE_CHECKING:
    from spinegui.core.store import Project

__all__ = [
    "CARD_SUMMARY_KEYS",
    "card_summary",
    "describe_card",
    "list_shipped_models",
    "newest_shipped_model",
    "read_description",
    "read_model_card",
    "register_shipped_model",
]

META_KEY = "spinegui"
FORMAT = "spinegui-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER = 4 * 1024 * 1024
"""Headers of real models are ~12 KB (a project retrain with 50,000 validation
images would stay under 4 MiB); parsing a 99 MB one cost 1-2.6 GB of memory."""

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
        if n < 2 or (n > MAX_HEADER and 8 + n > size):
            raise FormatError(f"{path.name} is not a safetensors model file.", _NOT_OURS_HINT)
        if n > MAX_HEADER:
            raise FormatError(
                f"{path.name} declares a {n / 2**20:.0f} MB description; spinegui reads "
                f"model descriptions of at most {MAX_HEADER // 2**20} MB.",
                "The file was altered or written by other software; use a model saved by spinegui.",
            )
        if 8 + n > size:
            raise FormatError(f"{path.name} is cut off: it ends inside its header.", _CUT_OFF_HINT)
        return f.read(n), size


def read_description(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes, int]:
    """(spinegui description, raw safetensors header, file size) of a model file.

    Reads only the header and checks everything that can be checked without
    the weights: the file exists and is no pickle, is whole, is safetensors,
    carries a spinegui description this version can read.
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
            f"({doc.get('software_version', '?')}, model format {fmt_version}); this is "
            f"spinegui {__version__}, which reads model format {FORMAT_VERSION}.",
            "Update spinegui to use this model.",
        )
    return doc, raw, size


def read_model_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's description plus ``version``, ``path``, ``size_bytes`` and ``fingerprint``.

    ``version`` follows ``Predictor.version`` (the stored version or name,
    else the file name without extension) so the name shown before loading
    is the name predictions are stored under. ``fingerprint`` hashes the
    header, which holds the creation time and every tensor's offsets, so a
    retrained file under the same name gets a new fingerprint.
    """
    path = Path(path)
    doc, raw, size = read_description(path)
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


def newest_shipped_model(
    template: str, folder: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """The card of the newest readable model for ``template`` in ``folder``, or None.

    Newest by ``created``, then by file name; ``folder`` as in ``list_shipped_models``.
    """
    cards = [c for c in list_shipped_models(folder) if c.get("template") == template]
    return max(
        cards, key=lambda c: (str(c.get("created") or ""), Path(c["path"]).name), default=None
    )


def _unused_version(project: Project, wanted: str, fingerprint: str) -> str:
    taken = {m.version for m in project.models()}
    candidates = [wanted, f"{wanted}-{fingerprint[:8]}"]
    candidates += [f"{wanted}-{fingerprint[:8]}-{n}" for n in range(2, 1000)]
    return next(v for v in candidates if v not in taken)


def register_shipped_model(
    project: Project,
    models_folder: str | os.PathLike[str] | None = None,
    *,
    follow_updates: bool = False,
) -> str | None:
    """Make the newest shipped model of the project's template known and, if fitting, active.

    A new project or the Inbox otherwise has no model, and the user would see
    no red boxes without knowing why. Returns the active version, or None.
    The shipped file is registered by absolute path (it lives outside the
    project folder), once per distinct file (path and header fingerprint).

    Without ``follow_updates`` (any project the window opens) a usable active
    model, shipped or chosen by the user, ends the call unchanged. With it
    (the demo project, whose model is meant to be the shipped one) the newest
    shipped model is always registered, replaces an active older shipped
    model, and an active model whose file is gone is cleared when none ships;
    a model the user promoted still stays active.
    """
    active = project.active_model()
    active_usable = active is not None and active.path.is_file()
    if active_usable and not follow_updates:
        return active.version
    card = newest_shipped_model(project.template.name, models_folder)
    if card is None:
        if follow_updates and active is not None and not active_usable:
            project.set_active_model(None)
        return None
    shipped_path = Path(card["path"])
    known = next(
        (
            m
            for m in project.models()
            if m.card.get("fingerprint") == card["fingerprint"] and m.path.resolve() == shipped_path
        ),
        None,
    )
    if known is None:
        version = _unused_version(project, card["version"], card["fingerprint"])
        project.add_model(version, shipped_path, card={**card_summary(card), "shipped": True})
    else:
        version = known.version
    active_is_shipped = active is not None and bool(active.card.get("shipped"))
    if not active_usable or (active_is_shipped and active.version != version):
        project.set_active_model(version)
    return version
