"""The training loop behind ``spinegui train`` and the GUI's Retrain button.

Design points, and why:

- Adam with the paper's hyper-parameters (lr 1e-4, betas 0.9/0.999,
  mini-batch 4, loss MSE + 0.01 BPD) are the defaults; everything is a
  ``TrainConfig`` field so a run is fully described by one JSON-able object,
  which is stored in the checkpoint.
- The trainer reports through ``on_event`` and polls ``should_stop`` every
  step; it never prints. The CLI decides between a progress bar and JSON
  lines; the GUI runs the CLI as a child process and reads the JSON.
- Only a validation improvement writes the checkpoint (atomically, via
  ``checkpoint.save_checkpoint``), so cancelling, a crash or a diverging loss
  can never leave a worse or half-written model behind: "the last good
  checkpoint" is simply the file at ``out``.
- Resuming needs the optimiser state and the epoch. They go into a sidecar
  ``<out>.resume.safetensors`` (tensors) with a JSON header (counters,
  history); nothing is ever pickled. The sidecar is rewritten after every
  epoch and removed when the run finishes normally, because at the paper's
  size it is three times the model (~800 MB).
- Reproducibility: every random draw derives from (seed, epoch, rank) -
  weight init, the shuffle, dropout, augmentation - so two CPU runs with the
  same seed give identical weights, and a resumed run continues with the same
  draws an uninterrupted run would have used.
- Distributed: under ``torchrun`` (env WORLD_SIZE/RANK/LOCAL_RANK) the model
  is wrapped in DistributedDataParallel (gloo on CPU, nccl on CUDA), each rank
  sees its DistributedSampler shard with ``batch_size`` images per step (the
  global batch is ``batch_size * world_size``), rank 0 validates, writes files
  and emits events, and stop decisions are agreed on by all ranks every step
  so no rank is left waiting in a collective.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spinegui.core.errors import SpineguiError
from spinegui.core.templates import DEFAULT_TEMPLATE, get_template
from spinegui.ml.data import LandmarkData, LandmarkTorchDataset
from spinegui.ml.events import EndEvent, EpochEvent, StartEvent, StepEvent, TrainEvent
from spinegui.ml.presets import DEFAULT_PRESET

__all__ = [
    "STATUSES",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "resume_path_for",
    "train",
]

STATUSES = ("completed", "early_stopped", "stopped", "diverged")
RESUME_SUFFIX = ".resume.safetensors"
RESUME_KEY = "spinegui_resume"


class TrainError(SpineguiError):
    """A training run that cannot start or continue as asked."""


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored verbatim in the checkpoint."""

    template: str = DEFAULT_TEMPLATE
    arch: str = "paper"
    """The paper's CNN. It beat the integral head at equal training time in every run
    measured here (AASCE and synthetic; see the README's model section)."""
    preset: str = DEFAULT_PRESET
    epochs: int = 100
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    batch_size: int = 4
    alpha: float = 0.01
    seed: int = 0
    device: str = "auto"
    patience: int | None = 20
    out: str | None = None
    resume: str | None = None
    init_from: str | None = None
    freeze_bn: bool | None = None
    """Keep batch-norm statistics fixed; None = only when fine-tuning (init_from).

    A retrain from a handful of corrected images would otherwise replace the
    statistics learnt on hundreds of X-rays with those of a few mini-batches."""
    num_workers: int = 0
    amp: bool = True
    augment: bool = True
    explode_factor: float = 1e3
    """A batch loss above this many times the run's first loss counts as diverged."""
    step_event_interval_s: float = 0.0
    """Minimum seconds between step events (first and last step always sent)."""
    keep_resume: bool = False
    val_batch_size: int = 16

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TrainResult:
    """How a run ended. ``checkpoint`` is the best model written (None if none was)."""

    status: str
    message: str
    epochs_run: int
    best_epoch: int | None
    best_val: dict[str, float | None]
    checkpoint: Path | None
    resume: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "early_stopped")


def resume_path_for(checkpoint: str | Path) -> Path:
    """The resume sidecar that belongs to a checkpoint path."""
    p = Path(checkpoint)
    if p.name.endswith(RESUME_SUFFIX):
        return p
    return p.with_name(p.name.removesuffix(".safetensors") + RESUME_SUFFIX)


