"""A hostile member (or server) sends oversize, malformed or misleading content: the desktop app
stays responsive (a 10 ms QTimer heartbeat measures the event loop's longest stall), shows nothing
misleading, and writes nothing outside its folders."""

from __future__ import annotations

import time
from pathlib import Path

from desk_kit import WAIT_MS, open_room, sign_in
from PySide6.QtCore import QStandardPaths, QTimer
from test_chat import bubble, say

from harness import register_and_login
from messenger.client.ui.files import RoomFilesDialog, suggested_path
from messenger.client.ui.polls import PollCard
from messenger.core import protocol
from messenger.core.names import BIDI_CONTROLS

RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"
# The longest stall a person would not notice much; the machine running the tests is a loaded 2-core one.
MAX_STALL_SECONDS = 1.0


class Heartbeat:
    """A 10 ms timer on the GUI thread: the longest gap between its ticks is the longest time
    the event loop did nothing else (only meaningful while the test itself waits in the loop)."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.longest = 0.0
        self.last = 0.0

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def __enter__(self) -> "Heartbeat":
        self.last = time.monotonic()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()


def group(api, *others, name: str) -> int:
    """A group room (two people at creation would make a direct one, so the others are invited after)."""
    room_id = api.post("/api/rooms", json={"members": [], "name": name}).json()["room_id"]
    if others:
        api.post(f"/api/rooms/{room_id}/members", json={"user_ids": [o.user["id"] for o in others]}).raise_for_status()
    return room_id


def shows_no_bidi_control(text: str) -> bool:
    return not any(ch in BIDI_CONTROLS for ch in text)


def test_direction_overrides_in_names_are_not_shown_and_a_huge_message_does_not_stall(server, users, sockets,
                                                                                        desks, qtbot):
    kim, = users(1)
    lee = register_and_login(server, nickname=f"lee{RLO}gnp.exe")
    room_id = group(lee, kim, name=f"{LRI}team{RLO}txt.exe")
    lee_socket = sockets(lee)
    say(lee_socket, room_id, "hello")
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, window, room_id)

    title = window.rooms.room(room_id).title
    assert title == "teamtxt.exe" and shows_no_bidi_control(title)
    sender = bubble(window, "hello").sender_name
    assert sender == "leegnp.exe", sender

    # Sealed-looking text that is not an envelope shows as it is: 200,000 characters of it.
    huge = "가나다라 " * 40_000
    assert lee_socket.call(protocol.SEND_MESSAGE, {"room_id": room_id, "content": huge, "type": "text",
                                                   "encrypted": True})["ok"]
    with Heartbeat() as beat:
        qtbot.waitUntil(lambda: bubble(window, huge) is not None, timeout=WAIT_MS)
        window.chat_view.scrollToBottom()
        qtbot.wait(300)
    row = window.chat.row_of_message(window.chat.items()[-1].message_id)
    geometry = window.chat_delegate.geometry(window.chat.index(row, 0), window.chat_view.viewport().width())
    assert geometry.text_layout.text().endswith("…")
    assert len(geometry.text_layout.text()) == protocol.MAX_PLAINTEXT_CHARS + 1
    assert beat.longest < MAX_STALL_SECONDS, f"the window stalled {beat.longest:.2f} s"


def test_ten_thousand_reactions_show_as_fifty_and_a_count(server, users, sockets, desks, qtbot):
    """The server refuses more than 50 different reactions on a message; a server that sends
    10,000 anyway does not stall the window, which shows 50 and "+9950"."""
    kim, lee = users(2)
    room_id = group(lee, kim, name="reactions")
    message_id = say(sockets(lee), room_id, "react to me")
    for n in range(protocol.MAX_REACTION_KINDS):
        assert lee.post(f"/api/messages/{message_id}/reactions", json={"emoji": f"e{n}"}).status_code == 200
    refused = lee.post(f"/api/messages/{message_id}/reactions", json={"emoji": "one more"})
    assert refused.status_code == 400 and refused.json()["error_code"] == "VALIDATION_ERROR", refused.text

    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, window, room_id)
    flood = [{"emoji": f"x{n}", "count": 1, "user_ids": [lee.user["id"]]} for n in range(10_000)]
    with Heartbeat() as beat:
        window.chat.set_reactions(message_id, flood)
        window.chat_view.viewport().update()
        qtbot.wait(500)
    row = window.chat.row_of_message(message_id)
    chips = window.chat_delegate.geometry(window.chat.index(row, 0), window.chat_view.viewport().width()).chips
    assert len(chips) == protocol.MAX_REACTION_KINDS + 1 and chips[-1][1] == "+9950"
    assert beat.longest < MAX_STALL_SECONDS, f"the window stalled {beat.longest:.2f} s"


def test_a_poll_of_ten_thousand_options_is_refused_and_never_shown_whole(server, users, qtbot):
    kim, = users(1)
    room_id = group(kim, name="polls")
    options = [f"option {n}" for n in range(10_000)]
    refused = kim.post(f"/api/rooms/{room_id}/polls", json={"question": "which?", "options": options})
    assert refused.status_code == 400 and refused.json()["error_code"] == "VALIDATION_ERROR", refused.text

    card = PollCard(kim.user["id"])
    qtbot.addWidget(card)
    poll = {"id": 1, "question": "which?", "options": [{"id": n, "text": text, "vote_count": 0}
                                                       for n, text in enumerate(options)]}
    started = time.monotonic()
    card.show_poll(poll)
    assert time.monotonic() - started < MAX_STALL_SECONDS
    assert len(card.choices) == 10


def test_a_file_name_with_a_path_is_saved_inside_the_chosen_folder(server, users, sockets, desks, qtbot, tmp_path):
    """The sender's name for a file never leads the save anywhere but the folder chosen."""
    downloads = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
                     or Path.home())
    for hostile in ("../../x", "C:\\Windows\\x", "/etc/passwd", f"{RLO}txt.exe", "..", "a:b?.txt", ""):
        suggested = Path(suggested_path(hostile))
        assert suggested.parent == downloads, (hostile, suggested)
        assert suggested.name not in ("", ".", "..") and shows_no_bidi_control(suggested.name), (hostile, suggested)
    assert Path(suggested_path("../../x")).name == "x"
    assert Path(suggested_path("a:b?.txt")).name == "a_b_.txt"

    kim, lee = users(2)
    room_id = group(lee, kim, name="files")
    upload = lee.post("/api/upload", data={"room_id": str(room_id)},
                      files={"file": ("../../evil.txt", b"payload", "text/plain")})
    assert upload.status_code == 200 and upload.json()["file_name"] == "evil.txt", upload.text
    say(sockets(lee), room_id, "evil.txt", type="file", upload_token=upload.json()["upload_token"])
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    # The desk's own key files are written once its keys are loaded and its devices read: not counted.
    qtbot.waitUntil(lambda: window.device_banners.state is not None, timeout=WAIT_MS)
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    before = set(tmp_path.rglob("*"))
    dialog = RoomFilesDialog(window.session, room_id, window)
    qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT_MS)
    [file] = dialog.model.files()
    assert file["file_name"] == "evil.txt"
    with qtbot.waitSignal(dialog.saved, timeout=WAIT_MS):
        dialog.save(file["id"], str(chosen / Path(suggested_path(file["file_name"])).name))
    # The desk's own folders (kim's client home: its key cache may be saved meanwhile) aside.
    written = {path for path in set(tmp_path.rglob("*")) - before if not path.is_relative_to(tmp_path / "kim")}
    assert written == {chosen / "evil.txt"}, written
    dialog.close()


def test_an_image_that_is_not_one_shows_as_its_name_without_a_picture(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    room_id = group(lee, kim, name="images")
    upload = lee.post("/api/upload", data={"room_id": str(room_id), "encrypted": "1", "type": "image"},
                      files={"file": ("cat.png", b"this is no picture" * 100, "application/octet-stream")})
    assert upload.status_code == 200, upload.text
    say(sockets(lee), room_id, "cat.png", type="image", upload_token=upload.json()["upload_token"])
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, window, room_id)
    item = window.chat.items()[-1]
    assert item.message_type == "image" and item.file is not None and "cat.png" in item.text
    thumbnails = window.thumbnails
    with Heartbeat() as beat:
        window.chat_view.viewport().update()
        qtbot.waitUntil(lambda: item.file["id"] in thumbnails._asked, timeout=WAIT_MS)
        qtbot.wait(1000)  # the download and the attempt to read it
    assert thumbnails.get(item.file) is None
    row = window.chat.row_of_message(item.message_id)
    assert window.chat_delegate.geometry(window.chat.index(row, 0), window.chat_view.viewport().width()).image_rect \
        is None
    assert beat.longest < MAX_STALL_SECONDS
