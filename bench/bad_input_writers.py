"""Cases of groups 1 (two writers), 5 (card memory) and 6 (durability) of bad_inputs.py."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from bad_input_cases import Case, project, refused

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit():
        if limit_bytes is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=limit,
    )


# ----------------------------------------------------------------- 1: two writers


def two_writer_cases() -> Iterator[Case]:
    from spinegui.core.store import Project

    def two(folder: Path):
        _ds, proj = project(folder)
        return Project.open(proj, user="alice"), Project.open(proj, user="bob")

    def stale_corner(folder: Path):
        a, b = two(folder)
        with a, b:
            seen = a.ground_truth(1)[0, 0].copy()
            b.move_corner(1, 0, 0, (50, 60))
            result = refused(lambda: a.move_corner(1, 0, 0, (70, 80), expected=seen))
            kept = np.array_equal(a.ground_truth(1)[0, 0], (50, 60))
            return result[0] and kept, result[1]

    def stale_vertebra(folder: Path):
        a, b = two(folder)
        with a, b:
            seen = a.ground_truth(1)[2].copy()
            b.move_vertebra(1, 2, (5, 5))
            theirs = b.ground_truth(1)[2].copy()
            result = refused(lambda: a.set_vertebra(1, 2, seen + 9, expected=seen))
            return result[0] and np.array_equal(a.ground_truth(1)[2], theirs), result[1]

    def undo_over_theirs(folder: Path):
        a, b = two(folder)
        with a, b:
            before = a.move_corner(1, 3, 1, (11, 12))
            b.move_corner(1, 3, 1, (13, 14))
            result = refused(lambda: a.move_corner(1, 3, 1, before, expected=(11, 12)))
            return result[0] and np.array_equal(a.ground_truth(1)[3, 1], (13, 14)), result[1]

    def stale_status(folder: Path):
        a, b = two(folder)
        with a, b:
            b.set_status(1, "reviewed")
            result = refused(lambda: a.set_status(1, "in_review", expected="not_started"))
            return result[0] and a.image(1).status == "reviewed", result[1]

    def sees_other_process(folder: Path):
        _ds, proj = project(folder)
        with Project.open(proj) as p:
            version = p.data_version()
            done = _python(
                """
                import sys
                from spinegui.core.store import Project
                with Project.open(sys.argv[1]) as p:
                    p.move_corner(1, 0, 0, (1, 2))
            """,
                proj,
            )
            changed = p.data_version() != version
            return changed and done.returncode == 0, f"data_version changed: {changed}"

    def processes_same_vertebra(folder: Path):
        from tests.core.test_two_writers import run_two_editors

        _ds, proj = project(folder)
        return run_two_editors(proj, edits=40)

    def racing_retrains(folder: Path):
        _ds, proj = project(folder)
        code = """
            import sys
            from spinegui.core.store import Project
            with Project.open(sys.argv[1]) as p:
                print(" ".join(p.reserve_model_version("retrain-") for _ in range(15)))
        """
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code), str(proj)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ | {"PYTHONPATH": str(REPO)},
            )
            for _ in range(2)
        ]
        names = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                return False, (err.strip().splitlines() or ["failed"])[-1][:140]
            names += out.split()
        return len(names) == 30 == len(set(names)), f"{len(set(names))} distinct of {len(names)}"

    def discard_spares_adopted(folder: Path):
        from spinegui.ml.retrain import discard_candidate

        _ds, proj = project(folder)
        with Project.open(proj) as p:
            model = p.models_dir / "retrain-01.safetensors"
            model.write_bytes(b"weights of the adopted model")
            p.add_model("retrain-01", model)
            result = refused(lambda: discard_candidate(model, project=p), intact=[model])
            return result

    yield Case("1", "store", "corner edit based on a stale position", stale_corner)
    yield Case("1", "store", "vertebra edit based on a stale position", stale_vertebra)
    yield Case("1", "store", "undo over another window's later edit", undo_over_theirs)
    yield Case("1", "store", "status change based on a stale status", stale_status)
    yield Case("1", "store", "a commit by another process is noticed", sees_other_process)
    yield Case("1", "store", "two processes editing the same vertebra", processes_same_vertebra)
    yield Case("1", "store", "two retrains reserving a model version", racing_retrains)
    yield Case(
        "1", "api", "discarding a candidate that was adopted meanwhile", discard_spares_adopted
    )


# ----------------------------------------------------------------------- 5: memory


def _crafted_model(folder: Path, **card_changes) -> Path:
    from spinegui.core.paths import models_dir

    shipped = sorted(models_dir().glob("t1l5*.safetensors"))[0]
    data = shipped.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    card = json.loads(header["__metadata__"]["spinegui"])
    card.update(card_changes)
    header["__metadata__"]["spinegui"] = json.dumps(card)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path = folder / "crafted.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    return path


def memory_cases() -> Iterator[Case]:
    def crafted(**changes):
        def run(folder: Path):
            import cv2

            model = _crafted_model(folder, **changes)
            image = folder / "x.png"
            cv2.imwrite(str(image), np.zeros((512, 256), np.uint8))
            done = _python(
                """
                import sys
                from spinegui.cli import main
                raise SystemExit(main(["predict", "--model", sys.argv[1], sys.argv[2], "--quiet"]))
            """,
                model,
                image,
                limit_bytes=3 << 30,
            )
            err = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
            ok = done.returncode == 2 and "spinegui: error" in done.stderr
            return ok and "Traceback" not in done.stderr, err[-1][:140]

        return run

    yield Case(
        "5", "cli", "card input_hw 32768 x 16384 (3 GB limit)", crafted(input_hw=[32768, 16384])
    )
    yield Case("5", "cli", "card input_hw 4096 x 2048 (3 GB limit)", crafted(input_hw=[4096, 2048]))
    yield Case(
        "5",
        "cli",
        "integral card 16384 x 8192 (3 GB limit)",
        crafted(arch="integral", input_hw=[16384, 8192]),
    )


# ------------------------------------------------------------------- 6: durability


def durability_cases() -> Iterator[Case]:
    from spinegui.core.store import Project

    def pragmas(folder: Path):
        _ds, proj = project(folder)
        with Project.open(proj) as p:
            mode, sync = p.durability()
        return (mode == "wal" and sync == "full"), f"journal_mode={mode}, synchronous={sync}"

    def kills(kind, writers=1):
        def run(folder: Path):
            from tests.core.test_store_durability import kill_loop

            _ds, proj = project(folder)
            try:
                acked = kill_loop(proj, kind, kills=6, seed=3, writers=writers)
            except AssertionError as exc:
                return False, str(exc).splitlines()[0][:140]
            return True, f"{acked} acknowledged edits all intact after 6 kills"

        return run

    def full_disk_edit(folder: Path):
        from bad_input_cases import fill, full_disk

        with full_disk(folder, 1024) as mount:
            if mount is None:
                return False, "could not mount a tmpfs (needs root)"
            _ds, proj = project(folder)
            import shutil

            shutil.copytree(proj, mount / "p")
            with Project.open(mount / "p") as p:
                before = p.ground_truth(1).copy()
                fill(mount)
                result = refused(lambda: [p.move_corner(1, v % 17, 0, (v, v)) for v in range(200)])
            with Project.open(mount / "p") as p:
                intact = not p.check_integrity() and p.ground_truth(1).shape == before.shape
            return result[0] and intact, result[1]

    yield Case("6", "store", "durability pragmas (WAL, synchronous FULL)", pragmas)
    for kind in ("corner", "vertebra", "status"):
        yield Case("6", "store", f"SIGKILL during {kind} edits (6 kills)", kills(kind))
    yield Case("6", "store", "SIGKILL of two writers at once (6 kills)", kills("corner", 2))
    yield Case("6", "store", "edits onto a full disk (tmpfs)", full_disk_edit)
