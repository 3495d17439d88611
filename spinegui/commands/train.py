"""``spinegui train``: train, resume or fine-tune a landmark network.

The GUI's Retrain button runs exactly this command as a child process with
``--json-progress`` and reads one JSON event per line from stdout, so a run
started by hand and a run started from the GUI are the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

from spinegui.commands.numbers import number_in

LEARNING_RATE = number_in(0, 10, low_open=True)
BETA = number_in(0, 1, high_open=True)
ALPHA = number_in(0, 1e6)

NAME = "train"
HELP = "train a landmark network (MSE + BPD loss) on synthetic, AASCE or project data"
DESCRIPTION = """\
Train a landmark network with the paper's loss (MSE + alpha * BPD) and Adam.

Data (one of):
  --synthetic N      N synthetic radiographs from the phantom generator
  --aasce DIR        an AASCE/BoostNet folder (boostnet_labeldata)
  --project DIR      a spinegui project folder (reviewed images only)

A project run is the GUI's Retrain button: reviewed images not yet assigned
are split into training and a locked validation set (an image once in
validation stays there), "--init-from active" fine-tunes the project's
active model, the checkpoint goes to the project's models/ folder as
retrain-NN, and at the end both the active and the new model are scored on
the validation images (a "comparison" event with --json-progress). --adopt
then makes the new model the project's active one.

