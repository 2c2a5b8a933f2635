"""Files in the tray client against a real server: a file dropped on one desk's chat is
encrypted, uploaded with progress, shows as a file message on the other desk, and is saved
there with identical bytes; a pasted image is sent as an image and opens in the viewer."""

import pytest
from desk_kit import WAIT_MS, open_room, sign_in
from harness import ServerProcess, login, register_and_login
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage, QKeySequence
from PySide6.QtTest import QTest
from test_chat import group_room

from messenger.client.ui.files import ImageViewer
from messenger.core.errors import localized


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A server whose administrator allows plaintext files (E2E optional): the desk client
    encrypts all the same."""
    server = ServerProcess(tmp_path_factory.mktemp("plain-files")).start()
    admin = login(server, "admin", server.first_admin_password)
    reply = admin.put("/api/admin/settings", json={"e2e_policy": "optional"})
    assert reply.status_code == 200, reply.text
    yield server
    server.stop()


@pytest.fixture
def plain_users(plain):
    return lambda n: [register_and_login(plain) for _ in range(n)]


def drop_files(window, paths) -> None:
    """Drop local files on the chat view, as a file manager would.

    Qt delivers drag-and-drop events only from a real drag, so the drop goes straight to
    the chat's drop handler (the event filter installed on the view)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    viewport = window.chat_view.viewport()
    event = QDropEvent(QPointF(viewport.rect().center()), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert window.file_drops.eventFilter(viewport, event)


def file_bubble(window, name: str):
    return next((item for item in window.chat.items() if item.file and item.file["name"] == name), None)


def test_a_file_dropped_on_one_desk_is_saved_on_the_other_with_identical_bytes(plain, plain_users, desks, qtbot,
                                                                              tmp_path):
    kim, lee = plain_users(2)
    room_id = group_room(kim, [lee], "Pair")
    kim_window = sign_in(qtbot, desks.start("kim"), plain.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), plain.url, lee.user["username"])
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)
    source = tmp_path / "회의록-notes.txt"
    source.write_bytes(("회의록 minutes\n" * 5000).encode())
    lines = []
    kim_window.uploads.status.connect(lines.append)

    with qtbot.waitSignal(kim_window.uploads.sent, timeout=WAIT_MS):
        drop_files(kim_window, [source])
    assert any("%" in line for line in lines)  # progress was shown
    assert lines[-1] == f"Sent {source.name}."

    qtbot.waitUntil(lambda: file_bubble(lee_window, source.name) is not None, timeout=WAIT_MS)
    assert file_bubble(lee_window, source.name).file["size"] == source.stat().st_size

    [stored] = kim.get(f"/api/rooms/{room_id}/files").json()["files"]
    assert stored["encrypted"] and stored["file_name"] != source.name  # the server never saw the name

    files = lee_window.room_files(room_id)
    qtbot.waitUntil(lambda: files.loaded, timeout=WAIT_MS)
    [listed] = files.model.files()
    assert listed["file_name"] == source.name  # read from its message on Lee's desk
    target = tmp_path / "downloads" / "saved.txt"
    target.parent.mkdir()
    with qtbot.waitSignal(files.saved, timeout=WAIT_MS):
        files.save(listed["id"], str(target))
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["saved.txt"]  # no temporary file left


def test_a_pasted_image_is_sent_as_an_image_and_opens_in_the_viewer(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pair")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("#3366CC"))
    QGuiApplication.clipboard().setImage(image)

    with qtbot.waitSignal(kim_window.uploads.sent, timeout=WAIT_MS):
        QTest.keySequence(kim_window.composer, QKeySequence.StandardKey.Paste)

    qtbot.waitUntil(lambda: any(i.message_type == "image" and i.file for i in lee_window.chat.items()),
                    timeout=WAIT_MS)
    item = next(i for i in lee_window.chat.items() if i.message_type == "image")
    # The bubble shows the image once its thumbnail is in.
    qtbot.waitUntil(lambda: lee_window.thumbnails.get(item.file) is not None, timeout=WAIT_MS)
    row = lee_window.chat.items().index(item)
    geometry = lee_window.chat_delegate.geometry(lee_window.chat.index(row), lee_window.chat_view.viewport().width())
    assert geometry.image_rect is not None and geometry.image_rect.size().toTuple() == (40, 30)
    menu = lee_window.message_menu(item)
    assert "Save as…" in [a.text() for a in menu.actions()]
    next(a for a in menu.actions() if a.text() == "View image").trigger()
    viewer = lee_window.findChild(ImageViewer)
    qtbot.waitUntil(lambda: viewer.loaded, timeout=WAIT_MS)
    assert viewer.image.pixmap().size().width() == 40


def test_an_empty_file_is_reported_not_sent(server, users, desks, qtbot, tmp_path):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pair")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, kim_window, room_id)
    source = tmp_path / "empty.txt"
    source.write_bytes(b"")

    with qtbot.waitSignal(kim_window.uploads.failed, timeout=WAIT_MS) as failed:
        drop_files(kim_window, [source])
    assert failed.args[1].code == "VALIDATION_ERROR"
    assert kim_window.statusBar().currentMessage() == localized("VALIDATION_ERROR", "en-US")
    assert not any(item.file for item in kim_window.chat.items())
    assert kim.get(f"/api/rooms/{room_id}/files").json()["files"] == []
