"""Create from documents: a model reads a folder of notes and writes questions and answers in
the owner's voice (core/docs); the pairs show up as they are written, the user edits or
deletes any, and the chat JSONL made from what is left goes back to the Data page.

The work runs in a child process (engine/task.py). The child appends each chunk's pairs to the
output folder, so the table polls that file; edits stay here until Start (continue) or "Use
these pairs" writes them back, as the child only ever appends."""

from __future__ import annotations

import json
import re
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlxstudio.core import paths
from mlxstudio.core.docs.documents import SUFFIXES, find_documents
from mlxstudio.core.docs.generate import SETTINGS, GenerateOptions, GenerateResult, generate
from mlxstudio.core.docs.pairs import CHAT, PAIRS, Pair, load_pairs, save_pairs, write_dataset
from mlxstudio.core.docs.writers import default_choice, local_models
from mlxstudio.core.errors import UserError
from mlxstudio.core.words import count
from mlxstudio.engine.task import TaskThread
from mlxstudio.gui.icons import icon
from mlxstudio.gui.style import make_primary, set_message, set_primary
from mlxstudio.gui.widgets.drop_zone import DropZone
from mlxstudio.gui.widgets.run_words import plain_words

SERVER = "server"  # the model combo's entry for an OpenAI-compatible address
QUESTION, ANSWER, SOURCE = range(3)
TOOLTIP = Qt.ItemDataRole.ToolTipRole
POLL_MS = 700  # the child appends a chunk's pairs at a time: more often shows nothing new
LOCAL_TEXT = "Nothing leaves this Mac: the model runs here and reads your notes here."
SERVER_TEXT = "Your notes are sent to this address, chunk by chunk. Use a server you trust."
# The core's setting names, as the dialog calls them (a "start over" message lists them).
SETTING_WORDS = {
    "mask_private": "masking",
    "cot": "thinking answers",
    "chunk_chars": "chunk size",
    "overlap": "chunk overlap",
    "pairs": "pairs per chunk",
    "folder": "notes folder",
}
_SETTING = re.compile(r"(?:(?<=\()|(?<=, ))(" + "|".join(SETTING_WORDS) + r") (?=\S.* -> )")


def use_text(n: int) -> str:
    return {0: "Use the pairs", 1: "Use this pair"}.get(n, f"Use these {n:,} pairs")


def default_out(folder: Path) -> Path:
    """generated/<the notes folder's name> under the app's data folder."""
    return paths.home() / "generated" / (folder.name or "notes")


def setting_words(message: str) -> str:
    """A core message with the dialog's names for the settings it lists."""
    text = _SETTING.sub(lambda m: SETTING_WORDS[m.group(1)] + " ", message)
    return text.replace("False -> True", "off -> on").replace("True -> False", "on -> off")


class PairTable(QTableWidget):
    """Question, answer and source file; Delete (or Backspace) removes the selected rows
    unless a cell is being edited."""

    delete_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        keys = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
        if event.key() in keys and self.state() != QAbstractItemView.State.EditingState:
            self.delete_pressed.emit()
            return
        super().keyPressEvent(event)


