"""The retrain settings: where to start from, and the paper's knobs behind "Change…".

A clinician sees one choice (improve the current model, or start anew) and a
one-line summary; a researcher opens "Change…" for epochs, learning rate,
the shape weight alpha, batch size, image size and device, each explained in
a sentence. A fine-tune keeps its parent's image size, so that choice is
fixed while the current model is the start.
"""

from __future__ import annotations

import contextlib
import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from spinegui.core.errors import SpineguiError
from spinegui.ml.retrain import RetrainSettings, default_lr

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
HINT_STYLE = "color: palette(placeholder-text); font-size: small;"
SETTINGS_KEY = "retrain"
"""Project setting holding the last retrain's settings (JSON), shown again next time."""


def model_preset(model) -> str | None:
    """The image size preset a model was trained at (its card, else its file's header)."""
    if model is None:
        return None
    preset = (model.card or {}).get("preset")
    if preset:
        return str(preset)
    try:
        from spinegui.core.model_card import read_model_card

        return read_model_card(model.path).get("preset")
    except (SpineguiError, OSError):
        return None


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    return label


class RetrainSettingsBox(QGroupBox):
    """The settings of the next retrain; ``settings()`` reads them."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        self._active = None
        self._active_preset: str | None = None
        form = QFormLayout(self)
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
            "fewer images. A new model learns only from this project's images.\n"
            "A two-stage model is improved in its whole-X-ray stage, which finds each "
            "vertebra's level; its close-up stage is kept as it is (measured: that is what "
            "adapts to another hospital's X-rays). A new model has the whole-X-ray stage only."
        )
        self.start_hint = hint("")
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
        self.more_box = self._details()
        self.more_box.setVisible(False)
        form.addRow(self.more_box)
        self.restore_defaults()
        self.start_combo.currentIndexChanged.connect(self._start_changed)
        for spin in (self.epochs_spin, self.lr_spin, self.alpha_spin, self.batch_spin):
            spin.valueChanged.connect(self._update_summary)
        for combo in (self.preset_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._update_summary)

    def _details(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
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
        for row, (label, widget, text) in enumerate(rows):
            grid.addWidget(QLabel(label), row, 0)
            if text is None:
                grid.addWidget(widget, row, 1, 1, 2)
            else:
                widget.setMinimumWidth(110)
                grid.addWidget(widget, row, 1)
                grid.addWidget(hint(text), row, 2)
        self.preset_hint = hint("")
        grid.addWidget(self.preset_hint, len(rows), 1, 1, 2)
        self.defaults_button = QPushButton("Restore the defaults")
        self.defaults_button.setToolTip("The paper's settings and 30 epochs.")
        self.defaults_button.clicked.connect(self.restore_defaults)
        grid.addWidget(self.defaults_button, len(rows) + 1, 1)
        return box

    # ------------------------------------------------------------------ values

    def settings(self) -> RetrainSettings:
        """The settings as chosen (a from-scratch run when there is no model to improve)."""
        start = "active" if self.start_combo.currentData() == "active" else "scratch"
        if start == "active" and self._active is None:
            start = "scratch"
        return RetrainSettings(
            epochs=self.epochs_spin.value(),
            lr=self.lr_spin.value(),
            alpha=self.alpha_spin.value(),
            batch_size=self.batch_spin.value(),
            start=start,
            preset=self.preset_combo.currentData(),
            device=self.device_combo.currentData(),
        )

    def set_settings(self, s: RetrainSettings) -> None:
        """Show saved settings (the project's last retrain)."""
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

    def recall(self, project) -> None:
        """Show the settings this project's last retrain used, if it has one."""
        try:
            saved = project.setting(SETTINGS_KEY) if project is not None else None
            s = RetrainSettings.from_json(json.loads(saved)) if saved else None
        except (SpineguiError, ValueError, TypeError):
            s = None  # an unreadable preference is not worth a message
        if s is not None:
            self.set_settings(s)

    @staticmethod
    def remember(project, settings: RetrainSettings) -> None:
        with contextlib.suppress(SpineguiError):  # a preference; the retrain goes on without
            project.set_setting(SETTINGS_KEY, json.dumps(settings.to_json()))

    def restore_defaults(self) -> None:
        d = RetrainSettings()
        self.epochs_spin.setValue(d.epochs)
        self.lr_spin.setValue(default_lr(self.start_combo.currentData() or "active"))
        self.alpha_spin.setValue(d.alpha)
        self.batch_spin.setValue(d.batch_size)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(d.preset))
        self.device_combo.setCurrentIndex(self.device_combo.findData(d.device))
        self._show_start()  # a fine-tune keeps its model's size, not the default

    def set_active_model(self, active, preset: str | None) -> None:
        """The model a fine-tune would start from (None: none) and its image size."""
        self._active, self._active_preset = active, preset
        self._start_changed()

    def set_running(self, running: bool) -> None:
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
        fixed = self.start_combo.currentData() == "active" and self._active is not None
        self.preset_combo.setEnabled(not running and not fixed)

    # ---------------------------------------------------------------- private

    def _start_changed(self) -> None:
        from_active = self.start_combo.currentData() == "active"
        other = default_lr("scratch" if from_active else "active")
        if self.lr_spin.value() == other:  # still the other mode's default: follow the mode
            self.lr_spin.setValue(default_lr("active" if from_active else "scratch"))
        self.start_combo.model().item(0).setEnabled(self._active is not None)
        if self._active is None and from_active:
            self.start_combo.setCurrentIndex(1)  # re-enters via the signal
            return
        self._show_start()

    def _show_start(self) -> None:
        active = self._active
        from_active = self.start_combo.currentData() == "active" and active is not None
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
        preset = self._active_preset if from_active else None
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
        self.preset_combo.setEnabled(not from_active or preset is None)
        self._update_summary()
        self.changed.emit()

    def _toggle_more(self, shown: bool) -> None:
        self.more_box.setVisible(shown)
        self.more_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self._update_summary()

    def _update_summary(self) -> None:
        """The collapsed settings in one line, so nobody has to open them to know."""
        s = self.settings()
        usual = s.lr == default_lr(s.start) and s.alpha == 0.01 and s.batch_size == 4
        text = f"{s.epochs} epochs, " + (
            "the usual learning settings" if usual else "custom learning settings"
        )
        text += f", {self.preset_combo.currentData()} size, {self.device_combo.currentData()}"
        self.summary_label.setText(f"Settings: {text}.")
        self.more_button.setText("Hide settings" if self.more_button.isChecked() else "Change…")