Images are split 80/15/5 into train/test/validation by --split-seed (a
project's own locked train/val assignment is used when it has one). The best
model by validation loss is written to --out after every improvement, with
its metadata; a sidecar OUT.resume.safetensors allows --resume OUT after an
interruption and is removed when the run finishes.

Under torchrun the same command trains with DistributedDataParallel:
  torchrun --nproc_per_node=2 -m spinegui train --synthetic 64 --out m.safetensors

Exit status:
  0    finished (all epochs, or stopped early for lack of improvement)
  2    the run could not start (bad data, options or files; message on stderr)
  3    the loss diverged (NaN/inf or exploding); the last good checkpoint is kept
  130  stopped by SIGINT (Ctrl-C) or because the --json-progress reader went away;
       143 stopped by SIGTERM. Either way the last good checkpoint is kept.
"""

EXIT_DIVERGED = 3


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH, e.g. 256x128, got {text!r}"
        ) from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError("phantom size must be at least 16x16")
    return h, w


def add_data_arguments(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """Data-source options shared with ``spinegui evaluate``."""
    src = parser.add_argument_group("data")
    if not positional:
        group = src.add_mutually_exclusive_group()
        group.add_argument("--synthetic", type=int, metavar="N", help="N synthetic phantoms")
        group.add_argument("--aasce", type=Path, metavar="DIR", help="an AASCE dataset folder")
        group.add_argument("--project", type=Path, metavar="DIR", help="a spinegui project")
    else:
        src.add_argument("--synthetic", type=int, metavar="N", help="N synthetic phantoms")
    src.add_argument(
        "--synthetic-size",
        type=_size,
        metavar="HxW",
        help="phantom size in pixels (default: the generator's, 1024x512)",
    )
    src.add_argument("--data-seed", type=int, default=0, help="first phantom seed (default 0)")
    src.add_argument("--limit", type=int, metavar="N", help="use at most N images")
    src.add_argument(
        "--split-seed", type=int, default=None, help="seed of the 80/15/5 split (default: --seed)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    # Every run option defaults to None so that --resume can take the saved
    # run's value for anything not given again on the command line.
    run = parser.add_argument_group("run")
    run.add_argument("--template", help="spine template (default: the data's, else T1-L5)")
    run.add_argument(
        "--stage",
        choices=("landmarks", "refine"),
        help="landmarks: the whole-image network (default); refine: the refinement stage "
        "on top of --base-model, written as one two-stage model file",
    )
    run.add_argument(
        "--base-model",
        type=Path,
        metavar="CKPT",
        help="--stage refine: the model whose first stage the refinement stage builds on",
    )
    run.add_argument(
        "--refiner",
        metavar="JSON",
        help="--stage refine: refinement network settings, e.g. '{\"width\": 32}'",
    )
    run.add_argument(
        "--lr-schedule", choices=("constant", "cosine"), help="constant (default) or cosine"
    )
    run.add_argument(
        "--select-by",
        choices=("loss", "cobb"),
        help="keep the epoch with the lowest validation loss (landmarks default) or main "
        "Cobb angle error (refine default)",
    )
    run.add_argument(
        "--arch",
        choices=("integral", "paper"),
        help="network: the paper's CNN (default) or the integral head",
    )
    run.add_argument("--preset", help="network input size: paper, medium, fast (default), tiny")
    run.add_argument("--epochs", type=int, help="number of epochs (default 100)")
    run.add_argument("--lr", type=LEARNING_RATE, help="Adam learning rate (default 1e-4)")
    run.add_argument("--beta1", type=BETA, help="Adam beta1 (default 0.9)")
    run.add_argument("--beta2", type=BETA, help="Adam beta2 (default 0.999)")
    run.add_argument("--batch-size", type=int, help="mini-batch per process (default 4)")
    run.add_argument("--alpha", type=ALPHA, help="BPD weight in the loss (default 0.01)")
    run.add_argument("--seed", type=int, help="random seed (default 0)")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    run.add_argument(
        "--patience", type=int, help="stop after N epochs without improvement; 0 = never"
    )
    run.add_argument("--num-workers", type=int, help="data loader processes (default 0)")
    run.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        default=None,
        help="no mixed precision on CUDA",
    )
    run.add_argument(
        "--zoom-out",
        type=float,
        metavar="P",
        help="share of training images shown with a wider field of view (0-1, default 0)",
    )
    run.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        default=None,
        help="train without augmentation",
    )
    files = parser.add_argument_group("files")
    files.add_argument("--out", type=Path, help="checkpoint to write (default: a dated name)")
    files.add_argument(
        "--resume",
        type=Path,
        metavar="CKPT",
        help="continue an interrupted run (its checkpoint or resume file)",
    )
    files.add_argument(
        "--init-from",
        type=Path,
        metavar="CKPT",
        help='fine-tune starting from this model ("active": the project\'s active model)',
    )
    files.add_argument(
        "--adopt",
        action="store_true",
        help="with --project: make the finished model the project's active model",
    )
    files.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="with --project: skip scoring the active and the new model at the end",
    )
    files.add_argument(
        "--keep-resume",
        action="store_true",
        default=None,
        help="keep the resume file after the run finishes",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--json-progress",
        action="store_true",
        help="print one JSON event per line on stdout instead of a progress bar",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bar")


_CONFIG_FLAGS = (
    "template", "arch", "preset", "epochs", "lr", "beta1", "beta2", "batch_size", "alpha",
    "seed", "device", "patience", "num_workers", "amp", "augment", "keep_resume", "zoom_out",
    "stage", "lr_schedule", "select_by",
)  # fmt: skip


def _json_object(text: str, flag: str) -> dict:
    import json

    from spinegui.core.errors import SpineguiError

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SpineguiError(
            f"{flag} takes a JSON object, e.g. '{{\"width\": 32}}'; got {text!r}.", ""
        )
    return value


def _is_main() -> bool:
    import os

    return int(os.environ.get("RANK", "0") or 0) == 0


def _log(args, message: str) -> None:
    if _is_main():
        print(message, file=sys.stderr, flush=True)


def build_config(args):
    """TrainConfig from defaults, then the resumed run's config, then explicit flags."""
    from spinegui.ml.resume import read_resume_state
    from spinegui.ml.train_config import TrainConfig, resume_path_for

    values = TrainConfig().to_json()
    if args.resume is not None:
        state = read_resume_state(resume_path_for(args.resume))
        values.update(state.config)
        if args.out is None and state.out:
            args.out = Path(state.out)
    if args.init_from is not None and args.resume is None:
        # A fine-tuned network keeps its parent's architecture and input size;
        # asking for them again on the command line would only invite a mismatch.
        from spinegui.core.model_card import read_model_card

        parent = read_model_card(args.init_from)
        for name in ("arch", "preset"):
            if parent.get(name):
                values[name] = parent[name]
    stage = args.stage or values.get("stage")
    if stage == "refine" and args.resume is None:
        from spinegui.ml.train_config import REFINE_DEFAULTS

        values.update(REFINE_DEFAULTS)
        values["stage"] = "refine"
        if args.init_from is not None:
            refiner = read_model_card(args.init_from).get("refiner") or {}
            values["preset"] = refiner.get("data_preset", values["preset"])
    if getattr(args, "refiner", None):
        values["refiner"] = _json_object(args.refiner, "--refiner")
    if getattr(args, "base_model", None) is not None:
        values["base_model"] = str(args.base_model)
    for name in _CONFIG_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if values.get("patience") == 0:
        values["patience"] = None
    values["out"] = str(args.out) if args.out else values.get("out")
    values["resume"] = str(args.resume) if args.resume else None
    # A resumed fine-tune stays one: init_from decides frozen batch norm and the card.
    values["init_from"] = str(args.init_from) if args.init_from else values.get("init_from")
    return TrainConfig.from_json(values)


def load_data(args, template: str | None, preset, *, progress=None):
    """(LandmarkData, kind) for the data options of train and evaluate."""
    from spinegui.core.errors import SpineguiError
    from spinegui.core.templates import DEFAULT_TEMPLATE
    from spinegui.ml import data as d

    if args.synthetic is not None:
        if args.synthetic < 1:
            raise SpineguiError("--synthetic needs at least 1 image.", "")
        data = d.synthetic_dataset(
            template or DEFAULT_TEMPLATE,
            args.synthetic,
            seed=args.data_seed,
            preset=preset,
            size=args.synthetic_size,
            progress=progress,
        )
        kind = "synthetic"
    elif getattr(args, "project", None) is not None:
        data = d.project_dataset(args.project, preset, progress=progress)
        kind = "project"
    elif getattr(args, "aasce", None) is not None:
        data = d.aasce_dataset(args.aasce, preset, limit=args.limit, progress=progress)
        kind = "aasce"
    else:
        raise SpineguiError(
            "No training data given.",
            "Use --synthetic N, --aasce DIR or --project DIR.",
        )
    if args.limit is not None and len(data) > args.limit:
        data = data.subset(range(args.limit))
    if template is not None and data.template != template:
        from spinegui.core.errors import TemplateError

        raise TemplateError(
            f"The data uses spine template {data.template}, not {template}.",
            f"Drop --template or pass --template {data.template}.",
        )
    return data, kind


def split_for_training(data, kind: str, split_seed: int):
    """(train, test, val, split description) honouring a project's locked split."""
    from spinegui.ml.data import SPLIT_FRACTIONS, split_data

    if kind == "project" and any(s.split == "val" for s in data.samples):
        train = data.subset(i for i, s in enumerate(data.samples) if s.split != "val")
        val = data.subset(i for i, s in enumerate(data.samples) if s.split == "val")
        test = data.subset([])
        return train, test, val, {"kind": "project", "val_ids": val.ids}
    train, test, val = split_data(data, split_seed)
    desc = {
        "kind": "seeded",
        "seed": split_seed,
        "fractions": list(SPLIT_FRACTIONS),
        "test_ids": test.ids,
    }
    return train, test, val, desc


class _Progress:
    """Turns trainer events into a tqdm bar or JSON lines."""

    def __init__(self, json_lines: bool, quiet: bool) -> None:
        self.json_lines = json_lines
        self.quiet = quiet
        self.bar = None
        self.steps = 0
        self.reader_gone = False

    def __call__(self, event) -> None:
        from spinegui.ml.events import EndEvent, EpochEvent, StartEvent, StepEvent

        if self.json_lines:
            if self.reader_gone:
                return
            try:
                sys.stdout.write(event.to_json() + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                # The reader (the GUI) is gone: stop like a Cancel, keep the checkpoint.
                self.reader_gone = True
                _silence_stdout()
            return
        if isinstance(event, StartEvent):
            print(
                f"Training {event.arch} ({event.template}, {event.preset}) on {event.device}: "
                f"{event.train_images} train / {event.val_images} validation images"
                + (f", {event.world_size} processes" if event.world_size > 1 else ""),
                file=sys.stderr,
            )
            if not self.quiet:
                from tqdm import tqdm

                self.steps = event.steps_per_epoch
                self.bar = tqdm(
                    total=event.epochs * event.steps_per_epoch,
                    initial=(event.start_epoch - 1) * event.steps_per_epoch,
                    unit="step",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
        elif isinstance(event, StepEvent) and self.bar is not None:
            self.bar.n = (event.epoch - 1) * event.steps_per_epoch + event.step
            self.bar.set_description(f"epoch {event.epoch}/{event.epochs}", refresh=False)
            self.bar.set_postfix(loss=f"{event.total:.4g}", img_s=f"{event.images_per_s:.1f}")
        elif isinstance(event, EpochEvent):
            val = event.val or {}
            parts = [f"epoch {event.epoch}/{event.epochs}", f"train loss {event.total:.4g}"]
            if val:
                parts.append(f"val loss {_num(val.get('total'))}")
                parts.append(f"val error {_num(val.get('mean_px'))} px")
                parts.append(f"Cobb SMAPE {_num(val.get('smape'))}%")
            if event.best:
                parts.append("saved (best)")
            line = ", ".join(parts)
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)
        elif isinstance(event, EndEvent):
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            print(event.message, file=sys.stderr)
            if event.checkpoint:
                print(f"Best model (epoch {event.best_epoch}): {event.checkpoint}", file=sys.stderr)
            if event.resume:
                print(
                    f"Resume with: spinegui train ... --resume {event.checkpoint or event.resume}",
                    file=sys.stderr,
                )


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _num(value) -> str:
    return "-" if value is None else f"{value:.4g}"


class _StopFlag:
    """First SIGINT/SIGTERM asks the trainer to stop after the current step."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread (embedded use) handlers cannot be set.
            with contextlib.suppress(ValueError):
                self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C means now
        self.signum = signum

    def __call__(self) -> bool:
        return self.signum is not None


def _default_out(config, kind: str, args) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"spinegui-{config.template}-{config.arch}-{config.preset}-{stamp}.safetensors"
    if kind == "project":
        from spinegui.core.store import Project
        from spinegui.ml.retrain import new_version_name

        with Project.open(args.project) as project:
            return project.models_dir / f"{new_version_name(project)}.safetensors"
    return Path(name)


def run(args: argparse.Namespace) -> int:
    from spinegui.ml.presets import get_preset
    from spinegui.ml.train import train

    stop = _StopFlag()
    stop.install()
    active = None
    try:
        if getattr(args, "project", None) is not None:
            active = _prepare_project(args)
        elif getattr(args, "adopt", False) or str(args.init_from) == "active":
            from spinegui.core.errors import SpineguiError

            raise SpineguiError(
                "--adopt and --init-from active need a project.", "Add --project DIR."
            )
        config = build_config(args)
        preset = get_preset(config.preset)
        explicit_template = args.template
        data, kind = load_data(args, explicit_template, preset)
        config.template = data.template
        split_seed = args.split_seed if args.split_seed is not None else config.seed
        train_set, test_set, val_set, split = split_for_training(data, kind, split_seed)
        if config.out is None:
            config.out = str(_default_out(config, kind, args))
        _log(
            args,
            f"Data: {data.source}: {len(data)} images -> {len(train_set)} train, "
            f"{len(val_set)} validation, {len(test_set)} test (held out).",
        )
        for note in data.notes:
            _log(args, f"  {note}")
        progress = _Progress(args.json_progress, args.quiet) if _is_main() else None
        result = train(
            config,
            train_set,
            val_set,
            on_event=progress,
            should_stop=lambda: stop() or (progress is not None and progress.reader_gone),
            extra_meta={"split": split, "data_source": data.source},
        )
        comparison = None
        if kind == "project" and result.ok and result.checkpoint and len(val_set):
            if getattr(args, "compare", True) and _is_main():
                comparison = _compare(args, config, val_set, result.checkpoint, active, progress)
            if getattr(args, "adopt", False) and _is_main():
                _adopt(args, result.checkpoint, comparison)
    finally:
        stop.restore()
    if result.status == "diverged":
        return EXIT_DIVERGED
    if result.status == "stopped":
        return 128 + int(stop.signum or signal.SIGINT)
    return 0


def _prepare_project(args):
    """Lock the split of newly reviewed images and resolve ``--init-from active``.

    Returns the project's active model record (or None), which the run is
    compared against at the end. Refuses, with what to do, when there is too
    little reviewed data, before any image is assigned.
    """
    from spinegui.core.errors import SpineguiError
    from spinegui.core.splits import apply_plan, project_plan
    from spinegui.core.store import Project

    with Project.open(args.project) as project:
        plan = project_plan(project)
        if not plan.enough and args.resume is None:
            raise SpineguiError(plan.shortage_message(), "")
        apply_plan(project, plan)
        active = project.active_model()
    if args.init_from is not None and str(args.init_from) == "active":
        if active is None:
            raise SpineguiError(
                "The project has no active model to start from.",
                "Leave out --init-from to train from scratch, or activate a model first.",
            )
        if not active.path.is_file():
            raise SpineguiError(
                f"The active model's file {active.path} is missing.",
                "Restore the file, activate another model, or train from scratch.",
            )
        args.init_from = active.path
    return active


def _compare(args, config, val_set, checkpoint, active, progress):
    """Score the active and the new model on the locked validation images; report it."""
    from spinegui.ml.data import project_dataset
    from spinegui.ml.retrain import compare_on_validation, format_comparison

    models = []
    if active is not None and active.path.is_file():
        models.append(("current", active.version, active.path))
    models.append(("new", Path(checkpoint).stem, Path(checkpoint)))
    event = compare_on_validation(
        val_set,
        models,
        device=config.device,
        reload=lambda preset: project_dataset(args.project, preset),
    )
    if progress is not None and progress.json_lines:
        progress(event)
    else:
        print(format_comparison(event), file=sys.stderr)
    return event


def _adopt(args, checkpoint, comparison) -> None:
    from spinegui.core.store import Project
    from spinegui.ml.retrain import adopt_candidate

    version = Path(checkpoint).name.removesuffix(".safetensors")
    with Project.open(args.project) as project:
        adopt_candidate(project, version, checkpoint, comparison=comparison)
    _log(args, f"Model {version} is now the project's active model.")
