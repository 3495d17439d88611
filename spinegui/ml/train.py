"""The training loop behind ``spinegui train`` and the GUI's Retrain button.

One loop trains every model type: a ``TrainTask`` (``spinegui.ml.task``)
supplies the network, the examples, the loss and what validation measures;
the loop does the rest. Design points, and why:

- Adam with the paper's hyper-parameters (lr 1e-4, betas 0.9/0.999,
  mini-batch 4, loss MSE + 0.01 BPD) are the defaults; everything is a
  ``TrainConfig`` field (``spinegui.ml.train_config``, torch-free) so a run is
  fully described by one JSON-able object, which is stored in the checkpoint.
- The trainer reports through ``on_event`` and polls ``should_stop`` every
  step; it never prints. The CLI decides between a progress bar and JSON
  lines; the GUI runs the CLI as a child process and reads the JSON.
- Only a validation improvement writes the checkpoint (atomically, via
  ``checkpoint.save_checkpoint``), so cancelling, a crash or a diverging loss
  can never leave a worse or half-written model behind: "the last good
  checkpoint" is simply the file at ``out``. Improvement means a lower main
  Cobb angle error on the validation images by default (``select_by``), the
  figure a clinician judges a model by.
- Resuming: a sidecar ``<out>.resume.safetensors`` (``spinegui.ml.resume``)
  holds model and optimiser tensors and one ``ResumeState``; it is rewritten
  after every epoch and removed when the run finishes normally.
- Reproducibility: every random draw derives from (seed, epoch, rank) -
  weight init, the shuffle, dropout, augmentation - so two CPU runs with the
  same seed give identical weights, and a resumed run continues with the same
  draws an uninterrupted run would have used.
- Distributed (``spinegui.ml.distributed``): under ``torchrun`` each rank
  trains on its shard with ``batch_size`` examples per step (the global batch
  is ``batch_size * world_size``); rank 0 validates, writes files and emits
  events.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spinegui.ml.data import LandmarkData
from spinegui.ml.distributed import Dist, pick_device_for, seed_for
from spinegui.ml.events import EndEvent, EpochEvent, StartEvent, StepEvent, TrainEvent
from spinegui.ml.resume import load_resume, save_resume
from spinegui.ml.task import LandmarkTask, TrainTask, check_config
from spinegui.ml.train_config import (
    STATUSES,
    ResumeState,
    TrainConfig,
    TrainError,
    TrainResult,
    resume_path_for,
)

__all__ = [
    "STATUSES",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "resume_path_for",
    "selection_score",
    "train",
]

NO_SCORE = 1e308
"""JSON has no infinity: "nothing kept yet" is stored as this."""
UNMEASURED = 1e6
"""Added to the loss while no Cobb angle can be measured, so any measured angle wins."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def selection_score(select_by: str, val: dict[str, Any]) -> float | None:
    """Lower is better: the main-Cobb error in degrees, or the validation loss."""
    total = val.get("total")
    if select_by == "cobb":
        cobb = val.get("cobb_mae")
        if cobb is not None and math.isfinite(cobb):
            return float(cobb)
        return None if total is None else UNMEASURED + float(total)
    return None if total is None else float(total)


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def train(
    config: TrainConfig,
    train_set: LandmarkData,
    val_set: LandmarkData | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    extra_meta: dict[str, Any] | None = None,
    task: type[TrainTask] | None = None,
) -> TrainResult:
    """Train (or resume, or fine-tune) a network; see the module docstring.

    ``task`` is the model type (default: the whole-image landmark network).
    Raises TrainError for configurations that cannot run; everything that
    happens during the run (cancel, divergence, early stopping) is reported
    in the returned ``TrainResult`` instead, with the checkpoint intact.
    ``extra_meta`` (JSON-able; e.g. how the data was split) is stored under
    ``train_config["data"]`` in the checkpoint, for evaluation to find later.
    """
    d = Dist.from_env()
    device = pick_device_for(config.device, d)
    d.init(device)
    try:
        valid = val_set if val_set is not None and len(val_set) else None
        if task is None:
            task = LandmarkTask
            if config.stage == "refine":
                from spinegui.ml.refine_task import RefineTask

                task = RefineTask
        job = task(config, train_set, valid)
        trainer = _Trainer(config, job, on_event, should_stop, d, device)
        trainer.extra_meta = dict(extra_meta or {})
        return trainer.run()
    finally:
        d.close()


