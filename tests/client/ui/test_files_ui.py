"""Files in the tray client against a real server: a file dropped on one desk's chat is
encrypted, uploaded with progress, shows as a file message on the other desk, and is saved
there with identical bytes; a pasted image is sent as an image and opens in the viewer; a
file goes through the outbox, so one attached while the server is down, or before the
client restarts, waits as a pending bubble and is delivered once."""

import json
import os
import tempfile

import pytest
from desk_kit import WAIT_MS, open_room, sign_in
from harness import ServerProcess, login, register_and_login
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage, QKeySequence
from PySide6.QtTest import QTest
from test_chat import group_room, keys_ready, type_and_press_enter

from messenger.client.services.outbox import OutboxState
from messenger.client.ui.delegates import ChatDelegate
from messenger.client.ui.files import ImageViewer
from messenger.core.errors import localized


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A server whose administrator allows plaintext files (E2E optional): the desk client
    encrypts all the same."""
    server = ServerProcess(tmp_path_factory.mktemp("plain-files"), e2e_policy="optional").start()
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


def outbox_bubble(window, name: str):
    """Our own file's bubble made from the outbox (before the stored message replaces it)."""
    return next((item for item in window.chat.items() if item.outbox_id is not None and item.file is None
                 and item.text.endswith(name)), None)


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


