"""Our own MATLAB 5 reader for the AASCE labels: same values as scipy, no crash on bad bytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.io

from spinegui.core.formats import read_aasce
from spinegui.core.formats.matfile import read_mat_matrix

# Found by the fuzz test: a label file a few bytes off that crashes scipy's
# loadmat with SIGBUS (exit -7), taking the whole program down with it.
CRASHES_SCIPY = bytes.fromhex(
    "4d41544c414220352e30204d41542d66696c6520506c6174666f726d3a20706f7369782c2043726561746564"
    "206f6e3a20547565204465632020312030343a35323a31352032303236000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000af00000001494d0e000000"
    "4001000006000000080000000b00000000000000050000000800000044000000020000000100020070320000"
    "0473000010010000020014000200140002001400020014000200140002001400020014000200140002001400"
    "0200140002001400020014000800140002001400020014000200140002001400020014000200140002001400"
    "0200140002001400020014000200140002001400020014000200140002001400020014000200140002001400"
    "0200140002001400020014000200020003000300020002000300030002000200030003000200020003000300"
    "0200020003000300020002000300030002000200030003000200020003000300020002000300030002000200"
    "0300030002000200030003000200020003000300020002000300030002000200030003000200020003000300"
    "02000200030003000200020003000300"
)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", [np.uint16, np.float64, np.int32, np.float32, np.uint8])
def test_reads_what_scipy_writes(tmp_path, dtype, compress):
    values = (np.arange(136).reshape(68, 2) * 7 % 251).astype(dtype)
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"other": np.ones((3, 3)), "p2": values}, do_compression=compress)
    np.testing.assert_array_equal(read_mat_matrix(path, "p2"), values.astype(np.float64))
    assert read_mat_matrix(path, "p3") is None


@pytest.mark.parametrize(
    "value", [np.array(["ab"] * 68), np.array([["a", "b"]] * 68, dtype=object), np.ones((2, 2, 2))]
)
def test_anything_but_a_real_matrix_reads_as_missing(tmp_path, value):
    scipy.io.savemat(tmp_path / "x.mat", {"p2": value})
    assert read_mat_matrix(tmp_path / "x.mat", "p2") is None


def test_the_file_that_crashes_scipy_reads_as_missing(tmp_path):
    path = tmp_path / "bad.jpg.mat"
    path.write_bytes(CRASHES_SCIPY)
    assert read_mat_matrix(path, "p2") is None
    crash = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import scipy.io
            scipy.io.loadmat({str(path)!r})
        """),
        ],
        capture_output=True,
    )
    if crash.returncode >= 0:
        pytest.skip("this scipy no longer crashes on it; the reader is still checked above")


def test_a_dataset_with_that_file_imports_the_rest(tmp_path):
    from spinegui.cli import main

    ds = tmp_path / "ds"
    argv = ["phantom", "--template", "T1-L5", "--count", "2", "--size", "256x128"]
    assert main([*argv, "--format", "aasce", str(ds)]) == 0
    label = sorted((ds / "labels" / "training").glob("*.mat"))[0]
    label.write_bytes(CRASHES_SCIPY)
    (ds / "labels" / "training" / "landmarks.csv").write_text("")
    data = read_aasce(ds)
    assert len(data.records) == 2 and len(data.findings("missing_label")) == 1


@pytest.mark.aasce
def test_every_real_aasce_label_reads_as_scipy_reads_it(aasce_dir):
    files = sorted((aasce_dir / "labels").glob("*/*.mat"))
    assert len(files) > 400
    for path in files:
        expected = scipy.io.loadmat(path)["p2"].astype(np.float64)
        np.testing.assert_array_equal(read_mat_matrix(path, "p2"), expected)