class _Trainer:
    def __init__(self, config, task: TrainTask, on_event, should_stop, d: Dist, device):
        self.cfg = config
        self.task = task
        self.train_set = task.train_set
        self.val_set = task.val_set
        self.on_event = on_event if d.main else None
        self.should_stop = should_stop or (lambda: False)
        self.d = d
        self.device = device
        self.out = Path(config.out) if config.out else None
        self.resume_file = resume_path_for(self.out) if self.out else None
        self.state = ResumeState(config=config.to_json(), best_score=NO_SCORE)
        self.start_epoch = 1
        self.checkpoint_written: Path | None = None
        self.extra_meta: dict[str, Any] = {}

    # -- events
    def emit(self, event: TrainEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # -- setup
    def build(self) -> None:
        cfg = self.cfg
        check_config(cfg, self.train_set)
        torch.manual_seed(seed_for(cfg.seed, 0, 0))
        model = self.task.build_model()
        self.state.parent = self.task.parent
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
        model_state, optim_state, state = load_resume(resume_path_for(path))
        saved = state.train_config
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
        if self.scaler is not None and state.scaler:
            self.scaler.load_state_dict(state.scaler)
        state.config = self.cfg.to_json()
        self.state = state
        self.start_epoch = state.epoch + 1
        if self.out is None and state.out:
            self.out = Path(state.out)
            self.resume_file = resume_path_for(self.out)

    def _build_loader(self) -> None:
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        cfg = self.cfg
        self.tds = self.task.dataset()
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
        batch = self.task.examples_per_step()
        # BatchNorm cannot train on a final batch of one example.
        drop_last = per_rank > batch and per_rank % batch == 1
        self.loader = DataLoader(
            self.tds,
            batch_size=batch,
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
                world_size=self.d.world_size,
                out=str(self.out) if self.out else None,
                **self.task.describe(),
            )
        )
        self.run_start = time.perf_counter()
        self.steps_done_run = 0
        self.first_loss: float | None = None
        status, message = "completed", f"Finished {cfg.epochs} epoch(s)."
        try:
            if self.start_epoch > cfg.epochs:
                raise _Stop(
                    "completed",
                    f"Nothing to do: the run already finished epoch {self.state.epoch}.",
                )
            for epoch in range(self.start_epoch, cfg.epochs + 1):
                train_means, ips = self._train_epoch(epoch)
                if self._end_epoch(epoch, train_means, ips):
                    status = "early_stopped"
                    message = (
                        f"Stopped early after epoch {epoch}: no validation improvement "
                        f"for {cfg.patience} epochs (best epoch {self.state.best_epoch})."
                    )
                    break
        except _Stop as stop:
            status, message = stop.status, stop.message
        if status in ("completed", "early_stopped") and not cfg.keep_resume:
            self._remove_resume()
        self.d.barrier()
        st = self.state
        result = TrainResult(
            status=status,
            message=message,
            epochs_run=st.epoch,
            best_epoch=st.best_epoch,
            best_val=dict(st.best_val),
            checkpoint=self.checkpoint_written or self._existing_checkpoint(),
            resume=self.resume_file
            if self.resume_file is not None and self.resume_file.exists()
            else None,
            history=list(st.history),
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
        if self.out is not None and self.out.exists() and self.state.best_epoch is not None:
            return self.out
        return None

    def _describe_device(self) -> str:
        from spinegui.ml.device import describe_device

        try:
            return str(describe_device(self.device))
        except Exception:  # a label only; never fail a run over it
            return str(self.device)

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], float]:
        cfg = self.cfg
        self.sampler.set_epoch(epoch)
        self.tds.set_epoch(epoch)
        torch.manual_seed(seed_for(cfg.seed, epoch, self.d.rank, 1))  # dropout draws
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
        for step, batch in enumerate(self.loader, start=1):
            self._set_lr(epoch, step)
            parts = self.task.loss(self.net, batch, self.device, self._autocast)
            loss = parts.total
            value = float(loss.detach())
            mse_v, bpd_v = float(parts.mse.detach()), float(parts.bpd.detach())
            self._check_step(epoch, step, value)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            n = int(batch[0].shape[0])
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
        # epoch means over every rank's shard, not just rank 0's
        totals = self.d.sum([sums["mse"], sums["bpd"], sums["total"], float(seen)], self.device)
        sums["mse"], sums["bpd"], sums["total"] = totals[:3]
        seen = int(totals[3])
        self.images_seen = seen
        means = {k: v / max(seen, 1) for k, v in sums.items()}
        return means, seen / max(elapsed, 1e-9)

    def _set_lr(self, epoch: int, step: int) -> None:
        """The learning rate of this step: a pure function of (epoch, step), so resume-safe."""
        cfg = self.cfg
        if cfg.lr_schedule == "constant":
            return
        total = cfg.epochs * self.steps_per_epoch
        done = (epoch - 1) * self.steps_per_epoch + step - 1
        warm = max(1, round(0.05 * total))
        if done < warm:
            factor = 0.1 + 0.9 * done / warm
        else:
            factor = 0.5 * (1.0 + math.cos(math.pi * (done - warm) / max(1, total - warm)))
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * factor

    def _check_step(self, epoch: int, step: int, value: float) -> None:
        """Stop on request or divergence; every rank agrees first."""
        if self.first_loss is None and math.isfinite(value):
            self.first_loss = value
        limit = self.cfg.explode_factor * max(self.first_loss or 1.0, 1.0)
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
            best = self.state.best_epoch
            raise _Stop(
                "stopped",
                f"Stopped by request in epoch {epoch}, step {step}; "
                + (
                    f"the checkpoint from epoch {best} was kept."
                    if best is not None
                    else "no checkpoint had been written yet."
                ),
            )

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
        st = self.state
        early = False
        improved = False
        val: dict[str, float | None] = {}
        if self.d.main:
            if self.val_set is not None:
                val = self.task.validate(self.model, self.device)
                score = selection_score(cfg.select_by, val)
            else:
                score = train_means["total"]  # no validation: keep the best training loss
            if score is not None and math.isfinite(score) and score < st.best_score:
                improved = True
                st.best_score = float(score)
                st.best_epoch = epoch
                st.best_val = (
                    dict(val) if val else {f"train_{k}": v for k, v in train_means.items()}
                )
                st.bad_epochs = 0
                self._save_checkpoint(epoch, val, train_means)
            else:
                st.bad_epochs += 1
            early = cfg.patience is not None and st.bad_epochs >= cfg.patience
        st.epoch = epoch
        st.history.append({"epoch": epoch, "train": train_means, "val": val, "best": improved})
        if self.d.main:
            self._save_resume()
        (early,) = self.d.from_main([early], self.device)
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
                best_epoch=st.best_epoch,
                images_per_s=ips,
                eta_s=self._eta(epoch, self.steps_per_epoch),
                images_seen=self.images_seen,
                checkpoint=str(self.out) if improved and self.out else None,
            )
        )
        return early

    def _meta(self, epoch: int, val: dict, train_means: dict) -> dict[str, Any]:
        from spinegui import __version__

        config = self.cfg.to_json()
        config.update(
            train_images=len(self.train_set),
            val_images=len(self.val_set) if self.val_set is not None else 0,
            train_source=self.train_set.source,
            val_ids=self.val_set.ids if self.val_set is not None else [],
            world_size=self.d.world_size,
            data=self.extra_meta,
        )
        return {
            "data_fingerprint": self.train_set.fingerprint(),
            "metrics": {"epoch": epoch, "val": val, "train": train_means},
            "parent": self.state.parent,
            "software_version": __version__,
            "created": _now(),
            "train_config": config,
            **self.task.checkpoint_meta(),
        }

    def _save_checkpoint(self, epoch: int, val: dict, train_means: dict) -> None:
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.task.save(self.out, self.model, self._meta(epoch, val, train_means))
        self.checkpoint_written = self.out

    def _save_resume(self) -> None:
        if self.resume_file is None:
            return
        st = self.state
        st.out = str(self.out) if self.out else None
        st.saved = _now()
        st.scaler = self.scaler.state_dict() if self.scaler is not None else None
        save_resume(self.resume_file, self.model, self.optimizer, st)

    def _remove_resume(self) -> None:
        if self.d.main and self.resume_file is not None:
            self.resume_file.unlink(missing_ok=True)
