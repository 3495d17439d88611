"""The wheel carries the shipped models and resources, and finds them once installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_models_and_finds_them(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stderr
    assert "would be ignored" not in build.stdout + build.stderr  # no setuptools warning
    (wheel,) = (tmp_path / "dist").glob("spinegui-*.whl")
    shipped = sorted(p.name for p in (ROOT / "model").glob("*.safetensors"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "site")  # a pure-Python wheel installs by unpacking
    assert {f"spinegui/_models/{n}" for n in shipped} <= set(names)
    assert "spinegui/_resources/phantom_montage.png" in names
    assert "spinegui/_resources/icons/spinegui.svg" in names

    # From an unrelated folder, with only the unpacked wheel importable.
    code = (
        "from spinegui.core.paths import models_dir, resources_dir;"
        "print(models_dir()); print(sorted(p.name for p in models_dir().glob('*.safetensors')))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.splitlines()
    assert Path(out[0]).is_relative_to(tmp_path / "site")
    assert out[1] == str(shipped)
