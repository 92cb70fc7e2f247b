"""Run history's "Publish…": a run uploaded to the Hugging Face Hub (core/push.py), fused
into its base model or as adapters alone, with a model card written from the run. The
upload runs in a child process (engine/task.py) with progress and Cancel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import runs
from mlxstudio.core.errors import UserError
from mlxstudio.core.push import TOKEN_HELP, check_repo, hub_token, push_task
from mlxstudio.engine.task import TaskThread
from mlxstudio.gui.icons import icon
from mlxstudio.gui.style import make_primary, set_message

TOKEN_PAGE = "https://huggingface.co/settings/tokens"
WHERE = "a token with write access, from huggingface.co/settings/tokens"


def can_publish(run_dir: Path | None) -> bool:
    """A run that saved its adapters (directly or in adapters/)."""
    if run_dir is None:
        return False
    run_dir = Path(run_dir)
    return runs.is_adapter_dir(run_dir) or runs.is_adapter_dir(run_dir / "adapters")


def has_stored_token() -> bool:
    try:
        hub_token()
    except UserError:
        return False
    return True


class PublishDialog(QDialog):
    """Repo name, private, adapters only, and a token field when this computer has none."""

    def __init__(self, run_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.task: TaskThread | None = None
        self.url = ""
        self.setWindowTitle(f"Publish {self.run_dir.name} to the Hugging Face Hub")
        self.setMinimumWidth(560)

        # ---- widgets
        self.repo = QLineEdit(self.run_dir.name)
        self.repo.setPlaceholderText("user/name, or a name under your own user")
        self.repo.setToolTip(
            "The model repo to create (or update, if it is yours already): 'user/name' or "
            "'organisation/name'; a bare name goes under the user the token belongs to."
        )
        self.private = QCheckBox("Private (only you and your organisation can see it)")
        self.private.setChecked(True)
        self.adapter_only = QCheckBox("Adapters only (small; loading them needs the base model)")
        self.adapter_only.setToolTip(
            "Unticked, the adapters are fused into the base model first: the repo holds a "
            "whole model that loads by its name alone."
        )
        self.license = QLineEdit()
        self.license.setPlaceholderText("the base model's licence (e.g. apache-2.0)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_…")
        self.token_help = QLabel(
            f"This computer is not logged in to the Hub. Paste a token with write access "
            f'from <a href="{TOKEN_PAGE}">huggingface.co/settings/tokens</a>; it is used '
            f"for this upload only."
        )
        self.token_help.setWordWrap(True)
        self.token_help.setOpenExternalLinks(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setOpenExternalLinks(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.publish_button = make_primary(QPushButton("Publish"), "export")
        self.cancel_button = QPushButton(icon("stop"), "Cancel upload")
        self.cancel_button.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.publish_button, QDialogButtonBox.ButtonRole.ActionRole)

        # ---- layout
        form = QFormLayout()
        form.addRow("Repo", self.repo)
        form.addRow("", self.private)
        form.addRow("", self.adapter_only)
        form.addRow("Licence", self.license)
        form.addRow("Token", self.token)
        self.token_row = [form.labelForField(self.token), self.token]
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.token_help)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

        # ---- signals
        self.publish_button.clicked.connect(self.publish)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.rejected.connect(self.close)
        self.show_token_field(not has_stored_token())

    # ---- Public API
    def is_running(self) -> bool:
        return self.task is not None and self.task.isRunning()

    def show_token_field(self, shown: bool) -> None:
        for widget in [*self.token_row, self.token_help]:
            widget.setVisible(shown)

    def publish(self) -> None:
        if self.is_running():
            return
        repo = self.repo.text().strip()
        try:
            check_repo(repo)
        except UserError as err:
            set_message(self.message, f"{err} — correct the Repo field.", "error")
            self.repo.setFocus()
            return
        if not self.token.isHidden() and not self.token.text().strip():
            set_message(self.message, "Paste a Hub token with write access first.", "error")
            self.token.setFocus()
            return
        options = {
            "private": self.private.isChecked(),
            "adapter_only": self.adapter_only.isChecked(),
            "license": self.license.text().strip() or None,
            "token": self.token.text().strip() or None,
        }
        self.task = TaskThread(push_task, str(self.run_dir), repo, options, parent=self)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.finished.connect(self._buttons)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        set_message(self.message, f"Publishing {self.run_dir.name} as {repo}…")
        self.task.start()
        self._buttons()

    def cancel(self) -> None:
        if self.is_running():
            self.task.cancel()

    # ---- internals
    def _progressed(self, fraction: float, text: str) -> None:
        self.progress.setFormat(f"{text} · {fraction:.0%}".replace("%", "%%"))
        self.progress.setValue(int(fraction * 1000))  # last: its signal sees the new text

    def _succeeded(self, url: str) -> None:
        self.url = url
        self.progress.hide()
        set_message(self.message, f'Published: <a href="{url}">{url}</a>', "ok")

    def _failed(self, message: str) -> None:
        self.progress.hide()
        if self.task is not None and self.task.cancelled:
            set_message(self.message, "Upload cancelled; nothing was committed.", "info")
            return
        fix = self.task.fix if self.task is not None else ""
        if fix == "hf_token":  # the window's control instead of the command line's words
            self.show_token_field(True)
            self.token.setFocus()
            message = message.replace(TOKEN_HELP, f"paste one in the Token field ({WHERE})")
        elif fix == "repo_name":
            self.repo.setFocus()
            message += " — correct the Repo field."
        set_message(self.message, f"Not published: {message}", "error")

    def _buttons(self) -> None:
        running = self.is_running()
        self.publish_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        for w in (self.repo, self.private, self.adapter_only, self.license, self.token):
            w.setEnabled(not running)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self.is_running():
            self.task.cancel()
            self.task.wait(10000)
        super().closeEvent(event)


def attach_publish(history) -> QAction:
    """A "Publish…" action on run history's toolbar, for the one finished run selected."""
    action = QAction(icon("export"), "Publish…", history)

    def run(run_dir: Path) -> None:
        history.publish_dialog = PublishDialog(run_dir, history)
        history.publish_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        history.publish_dialog.show()

    tips = (
        "Upload the run to the Hugging Face Hub with a model card written from it.",
        "Select one run that has saved its adapters to publish it.",
    )
    return history.add_run_action(action, can_publish, run, tips)
