"""Where shipped files live, for a source checkout and for an installed wheel alike.

The repository keeps shipped checkpoints in top-level ``model/`` and icons and
demo material in ``resources/``; a wheel installs them as the packages
``spinegui._models`` and ``spinegui._resources`` (see setup.py). An editable
install imports straight from the checkout, where only the top-level folders
exist, so both places are tried.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _installed_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _locate(package: str, folder: str) -> Path:
    checkout = _REPO_ROOT / folder
    if checkout.is_dir():
        return checkout
    installed = _installed_dir(package)
    if installed is not None and installed.is_dir():
        return installed
    return checkout


def models_dir() -> Path:
    """Folder holding the shipped ``*.safetensors`` checkpoints and model cards."""
    return _locate("spinegui._models", "model")


def resources_dir() -> Path:
    """Folder holding icons, the stylesheet and README pictures."""
    return _locate("spinegui._resources", "resources")
