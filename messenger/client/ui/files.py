"""Files in a room: attaching (a button, a pasted image, files dropped on the chat),
uploading with progress, the room's files list, saving a file where the user chooses,
and a simple image viewer.

Uploads go through `ChatSession.send_file`: the file waits in the outbox (a pending bubble)
until it is encrypted on this device and uploaded as an opaque blob; a chat file
(`{"id", "name", "size", "key"}`, from its message) is decrypted with its key as it is
saved or shown. Nothing of a file is written in the clear but where the user saves it: a pasted
image goes to the outbox from memory, and thumbnails and the viewer decrypt into memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QEvent, QIODevice, QObject, QStandardPaths, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import language, tr
from messenger.client.services.outbox import NO_ANSWER, OutboxState, OutgoingMessage
from messenger.client.ui.session import ChatSession
from messenger.client.ui.dialog_parts import close_buttons, refusal_text, text_line
from messenger.client.ui.models import RowListModel, select_row, selected_row
from messenger.core.errors import localized
from messenger.core.names import save_name

THUMBNAIL_SIZE = 200  # pixels, the longer side of an image in a bubble


def human_size(size: int | None) -> str:
    size = size or 0
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class Uploads(QObject):
    """Puts files in the outbox for a room (each shows as a pending bubble at once) and
    reports their uploads as status lines."""

    status = Signal(str)  # a line for the status bar
    sent = Signal(str, dict)  # (file name, {"message_id"}) once the server has the message
    failed = Signal(str, object)  # (file name, the exception) when it could not be queued

    def __init__(self, session: ChatSession, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        session.upload_progress.connect(self._progress)
        session.outgoing_changed.connect(self._outgoing)

    def send(self, room_id: int, paths: list[str]) -> None:
        for path in paths:
            self.session.send_file(room_id, path, owner=self).fail(
                lambda exc, name=Path(path).name: self._failed(name, exc))

    def send_data(self, room_id: int, name: str, data: bytes) -> None:
        """A file held in memory (a pasted image), sent as `name`."""
        self.session.send_file_data(room_id, name, data, owner=self).fail(lambda exc: self._failed(name, exc))

    def _progress(self, out: OutgoingMessage, percent: int) -> None:
        self.status.emit(tr("files.uploading", name=out.attachment["name"], percent=percent))

    def _outgoing(self, out: OutgoingMessage) -> None:
        copy = out.attachment
        if copy is None:
            return
        if out.state is OutboxState.SENT:
            self.status.emit(tr("files.sent", name=copy["name"]))
            self.sent.emit(copy["name"], {"message_id": out.message_id})
        elif out.state is OutboxState.FAILED:
            self.status.emit(localized(out.error_code or NO_ANSWER, language()))

    def _failed(self, name: str, exc: BaseException) -> None:
        self.status.emit(refusal_text(exc, otherwise=str(exc)))
        self.failed.emit(name, exc)
        self.session.failed(exc, quiet=True)


class ChatFileDrops(QObject):
    """An event filter for the chat: files dropped on the view, and an image pasted into
    the composer (saved as a PNG first), become uploads to the open room."""

    def __init__(self, uploads: Uploads, room_id: Callable[[], int | None], parent: QObject | None = None):
        super().__init__(parent)
        self.uploads = uploads
        self.room_id = room_id
        self._count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if self.room_id() is not None and self._local_files(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            paths = self._local_files(event.mimeData())
            if self.room_id() is not None and paths:
                event.acceptProposedAction()
                self.uploads.send(self.room_id(), paths)
                return True
        elif kind == QEvent.Type.KeyPress and event.matches(QKeySequence.StandardKey.Paste):
            return self.paste_image()
        return False

    @staticmethod
    def _local_files(mime) -> list[str]:
        return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and Path(url.toLocalFile()).is_file()]

    def paste_image(self) -> bool:
        """Send the clipboard's image, if it holds one (and no text); True if it did."""
        mime = QGuiApplication.clipboard().mimeData()
        room_id = self.room_id()
        if room_id is None or mime is None or not mime.hasImage() or mime.hasText():
            return False
        image = QImage(mime.imageData())
        if image.isNull():
            return False
        self._count += 1
        png = QBuffer()
        png.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(png, "PNG")
        self.uploads.send_data(room_id, f"pasted-{self._count}.png", bytes(png.data()))
        return True


def choose_and_attach(parent: QWidget, uploads: Uploads, room_id: int | None) -> None:
    """The attach button: pick files, send them."""
    if room_id is None:
        return
    paths, _ = QFileDialog.getOpenFileNames(parent, tr("files.attach"))
    if paths:
        uploads.send(room_id, paths)