def test_a_pasted_image_is_sent_as_an_image_and_opens_in_the_viewer(server, users, desks, qtbot, tmp_path,
                                                                   monkeypatch):
    """...and nothing of it is written in the clear on either desk: not the pasted PNG, not the
    thumbnail, not the viewer's image (the temporary folder stays empty)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
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
    assert list((tmp_path / "temp").iterdir()) == []


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


def test_a_file_attached_while_the_server_is_down_waits_then_is_delivered_once(fresh_server, relay, desks, qtbot,
                                                                              tmp_path):
    box = fresh_server()
    kim_link, lee_link = relay(box.url), relay(box.url)  # they follow the server to its new port
    kim, lee = register_and_login(box), register_and_login(box)
    room_id = group_room(kim, [lee], "Pair")
    a, b = desks.start("kim"), desks.start("lee")
    kim_window = sign_in(qtbot, a, kim_link.url, kim.user["username"])
    lee_window = sign_in(qtbot, b, lee_link.url, lee.user["username"])
    keys_ready(qtbot, a, b)
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)
    source = tmp_path / "설계도-plan.bin"
    source.write_bytes(os.urandom(600_000))
    sent, beside = [], []
    kim_window.uploads.sent.connect(lambda name, ack: sent.append(ack))
    # What the pending bubble says beside it as its blob goes up (the model hears the percent first).
    a.session.upload_progress.connect(lambda out, percent: beside.append(
        ChatDelegate.meta_lines(outbox_bubble(kim_window, source.name))[-1][0]))

    kim_link.down()
    lee_link.down()
    box.stop()
    qtbot.waitUntil(lambda: kim_window.connection != "connected", timeout=WAIT_MS)
    drop_files(kim_window, [source])
    qtbot.waitUntil(lambda: outbox_bubble(kim_window, source.name) is not None, timeout=WAIT_MS)
    pending = outbox_bubble(kim_window, source.name)
    assert pending.state == "pending" and pending.text == f"📎 {source.name}"
    assert ChatDelegate.meta_lines(pending)[-1][0] == "◷ Sending"
    [copy] = a.session.outbox.files.iterdir()  # a private copy waits in the account's outbox folder, sealed
    assert copy.read_bytes()[:4096] not in source.read_bytes() and copy.stat().st_mode & 0o777 == 0o600
    assert a.session.outbox.read_file(a.session.outbox.messages()[0]) == source.read_bytes()
    qtbot.wait(300)
    assert sent == [] and outbox_bubble(kim_window, source.name).state == "pending"

    box.start()
    for link in (kim_link, lee_link):
        link.retarget(box.url)
        link.up()
    qtbot.waitUntil(lambda: len(sent) == 1, timeout=30_000)
    assert "◷ Uploading 100%" in beside and any(line.startswith("◷ Uploading") for line in beside[:-1])

    qtbot.waitUntil(lambda: file_bubble(lee_window, source.name) is not None, timeout=30_000)
    received = file_bubble(lee_window, source.name)
    target = tmp_path / "received.bin"
    lee_window.session.download(received.file["id"], str(target), file_key=received.file["key"])
    qtbot.waitUntil(target.exists, timeout=WAIT_MS)
    assert target.read_bytes() == source.read_bytes()  # decrypted on Lee's desk
    stored = login(box, lee.user["username"]).get(f"/api/rooms/{room_id}/messages").json()["messages"]
    assert [(m["id"], m["message_type"]) for m in stored] == [(sent[0]["message_id"], "file")]  # once
    assert list(a.session.outbox.files.iterdir()) == []  # the copy is gone
    # Kim's bubble is now the stored message, its file readable like any other.
    qtbot.waitUntil(lambda: file_bubble(kim_window, source.name) is not None, timeout=WAIT_MS)
    mine = [item for item in kim_window.chat.items() if item.text.endswith(source.name)]
    assert len(mine) == 1 and mine[0].message_id == sent[0]["message_id"] and mine[0].state == "sent"


def files_holding(folder, secrets: list[bytes]) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in secrets)]


def test_what_waits_in_the_outbox_is_sealed_on_disk_sent_after_a_restart_once_and_wiped_at_sign_out(
        server, users, relay, desks, qtbot, tmp_path):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pair")
    link = relay(server.url)
    first = desks.start("kim")
    window = sign_in(qtbot, first, link.url, kim.user["username"])
    keys_ready(qtbot, first)
    open_room(qtbot, window, room_id)
    source = tmp_path / "급여명세서.png"
    image = QImage(24, 16, QImage.Format.Format_RGB32)
    image.fill(QColor("#33AA66"))
    image.save(str(source), "PNG")
    text = "연봉 협상 메모: 기밀"
    secrets = [text.encode(), source.name.encode(), json.dumps(source.name).encode(), source.read_bytes()[16:48]]

    link.down()
    qtbot.waitUntil(lambda: window.connection != "connected", timeout=WAIT_MS)
    drop_files(window, [source])
    qtbot.waitUntil(lambda: outbox_bubble(window, source.name) is not None, timeout=WAIT_MS)
    type_and_press_enter(window, text)
    qtbot.waitUntil(lambda: len(first.session.outbox.messages()) == 2, timeout=WAIT_MS)
    pending = outbox_bubble(window, source.name)
    assert (pending.message_type, pending.state, pending.text) == ("image", "pending", "🖼 급여명세서.png")
    data = desks.dirs("kim").data
    assert files_holding(data, secrets) == []  # queued: the outbox's rows and its copy are sealed
    folder, path = first.session.outbox.files, first.session.outbox.path
    first.shutdown()
    assert len(list(folder.iterdir())) == 1 and files_holding(data, secrets) == []

    link.up()
    second = desks.start("kim")  # the same computer starts the client again: the key is in its keyring
    qtbot.waitUntil(lambda: second.main_window is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: second.session.outbox.messages() == [], timeout=30_000)
    delivered = second.session.outbox.messages(states=(OutboxState.SENT,))
    assert [m.client_msg_id for m in delivered][0] == pending.client_msg_id and list(folder.iterdir()) == []
    stored = lee.get(f"/api/rooms/{room_id}/messages").json()["messages"]
    assert [(m["id"], m["message_type"]) for m in stored] == [(m.message_id, m.message_type) for m in delivered]
    assert [m["message_type"] for m in stored] == ["image", "text"]
    open_room(qtbot, second.main_window, room_id)
    qtbot.waitUntil(lambda: file_bubble(second.main_window, source.name) is not None, timeout=WAIT_MS)
    assert [item.message_type for item in second.main_window.chat.items()] == ["image", "text"]

    # Signing out takes the outbox (rows and copies) off this computer.
    assert path.exists() and folder.exists()
    second.sign_out()
    qtbot.waitUntil(lambda: second.login_window is not None and second.login_window.sign_in.isEnabled(),
                    timeout=WAIT_MS)
    assert not path.exists() and not folder.exists()
