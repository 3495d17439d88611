"""The window's PACS commands: File > Open from PACS and Send reports to PACS.

Glue only: where retrieved images go (the open project, else the Inbox, as
for loose files) and what the window does when they arrive (list them, show
the first). The dialogs do the work (``pacs_dialog``, ``pacs_send``). The menu
imports this module on first use, so the PACS libraries do not slow the
window's start.
"""

from __future__ import annotations

from spinegui.gui.pacs_dialog import OpenFromPacsDialog
from spinegui.gui.pacs_send import SendReportsDialog


def bring_in_own_writes(window) -> None:
    """Show what this window's own PACS thread wrote (through a connection of its own).

    Left to the window's watch for other writers, it was announced as changes
    "from another window" although none was open.
    """
    if not window.session.check_for_changes():
        window.refresh_worklist()


def open_from_pacs(window, **dialog_options) -> OpenFromPacsDialog:
    """Show the PACS search dialog (window-modal, the window keeps painting)."""
    # Retrieved images go where loose files go: the open project, else the Inbox.
    dialog = OpenFromPacsDialog(window.project_or_inbox, parent=window, **dialog_options)

    def arrived(image_ids: list[int]) -> None:
        bring_in_own_writes(window)
        if image_ids:
            window.show_image(image_ids[0])
        window.statusBar().showMessage(f"{len(image_ids)} image(s) from the PACS.", 8000)

    dialog.imagesAdded.connect(arrived)
    dialog.open()
    return dialog


def send_reports(window, **dialog_options) -> SendReportsDialog | None:
    """Show the send dialog for the open project."""
    if window.project is None:
        window.statusBar().showMessage("Open a project with images from a PACS first.", 6000)
        return None
    dialog = SendReportsDialog(window.project, parent=window, **dialog_options)
    dialog.finished.connect(lambda _: bring_in_own_writes(window))
    dialog.open()
    return dialog
