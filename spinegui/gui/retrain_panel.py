"""The Retrain panel: teach the network from the images a person has reviewed.

What it is for: after correcting the model's landmarks on some X-rays, a
reviewer presses one button, watches the new model learn, compares it with
the current one on images neither model was trained on, and chooses which one
to keep. Every decision a clinician needs is on the panel with a sentence of
explanation; nothing requires knowing what a learning rate is, but everything
a researcher would want to set is there with the paper's defaults.

How it works, and why:

- The run is ``spinegui train --project ...`` in a child process
  (``TrainerProcess``), so the window stays responsive and a crash of the
  trainer cannot lose the user's work. The exact command is written to the
  log, so the same run can be repeated in a terminal.
- The split into training and validation images is locked in the project
  (``spinegui.core.splits``) before the child starts, so every model is
  compared on the same, never-trained-on images.
- The trainer scores the current and the new model on those images at the
  end of the run (a "comparison" event); this process never imports torch.
- Nothing about the project's active model changes until the user presses
  "Use the new model". Discard, Cancel and a failed run delete the
  candidate's files (see ``spinegui.ml.retrain`` for why).

API for the main window: ``set_project``, ``refresh`` (after reviews),
``is_running``, ``shutdown`` (from ``closeEvent``), and the ``modelAdopted``
signal, also emitted when a model is re-activated from the model history.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import SpineguiError
from spinegui.core.splits import SplitPlan, apply_plan, project_plan
from spinegui.core.store import Project
from spinegui.gui.trainer_process import TrainerProcess, describe_exit

__all__ = ["RetrainPanel"]

PRESETS = (
    ("tiny", "Tiny (64 x 32): for trying things out only"),
    ("fast", "Fast (256 x 128): good on a normal computer"),
    ("medium", "Medium (512 x 256): better detail, slow without a graphics card"),
    ("paper", "Paper (1024 x 512): the published size, needs a graphics card"),
)
DEVICES = (
    ("auto", "Automatic (graphics card if there is one)"),
    ("cpu", "Processor (CPU) only"),
    ("cuda", "Graphics card (NVIDIA CUDA)"),
)
SETTINGS_KEY = "retrain"
"""Project setting holding the last retrain's settings (JSON), shown again next time."""
TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#d95f02"
STEP_COLOUR = (150, 150, 150, 120)
HINT_STYLE = "color: palette(placeholder-text); font-size: small;"


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    return label


def format_eta(seconds: float | None) -> str:
    """'about 2 min 10 s left' - a rough figure reads better than a precise one."""
    if seconds is None or not math.isfinite(seconds):
        return "estimating time left…"
    s = round(seconds)
    if s < 60:
        return f"about {max(s, 1)} s left"
    if s < 3600:
        return f"about {s // 60} min {s % 60:02d} s left"
    return f"about {s // 3600} h {(s % 3600) // 60:02d} min left"