class DocsDialog(QDialog):
    """`chosen(Path)` carries the chat JSONL once the user presses "Use these N pairs"."""

    chosen = Signal(Path)

    def __init__(self, username: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a dataset from your documents")
        self.folder: Path | None = None
        self.documents = 0
        self.task: TaskThread | None = None
        self.pairs: list[Pair] = []  # what the table shows, edits included
        self.pairs_out: Path | None = None  # the output folder self.pairs come from
        self.read_count = 0  # pairs of pairs_out's file already in self.pairs (or deleted)
        self.read_stamp: tuple[int, int] | None = None  # that file's (size, mtime) then
        self.edited = False  # edits or deletions not written back yet
        self.out_chosen = False  # the user chose the output folder: keep it
        self.filling = False
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.refresh_pairs)

        intro = QLabel(
            "A model reads your notes (" + " ".join(SUFFIXES) + ") and writes questions and "
            "answers in your voice about them, as Second-Me does. Check them, fix or delete "
            "any, then use them as your dataset."
        )
        intro.setWordWrap(True)
        intro.setObjectName("Hint")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self._build_settings())
        layout.addLayout(self._build_run_row())
        layout.addWidget(self.progress)
        layout.addLayout(self._build_message_row())
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_bottom_row())
        self.name.setText(username)
        self.resize(920, 640)
        self._model_changed()

    # ---- layout pieces
    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("Your notes and the model")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.zone = DropZone("Drop the folder of your notes here")
        self.zone.set_compact(True, "Drop the folder of your notes here, or choose it")
        self.zone.dropped.connect(lambda found: self.set_folder(found[0]))
        self.choose_button = QPushButton(icon("folder"), "Choose folder…")
        self.choose_button.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.zone, 1)
        row.addWidget(self.choose_button)
        form.addRow("Notes", row)

        self.name = QLineEdit()
        self.name.setPlaceholderText("Your name: the questions are asked by you")
        self.name.setToolTip("The answers call you by this name, as Second-Me's prompts do.")
        self.name.textChanged.connect(self._update)
        form.addRow("Your name", self.name)

        self.model = QComboBox()
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._fill_models()
        self.model.currentIndexChanged.connect(self._model_changed)
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://127.0.0.1:1234/v1")
        self.url.setToolTip("The address of an OpenAI-compatible chat server.")
        self.url.textChanged.connect(self._update)
        self.server_model = QLineEdit()
        self.server_model.setPlaceholderText("Model name (optional)")
        self.server_model.setToolTip("The model the server should use, if it serves several.")
        self.server_model.setMinimumWidth(170)
        self.server_row = QWidget()
        server = QHBoxLayout(self.server_row)
        server.setContentsMargins(0, 0, 0, 0)
        server.addWidget(self.url, 2)
        server.addWidget(self.server_model, 1)
        self.server_row.hide()
        self.privacy = QLabel()
        self.privacy.setWordWrap(True)
        model_box = QVBoxLayout()
        model_box.setSpacing(4)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model)
        model_row.addWidget(self.server_row, 1)
        model_row.addStretch(0)
        model_box.addLayout(model_row)
        model_box.addWidget(self.privacy)
        form.addRow("Model", model_box)

        self.pairs_spin = QSpinBox()
        self.pairs_spin.setRange(1, 20)
        self.pairs_spin.setValue(3)
        self.pairs_spin.setToolTip(
            "Questions asked about each chunk of about a page; dated notes get one more, "
            "about the date."
        )
        self.cot = QCheckBox("Thinking answers (<think>)")
        self.cot.setToolTip("Each answer thinks first: <think>…</think><answer>…</answer>.")
        self.mask = QCheckBox("Mask e-mail addresses, phone numbers…")
        self.mask.setToolTip(
            "Replace e-mail addresses, phone, card and bank account numbers and IP addresses "
            "with [email], [phone]… before the model reads a chunk, and in what it writes."
        )
        options = QHBoxLayout()
        options.addWidget(self.pairs_spin)
        options.addSpacing(16)
        options.addWidget(self.cot)
        options.addSpacing(16)
        options.addWidget(self.mask)
        options.addStretch(1)
        form.addRow("Pairs per chunk", options)

        self.out = QLineEdit()
        self.out.setPlaceholderText("Where the pairs and the dataset are written")
        self.out.textEdited.connect(self._out_edited)
        self.out.editingFinished.connect(self.show_saved_pairs)
        self.choose_out_button = QPushButton(icon("open"), "Choose…")
        self.choose_out_button.clicked.connect(self.choose_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(self.choose_out_button)
        form.addRow("Save to", out_row)
        return box

    def _fill_models(self) -> None:
        """Automatic first (the core's choice: the largest installed model that fits in
        memory, else the demo model), then every installed chat model, the largest first."""
        from mlxstudio.gui.pages.model_page import parameters_text

        found = local_models()
        choice = default_choice(found)
        automatic = (
            f"Automatic: {choice.name}, the largest that fits in memory"
            if choice
            else "Automatic: the demo model (SmolLM2-135M), installed on Start if need be"
        )
        self.model.addItem(icon("model"), automatic, "")
        for entry in found:
            text = f"{entry.name} · {parameters_text(entry.parameters)}"
            self.model.addItem(icon("model"), text, str(entry.path))
            self.model.setItemData(self.model.count() - 1, str(entry.path), TOOLTIP)
        self.model.addItem(icon("serve"), "OpenAI-compatible server…", SERVER)
        self.model.setCurrentIndex(0)

    def _build_run_row(self) -> QHBoxLayout:
        self.why = QLabel()
        self.why.setObjectName("Hint")
        self.why.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.why.setWordWrap(True)
        self.why.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton(icon("stop"), "Cancel")
        self.cancel_button.setToolTip("Stop: the pairs made so far are kept; Continue goes on.")
        self.cancel_button.clicked.connect(self.cancel)
        self.start_button = make_primary(QPushButton("Start"), "start")
        self.start_button.clicked.connect(lambda: self.start())
        row = QHBoxLayout()
        row.addWidget(self.why, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.start_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        return row

    def _build_message_row(self) -> QHBoxLayout:
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()  # until there is something to say: no gap above the table
        self.fix_button = QPushButton()
        self.fix_button.clicked.connect(self._fix)
        self.fix_button.hide()
        row = QHBoxLayout()
        row.addWidget(self.message, 1)
        row.addWidget(self.fix_button)
        return row

    def _build_table(self) -> PairTable:
        self.table = PairTable(0, 3)
        self.table.setHorizontalHeaderLabels(["Question", "Answer", "Source"])
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )  # not any key: a stray one would replace an answer
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QUESTION, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ANSWER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(SOURCE, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(SOURCE, 170)
        self.table.itemChanged.connect(self._edited)
        self.table.itemSelectionChanged.connect(self._update)
        self.table.delete_pressed.connect(self.delete_selected)
        return self.table

    def _build_bottom_row(self) -> QHBoxLayout:
        self.delete_button = QPushButton(icon("delete"), "Delete")
        self.delete_button.setToolTip("Leave the selected pairs out (the Delete key does too).")
        self.delete_button.clicked.connect(self.delete_selected)
        self.count = QLabel()
        self.count.setObjectName("Hint")
        self.count.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        close = QPushButton("Close")
        close.setToolTip("Close; the pairs stay in the output folder for another time.")
        close.clicked.connect(self.reject)
        self.use_button = QPushButton(use_text(0))
        self.use_button.setToolTip(
            "Write the dataset from these pairs and open it on the Data page."
        )
        self.use_button.clicked.connect(self.use_pairs)
        row = QHBoxLayout()
        row.addWidget(self.delete_button)
        row.addWidget(self.count, 1)
        row.addWidget(close)
        row.addWidget(self.use_button)
        return row

    # ---- choosing
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the folder of your notes", str(self.folder or Path.home())
        )
        if folder:
            self.set_folder(Path(folder))

    def set_folder(self, folder: Path) -> None:
        """The notes to read: counted now, so a folder with none says so before Start."""
        if self.is_running():
            return
        folder = Path(folder)
        self.folder, self.documents = folder, 0
        try:
            self.documents = len(find_documents(folder))
        except UserError as err:
            self.zone.set_compact(True, f"{folder.name}: {plain_words(str(err))}")
            self.zone.setToolTip(str(folder))
            self._update()
            return
        noun = "document" if self.documents == 1 else "documents"
        self.zone.set_compact(True, f"{folder.name} · {self.documents:,} {noun} to read")
        self.zone.setToolTip(str(folder))
        if not self.out_chosen:
            self.out.setText(str(default_out(folder)))
        self.show_saved_pairs()

    def choose_out(self) -> None:
        start = self.out.text().strip() or str(paths.home())
        folder = QFileDialog.getExistingDirectory(self, "Save the pairs and the dataset in", start)
        if folder:
            self.out_chosen = True
            self.out.setText(folder)
            self.show_saved_pairs()

    def _out_edited(self) -> None:
        self.out_chosen = True
        self._update()

    def out_path(self) -> Path | None:
        text = self.out.text().strip()
        return Path(text).expanduser() if text else None

    def _model_changed(self) -> None:
        server = self.model.currentData() == SERVER
        self.server_row.setVisible(server)
        set_message(
            self.privacy, SERVER_TEXT if server else LOCAL_TEXT, "warning" if server else "ok"
        )
        if server:
            self.url.setFocus()
        self._update()

    def options(self, restart: bool = False) -> GenerateOptions:
        """What Start runs with."""
        server = self.model.currentData() == SERVER
        return GenerateOptions(
            folder=str(self.folder or ""),
            out=str(self.out_path() or ""),
            username=self.name.text().strip(),
            model=(self.server_model.text().strip() or None)
            if server
            else (self.model.currentData() or None),
            url=self.url.text().strip() if server else None,
            pairs=self.pairs_spin.value(),
            cot=self.cot.isChecked(),
            mask_private=self.mask.isChecked(),
            restart=restart,
        )

    def say(self, text: str, level: str | None = None) -> None:
        """The run's outcome or what went wrong, above the pairs."""
        set_message(self.message, text, level)
        self.message.setVisible(bool(text))

    # ---- running
    def is_running(self) -> bool:
        return self.task is not None

    def why_not(self) -> str:
        """Why Start is off ('' when it is on)."""
        if self.is_running():
            return "Writing questions and answers…"
        if self.folder is None:
            return "Choose the folder of your notes"
        if not self.documents:
            return "No documents in that folder"
        if not self.name.text().strip():
            return "Enter your name"
        if self.model.currentData() == SERVER and not self.url.text().strip():
            return "Enter the server's address"
        if self.out_path() is None:
            return "Choose where to save"
        return ""

    def start_label(self) -> str:
        """ "Continue" when the output folder holds a run that did not finish (no chat.jsonl
        yet); Start skips the chunks done either way."""
        out = self.out_path()
        again = out is not None and (out / SETTINGS).is_file() and not (out / CHAT).is_file()
        return "Continue" if again else "Start"

    def start(self, restart: bool = False) -> None:
        """Start, or continue a run on the same output folder (chunks done are skipped)."""
        if self.why_not():
            return
        options = self.options(restart)
        out = Path(options.out)
        if restart:
            self._forget_pairs(out)
        else:
            if self.pairs_out != out:
                self.show_saved_pairs()
            self._write_back()  # the child appends after what the user kept
        self.fix_button.hide()
        self.say("")
        self.task = TaskThread(generate, options, parent=self)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.finished.connect(self._finished)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.task.start()
        self.poll.start()
        self._update()

    def cancel(self) -> None:
        """Stop the run: every chunk done is on disk already, and Continue goes on from there."""
        if self.task is not None:
            self.task.cancel()

    def _from_task(self) -> bool:
        return self.task is not None and self.sender() is self.task

    def _progressed(self, fraction: float, text: str) -> None:
        if not self._from_task():
            return
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(text or "%p%")
        self.refresh_pairs()

    def _succeeded(self, result: GenerateResult) -> None:
        if not self._from_task():
            return
        parts = [
            f"{count(result.pairs, 'pair')} from {count(result.documents, 'document')} "
            f"({count(result.chunks, 'chunk')})"
        ]
        if result.chunks_done_before:
            parts.append(f"{count(result.chunks_done_before, 'chunk')} done before")
        if result.chunks_skipped:
            parts.append(
                f"{count(result.chunks_skipped, 'chunk')} skipped: the model's answers were "
                "unreadable"
            )
        if result.unreadable_documents:
            parts.append(f"not read: {'; '.join(result.unreadable_documents)}")
        if result.writer:
            parts.append(f"written by {result.writer} in {result.seconds:.0f} s")
        level = "warning" if result.chunks_skipped or result.unreadable_documents else "ok"
        self.say(" · ".join(parts) + ". Check them, then use them.", level)

    def _failed(self, message: str) -> None:
        if not self._from_task():
            return
        if self.task.cancelled:
            go_on = self.start_label()
            self.say(f"Stopped. The pairs made so far are kept: press {go_on} to go on.", "info")
            return
        fix = self.task.fix
        text = plain_words(setting_words(message))
        self.say(text[:1].upper() + text[1:], "error")  # the core's messages start small
        labels = {"restart": "Start over", "model": "Choose another model"}
        if fix in labels:
            self.fix_button.setText(labels[fix])
            self.fix_button.setProperty("fix", fix)
            self.fix_button.show()
        if fix == "restart":
            self.fix_button.setToolTip("Delete the pairs in this output folder and start again.")
        elif fix == "username":
            self.name.setFocus()
            self.name.selectAll()

    def _fix(self) -> None:
        fix = self.fix_button.property("fix")
        self.fix_button.hide()
        if fix == "restart":
            self.start(restart=True)
        elif fix == "model":
            self.model.setFocus()
            self.model.showPopup()

    def _finished(self) -> None:
        if self.sender() is not self.task:
            return
        self.task = None
        self.poll.stop()
        self.progress.hide()
        self.refresh_pairs()
        self._update()

    # ---- the pairs
    def show_saved_pairs(self) -> None:
        """Show what the output folder already holds (an earlier run to continue)."""
        out = self.out_path()
        if self.is_running() or out == self.pairs_out:
            self._update()
            return
        self._write_back()
        self._forget_pairs(out)
        self.refresh_pairs()

    def _forget_pairs(self, out: Path | None) -> None:
        self.pairs, self.pairs_out = [], out
        self.read_count, self.read_stamp, self.edited = 0, None, False
        self._fill()

    def refresh_pairs(self) -> None:
        """Add the pairs the child appended since the last look."""
        if self.pairs_out is None:
            return
        try:
            stat = (self.pairs_out / PAIRS).stat()
        except OSError:
            self._update()
            return
        stamp = (stat.st_size, stat.st_mtime_ns)
        if stamp == self.read_stamp:
            return
        self.read_stamp = stamp
        on_disk = load_pairs(self.pairs_out)
        new = on_disk[self.read_count :]
        self.read_count = len(on_disk)
        if new:
            self.pairs.extend(new)
            self._fill(len(self.pairs) - len(new))
        self._update()

    def _fill(self, first: int = 0) -> None:
        """Rows from `first` on, from self.pairs (earlier rows are as the user left them)."""
        self.filling = True
        self.table.setRowCount(len(self.pairs))
        for row in range(first, len(self.pairs)):
            pair = self.pairs[row]
            source = QTableWidgetItem(f"{pair.source} · {pair.chunk + 1}")
            source.setFlags(source.flags() & ~Qt.ItemFlag.ItemIsEditable)
            source.setToolTip(
                f"{pair.source}, chunk {pair.chunk + 1}" + (f", {pair.date}" if pair.date else "")
            )
            for col, item in (
                (QUESTION, QTableWidgetItem(pair.question)),
                (ANSWER, QTableWidgetItem(pair.answer)),
                (SOURCE, source),
            ):
                self.table.setItem(row, col, item)
            self.table.resizeRowToContents(row)
        self.filling = False
        self._update()

    def _edited(self, item: QTableWidgetItem) -> None:
        if self.filling or item.column() not in (QUESTION, ANSWER):
            return
        pair = self.pairs[item.row()]
        field = "question" if item.column() == QUESTION else "answer"
        text = item.text().strip()
        if not text:  # an empty question or answer teaches nothing: Delete is for that
            self.filling = True
            item.setText(getattr(pair, field))
            self.filling = False
            return
        setattr(pair, field, text)
        self.edited = True
        self.table.resizeRowToContents(item.row())

    def delete_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            del self.pairs[row]
            self.table.removeRow(row)
        if rows:
            self.edited = True
        self._update()

    def _write_back(self) -> None:
        """The user's edits and deletions into the output folder (never while the child
        appends to it)."""
        if self.edited and self.pairs_out is not None and not self.is_running():
            save_pairs(self.pairs_out, self.pairs)
            self.edited = False
            self.read_count = len(self.pairs)
            stat = (self.pairs_out / PAIRS).stat()
            self.read_stamp = (stat.st_size, stat.st_mtime_ns)

    def use_pairs(self) -> None:
        """Save the edits, write merged.json and chat.jsonl, and hand the chat file over."""
        if self.is_running() or not self.pairs or self.pairs_out is None:
            return
        username = self.name.text().strip()
        if not username:
            self.say("Enter your name: the dataset's prompts name you.", "error")
            self.name.setFocus()
            return
        settings = self.pairs_out / SETTINGS
        cot = self.cot.isChecked()
        try:
            self._write_back()
            if settings.is_file():  # the answers were written with or without thinking then
                cot = bool(json.loads(settings.read_text(encoding="utf-8")).get("cot", cot))
            dataset = write_dataset(self.pairs_out, username, cot)
        except (OSError, ValueError, UserError) as err:  # a full disk, a folder gone
            self.say(f"Could not write the dataset: {err}", "error")
            return
        if not dataset.records:
            self.say("None of these pairs makes a usable record.", "error")
            return
        self.chosen.emit(dataset.chat)
        self.accept()

    # ---- state of the buttons
    def _update(self) -> None:
        why = self.why_not()
        running = self.is_running()
        self.start_button.setEnabled(not why)
        self.why.setText("" if running else why)
        again = self.start_label() == "Continue"
        self.start_button.setText("Start" if running else self.start_label())
        self.start_button.setToolTip(
            "Go on where the last run stopped: the chunks done are skipped."
            if again
            else "Read the notes and write questions and answers about them (the chunks done "
            "in this output folder before are skipped)."
        )
        self.cancel_button.setEnabled(running)
        notes = (self.zone, self.choose_button, self.name, self.model, self.server_row)
        saving = (self.out, self.choose_out_button)
        for widget in (*notes, self.pairs_spin, self.cot, self.mask, *saving):
            widget.setEnabled(not running)
        n = len(self.pairs)
        self.use_button.setText(use_text(n))
        self.use_button.setEnabled(bool(n) and not running)
        # The next step is the accent: Start (or Continue) until a run has finished with
        # pairs to use.
        use_next = bool(n) and not running and not again
        set_primary(self.use_button, use_next)
        set_primary(self.start_button, not use_next, "start")
        self.delete_button.setEnabled(bool(self.table.selectedIndexes()))
        self.count.setText(
            "Double-click a question or an answer to change it."
            if n
            else "The pairs appear here as they are written."
        )

    # ---- closing
    def done(self, result: int) -> None:
        """Closing stops a run (what it made is kept) and keeps the user's edits."""
        if self.task is not None:
            task = self.task
            task.cancel()
            task.wait(15_000)
            self.task = None
            self.poll.stop()
        self._write_back()
        super().done(result)
