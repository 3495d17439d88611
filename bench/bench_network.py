"""Size and speed of each network at each input preset.

Prints one row per (arch, preset): parameter count, weights size, forward
latency at batch 1, forward throughput at batch 8, and the time of one
training step (forward + MSE-BPD loss + backward + Adam) at the paper's
mini-batch of 4. Numbers are medians of a few runs after one warm-up run;
each measurement stops repeating once it has used --budget seconds.

    python bench/bench_network.py                      # CPU, all presets
    python bench/bench_network.py --device cuda --amp  # GPU, mixed precision
    python bench/bench_network.py --presets tiny fast --archs integral
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from spinegui.ml.device import autocast, describe_device, pick_device
from spinegui.ml.losses import mse_bpd_loss
from spinegui.ml.network import ARCHS, build_network, count_parameters
from spinegui.ml.presets import PRESETS, get_preset


def timed(fn: Callable[[], object], device: torch.device, repeats: int, budget: float) -> float:
    """Median seconds per call, after one untimed warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_memory(device: torch.device, out: dict):
    """Peak extra memory (MB) while the block runs: CUDA allocator, or process RSS on CPU.

    On Linux, writing 5 to /proc/self/clear_refs resets the RSS high-water mark,
    so each configuration is measured on its own within one process.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield
        out["peak_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 1e6
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_kb("VmRSS")
    except OSError:
        yield
        out["peak_mb"] = float("nan")
        return
    yield
    out["peak_mb"] = (_status_kb("VmHWM") - base) / 1e3


def bench_one(arch, template, preset, device, amp, repeats, budget) -> dict:
    net = build_network(arch, template, preset).to(device)
    h, w = net.input_hw

    def ctx():
        return autocast(device) if amp else contextlib.nullcontext()

    net.eval()
    x1 = torch.rand(1, 1, h, w, device=device)
    x8 = torch.rand(8, 1, h, w, device=device)

    def infer(x):
        with torch.inference_mode(), ctx():
            return net(x)

    lat1 = timed(lambda: infer(x1), device, repeats, budget)
    lat8 = timed(lambda: infer(x8), device, repeats, budget)

    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999))
    x4 = torch.rand(4, 1, h, w, device=device)
    y4 = torch.rand(4, net.n_outputs, device=device)

    def step():
        with ctx():
            pred = net(x4)
        loss = mse_bpd_loss(pred.float(), y4).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    mem: dict = {}
    with peak_memory(device, mem):
        train = timed(step, device, repeats, budget)
    n = count_parameters(net)
    return {
        "arch": arch,
        "preset": f"{preset.name} {h}x{w}",
        "params": n,
        "mb": n * 4 / 1e6,
        "lat1_ms": lat1 * 1e3,
        "ips8": 8 / lat8,
        "train4_ms": train * 1e3,
        "peak_mb": mem["peak_mb"],
    }


def _passed_on(args) -> list[str]:
    out = ["--device", args.device, "--template", args.template, "--repeats", str(args.repeats),
           "--budget", str(args.budget)]  # fmt: skip
    if args.amp:
        out.append("--amp")
    if args.threads:
        out += ["--threads", str(args.threads)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    ap.add_argument("--template", default="T1-L5")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--one", nargs=2, metavar=("ARCH", "PRESET"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    torch.backends.cudnn.benchmark = True
    amp = f", autocast {args.amp and device.type == 'cuda'}"
    print(f"# {describe_device(device)}, torch {torch.__version__}, template {args.template}{amp}")
    header = (
        f"{'arch':<9} {'preset':<18} {'params':>12} {'fp32 MB':>8} "
        f"{'fwd b1 ms':>10} {'fwd b8 img/s':>13} {'train b4 ms':>12} {'train img/s':>11} "
        f"{'train peak MB':>13}"
    )
    print(header)
    print("-" * len(header))
    if args.one:  # child mode: one configuration in a fresh process, JSON out
        arch, name = args.one
        r = bench_one(
            arch, args.template, get_preset(name), device, args.amp, args.repeats, args.budget
        )
        print(json.dumps(r))
        return 0
    for arch in args.archs:
        for name in args.presets:
            # A fresh process per configuration: the allocator would otherwise reuse
            # memory freed by the previous one and hide this one's peak.
            child = [sys.executable, __file__, "--one", arch, name, *_passed_on(args)]
            r = json.loads(
                subprocess.run(child, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            print(
                f"{r['arch']:<9} {r['preset']:<18} {r['params']:>12,} {r['mb']:>8.1f} "
                f"{r['lat1_ms']:>10.1f} {r['ips8']:>13.1f} {r['train4_ms']:>12.1f} "
                f"{4000 / r['train4_ms']:>11.1f} {r['peak_mb']:>13.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