# ------------------------------------------------------------------ distributed


@dataclass
class _Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> _Dist:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
        return cls(world, rank, local)

    def init(self, device: torch.device) -> None:
        import torch.distributed as dist

        if not self.enabled or dist.is_initialized():
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        self.owns_group = True

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def any(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Element-wise OR of per-rank flags, so every rank takes the same branch."""
        if not self.enabled:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def _pick_device(preference: str, d: _Dist) -> torch.device:
    from spinegui.ml.device import pick_device

    device = pick_device(preference)
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


# ---------------------------------------------------------------- validation


def _forward_batches(model: nn.Module, images: np.ndarray, device, batch_size: int) -> np.ndarray:
    from spinegui.ml.predict import forward_normalised

    return forward_normalised(model, images, device, batch_size=batch_size)


def validate(
    model: nn.Module, data: LandmarkData, *, alpha: float, device, batch_size: int = 16
) -> dict[str, float | None]:
    """Validation metrics: losses on normalised coords, errors in original pixels."""
    from spinegui.ml.losses import mse_bpd_loss
    from spinegui.ml.preprocess import denormalize_points

    if len(data) == 0:
        return {}
    pred = _forward_batches(model, data.images(), device, batch_size)
    target = data.targets()
    parts = mse_bpd_loss(torch.from_numpy(pred), torch.from_numpy(target), alpha=alpha)
    v = get_template(data.template).n_vertebrae
    pred_px = np.stack(
        [
            np.asarray(denormalize_points(p.reshape(v, 4, 2), s.width, s.height))
            for p, s in zip(pred, data.samples, strict=True)
        ]
    )
    true_px = np.stack([s.landmarks for s in data.samples])
    mean_px = float(np.linalg.norm(pred_px - true_px, axis=-1).mean())
    return {
        "mse": float(parts.mse),
        "bpd": float(parts.bpd),
        "total": float(parts.total),
        "mean_px": mean_px,
        "smape": _cobb_smape(pred_px, true_px, [s.height for s in data.samples]),
    }


def _cobb_smape(pred_px: np.ndarray, true_px: np.ndarray, heights: list[int]) -> float | None:
    """Cobb SMAPE in percent over the images whose angles can be measured, else None."""
    from spinegui.core.cobb import cobb_angles
    from spinegui.core.metrics import smape

    p, t = [], []
    for x, y, h in zip(pred_px, true_px, heights, strict=True):
        try:
            a, b = cobb_angles(x, image_height=h).angles, cobb_angles(y, image_height=h).angles
        except (SpineguiError, ValueError):
            continue  # degenerate prediction: no angle to compare
        p.append(a)
        t.append(b)
    if not p:
        return None
    value = float(smape(np.array(p), np.array(t)))
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------ resume file


def _save_resume(path: Path, model: nn.Module, optimizer, scaler, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for k, t in model.state_dict().items():
        tensors[f"model/{k}"] = t.detach().cpu().contiguous()
    opt = optimizer.state_dict()
    for idx, st in opt["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"optim/{idx}/{k}"] = t.detach().cpu().contiguous()
    header = dict(state)
    header["optim_param_groups"] = opt["param_groups"]
    header["scaler"] = scaler.state_dict() if scaler is not None else None
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={RESUME_KEY: json.dumps(header)})
    os.replace(tmp, path)


def _load_resume(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(model state, optimizer state dict, header) from a resume sidecar."""
    from safetensors import safe_open

    if not path.is_file():
        raise TrainError(
            f"No resume file at {path}.",
            "Resume takes the checkpoint path of an interrupted run (its "
            f"'{RESUME_SUFFIX}' file must sit beside it), or that file itself.",
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            header = json.loads(meta[RESUME_KEY])
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
    except (KeyError, ValueError, OSError) as exc:
        raise TrainError(
            f"{path} is not a spinegui resume file ({exc}).",
            "Start a new run, or fine-tune from the checkpoint with --init-from.",
        ) from None
    optim = {"state": opt_state, "param_groups": header.pop("optim_param_groups")}
    return model_state, optim, header


# ---------------------------------------------------------------------- helpers


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _version_of(meta: dict[str, Any], path: str | Path) -> str:
    for key in ("version", "name", "sha256"):
        if meta.get(key):
            return str(meta[key])
    return Path(path).stem


def _check_data(config: TrainConfig, data: LandmarkData, what: str, input_hw) -> None:
    t = get_template(config.template).name
    if data.template != t:
        raise TrainError(
            f"The {what} data uses template {data.template}, the run template {t}.",
            "Pass --template matching the data.",
        )
    if tuple(data.input_hw) != tuple(input_hw):
        raise TrainError(
            f"The {what} data was cached at {data.input_hw}, the network expects {input_hw}.",
            "Build the dataset with the same preset as the run.",
        )


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ----------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    train_set: LandmarkData,
    val_set: LandmarkData | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (or resume, or fine-tune) a landmark network; see the module docstring.

    Raises TrainError for configurations that cannot run; everything that
    happens during the run (cancel, divergence, early stopping) is reported
    in the returned ``TrainResult`` instead, with the checkpoint intact.
    ``extra_meta`` (JSON-able; e.g. how the data was split) is stored under
    ``train_config["data"]`` in the checkpoint, for evaluation to find later.
    """
    d = _Dist.from_env()
    device = _pick_device(config.device, d)
    d.init(device)
    try:
        trainer = _Trainer(config, train_set, val_set, on_event, should_stop, d, device)
        trainer.extra_meta = dict(extra_meta or {})
        return trainer.run()
    finally:
        d.close()


class _Trainer:
    def __init__(self, config, train_set, val_set, on_event, should_stop, d, device):
        self.cfg = config
        self.train_set = train_set
        self.val_set = val_set if val_set is not None and len(val_set) else None
        self.on_event = on_event if d.main else None
        self.should_stop = should_stop or (lambda: False)
        self.d = d
        self.device = device
        self.out = Path(config.out) if config.out else None
        self.resume_file = resume_path_for(self.out) if self.out else None
        self.history: list[dict[str, Any]] = []
        self.best_val: dict[str, float | None] = {}
        self.best_score = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.start_epoch = 1
        self.epoch_done = 0
        self.parent: str | None = None
        self.checkpoint_written: Path | None = None
        self.extra_meta: dict[str, Any] = {}

    # -- events
    def emit(self, event: TrainEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # -- setup
    def build(self) -> None:
        from spinegui.ml.checkpoint import load_checkpoint
        from spinegui.ml.network import build_network
        from spinegui.ml.presets import get_preset

        cfg = self.cfg
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise TrainError("Epochs and batch size must be at least 1.", "")
        if len(self.train_set) == 0:
            raise TrainError(
                "There are no training images.",
                "Add annotated images (a project needs reviewed images) and try again.",
            )
        preset = get_preset(cfg.preset)
        self.preset = preset
        torch.manual_seed(_seed_for(cfg.seed, 0, 0))
        if cfg.init_from and not cfg.resume:
            model, meta = load_checkpoint(cfg.init_from, expected_template=cfg.template)
            if meta.get("arch") != cfg.arch or tuple(meta.get("input_hw") or ()) != preset.hw:
                raise TrainError(
                    f"{cfg.init_from} is a {meta.get('arch')} network at "
                    f"{meta.get('input_hw')}, not {cfg.arch} at {list(preset.hw)}.",
                    "Fine-tune with the same --arch and --preset as the starting model.",
                )
            self.parent = _version_of(meta, cfg.init_from)
        else:
            model = build_network(cfg.arch, cfg.template, preset)
        self.input_hw = tuple(getattr(model, "input_hw", preset.hw))
        _check_data(cfg, self.train_set, "training", self.input_hw)
        if self.val_set is not None:
            _check_data(cfg, self.val_set, "validation", self.input_hw)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)
        )
        from spinegui.ml.device import autocast_dtype

        amp_dtype = autocast_dtype(self.device) if cfg.amp else None
        self.use_amp = amp_dtype is not None
        # bf16 keeps float32's range; only fp16 needs loss scaling.
        self.scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        if cfg.resume:
            self._restore(Path(cfg.resume))
        if self.d.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: nn.Module = DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.net = self.model
        self._build_loader()

    def _restore(self, path: Path) -> None:
        path = resume_path_for(path)
        model_state, optim_state, header = _load_resume(path)
        saved = TrainConfig.from_json(header.get("config", {}))
        for name in ("template", "arch", "preset"):
            if getattr(saved, name) != getattr(self.cfg, name):
                raise TrainError(
                    f"The run to resume used {name} {getattr(saved, name)!r}, "
                    f"not {getattr(self.cfg, name)!r}.",
                    f"Resume with --{name} {getattr(saved, name)}, or start a new run.",
                )
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(optim_state)
        for group in self.optimizer.param_groups:  # a resumed run may change the lr
            group["lr"] = self.cfg.lr
        if self.scaler is not None and header.get("scaler"):
            self.scaler.load_state_dict(header["scaler"])
        self.epoch_done = int(header["epoch"])
        self.start_epoch = self.epoch_done + 1
        self.best_score = float(header.get("best_score", math.inf))
        self.best_epoch = header.get("best_epoch")
        self.best_val = header.get("best_val") or {}
        self.bad_epochs = int(header.get("bad_epochs", 0))
        self.history = list(header.get("history", []))
        self.parent = header.get("parent")
        if self.out is None and header.get("out"):
            self.out = Path(header["out"])
            self.resume_file = resume_path_for(self.out)

    def _build_loader(self) -> None:
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        cfg = self.cfg
        self.tds = LandmarkTorchDataset(self.train_set, augment=cfg.augment, seed=cfg.seed)
        # DistributedSampler also serves the single-process case: its shuffle
        # is a pure function of (seed, epoch), which is what resume needs.
        self.sampler = DistributedSampler(
            self.tds,
            num_replicas=self.d.world_size,
            rank=self.d.rank,
            shuffle=True,
            seed=cfg.seed,
        )
        per_rank = len(self.sampler)
        # BatchNorm cannot train on a final batch of one image.
        drop_last = per_rank > cfg.batch_size and per_rank % cfg.batch_size == 1
        self.loader = DataLoader(
            self.tds,
            batch_size=cfg.batch_size,
            sampler=self.sampler,
            num_workers=cfg.num_workers,
            drop_last=drop_last,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        self.steps_per_epoch = len(self.loader)

    # -- main loop
    def run(self) -> TrainResult:
        self.build()
        cfg = self.cfg
        self.emit(
            StartEvent(
                epochs=cfg.epochs,
                start_epoch=self.start_epoch,
                steps_per_epoch=self.steps_per_epoch,
                train_images=len(self.train_set),
                val_images=len(self.val_set) if self.val_set is not None else 0,
                device=self._describe_device(),
                arch=cfg.arch,
                template=get_template(cfg.template).name,
                preset=self.preset.name,
                world_size=self.d.world_size,
                out=str(self.out) if self.out else None,
            )
        )
        self.run_start = time.perf_counter()
        self.steps_done_run = 0
        self.first_loss: float | None = None
        status, message = "completed", f"Finished {cfg.epochs} epoch(s)."
        try:
            if self.start_epoch > cfg.epochs:
                raise _Stop(
                    "completed", f"Nothing to do: the run already finished epoch {self.epoch_done}."
                )
            for epoch in range(self.start_epoch, cfg.epochs + 1):
                train_means, ips = self._train_epoch(epoch)
                if self._end_epoch(epoch, train_means, ips):
                    status = "early_stopped"
                    message = (
                        f"Stopped early after epoch {epoch}: no validation improvement "
                        f"for {cfg.patience} epochs (best epoch {self.best_epoch})."
                    )
                    break
        except _Stop as stop:
            status, message = stop.status, stop.message
        if status in ("completed", "early_stopped") and not cfg.keep_resume:
            self._remove_resume()
        self.d.barrier()
        result = TrainResult(
            status=status,
            message=message,
            epochs_run=self.epoch_done,
            best_epoch=self.best_epoch,
            best_val=dict(self.best_val),
            checkpoint=self.checkpoint_written or self._existing_checkpoint(),
            resume=self.resume_file
            if self.resume_file is not None and self.resume_file.exists()
            else None,
            history=list(self.history),
        )
        self.emit(
            EndEvent(
                status=result.status,
                message=result.message,
                epochs_run=result.epochs_run,
                best_epoch=result.best_epoch,
                best_val=result.best_val,
                checkpoint=str(result.checkpoint) if result.checkpoint else None,
                resume=str(result.resume) if result.resume else None,
            )
        )
        return result

    def _existing_checkpoint(self) -> Path | None:
        if self.out is not None and self.out.exists() and self.best_epoch is not None:
            return self.out
        return None

    def _describe_device(self) -> str:
        from spinegui.ml.device import describe_device

        try:
            return str(describe_device(self.device))
        except Exception:  # a label only; never fail a run over it
            return str(self.device)

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], float]:
        from spinegui.ml.losses import mse_bpd_loss

        cfg = self.cfg
        self.sampler.set_epoch(epoch)
        self.tds.set_epoch(epoch)
        torch.manual_seed(_seed_for(cfg.seed, epoch, self.d.rank, 1))  # dropout draws
        self.net.train()
        freeze_bn = cfg.freeze_bn if cfg.freeze_bn is not None else bool(cfg.init_from)
        if freeze_bn:
            for module in self.net.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
        sums = {"mse": 0.0, "bpd": 0.0, "total": 0.0}
        seen = 0
        t0 = time.perf_counter()
        last_emit = -math.inf
        for step, (x, y, _) in enumerate(self.loader, start=1):
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            with self._autocast():
                pred = self.net(x)
            parts = mse_bpd_loss(pred.float(), y, alpha=cfg.alpha)
            loss = parts.total
            value = float(loss.detach())
            mse_v, bpd_v = float(parts.mse.detach()), float(parts.bpd.detach())
            if self.first_loss is None and math.isfinite(value):
                self.first_loss = value
            limit = cfg.explode_factor * max(self.first_loss or 1.0, 1.0)
            bad = not math.isfinite(value) or value > limit
            stop, bad = self.d.any([bool(self.should_stop()), bad], self.device)
            if bad:
                raise _Stop(
                    "diverged",
                    f"Training diverged in epoch {epoch}, step {step}: the loss became "
                    + ("NaN/infinite" if not math.isfinite(value) else f"{value:.3g}")
                    + ". The last good checkpoint was kept; try a lower learning rate.",
                )
            if stop:
                raise _Stop(
                    "stopped",
                    f"Stopped by request in epoch {epoch}, step {step}; "
                    + (
                        f"the checkpoint from epoch {self.best_epoch} was kept."
                        if self.best_epoch is not None
                        else "no checkpoint had been written yet."
                    ),
                )
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            n = int(x.shape[0])
            seen += n
            self.steps_done_run += 1
            sums["mse"] += mse_v * n
            sums["bpd"] += bpd_v * n
            sums["total"] += value * n
            now = time.perf_counter()
            ips = seen * self.d.world_size / max(now - t0, 1e-9)
            if step in (1, self.steps_per_epoch) or now - last_emit >= cfg.step_event_interval_s:
                last_emit = now
                self.emit(
                    StepEvent(
                        epoch=epoch,
                        epochs=cfg.epochs,
                        step=step,
                        steps_per_epoch=self.steps_per_epoch,
                        mse=mse_v,
                        bpd=bpd_v,
                        total=value,
                        images_per_s=ips,
                        eta_s=self._eta(epoch, step),
                    )
                )
        elapsed = time.perf_counter() - t0
        if self.d.enabled:  # epoch means over every rank's shard, not just rank 0's
            import torch.distributed as dist

            t = torch.tensor(
                [sums["mse"], sums["bpd"], sums["total"], float(seen)],
                dtype=torch.float64,
                device=self.device,
            )
            dist.all_reduce(t)
            sums["mse"], sums["bpd"], sums["total"], seen = *t[:3].tolist(), int(t[3].item())
        self.images_seen = int(seen)
        means = {k: v / max(seen, 1) for k, v in sums.items()}
        return means, seen / max(elapsed, 1e-9)

    def _autocast(self):
        import contextlib

        if not self.use_amp:
            return contextlib.nullcontext()
        from spinegui.ml.device import autocast

        return autocast(self.device)

    def _eta(self, epoch: int, step: int) -> float | None:
        if self.steps_done_run == 0:
            return None
        per_step = (time.perf_counter() - self.run_start) / self.steps_done_run
        remaining = (self.steps_per_epoch - step) + (self.cfg.epochs - epoch) * self.steps_per_epoch
        return max(0.0, per_step * remaining)

    def _end_epoch(self, epoch: int, train_means: dict[str, float], ips: float) -> bool:
        """Validate, keep the best checkpoint, write the resume file; True = stop early."""
        cfg = self.cfg
        early = False
        improved = False
        val: dict[str, float | None] = {}
        if self.d.main:
            if self.val_set is not None:
                val = validate(
                    self.model,
                    self.val_set,
                    alpha=cfg.alpha,
                    device=self.device,
                    batch_size=cfg.val_batch_size,
                )
                score = val["total"]
            else:
                score = train_means["total"]  # no validation: keep the best training loss
            if score is not None and math.isfinite(score) and score < self.best_score:
                improved = True
                self.best_score = float(score)
                self.best_epoch = epoch
                self.best_val = (
                    dict(val) if val else {f"train_{k}": v for k, v in train_means.items()}
                )
                self.bad_epochs = 0
                self._save_checkpoint(epoch, val, train_means)
            else:
                self.bad_epochs += 1
            early = cfg.patience is not None and self.bad_epochs >= cfg.patience
        self.epoch_done = epoch
        self.history.append({"epoch": epoch, "train": train_means, "val": val, "best": improved})
        if self.d.main:
            self._save_resume(epoch)
        (early,) = self._broadcast_flags([early])
        self.emit(
            EpochEvent(
                epoch=epoch,
                epochs=cfg.epochs,
                step=self.steps_per_epoch,
                steps_per_epoch=self.steps_per_epoch,
                mse=train_means["mse"],
                bpd=train_means["bpd"],
                total=train_means["total"],
                val=val,
                best=improved,
                best_epoch=self.best_epoch,
                images_per_s=ips,
                eta_s=self._eta(epoch, self.steps_per_epoch),
                images_seen=self.images_seen,
                checkpoint=str(self.out) if improved and self.out else None,
            )
        )
        return early

    def _broadcast_flags(self, flags: list[bool]) -> list[bool]:
        """Rank 0's decision, on every rank."""
        if not self.d.enabled:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.broadcast(t, src=0)
        return [bool(v) for v in t.tolist()]

    def _meta(self, epoch: int, val: dict, train_means: dict) -> dict[str, Any]:
        from spinegui import __version__
        from spinegui.ml.preprocess import NORMALISATION

        cfg = self.cfg
        config = cfg.to_json()
        config.update(
            train_images=len(self.train_set),
            val_images=len(self.val_set) if self.val_set is not None else 0,
            train_source=self.train_set.source,
            val_ids=self.val_set.ids if self.val_set is not None else [],
            world_size=self.d.world_size,
            data=self.extra_meta,
        )
        return {
            "template": get_template(cfg.template).name,
            "arch": cfg.arch,
            "preset": self.preset.name,
            "input_hw": list(self.input_hw),
            "normalisation": dict(NORMALISATION),
            "data_fingerprint": self.train_set.fingerprint(),
            "metrics": {"epoch": epoch, "val": val, "train": train_means},
            "parent": self.parent,
            "software_version": __version__,
            "created": _now(),
            "train_config": config,
            "mean_shape": [round(float(v), 6) for v in self.train_set.mean_shape().reshape(-1)],
        }

    def _save_checkpoint(self, epoch: int, val: dict, train_means: dict) -> None:
        if self.out is None:
            return
        from spinegui.ml.checkpoint import save_checkpoint

        self.out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.out, self.model, self._meta(epoch, val, train_means))
        self.checkpoint_written = self.out

    def _save_resume(self, epoch: int) -> None:
        if self.resume_file is None:
            return
        header = {
            "config": self.cfg.to_json(),
            "epoch": epoch,
            # JSON has no infinity; 1e308 reads back as "nothing beats it yet".
            "best_score": self.best_score if math.isfinite(self.best_score) else 1e308,
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "parent": self.parent,
            "out": str(self.out) if self.out else None,
            "saved": _now(),
        }
        _save_resume(self.resume_file, self.model, self.optimizer, self.scaler, header)

    def _remove_resume(self) -> None:
        if self.d.main and self.resume_file is not None:
            self.resume_file.unlink(missing_ok=True)
