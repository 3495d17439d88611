"""Landmark prediction off the GUI thread: one long-lived worker owns the loaded model.

Why this shape:

- One thread, one model. Loading a checkpoint (and importing torch, about a
  second) happens once, in the worker, on first use; the window opens
  without torch. Only this module and ``retrain*`` reach ``spinegui.ml``,
  always inside functions that run in the worker.
- The queue is ours, not Qt's. Queued slots would serve requests strictly in
  order and could not see a Cancel until a whole batch had run. Instead the
  worker loop takes, in this order: stop, a model change, single requests
  newest first (the image on screen is the one the user waits for; older
  ones still run and are stored), then the batch, one image at a time, so
  single requests and Cancel take effect between batch images.
- Results are plain values (``PredictionResult``) carrying the image id and
  model version, because by the time one arrives the user may be on another
  image or model. The window decides whether to draw; ``store_result`` stores
  regardless, so no computed prediction is lost.
- Failures (unreadable image, broken checkpoint, out of memory) become a
  ``failed`` message for the user and the worker carries on: one bad file in
  a worklist of 500 must not stop the other 499.
- Worker signals go through relay slots on the service in the GUI thread,
  which drop everything once ``shutdown`` began, so nothing reaches a window
  that is closing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from spinegui.core.errors import SpineguiError
from spinegui.core.review.predictions import PredictionResult, store_result

__all__ = ["InferenceService", "PredictionResult", "store_result"]

log = logging.getLogger(__name__)

Loader = Callable[[Path, str, "str | None"], Any]
"""(checkpoint path, device preference, expected template) -> a Predictor-like object."""


def _default_loader(path: Path, device: str, expected_template: str | None):
    from spinegui.ml.device import set_cpu_threads
    from spinegui.ml.predict import Predictor

    predictor = Predictor.load(path, device=device, expected_template=expected_template)
    if predictor.device.type == "cpu":
        # One image at a time is small work, and the CPU is shared with the window
        # and often with a retrain process: with every core requested, OpenMP's
        # spinning threads made one prediction 30x slower (0.43 s vs 0.014 s for
        # the shipped T1-L5 model on 2 cores with a training run beside it).
        set_cpu_threads(1)
    return predictor


def _device_description(predictor) -> str:
    text = getattr(predictor, "device_description", None)
    if text:
        return str(text)
    from spinegui.ml.device import describe_device

    return describe_device(predictor.device)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _release_gpu_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _explain(exc: BaseException, what: str) -> str:
    """A message for the user: what failed, why if known, and what to do."""
    if isinstance(exc, SpineguiError):
        return f"{what}: {exc}"
    if _is_out_of_memory(exc):
        return (
            f"{what}: the computer ran out of memory. Close other programs (or other "
            "spinegui windows) and try again; a model with a smaller size preset needs less."
        )
    if isinstance(exc, OSError):
        return (
            f"{what}: {exc.strerror or exc}. Check that the file is still there and readable, "
            "then try again."
        )
    return (
        f"{what}: an unexpected error occurred ({type(exc).__name__}: {exc}). Try again, "
        "and report this message if it keeps happening."
    )


class _Worker(QThread):
    """The thread: owns the predictor and a small job board guarded by one condition."""

    result = Signal(object)
    failure = Signal(int, str)
    loaded = Signal(str, str, str)  # version, device description, path
    progress = Signal(int, int)
    batch_done = Signal(bool)
    busy = Signal(bool)

    def __init__(self, loader: Loader, device: str, tta: bool) -> None:
        super().__init__()
        self._loader = loader
        self._device = device
        self._tta = tta
        self._cond = threading.Condition()
        self._stop = False
        self._model_job: tuple[Path, str | None, str | None] | None = None
        self._requests: list[tuple[int, Path, Any]] = []  # newest last
        self._batch: tuple[int, list[tuple[int, Path]]] | None = None
        self._batch_serial = 0
        self._cancelled_serial = 0
        # Owned by the worker thread only:
        self._predictor = None
        self._version = ""
        self._path: Path | None = None

    # ------------------------------------------------ called from the GUI thread

    def post_model(self, path: Path, version: str | None, template: str | None) -> None:
        with self._cond:
            self._model_job = (path, version, template)
            self._cond.notify()

    def post_request(self, image_id: int, path: Path, image) -> None:
        with self._cond:
            self._requests = [r for r in self._requests if r[0] != image_id]
            self._requests.append((image_id, path, image))
            self._cond.notify()

    def post_batch(self, items: list[tuple[int, Path]]) -> None:
        """Queue a batch; one still waiting is dropped and one running is cancelled.

        Every batch reports exactly one ``batch_done``, including a dropped one,
        so the service can count batches in flight.
        """
        with self._cond:
            dropped = self._batch is not None
            self._cancelled_serial = self._batch_serial
            self._batch_serial += 1
            self._batch = (self._batch_serial, items)
            self._cond.notify()
        if dropped:
            self.batch_done.emit(False)

    def cancel_batch(self) -> None:
        with self._cond:
            self._cancelled_serial = self._batch_serial
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cancelled_serial = self._batch_serial
            self._cond.notify()

    # ------------------------------------------------------- the worker thread

    def run(self) -> None:
        busy = False
        try:
            while True:
                with self._cond:
                    while not (self._stop or self._model_job or self._requests or self._batch):
                        if busy:
                            busy = False
                            self.busy.emit(False)
                        self._cond.wait()
                    if self._stop:
                        return
                    batch, self._batch = self._batch, None
                if not busy:
                    busy = True
                    self.busy.emit(True)
                self._serve_urgent()
                if batch is not None:
                    self._run_batch(*batch)
        finally:
            self._predictor = None  # free model memory in the thread that made it
            _release_gpu_memory()

    def _serve_urgent(self) -> None:
        """Model changes, then single requests newest first, until none is pending."""
        while True:
            with self._cond:
                if self._stop:
                    return
                if self._model_job is not None:
                    job, self._model_job = self._model_job, None
                    kind = "model"
                elif self._requests:
                    job = self._requests.pop()
                    kind = "request"
                else:
                    return
            if kind == "model":
                self._load(*job)
            else:
                self._predict(*job, from_batch=False)

    def _cancelled(self, serial: int) -> bool:
        with self._cond:
            return self._stop or self._cancelled_serial >= serial

    def _run_batch(self, serial: int, items: list[tuple[int, Path]]) -> None:
        total = len(items)
        if self._predictor is None:
            self.failure.emit(-1, _no_model_message("Predict all"))
            self.batch_done.emit(False)
            return
        self.progress.emit(0, total)
        for done, (image_id, path) in enumerate(items, start=1):
            self._serve_urgent()
            if self._cancelled(serial):
                self.batch_done.emit(False)
                return
            self._predict(image_id, path, None, from_batch=True)
            self.progress.emit(done, total)
        self.batch_done.emit(True)

    def _load(self, path: Path, version: str | None, template: str | None) -> None:
        try:
            predictor = self._loader(path, self._device, template)
            description = _device_description(predictor)
        except Exception as exc:
            if not isinstance(exc, SpineguiError):
                log.exception("loading model %s failed", path)
            if _is_out_of_memory(exc):
                _release_gpu_memory()
            keep = (
                f" The model {self._version} stays in use." if self._predictor is not None else ""
            )
            self.failure.emit(-1, _explain(exc, f"Could not load the model {path.name}") + keep)
            return
        self._predictor = predictor
        self._version = version or str(predictor.version)
        self._path = Path(path)
        self.loaded.emit(self._version, description, str(path))

    def _predict(self, image_id: int, path: Path, image, *, from_batch: bool) -> None:
        if self._predictor is None:
            self.failure.emit(image_id, _no_model_message(f"Predicting {Path(path).name}"))
            return
        started = time.perf_counter()
        try:
            if image is None:
                from spinegui.core.imageio import load_image

                image = load_image(path)
            pred = self._predictor.predict(image, tta=self._tta)
            landmarks = np.asarray(pred.landmarks, dtype=np.float64)
            spread = None if pred.spread is None else np.asarray(pred.spread, dtype=np.float64)
        except Exception as exc:
            if not isinstance(exc, SpineguiError):
                log.exception("prediction for image %s (%s) failed", image_id, path)
            if _is_out_of_memory(exc):
                _release_gpu_memory()
            self.failure.emit(
                image_id, _explain(exc, f"Could not predict landmarks for {Path(path).name}")
            )
            return
        self.result.emit(
            PredictionResult(
                image_id=int(image_id),
                model_version=self._version,
                landmarks=landmarks,
                spread=spread,
                seconds=time.perf_counter() - started,
                model_path=self._path,
                template=str(getattr(self._predictor, "template", "")),
                from_batch=from_batch,
                image_path=Path(path),
                image_sha256=getattr(image, "sha256", None),
            )
        )


def _no_model_message(what: str) -> str:
    return (
        f"{what} needs a model, and none is loaded yet. Choose a model for the project, "
        "or train one from corrected images with Retrain."
    )


class InferenceService(QObject):
    """The GUI's handle on the inference worker; every method returns at once.

    Create it in the GUI thread; call ``shutdown`` before the window closes
    (it joins the thread). The thread starts on the first call that needs it,
    so a window without a model never starts one.
    """

    predictionReady = Signal(object)  # PredictionResult
    failed = Signal(int, str)  # image id (-1: not about one image), message for the user
    modelLoaded = Signal(str, str)  # version, device description
    batchProgress = Signal(int, int)  # done, total
    batchFinished = Signal(bool)  # True when every image was attempted
    busyChanged = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        device: str = "auto",
        tta: bool = True,
        loader: Loader | None = None,
    ) -> None:
        super().__init__(parent)
        self._device = device
        self._tta = tta
        self._loader = loader or _default_loader
        self._worker: _Worker | None = None
        self._closed = False
        self._busy = False
        self._batches_in_flight = 0
        self._model_version: str | None = None
        self._model_path: Path | None = None
        self._device_description: str | None = None
        app = QCoreApplication.instance()
        if app is not None:
            # A safety net: a QThread still running when Qt tears down aborts the process.
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------- properties

    @property
    def model_version(self) -> str | None:
        """Version of the model the worker has loaded (None before the first load)."""
        return self._model_version

    @property
    def model_path(self) -> Path | None:
        return self._model_path

    @property
    def device_description(self) -> str | None:
        return self._device_description

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def batch_running(self) -> bool:
        return self._batches_in_flight > 0

    @property
    def is_running(self) -> bool:
        """Whether the worker thread exists and has not finished."""
        return self._worker is not None and self._worker.isRunning()

    # --------------------------------------------------------------- commands

    def set_model(
        self,
        path: str | Path,
        *,
        version: str | None = None,
        expected_template: str | None = None,
    ) -> None:
        """Load a checkpoint in the worker; ``modelLoaded`` or ``failed(-1, ...)`` follows.

        Pass the project's ``version`` name for the model so results are
        stored under it, and the project's template so a model for another
        spine is refused at load time. A failed load keeps the previous model.
        """
        worker = self._ensure_worker()
        if worker is not None:
            worker.post_model(Path(path), version, expected_template)

    def request(self, image_id: int, image_path: str | Path, image=None) -> None:
        """Predict one image; pass the already loaded ``LoadedImage`` to skip re-reading it."""
        worker = self._ensure_worker()
        if worker is not None:
            worker.post_request(int(image_id), Path(image_path), image)

    def predict_all(self, items: Iterable[tuple[int, str | Path]]) -> None:
        """Predict a worklist; ``batchProgress`` per image, then ``batchFinished``.

        A batch already running is cancelled (it reports ``batchFinished(False)``)
        and this one runs after it.
        """
        worker = self._ensure_worker()
        if worker is not None:
            self._batches_in_flight += 1
            worker.post_batch([(int(i), Path(p)) for i, p in items])

    def cancel_batch(self) -> None:
        """Stop "Predict all" before its next image; the current image still finishes."""
        if self._worker is not None and not self._closed:
            self._worker.cancel_batch()

    def shutdown(self) -> None:
        """Stop the worker and wait for it; safe to call twice and mid-batch.

        The image being predicted finishes first (a forward pass cannot be
        interrupted); queued work is dropped and no signal is emitted after
        this returns.
        """
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
            worker.wait()
            worker.deleteLater()
        self._batches_in_flight = 0
        self._busy = False

    # --------------------------------------------------------------- plumbing

    def _ensure_worker(self) -> _Worker | None:
        if self._closed:
            log.warning("inference request after shutdown ignored")
            return None
        if self._worker is None:
            w = _Worker(self._loader, self._device, self._tta)
            queued = Qt.ConnectionType.QueuedConnection
            w.result.connect(self._on_result, queued)
            w.failure.connect(self._on_failure, queued)
            w.loaded.connect(self._on_loaded, queued)
            w.progress.connect(self._on_progress, queued)
            w.batch_done.connect(self._on_batch_done, queued)
            w.busy.connect(self._on_busy, queued)
            w.start()
            self._worker = w
        return self._worker

    @Slot(object)
    def _on_result(self, result: PredictionResult) -> None:
        if not self._closed:
            self.predictionReady.emit(result)

    @Slot(int, str)
    def _on_failure(self, image_id: int, message: str) -> None:
        if not self._closed:
            self.failed.emit(image_id, message)

    @Slot(str, str, str)
    def _on_loaded(self, version: str, description: str, path: str) -> None:
        if not self._closed:
            self._model_version = version
            self._model_path = Path(path)
            self._device_description = description
            self.modelLoaded.emit(version, description)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if not self._closed:
            self.batchProgress.emit(done, total)

    @Slot(bool)
    def _on_batch_done(self, completed: bool) -> None:
        if not self._closed:
            self._batches_in_flight = max(0, self._batches_in_flight - 1)
            self.batchFinished.emit(completed)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        if not self._closed and busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)
