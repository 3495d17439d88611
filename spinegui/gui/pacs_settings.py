"""The PACS server settings dialog and the password prompt.

The address, login kind and user name are remembered (``pacs.config``); the
password or token only in the system keyring when the user ticks "Remember",
otherwise for this session (``pacs.credentials``). Without a keyring the box
is disabled and says why.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import SpineguiError
from spinegui.gui.dialogs import show_error
from spinegui.pacs.config import ServerConfig, save_config
from spinegui.pacs.credentials import Credentials

AUTH_LABELS = {"none": "No login", "basic": "User name and password", "bearer": "Access token"}


class PacsSettingsDialog(QDialog):
    """Edit the remembered server; ``config`` holds the result after ``accept``."""

    def __init__(self, config: ServerConfig, credentials: Credentials, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS server")
        self.config = config
        self.credentials = credentials
        self.url = QLineEdit(config.url)
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.url.setToolTip("The DICOMweb address of your PACS; your PACS administrator knows it.")
        self.auth = QComboBox()
        for key, label in AUTH_LABELS.items():
            self.auth.addItem(label, key)
        self.auth.setCurrentIndex(list(AUTH_LABELS).index(config.auth))
        self.user = QLineEdit(config.username)
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("asked when needed if left empty")
        self.remember = QCheckBox("Remember in the system keyring")
        if not credentials.keyring_available:
            self.remember.setEnabled(False)
            self.remember.setToolTip(
                "This computer has no system keyring: you will be asked once per session."
            )
        self.verify = QCheckBox("Check the server's certificate (recommended)")
        self.verify.setChecked(config.verify_tls)
        self.ca_file = QLineEdit(config.ca_bundle)
        self.ca_file.setPlaceholderText("optional: the hospital's CA certificate (PEM)")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_ca)
        ca_row = QWidget()
        row = QHBoxLayout(ca_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.ca_file, 1)
        row.addWidget(browse)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b36b00;")

        form = QFormLayout()
        form.addRow("DICOMweb address:", self.url)
        form.addRow("Login:", self.auth)
        form.addRow("User name:", self.user)
        form.addRow("Password / token:", self.secret)
        form.addRow("", self.remember)
        form.addRow("", self.verify)
        form.addRow("CA certificate:", ca_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(buttons)
        self.auth.currentIndexChanged.connect(self._update)
        self.url.textChanged.connect(self._update)
        self.verify.toggled.connect(self._update)
        self._update()

    def edited(self) -> ServerConfig:
        return replace(
            self.config,
            url=self.url.text(),
            auth=self.auth.currentData(),
            username=self.user.text(),
            verify_tls=self.verify.isChecked(),
            ca_bundle=self.ca_file.text().strip(),
        )

    def accept(self) -> None:
        try:
            config = self.edited().checked()
            save_config(config)
        except SpineguiError as exc:
            show_error(self, "The PACS settings are not complete", exc)
            return
        if self.secret.text() and config.auth != "none":
            self.credentials.remember(config, self.secret.text(), persist=self.remember.isChecked())
        self.config = config
        super().accept()

    def _update(self) -> None:
        kind = self.auth.currentData()
        self.user.setEnabled(kind == "basic")
        self.secret.setEnabled(kind != "none")
        words = [self.edited().plain_http_warning()]
        if not self.verify.isChecked():
            words.append("Without certificate checks another computer could pose as the PACS.")
        self.warning.setText(" ".join(w for w in words if w))

    def _choose_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "The hospital's CA certificate", "", "Certificates (*.pem *.crt);;All files (*)"
        )
        if path:
            self.ca_file.setText(path)


def ask_secret(parent, config: ServerConfig, credentials: Credentials, *, again: bool = False):
    """The session's (or keyring's) secret, else ask; None when the user cancels."""
    if config.auth == "none":
        return ""
    if not again:
        known = credentials.get(config)
        if known is not None:
            return known
    dialog = QDialog(parent)
    dialog.setWindowTitle("PACS login")
    what = "token" if config.auth == "bearer" else f"password for {config.username}"
    label = QLabel(
        ("The PACS refused the login. " if again else "") + f"Enter the {what} at {config.url}:"
    )
    label.setWordWrap(True)
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    remember = QCheckBox("Remember in the system keyring")
    remember.setEnabled(credentials.keyring_available)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    for widget in (label, field, remember, buttons):
        layout.addWidget(widget)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    credentials.remember(config, field.text(), persist=remember.isChecked())
    return field.text()
