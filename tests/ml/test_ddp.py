"""``spinegui train`` under torchrun: two CPU processes on gloo, one checkpoint."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

from spinegui.ml.checkpoint import read_metadata

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_one_model(tmp_path):
    out = tmp_path / "ddp.safetensors"
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "spinegui", "train",
        "--synthetic", "10", "--synthetic-size", "128x64", "--preset", "tiny",
        "--epochs", "2", "--device", "cpu", "--out", str(out), "--json-progress",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    # only rank 0 prints: one start and one end event, not two
    assert [e["event"] for e in events].count("start") == 1
    assert [e["event"] for e in events].count("end") == 1
    start = events[0]
    assert start["world_size"] == 2
    n_train = start["train_images"]
    # each rank trains on its half of the images ...
    assert start["steps_per_epoch"] == math.ceil(math.ceil(n_train / 2) / 4)
    # ... and the epoch summary counts both halves, so both ranks took part
    epoch = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epoch] == [1, 2]
    assert all(e["images_seen"] == 2 * math.ceil(n_train / 2) for e in epoch)
    assert events[-1]["status"] == "completed"
    meta = read_metadata(out)
    assert meta["train_config"]["world_size"] == 2
    assert not list(tmp_path.glob("*.resume.safetensors"))
