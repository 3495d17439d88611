"""Every menu command in one table: text, shortcuts, tooltip.

One table feeds the menus, the toolbar, the tooltips (which show the shortcut)
and Help > Keyboard shortcuts, so the help can never disagree with the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


@dataclass(frozen=True)
class ActionSpec:
    key: str
    text: str
    shortcuts: tuple[str, ...]
    tip: str
    group: str
    checkable: bool = False


def _s(*keys: str) -> tuple[str, ...]:
    return keys


SPECS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec(
        "open_project",
        "&Open project…",
        _s("Ctrl+O"),
        "Open a folder that holds a spinegui project",
        "File",
    ),
    ActionSpec(
        "new_project",
        "&New project from folder…",
        _s("Ctrl+N"),
        "Create a project in a folder of X-rays and add them all",
        "File",
    ),
    ActionSpec(
        "add_files",
        "&Add X-ray files…",
        _s("Ctrl+Shift+O"),
        "Add PNG, JPEG, TIFF or DICOM files to the open project (or to your Inbox)",
        "File",
    ),
    ActionSpec(
        "add_folder",
        "Add &folder of X-rays…",
        _s(),
        "Add every X-ray in a folder to the open project (or to your Inbox)",
        "File",
    ),
    ActionSpec(
        "open_pacs",
        "Open from PA&CS…",
        _s("Ctrl+Alt+O"),
        "Search the hospital's PACS (DICOMweb) and add X-rays to the open project (or your Inbox)",
        "File",
    ),
    ActionSpec(
        "send_pacs",
        "&Send reports to PACS…",
        _s("Ctrl+Alt+S"),
        "Send the measurement reports of reviewed PACS images back to their studies",
        "File",
    ),
    ActionSpec(
        "open_demo",
        "Open the &demo project",
        _s(),
        "Synthetic X-rays to try the tool on; nothing real is changed",
        "File",
    ),
    ActionSpec(
        "export_png",
        "Export image as &PNG…",
        _s("Ctrl+E"),
        "Save the X-ray at its full resolution with the boxes, curve names and angles shown",
        "File",
    ),
    ActionSpec(
        "export_png_full",
        "Export image with &handles and uncertainty…",
        _s("Ctrl+Shift+E"),
        "As Export image, with the corner handles and the model's uncertainty marks too",
        "File",
    ),
    ActionSpec(
        "export_pdf",
        "Save &report (PDF)…",
        _s("Ctrl+P"),
        "One-page report for the patient record: patient and study, image with a mm scale, "
        "named curves with both angle sets, model, reviewer, date",
        "File",
    ),
    ActionSpec(
        "close_project",
        "&Close project",
        _s("Ctrl+W"),
        "Close the project and go back to the start page",
        "File",
    ),
    ActionSpec(
        "quit", "&Quit", _s("Ctrl+Q"), "Quit spinegui (everything is already saved)", "File"
    ),
    # Edit
    ActionSpec(
        "undo",
        "&Undo",
        _s("Ctrl+Z"),
        "Undo the last change (shows the image it was made on)",
        "Edit",
    ),
    ActionSpec("redo", "&Redo", _s("Ctrl+Shift+Z", "Ctrl+Y"), "Redo what was undone", "Edit"),
    ActionSpec(
        "accept",
        "&Accept prediction for vertebra",
        _s("A"),
        "Copy the red box of the selected vertebra into the ground truth",
        "Edit",
    ),
    ActionSpec(
        "accept_all",
        "Accept &all predictions",
        _s("Shift+A"),
        "Make the whole red prediction the ground truth of this image",
        "Edit",
    ),
    ActionSpec(
        "reviewed_next",
        "Mark reviewed and &next",
        _s("Ctrl+Return", "Ctrl+Enter"),
        "Sign this image off as reviewed and open the next one",
        "Review",
    ),
    ActionSpec(
        "mark_in_review", "Mark &in review", _s(), "Set the status back to 'in review'", "Review"
    ),
    ActionSpec(
        "mark_not_started",
        "Mark n&ot started",
        _s(),
        "Set the status back to 'not started'",
        "Review",
    ),
    ActionSpec(
        "pick_ends",
        "Choose &end vertebrae…",
        _s("E"),
        "Click the upper, then the lower end vertebra of a curve: its angle is measured "
        "between them (Esc cancels)",
        "Review",
    ),
    ActionSpec(
        "clear_ends",
        "Let the rules choose the end vertebrae",
        _s(),
        "Forget the end vertebrae you chose on this image",
        "Review",
    ),
    ActionSpec(
        "calibrate",
        "Calibrate with a &ruler…",
        _s("K"),
        "Draw a line over something of known length (ruler, calibration ball) to measure "
        "this image in millimetres",
        "Review",
    ),
    ActionSpec(
        "remove_calibration",
        "Remove this image's ruler",
        _s(),
        "Measure this image in pixels again (or with the project's ruler)",
        "Review",
    ),
    # Navigate
    ActionSpec(
        "next",
        "&Next image",
        _s("PgDown", "Ctrl+Right"),
        "Open the next image of the list",
        "Navigate",
    ),
    ActionSpec(
        "previous",
        "&Previous image",
        _s("PgUp", "Ctrl+Left"),
        "Open the previous image of the list",
        "Navigate",
    ),
    ActionSpec("find", "&Find image…", _s("Ctrl+F"), "Search the list by file name", "Navigate"),
    # View
    ActionSpec("fit", "&Fit to window", _s("F"), "Show the whole X-ray", "View"),
    ActionSpec(
        "invert",
        "&Invert grey values",
        _s("I"),
        "Show the X-ray as a negative",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_truth",
        "Ground &truth (green)",
        _s("G"),
        "Show or hide the green ground-truth boxes",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_prediction",
        "&Prediction (red)",
        _s("R"),
        "Show or hide the red predicted boxes",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_labels",
        "Vertebra &labels",
        _s("L"),
        "Show or hide the vertebra names",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_cobb",
        "&Cobb lines",
        _s("C"),
        "Show or hide the Cobb angle lines on the end vertebrae",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_uncertainty",
        "Model &uncertainty marks",
        _s("U"),
        "Show or hide the marks beside each red box: bigger and warmer where the model is "
        "less sure",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "cobb_truth",
        "Cobb lines of the ground &truth",
        _s(),
        "Draw the Cobb lines measured on the green boxes",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "cobb_prediction",
        "Cobb lines of the &prediction",
        _s(),
        "Draw the Cobb lines measured on the red boxes (dashed)",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "cobb_both",
        "Cobb lines of &both",
        _s(),
        "Draw both: solid for the ground truth, dashed for the prediction",
        "View",
        checkable=True,
    ),
    ActionSpec(
        "layer_handles",
        "Corner &handles",
        _s("H"),
        "Show or hide the draggable corner points",
        "View",
        checkable=True,
    ),
    # Model
    ActionSpec(
        "predict",
        "&Predict this image again",
        _s("F5"),
        "Run the model on the current image again",
        "Model",
    ),
    ActionSpec(
        "predict_all",
        "Predict &all images",
        _s("Ctrl+Shift+P"),
        "Run the model on every image of the project (you can cancel)",
        "Model",
    ),
    ActionSpec(
        "cancel_predictions",
        "&Cancel predictions",
        _s(),
        "Stop predicting all images; finished ones are kept",
        "Model",
    ),
    # Help
    ActionSpec(
        "shortcuts", "&Keyboard shortcuts", _s("F1"), "List every keyboard shortcut", "Help"
    ),
    ActionSpec("about", "&About spinegui", _s(), "Version, citation and intended use", "Help"),
)


def canvas_only(spec: ActionSpec) -> bool:
    """Single letters (with or without Shift) act only while the X-ray has the focus.

    Elsewhere they are typing: "G" in the search field must not hide the truth.
    """
    if not spec.shortcuts:
        return False
    return all(len(k.removeprefix("Shift+")) == 1 for k in spec.shortcuts)


CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("Drag a corner", "Move that corner (one undo step per drag)"),
    ("Drag a box's centre ring", "Move the whole vertebra"),
    ("Arrow keys (Shift: ×10)", "Nudge the selected corner or vertebra by one pixel"),
    ("Esc", "Clear the selection, or cancel a drag, a ruler or choosing end vertebrae"),
    ("Mouse wheel", "Zoom around the pointer"),
    ("Drag the empty image", "Pan"),
    ("Right-drag", "Brightness (up/down) and contrast (left/right)"),
)


def tooltip_with_keys(spec: ActionSpec) -> str:
    if not spec.shortcuts:
        return spec.tip
    keys = ", ".join(
        QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in spec.shortcuts
    )
    return f"{spec.tip} ({keys})"


def build_actions(parent) -> dict[str, QAction]:
    actions = {}
    for spec in SPECS:
        a = QAction(spec.text, parent)
        if canvas_only(spec):
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.setShortcuts([QKeySequence(k) for k in spec.shortcuts])
        a.setToolTip(tooltip_with_keys(spec))
        a.setStatusTip(spec.tip)
        a.setCheckable(spec.checkable)
        a.setObjectName(f"action_{spec.key}")
        actions[spec.key] = a
    return actions


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(group, keys, what it does) for the help dialog, menu commands then canvas gestures."""
    rows = [
        (
            "Image" if canvas_only(s) else s.group,
            ", ".join(s.shortcuts),
            s.text.replace("&", "").rstrip("…"),
        )
        for s in SPECS
        if s.shortcuts
    ]
    rows += [("Image", keys, what) for keys, what in CANVAS_KEYS]
    return rows
