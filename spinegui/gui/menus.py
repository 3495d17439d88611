"""The window's menus, toolbar and undo/redo actions, and what each command calls.

The action table (``actions.SPECS``) says what each command is called and
which keys it has; this module says where it appears and what it does, so a
new command (File > Open from PACS, say) is one line in ``MENUS`` and one in
``window_slots`` (or a ``connect`` of its own). Single-letter shortcuts are
attached to the X-ray view only (``actions.canvas_only``), so they act while
the image has the focus and are plain typing elsewhere.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QToolBar

from spinegui.gui.actions import SPECS, canvas_only
from spinegui.gui.dialogs import ShortcutsDialog, show_about

LAYER_ACTIONS = {
    "truth": "layer_truth",
    "prediction": "layer_prediction",
    "labels": "layer_labels",
    "cobb": "layer_cobb",
    "handles": "layer_handles",
    "uncertainty": "layer_uncertainty",
}
COBB_SOURCES = {"truth": "cobb_truth", "prediction": "cobb_prediction", "both": "cobb_both"}
TOOLBAR_LABELS = {
    "previous": "◀ Previous",
    "next": "Next ▶",
    "undo": "Undo",
    "redo": "Redo",
    "accept": "Accept vertebra",
    "accept_all": "Accept all",
    "reviewed_next": "✓ Reviewed, next",
    "fit": "Fit",
    "invert": "Invert",
    "predict_all": "Predict all",
}
"""Short toolbar labels; menus keep the full wording."""
MENUS = {
    "&File": [
        "open_project",
        "new_project",
        "recent",
        None,
        "add_files",
        "add_folder",
        "open_pacs",
        "send_pacs",
        None,
        "open_demo",
        None,
        "export_png",
        "export_png_full",
        "export_pdf",
        None,
        "close_project",
        "quit",
    ],
    "&Edit": ["undo", "redo", None, "accept", "accept_all"],
    "&Review": [
        "reviewed_next",
        "mark_in_review",
        "mark_not_started",
        None,
        "pick_ends",
        "clear_ends",
        None,
        "calibrate",
        "remove_calibration",
        None,
        "next",
        "previous",
        "find",
    ],
    "&View": ["fit", "invert", None, *LAYER_ACTIONS.values(), "cobb_lines", None, "docks"],
    "&Model": ["predict", "predict_all", "cancel_predictions"],
    "&Help": ["shortcuts", "about"],
}
TOOLBAR = (
    "previous",
    "next",
    None,
    "undo",
    "redo",
    None,
    "accept",
    "accept_all",
    "reviewed_next",
    None,
    "fit",
    "invert",
    None,
    "predict_all",
)
_CANVAS_ONLY = {s.key for s in SPECS if canvas_only(s)}


def window_slots(w) -> dict:
    """What each command does: a method of the window (or of one of its parts)."""
    return {
        "open_project": w.choose_project,
        "new_project": lambda: w.choose_new_project(),  # triggered(checked) is no folder
        "add_files": w.choose_files,
        "add_folder": w.choose_folder,
        "open_demo": w.open_demo,
        "open_pacs": lambda: _pacs_actions().open_from_pacs(w),
        "send_pacs": lambda: _pacs_actions().send_reports(w),
        "export_png": lambda: w.choose_export_png(full=False),
        "export_png_full": lambda: w.choose_export_png(full=True),
        "export_pdf": w.choose_export_pdf,
        "close_project": w.close_project,
        "quit": w.close,
        "undo": w.undo,
        "redo": w.redo,
        "accept": w.accept_selected,
        "accept_all": w.accept_all,
        "reviewed_next": w.mark_reviewed_and_next,
        "mark_in_review": lambda: w.set_status("in_review"),
        "mark_not_started": lambda: w.set_status("not_started"),
        "pick_ends": w.pick_ends,
        "clear_ends": w.clear_ends,
        "calibrate": w.start_ruler,
        "remove_calibration": w.remove_ruler,
        "next": lambda: w.go(+1),
        "previous": lambda: w.go(-1),
        "find": w.focus_search,
        "fit": w.canvas.fit,
        "predict": lambda: w.prediction.request(force=True),
        "predict_all": w.prediction.predict_all,
        "cancel_predictions": w.prediction.cancel,
        "shortcuts": lambda: ShortcutsDialog(w).exec(),
        "about": lambda: show_about(w),
    }


def _pacs_actions():
    """Imported on first use: the PACS libraries stay off the window's start-up path."""
    from spinegui.gui import pacs_actions

    return pacs_actions


def install_menus(w) -> QToolBar:
    """Fill the window's menu bar and toolbar from ``MENUS``/``TOOLBAR``; returns the toolbar."""
    a = w.actions_
    mb = w.menuBar()
    for title, keys in MENUS.items():
        menu = mb.addMenu(title)
        menu.setToolTipsVisible(True)
        for key in keys:
            if key is None:
                menu.addSeparator()
            elif key == "recent":
                w.recent_menu = menu.addMenu("Open &recent")
                w.recent_menu.aboutToShow.connect(w.fill_recent_menu)
            elif key == "docks":
                panels = menu.addMenu("&Panels")
                for dock in w.docks.values():
                    panels.addAction(dock.toggleViewAction())
            elif key == "cobb_lines":
                lines = menu.addMenu("Cobb lines &from")
                lines.setToolTipsVisible(True)
                group = QActionGroup(w)
                for source, action_key in COBB_SOURCES.items():
                    group.addAction(a[action_key])
                    lines.addAction(a[action_key])
                    a[action_key].setChecked(source == w.canvas.cobb_source())
            else:
                menu.addAction(a[key])
    for key, act in a.items():
        # Shortcuts work while the menu bar is hidden; single letters only on the X-ray.
        (w.canvas if key in _CANVAS_ONLY else w).addAction(act)
    tb = QToolBar("Main")
    tb.setObjectName("toolbar_main")
    for key in TOOLBAR:
        if key is None:
            tb.addSeparator()
        else:
            a[key].setIconText(TOOLBAR_LABELS.get(key, a[key].iconText()))
            tb.addAction(a[key])
    w.addToolBar(tb)
    return tb


def connect_actions(w) -> None:
    """Connect every command to what it does, and the checkable ones to their setting."""
    a = w.actions_
    for key, slot in window_slots(w).items():
        a[key].triggered.connect(slot)
    a["invert"].toggled.connect(w.set_inverted)
    for name, key in LAYER_ACTIONS.items():
        a[key].setChecked(w.settings.layer_visible(name))
        a[key].toggled.connect(lambda on, n=name: w.set_layer(n, on))
    for source, key in COBB_SOURCES.items():
        a[key].toggled.connect(lambda on, s=source: on and w.set_cobb_source(s))
    a["cancel_predictions"].setEnabled(False)


def update_undo_actions(w) -> None:
    """Menu entries name the change ("Undo Move T5 corner"); the toolbar keeps short labels."""
    history = w.session.history
    for key, text, keys in (
        ("undo", history.undo_text(), "Ctrl+Z"),
        ("redo", history.redo_text(), "Ctrl+Shift+Z"),
    ):
        act: QAction = w.actions_[key]
        verb = key.capitalize()
        act.setEnabled(bool(text))
        act.setText(f"&{verb} {text}" if text else f"&{verb}")
        act.setToolTip(f"{verb} {text} ({keys})" if text else f"Nothing to {key}")