def suggested_path(name: str) -> str:
    """Where the save dialog starts: the downloads folder, under a name the sender cannot turn
    into a path elsewhere (`../../x`, `C:\\x`) or a name the system refuses."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation) or str(Path.home())
    return str(Path(folder) / save_name(name))


def save_as(parent: QWidget, session: ChatSession, file: dict, done: Callable[[str], None]) -> None:
    """Ask where to save a room file (`{"id", "name", "key"?}`), then download it there."""
    destination, _ = QFileDialog.getSaveFileName(parent, tr("files.save"), suggested_path(file.get("name") or ""))
    if destination:
        session.download(file["id"], destination, file_key=file.get("key"), owner=parent).then(
            lambda path: done(str(path)))


class FileListModel(RowListModel[dict]):
    """A room's files, newest first (as the server lists them)."""

    def row_data(self, file: dict, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return tr("files.entry", name=file.get("file_name") or "", size=human_size(file.get("file_size")),
                      who=file.get("uploader_name") or "")
        return None

    files = RowListModel.rows


class RoomFilesDialog(QDialog):
    """The files of one room; save one where the user chooses."""

    saved = Signal(str)  # the path written

    def __init__(self, session: ChatSession, room_id: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.room_id = room_id
        self.setWindowTitle(tr("files.title"))
        self.resize(460, 420)
        self.model = FileListModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.view.doubleClicked.connect(lambda _: self.save_selected())
        self.save_button = QPushButton(tr("files.save"))
        self.save_button.clicked.connect(self.save_selected)
        self.status = text_line()
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_button)
        bottom.addStretch(1)
        bottom.addWidget(close_buttons(self))
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        self.loaded = False
        self._update_buttons()
        session.room_files(room_id, owner=self).then(self._arrived)

    def _arrived(self, files: list[dict]) -> None:
        self.model.reset(files)
        self.loaded = True

    def _update_buttons(self) -> None:
        self.save_button.setEnabled(bool(self.view.selectionModel().selectedIndexes()))

    def select(self, file_id: int) -> bool:
        return select_row(self.view, lambda file: file["id"] == file_id)

    def save_selected(self) -> None:
        file = selected_row(self.view)
        if file is not None:
            save_as(self, self.session, {"id": file["id"], "name": file.get("file_name"), "key": file.get("file_key")},
                    self._saved)

    def save(self, file_id: int, destination: str) -> None:
        """Download a file of the list to `destination` (no dialog)."""
        file = next(f for f in self.model.files() if f["id"] == file_id)
        self.session.download(file_id, destination, file_key=file.get("file_key"), owner=self).then(
            lambda path: self._saved(str(path)))

    def _saved(self, path: str) -> None:
        self.status.setText(tr("files.saved", path=path))
        self.saved.emit(path)


class Thumbnails(QObject):
    """Small copies of the chat's images for their bubbles: each downloaded once (decrypted in
    memory), scaled, and kept for this run."""

    ready = Signal(int)  # a file id whose thumbnail is now there

    def __init__(self, session: ChatSession, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self._pixmaps: dict[int, QPixmap] = {}
        self._asked: set[int] = set()

    def get(self, file: dict) -> QPixmap | None:
        """The thumbnail of an image file (`{"id", ...}`), or None while it loads."""
        file_id = file["id"]
        if file_id not in self._pixmaps and file_id not in self._asked:
            self._asked.add(file_id)
            self.session.image(file_id, file_key=file.get("key"), owner=self, quiet=True).then(
                lambda data: self._loaded(file_id, data))
        return self._pixmaps.get(file_id)

    def _loaded(self, file_id: int, data: bytes) -> None:
        image = QImage.fromData(data)
        if image.isNull():
            return
        self._pixmaps[file_id] = QPixmap.fromImage(image.scaled(
            THUMBNAIL_SIZE, THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation) if max(image.width(), image.height()) > THUMBNAIL_SIZE
            else image)
        self.ready.emit(file_id)


class ImageViewer(QDialog):
    """An image of the chat at full size (decrypted in memory)."""

    def __init__(self, session: ChatSession, file: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle(file.get("name") or tr("files.view"))
        self.resize(720, 560)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(self.image)
        layout = QVBoxLayout(self)
        layout.addWidget(area)
        self.loaded = False
        session.image(file["id"], file_key=file.get("key"), owner=self).then(self._show)

    def _show(self, data: bytes) -> None:
        self.image.setPixmap(QPixmap.fromImage(QImage.fromData(data)))
        self.loaded = not self.image.pixmap().isNull()