class RetrainPanel(QDockWidget):
    """Dock with the retraining data summary, settings, live progress and the adopt choice."""

    modelAdopted = Signal(str, str)
    """(version, checkpoint path): the project's active model changed; refresh predictions."""
    runningChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Retrain the model", parent)
        self.setObjectName("RetrainPanel")
        self._project: Project | None = None
        self._plan: SplitPlan | None = None
        self._run: dict[str, Any] | None = None
        self._candidate: dict[str, Any] | None = None
        self._history_dialog = None
        self._proc = TrainerProcess(self, parse_line=_parse_event)
        self._proc.event.connect(self._on_event)
        self._proc.logLine.connect(self._log)
        self._proc.finished.connect(self._on_finished)
        self._build()
        self._update_enabled()

    # ------------------------------------------------------------------ public

    def set_project(self, project: Project | None) -> None:
        """Show ``project`` (or none). A run for the previous project is cancelled first."""
        if project is self._project:
            self.refresh()
            return
        if self.is_running():
            self.shutdown()
        self._forget_candidate(delete=True)
        self._project = project
        self._recall_settings()
        self._reset_progress()
        self.result_box.setVisible(False)
        self.progress_box.setVisible(False)
        self._set_message("")
        self.refresh()

    def refresh(self) -> None:
        """Recount the reviewed images and the split (call after reviews and imports)."""
        self._plan = None
        if self._project is not None:
            try:
                self._plan = project_plan(self._project)
            except SpineguiError as exc:
                self._set_message(f"{exc.message}\n{exc.hint}", "error")
        self._show_plan()
        self._show_start_options()
        self._update_enabled()

    @property
    def project(self) -> Project | None:
        return self._project

    def is_running(self) -> bool:
        return self._proc.is_running()

    def shutdown(self) -> None:
        """Cancel a run and wait for the trainer to end; safe to call at any time."""
        self._proc.shutdown()

    def settings(self):
        """The settings as chosen on the panel (a ``RetrainSettings``)."""
        from spinegui.ml.retrain import RetrainSettings

        return RetrainSettings(
            epochs=self.epochs_spin.value(),
            lr=self.lr_spin.value(),
            alpha=self.alpha_spin.value(),
            batch_size=self.batch_spin.value(),
            start="active" if self.start_combo.currentData() == "active" else "scratch",
            preset=self.preset_combo.currentData(),
            device=self.device_combo.currentData(),
        )

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setSpacing(8)

        intro = QLabel(
            "Teach the network from the X-rays you have reviewed. The current model stays in "
            "use until you choose to switch."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        # -- data
        data_box = QGroupBox("Images to learn from")
        dl = QVBoxLayout(data_box)
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.split_label.setToolTip(
            "Validation images are never used for learning. They stay the same for every "
            "retrain, so the numbers of old and new models can be compared fairly."
        )
        self.shortage_label = QLabel()
        self.shortage_label.setWordWrap(True)
        self.shortage_label.setStyleSheet(
            "background: #fff4d6; color: #5c4400; border: 1px solid #e0c060; padding: 6px;"
        )
        dl.addWidget(self.data_label)
        dl.addWidget(self.split_label)
        dl.addWidget(self.shortage_label)
        layout.addWidget(data_box)

        # -- settings
        settings_box = QGroupBox("Settings")
        form = QFormLayout(settings_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.start_combo = QComboBox()
        self.start_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.start_combo.setMinimumContentsLength(14)
        self.start_combo.addItem("Improve the current model (recommended)", "active")
        self.start_combo.addItem("Start a new model from scratch", "scratch")
        self.start_combo.setToolTip(
            "Improving the current model keeps what it already knows and needs less time and "
            "fewer images. A new model learns only from this project's images."
        )
        self.start_combo.currentIndexChanged.connect(self._show_start_options)
        self.start_hint = _hint("")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setToolTip("One epoch is one pass over all training images.")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.000001, 0.01)
        self.lr_spin.setSingleStep(0.00001)
        self.lr_spin.setToolTip(
            "Adam learning rate. A new model uses the paper's 0.0001; improving the current "
            "model uses 0.00001, so a few corrected images refine it instead of overwriting "
            "what it learnt from many."
        )
        self.alpha_spin = QDoubleSpinBox()
        self.alpha_spin.setDecimals(4)
        self.alpha_spin.setRange(0.0, 10.0)
        self.alpha_spin.setSingleStep(0.005)
        self.alpha_spin.setToolTip(
            "alpha in the loss MSE + alpha x BPD. BPD compares the distances between left and "
            "right corners, so the network learns the shape of the spine, not just points."
        )
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 64)
        self.batch_spin.setToolTip("Mini-batch size; the paper uses 4.")
        self.preset_combo = QComboBox()
        for key, label in PRESETS:
            self.preset_combo.addItem(label, key)
        self.device_combo = QComboBox()
        for key, label in DEVICES:
            self.device_combo.addItem(label, key)
        self.device_combo.setToolTip("Where the training runs. A graphics card is much faster.")
        form.addRow("Start from", self.start_combo)
        form.addRow("", self.start_hint)
        self.more_button = QToolButton()
        self.more_button.setCheckable(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setAutoRaise(True)
        self.more_button.toggled.connect(self._toggle_more)
        # The one-line summary wraps in a label: a long button text would set the
        # dock's minimum width and cut every other line off.
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        form.addRow("", self.summary_label)
        form.addRow("", self.more_button)
        self.more_box = QWidget()
        grid = QGridLayout(self.more_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(2, 1)
        rows = (
            (
                "Epochs",
                self.epochs_spin,
                "Passes over the training images. Stops early when validation stops improving.",
            ),
            (
                "Learning rate",
                self.lr_spin,
                "Step size: 0.0001 (the paper) for a new model, 0.00001 to improve one.",
            ),
            (
                "Shape weight",
                self.alpha_spin,
                "alpha: weight of the spine-shape term (paper: 0.01).",
            ),
            (
                "Batch size",
                self.batch_spin,
                "Images per step (paper: 4). Lower it if memory runs out.",
            ),
            ("Image size", self.preset_combo, None),
            ("Run on", self.device_combo, None),
        )
        for row, (label, widget, hint) in enumerate(rows):
            grid.addWidget(QLabel(label), row, 0)
            if hint is None:
                grid.addWidget(widget, row, 1, 1, 2)
            else:
                widget.setMinimumWidth(110)
                grid.addWidget(widget, row, 1)
                grid.addWidget(_hint(hint), row, 2)
        self.preset_hint = _hint("")
        grid.addWidget(self.preset_hint, len(rows), 1, 1, 2)
        self.defaults_button = QPushButton("Restore the defaults")
        self.defaults_button.setToolTip("The paper's settings and 30 epochs.")
        self.defaults_button.clicked.connect(self._restore_defaults)
        grid.addWidget(self.defaults_button, len(rows) + 1, 1)
        self.more_box.setVisible(False)
        form.addRow(self.more_box)
        layout.addWidget(settings_box)
        self._restore_defaults()
        for spin in (self.epochs_spin, self.lr_spin, self.alpha_spin, self.batch_spin):
            spin.valueChanged.connect(self._update_summary)
        for combo in (self.preset_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._update_summary)

        # -- buttons
        buttons = QHBoxLayout()
        self.retrain_button = QPushButton("Retrain")
        font = QFont(self.retrain_button.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.retrain_button.setFont(font)
        self.retrain_button.setMinimumHeight(44)
        self.retrain_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.retrain_button.setToolTip(
            "Train a new model on the reviewed images. You can keep working meanwhile."
        )
        self.retrain_button.clicked.connect(self.start_retrain)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(44)
        self.cancel_button.setToolTip("Stop training. The current model stays as it is.")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.retrain_button, 3)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)

        # -- progress
        self.progress_box = QGroupBox("Progress")
        pl = QVBoxLayout(self.progress_box)
        self.status_label = QLabel("Not started.")
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p%")
        self.eta_label = QLabel("")
        pl.addWidget(self.status_label)
        pl.addWidget(self.progress_bar)
        pl.addWidget(self.eta_label)
        pl.addWidget(
            _hint(
                "Lower is better in all three plots. If the training line falls but the "
                "validation line rises, the model is memorising rather than learning; the "
                "epoch with the best validation result is the one kept."
            )
        )
        legend = QLabel(
            f'<span style="color:{TRAIN_COLOUR}"><b>━━ training&nbsp;images</b></span>'
            f' &nbsp; <span style="color:{VAL_COLOUR}"><b>╍╍ validation&nbsp;images</b>'
            '</span> &nbsp; <span style="color:#999">── each&nbsp;learning&nbsp;step</span>'
        )
        legend.setWordWrap(True)
        pl.addWidget(legend)
        plots = QVBoxLayout()  # stacked: the dock is narrow and tall
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        for key, title in (
            ("mse", "Position error (MSE)"),
            ("bpd", "Shape error (BPD)"),
            ("total", "Total loss"),
        ):
            w = pg.PlotWidget()
            w.setBackground("w")
            w.setTitle(title, color="#222", size="9pt")
            w.setLabel("bottom", "epoch")
            w.setLogMode(y=True)
            w.showGrid(x=True, y=True, alpha=0.2)
            w.setMinimumHeight(130)
            self.curves[key] = {
                "step": w.plot([], [], pen=pg.mkPen(STEP_COLOUR, width=1), name="each step"),
                "train": w.plot(
                    [],
                    [],
                    pen=pg.mkPen(TRAIN_COLOUR, width=2),
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=TRAIN_COLOUR,
                    name="training",
                ),
                "val": w.plot(
                    [],
                    [],
                    pen=pg.mkPen(VAL_COLOUR, width=2, style=Qt.PenStyle.DashLine),
                    symbol="s",
                    symbolSize=5,
                    symbolBrush=VAL_COLOUR,
                    name="validation",
                ),
            }
            self.plots[key] = w
            plots.addWidget(w)
        pl.addLayout(plots)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(3000)
        self.log_view.setMinimumHeight(90)
        self.log_view.setPlaceholderText("Messages from the training run appear here.")
        pl.addWidget(QLabel("Log"))
        pl.addWidget(self.log_view)
        self.progress_box.setVisible(False)  # empty plots explain nothing; shown once started
        layout.addWidget(self.progress_box)

        # -- result
        self.result_box = QGroupBox("Result: current model vs new model")
        rl = QVBoxLayout(self.result_box)
        self.result_intro = QLabel()
        self.result_intro.setWordWrap(True)
        rl.addWidget(self.result_intro)
        self.result_table = QTableWidget(0, 3)
        self.result_table.setHorizontalHeaderLabels(["Current model", "New model", "Change"])
        self.result_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.result_table.setMinimumHeight(220)
        rl.addWidget(self.result_table)
        choose = QVBoxLayout()  # stacked: fits the narrow dock
        self.adopt_button = QPushButton("Use the new model")
        self.adopt_button.setMinimumHeight(36)
        self.adopt_button.setToolTip(
            "Make the new model the one that places landmarks in this project. Predictions "
            "are refreshed. You can go back to any earlier model in the model history."
        )
        self.adopt_button.clicked.connect(self.adopt)
        self.discard_button = QPushButton("Keep the current model")
        self.discard_button.setMinimumHeight(36)
        self.discard_button.setToolTip(
            "Throw the new model away. Your reviewed images are kept; you can retrain any time."
        )
        self.discard_button.clicked.connect(self.discard)
        choose.addWidget(self.adopt_button)
        choose.addWidget(self.discard_button)
        rl.addLayout(choose)
        self.result_box.setVisible(False)
        layout.addWidget(self.result_box)

        self.history_button = QPushButton("Model history…")
        self.history_button.setToolTip(
            "Every model this project has used, how it was made and how well it did; switch "
            "back to an earlier one."
        )
        self.history_button.clicked.connect(self.show_history)
        layout.addWidget(self.history_button)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Text wraps to the dock's width; only the height scrolls.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)

    def _toggle_more(self, shown: bool) -> None:
        self.more_box.setVisible(shown)
        self.more_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._update_summary()

    def _update_summary(self) -> None:
        """The collapsed settings in one line, so nobody has to open them to know."""
        s = self.settings()
        from spinegui.ml.retrain import default_lr

        usual = s.lr == default_lr(s.start) and s.alpha == 0.01 and s.batch_size == 4
        text = f"{s.epochs} epochs, " + (
            "the usual learning settings" if usual else "custom learning settings"
        )
        text += f", {self.preset_combo.currentData()} size, {self.device_combo.currentData()}"
        self.summary_label.setText(f"Settings: {text}.")
        self.more_button.setText("Hide settings" if self.more_button.isChecked() else "Change…")

    def _restore_defaults(self) -> None:
        from spinegui.ml.retrain import RetrainSettings, default_lr

        d = RetrainSettings()
        self.epochs_spin.setValue(d.epochs)
        self.lr_spin.setValue(default_lr(self.settings().start))
        self.alpha_spin.setValue(d.alpha)
        self.batch_spin.setValue(d.batch_size)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(d.preset))
        self.device_combo.setCurrentIndex(self.device_combo.findData(d.device))
        if self._project is not None:
            self._show_start_options()  # a fine-tune keeps its model's size, not the default
        self._update_summary()

    # ------------------------------------------------------------------- state

    def _active_model(self):
        if self._project is None:
            return None
        try:
            return self._project.active_model()
        except SpineguiError:
            return None

    def _active_preset(self, active) -> str | None:
        preset = (active.card or {}).get("preset")
        if preset:
            return str(preset)
        try:
            from spinegui.core.model_card import read_model_card

            return read_model_card(active.path).get("preset")
        except (SpineguiError, OSError):
            return None

    def _show_start_options(self) -> None:
        from spinegui.ml.retrain import default_lr

        active = self._active_model()
        from_active = self.start_combo.currentData() == "active"
        other = default_lr("scratch" if from_active else "active")
        if self.lr_spin.value() == other:  # still the other mode's default: follow the mode
            self.lr_spin.setValue(default_lr("active" if from_active else "scratch"))
        model_item = self.start_combo.model().item(0)
        model_item.setEnabled(active is not None)
        if active is None and from_active:
            self.start_combo.setCurrentIndex(1)  # re-enters via the signal
            return
        if active is None:
            self.start_hint.setText(
                "This project has no model yet, so a new one is trained from its images."
            )
        elif from_active:
            self.start_hint.setText(
                f"Starts from {active.version}, the model in use now, and keeps what it learnt."
            )
        else:
            self.start_hint.setText(
                "The new model learns only from this project's reviewed images; this needs "
                "many more images and epochs to do well."
            )
        preset = self._active_preset(active) if active is not None and from_active else None
        if preset is not None:
            idx = self.preset_combo.findData(preset)
            if idx >= 0:
                self.preset_combo.setCurrentIndex(idx)
            self.preset_hint.setText(
                f"Fixed to the current model's size ({preset}); change it only from scratch."
            )
        else:
            self.preset_hint.setText(
                "The image size the network works at. Larger is more precise but much slower."
            )
        self._update_enabled()

    def _show_plan(self) -> None:
        plan = self._plan
        if self._project is None or plan is None:
            self.data_label.setText("Open a project to retrain its model.")
            self.split_label.setText("")
            self.shortage_label.setVisible(False)
            return
        parts = []
        if plan.corrected:
            parts.append(f"{plan.corrected} corrected by hand")
        if plan.accepted:
            parts.append(f"{plan.accepted} predictions accepted as they were")
        if plan.imported:
            parts.append(f"{plan.imported} with imported landmarks")
        text = f"<b>{plan.total}</b> reviewed image{'s' if plan.total != 1 else ''} with landmarks"
        if parts:
            text += ": " + ", ".join(parts)
        text += "."
        extra = []
        if plan.unreviewed_with_truth:
            extra.append(
                f"{plan.unreviewed_with_truth} image(s) have landmarks but are not marked "
                "reviewed yet; they are not used."
            )
        if plan.other_template:
            extra.append(f"{plan.other_template} reviewed image(s) use another spine template.")
        if extra:
            text += "<br>" + " ".join(extra)
        self.data_label.setText(text)
        new_val = len(plan.new_val_ids)
        locked = (
            f" ({plan.locked_val} kept from earlier retrains, {new_val} new)"
            if plan.locked_val and new_val
            else (" (the same as for earlier retrains)" if plan.locked_val else "")
        )
        self.split_label.setText(
            f"Learning from <b>{len(plan.train_ids)}</b>; checking on <b>{len(plan.val_ids)}</b> "
            f"validation image{'s' if len(plan.val_ids) != 1 else ''}{locked}. Validation "
            "images are never learnt from and stay fixed, so results stay comparable."
        )
        message = plan.shortage_message()
        self.shortage_label.setText(message)
        self.shortage_label.setVisible(bool(message))

    def _update_enabled(self) -> None:
        running = self.is_running()
        deciding = self._candidate is not None
        can = (
            self._project is not None
            and self._plan is not None
            and self._plan.enough
            and not running
            and not deciding
        )
        self.retrain_button.setEnabled(can)
        if running:
            self.retrain_button.setToolTip("A retrain is running; wait for it or cancel it.")
        elif deciding:
            self.retrain_button.setToolTip("First choose which model to keep, below.")
        elif self._plan is not None and not self._plan.enough:
            self.retrain_button.setToolTip(self._plan.shortage_message())
        else:
            self.retrain_button.setToolTip(
                "Train a new model on the reviewed images. You can keep working meanwhile."
            )
        self.cancel_button.setEnabled(running)
        for w in (
            self.start_combo,
            self.epochs_spin,
            self.lr_spin,
            self.alpha_spin,
            self.batch_spin,
            self.device_combo,
            self.defaults_button,
        ):
            w.setEnabled(not running)
        fixed = self.start_combo.currentData() == "active" and self._active_model() is not None
        self.preset_combo.setEnabled(not running and not fixed)
        self.history_button.setEnabled(self._project is not None)

    def _set_message(self, text: str, kind: str = "info") -> None:
        styles = {
            "info": "",
            "ok": "background: #e3f4e1; color: #1d4d1a; border: 1px solid #8bc483; padding: 6px;",
            "error": "background: #fde7e7; color: #6b1111; border: 1px solid #d88; padding: 6px;",
        }
        self.message_label.setStyleSheet(styles.get(kind, ""))
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def _reset_progress(self) -> None:
        for curves in self.curves.values():
            for item in curves.values():
                item.setData([], [])
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label.setText("Not started.")
        self.eta_label.setText("")

    # ---------------------------------------------------------------- running

    def _build_command(self, settings, out: Path) -> tuple[str, list[str]]:
        """(program, arguments) of the trainer; tests replace this to simulate failures."""
        from spinegui.ml.retrain import train_command

        assert self._project is not None
        return train_command(self._project.folder, out, settings)

    def _recall_settings(self) -> None:
        """Show the settings this project's last retrain used, if it has one."""
        import json

        from spinegui.ml.retrain import RetrainSettings

        try:
            saved = self._project.setting(SETTINGS_KEY) if self._project is not None else None
            s = RetrainSettings.from_json(json.loads(saved)) if saved else None
        except (SpineguiError, ValueError, TypeError):
            s = None  # an unreadable preference is not worth a message
        if s is None:
            return
        self.epochs_spin.setValue(s.epochs)
        self.lr_spin.setValue(s.lr)
        self.alpha_spin.setValue(s.alpha)
        self.batch_spin.setValue(s.batch_size)
        for combo, value in (
            (self.start_combo, s.start),
            (self.preset_combo, s.preset),
            (self.device_combo, s.device),
        ):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        self._update_summary()

    def _remember_settings(self, settings) -> None:
        import contextlib
        import json

        with contextlib.suppress(SpineguiError):  # a preference; the retrain goes on without
            self._project.set_setting(SETTINGS_KEY, json.dumps(settings.to_json()))

    def start_retrain(self) -> bool:
        """Start a run if possible; False (with a message on the panel) when not."""
        if self.is_running():
            self._set_message("A retrain is already running. Wait for it or cancel it.", "error")
            return False
        if self._project is None:
            self._set_message("Open a project first.", "error")
            return False
        if self._candidate is not None:
            self._set_message("First choose which model to keep (below).", "error")
            return False
        self.refresh()
        plan = self._plan
        if plan is None or not plan.enough:
            self._set_message(plan.shortage_message() if plan else "", "error")
            return False
        from spinegui.ml.retrain import new_version_name

        settings = self.settings()
        active = self._active_model()
        if settings.start == "active" and active is None:
            settings.start = "scratch"
        try:
            apply_plan(self._project, plan)  # lock validation before the child reads it
            version = new_version_name(self._project)
            self._project.models_dir.mkdir(parents=True, exist_ok=True)
        except (SpineguiError, OSError) as exc:
            msg = exc.message if isinstance(exc, SpineguiError) else str(exc)
            self._set_message(f"Retraining could not start: {msg}", "error")
            return False
        out = self._project.models_dir / f"{version}.safetensors"
        self._remember_settings(settings)
        program, args = self._build_command(settings, out)
        self._run = {
            "version": version,
            "out": out,
            "settings": settings,
            "active": active.version if active is not None else None,
            "epochs": settings.epochs,
            "steps": 1,
            "end": None,
            "comparison": None,
            "train": {k: ([], []) for k in self.curves},
            "val": {k: ([], []) for k in self.curves},
            "step": {k: ([], []) for k in self.curves},
            "plan": plan,
        }
        self._reset_progress()
        self.result_box.setVisible(False)
        self.progress_box.setVisible(True)
        self.log_view.clear()
        self._log("$ spinegui " + shlex.join(args[2:] if args[:2] == ["-m", "spinegui"] else args))
        self._log(
            f"Training {version} on {len(plan.train_ids)} images, validating on "
            f"{len(plan.val_ids)}."
        )
        self.status_label.setText("Starting the trainer and reading the images…")
        self.progress_bar.setRange(0, 0)  # busy until the first event sizes it
        self._set_message("")
        self._proc.start(program, args, cwd=str(self._project.folder))
        self._update_enabled()
        self.runningChanged.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the run; the trainer gets a few seconds to stop cleanly, then it is killed."""
        if self.is_running():
            self.status_label.setText("Cancelling…")
            self._proc.cancel()

    def _on_event(self, event) -> None:
        run = self._run
        if run is None:
            return
        kind = getattr(event, "kind", None)
        if kind == "start":
            run["epochs"] = max(1, int(event.epochs))
            run["steps"] = max(1, int(event.steps_per_epoch))
            self.progress_bar.setRange(0, 1000)
            self.status_label.setText(
                f"Training on {event.device}: {event.train_images} training and "
                f"{event.val_images} validation images, up to {event.epochs} epochs."
            )
        elif kind == "step":
            done = (event.epoch - 1) * event.steps_per_epoch + event.step
            total = max(1, event.epochs * event.steps_per_epoch)
            self.progress_bar.setValue(int(1000 * done / total))
            self.eta_label.setText(
                f"Epoch {event.epoch} of {event.epochs} - {format_eta(event.eta_s)}"
            )
            x = event.epoch - 1 + event.step / max(1, event.steps_per_epoch)
            for key in self.curves:
                self._append(run["step"][key], x, getattr(event, key), self.curves[key]["step"])
        elif kind == "epoch":
            self.progress_bar.setValue(int(1000 * event.epoch / max(1, event.epochs)))
            self.eta_label.setText(
                f"Epoch {event.epoch} of {event.epochs} done - {format_eta(event.eta_s)}"
            )
            val = event.val or {}
            for key in self.curves:
                self._append(
                    run["train"][key], event.epoch, getattr(event, key), self.curves[key]["train"]
                )
                self._append(run["val"][key], event.epoch, val.get(key), self.curves[key]["val"])
            line = f"Epoch {event.epoch}/{event.epochs}: training loss {_num(event.total)}"
            if val:
                line += (
                    f", validation loss {_num(val.get('total'))}, landmark error "
                    f"{_num(val.get('mean_px'), '.1f')} px, "
                    f"Cobb SMAPE {_num(val.get('smape'), '.1f')}%"
                )
            if event.best:
                line += " - best so far, kept"
            self._log(line)
        elif kind == "end":
            run["end"] = event
            self._log(event.message)
            if event.status in ("completed", "early_stopped"):
                self.progress_bar.setValue(1000)
                self.status_label.setText("Measuring both models on the validation images…")
                self.eta_label.setText("")
        elif kind == "comparison":
            run["comparison"] = event
            for note in event.notes:
                self._log(note)

    @staticmethod
    def _append(series, x, y, item) -> None:
        if y is None or not math.isfinite(y) or y <= 0:
            return  # log axes cannot show zero or negatives; a gap is honest
        series[0].append(float(x))
        series[1].append(float(y))
        item.setData(series[0], series[1])

    def _on_finished(self, outcome: str, exit_code: int) -> None:
        run, self._run = self._run, None
        self.runningChanged.emit(False)
        if run is None:
            self._update_enabled()
            return
        end = run["end"]
        out: Path = run["out"]
        ok = (
            outcome == "finished"
            and end is not None
            and end.status in ("completed", "early_stopped")
            and out.is_file()
        )
        if ok:
            self._candidate = run
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(1000)
            self.status_label.setText(f"Done. {end.message}")
            self.eta_label.setText("")
            self._show_result(run)
            self._set_message(
                f"The new model {run['version']} is ready. Compare it below, then choose which "
                "model to keep.",
                "ok",
            )
        else:
            from spinegui.ml.retrain import discard_candidate

            discard_candidate(out)
            self.progress_bar.setRange(0, 1000)
            if outcome == "finished" and end is not None:
                text = (
                    f"Retraining ended without a new model: {end.message} "
                    "The current model is unchanged."
                )
            else:
                text = describe_exit(outcome, exit_code, self._proc.stderr_tail())
            self.status_label.setText("Cancelled." if outcome == "cancelled" else "Stopped.")
            self.eta_label.setText("")
            self._set_message(text, "info" if outcome == "cancelled" else "error")
            self._log(text)
        self._update_enabled()

    # ----------------------------------------------------------------- result

    def _show_result(self, run: dict[str, Any]) -> None:
        comp = run["comparison"]
        cur = (comp.current if comp is not None else None) or {}
        new = (comp.new if comp is not None else None) or {}
        n_val = comp.val_images if comp is not None else len(run["plan"].val_ids)
        cur_name = cur.get("version") or run["active"] or "none"
        self.result_table.setHorizontalHeaderLabels(
            [f"Current ({cur_name})", f"New ({run['version']})", "Change"]
        )
        rows: list[tuple[str, Any, Any, str, bool]] = [
            ("Mean corner error (px)", cur.get("mean_px"), new.get("mean_px"), ".1f", False),
        ]
        if cur.get("mean_mm") is not None or new.get("mean_mm") is not None:
            rows.append(
                ("Mean corner error (mm)", cur.get("mean_mm"), new.get("mean_mm"), ".2f", False)
            )
        rows += [
            ("Cobb angle SMAPE (%)", cur.get("smape"), new.get("smape"), ".1f", False),
            ("Pearson r (1 = perfect)", cur.get("pearson_r"), new.get("pearson_r"), ".3f", True),
        ]
        names = comp.vertebrae if comp is not None else []
        per_c = cur.get("per_vertebra_px") or []
        per_n = new.get("per_vertebra_px") or []
        for i, name in enumerate(names):
            rows.append(
                (
                    f"  {name} corner error (px)",
                    per_c[i] if i < len(per_c) else None,
                    per_n[i] if i < len(per_n) else None,
                    ".1f",
                    False,
                )
            )
        table = self.result_table
        table.setRowCount(len(rows))
        table.setVerticalHeaderLabels([r[0] for r in rows])
        for row, (_label, a, b, fmt, higher_better) in enumerate(rows):
            table.setItem(row, 0, _cell(_num(a, fmt)))
            table.setItem(row, 1, _cell(_num(b, fmt)))
            table.setItem(row, 2, _change_cell(a, b, fmt, higher_better))
        if comp is None:
            intro = (
                "The trainer did not report a comparison, so only the new model's own "
                "validation figures are known (see the log)."
            )
        else:
            intro = (
                f"Both models measured on the same {n_val} validation image"
                f"{'s' if n_val != 1 else ''}, which neither learnt from. Lower errors and "
                "SMAPE are better; a Pearson r closer to 1 is better."
            )
            if not cur:
                intro += " The project had no model before, so there is nothing to compare with."
        self.result_intro.setText(intro)
        self.discard_button.setText(
            "Keep the current model" if run["active"] else "Discard the new model"
        )
        self.result_box.setVisible(True)

    def adopt(self) -> bool:
        """Make the finished run's model the project's active model and announce it."""
        cand = self._candidate
        if cand is None or self._project is None:
            return False
        from spinegui.ml.retrain import adopt_candidate

        try:
            record = adopt_candidate(
                self._project,
                cand["version"],
                cand["out"],
                settings=cand["settings"].to_json(),
                comparison=cand["comparison"],
            )
        except SpineguiError as exc:
            self._set_message(
                f"The new model could not be put into use: {exc.message}\n{exc.hint}", "error"
            )
            return False
        self._candidate = None
        self.result_box.setVisible(False)
        self._set_message(
            f"{record.version} is now the model in use. Predictions are being refreshed.", "ok"
        )
        self._log(f"Adopted {record.version}.")
        self.refresh()
        self.modelAdopted.emit(record.version, str(record.path))
        return True

    def discard(self) -> None:
        """Keep the current model; delete the candidate."""
        if self._candidate is None:
            return
        version = self._candidate["version"]
        self._forget_candidate(delete=True)
        self.result_box.setVisible(False)
        self._set_message(f"Kept the current model; {version} was discarded.", "info")
        self._log(f"Discarded {version}.")
        self._update_enabled()

    def _forget_candidate(self, *, delete: bool) -> None:
        cand, self._candidate = self._candidate, None
        if cand is not None and delete:
            from spinegui.ml.retrain import discard_candidate

            discard_candidate(cand["out"])

    # ---------------------------------------------------------------- history

    def show_history(self) -> None:
        if self._project is None:
            return
        from spinegui.gui.model_history import ModelHistoryDialog

        dialog = ModelHistoryDialog(self._project, self)
        dialog.modelActivated.connect(self._on_history_activated)
        self._history_dialog = dialog
        dialog.show()

    def _on_history_activated(self, version: str, path: str) -> None:
        self.refresh()
        self._set_message(f"{version} is now the model in use.", "ok")
        self.modelAdopted.emit(version, path)


def _parse_event(line: str):
    from spinegui.ml.retrain import parse_event

    return parse_event(line)


def _num(value, fmt: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _cell(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _change_cell(a, b, fmt: str, higher_better: bool) -> QTableWidgetItem:
    if a is None or b is None:
        return _cell("")
    diff = b - a
    if abs(diff) < 10 ** -(int(fmt[1]) if fmt[1].isdigit() else 2):
        return _cell("same")
    better = diff > 0 if higher_better else diff < 0
    item = _cell(f"{diff:+{fmt}} {'better' if better else 'worse'}")
    item.setForeground(QColor("#1b6e1b" if better else "#a01818"))
    return item
