"""The catalogue run by ``bench/bad_inputs.py``: bad inputs and faults, one case each.

Every case builds what it needs in its own folder (from a few shared seeds made
once: a synthetic AASCE-layout dataset and a project imported from it) and
returns (clean?, what happened). See bad_inputs.py for what "clean" means.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinegui.cli import main
from spinegui.core.errors import SpineguiError

GROUPS = {
    "A": "kinds the audit found clean (damaged files, store faults)",
    "1": "two windows or two processes on one project",
    "2": "exports and predictions never overwrite",
    "3": "image identity (training, export, prediction, import)",
    "4": "never a traceback (the listed cases and their kin)",
    "5": "memory from a checkpoint's card",
    "6": "durability (pragmas, kills, two writers)",
}
Result = tuple[bool, str]


@dataclass(frozen=True)
class Case:
    group: str
    kind: str  # cli, api, store, window
    name: str
    run: Callable[[Path], Result]


# ------------------------------------------------------------------------ judges


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:140]


def _snapshot(paths) -> dict[Path, bytes | None]:
    return {Path(p): Path(p).read_bytes() if Path(p).is_file() else None for p in paths}


def _changed(before: dict[Path, bytes | None]) -> str:
    for path, data in before.items():
        now = path.read_bytes() if path.is_file() else None
        if now != data:
            return f"{path.name} was changed"
    return ""


def refused(call: Callable, intact=()) -> Result:
    """Clean: spinegui's own error with a message, and ``intact`` files untouched."""
    before = _snapshot(intact)
    try:
        call()
    except SpineguiError as exc:
        ok, note = bool(exc.message.strip()), f"{type(exc).__name__}: {exc.message}"
    except BaseException as exc:
        ok, note = False, f"traceback {type(exc).__name__}: {exc}"
    else:
        ok, note = False, "accepted without a word"
    damage = _changed(before)
    return (ok and not damage), _first_line(damage or note)


def handled(call: Callable, good: Callable[[object], bool], intact=()) -> Result:
    """Clean: a correct result (``good``) or spinegui's own error; ``intact`` untouched."""
    before = _snapshot(intact)
    try:
        result = call()
    except SpineguiError as exc:
        ok, note = bool(exc.message.strip()), f"{type(exc).__name__}: {exc.message}"
    except BaseException as exc:
        ok, note = False, f"traceback {type(exc).__name__}: {exc}"
    else:
        ok = bool(good(result))
        note = "handled" if ok else f"wrong result: {str(result)[:100]}"
    damage = _changed(before)
    return (ok and not damage), _first_line(damage or note)


def cli(argv, *, rc=(2,), intact=(), check: Callable[[str, str], bool] | None = None) -> Result:
    """Clean: exit status in ``rc``, a message and no traceback, ``intact`` untouched."""
    before = _snapshot(intact)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    except BaseException as exc:
        return False, _first_line(f"traceback {type(exc).__name__}: {exc}")
    text = err.getvalue() + out.getvalue()
    ok = code in rc and "Traceback" not in text
    if ok and code != 0:
        ok = "error:" in err.getvalue() or "skipped" in err.getvalue() + out.getvalue()
    if ok and check is not None:
        ok = check(out.getvalue(), err.getvalue())
    damage = _changed(before)
    lines = [x for x in err.getvalue().splitlines() if "error" in x] or [f"exit {code}"]
    return (ok and not damage), _first_line(damage or f"exit {code}: {lines[-1]}")


# ------------------------------------------------------------------------- seeds

SEEDS: dict[str, Path] = {}
H, W = 256, 128


def _quiet(argv) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(a) for a in argv]) == 0


def seeds(work: Path) -> dict[str, Path]:
    """A T1-L5 AASCE-layout dataset and a project imported from it, made once."""
    if not SEEDS:
        ds, project = work / "seed-dataset", work / "seed-project"
        _quiet(
            [
                "phantom",
                "--template",
                "T1-L5",
                "--count",
                "3",
                "--size",
                f"{H}x{W}",
                "--format",
                "aasce",
                ds,
            ]
        )
        _quiet(["import-aasce", ds, project])
        SEEDS.update(dataset=ds, project=project)
    return SEEDS


def dataset(folder: Path) -> Path:
    return Path(shutil.copytree(SEEDS["dataset"], folder / "ds"))


def project(folder: Path) -> tuple[Path, Path]:
    """(dataset copy, project copy whose images point into that dataset copy)."""
    from spinegui.core.formats import read_aasce
    from spinegui.core.project_records import add_records
    from spinegui.core.store import Project

    ds = dataset(folder)
    with Project.create(folder / "project", "T1-L5") as p:
        add_records(p, read_aasce(ds).records)
    return ds, folder / "project"


def images_of(ds: Path) -> list[Path]:
    return sorted((ds / "data" / "training").iterdir())


def spine(n=17) -> np.ndarray:
    top = 12.0 * np.arange(n)[:, None] + [5, 5, 14, 14]
    return np.stack([np.broadcast_to([20.0, 90, 20, 90], (n, 4)), top], axis=-1)


@contextlib.contextmanager
def full_disk(folder: Path, size_kb: int = 256) -> Iterator[Path | None]:
    """A tiny tmpfs filled to the brim (root only; yields None where mounting fails)."""
    mount = folder / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(mount: Path) -> None:
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def catalogue(work: Path) -> Iterator[Case]:
    seeds(work)
    from bad_input_groups import (  # the cases, split by group to keep modules short
        cases_already_clean,
        cases_durability,
        cases_identity,
        cases_memory,
        cases_outputs,
        cases_tracebacks,
        cases_two_writers,
    )

    for make in (
        cases_already_clean,
        cases_two_writers,
        cases_outputs,
        cases_identity,
        cases_tracebacks,
        cases_memory,
        cases_durability,
    ):
        yield from make()
