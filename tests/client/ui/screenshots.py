"""Screenshots of the tray client against a real server (a script, not a test).

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python tests/client/ui/screenshots.py OUT_DIR \
        [--language ko-KR|en-US]

Starts a server on a scratch data dir, fills it with four people (the first a platform
admin), a DM and a group with replies, reactions, an image, a file and a poll, signs the
client in through its login window and writes PNGs into OUT_DIR: the login window (with the
servers found on the network, and the question about a new server's certificate), the main
window (the DM and the group), the polls, the room's files, search, the account, the
platform administration and the settings. With a DISPLAY (Xvfb) Qt draws on it through
xcb, as on a desktop; without one it uses its offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path[:0] = [str(HERE), str(HERE.parent / "services"), str(HERE.parents[1])]

from desk_kit import Desks  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from harness import PASSWORD, ServerProcess, Socket, login  # noqa: E402
from messenger import __version__  # noqa: E402
from messenger.client.services.discovery import FoundServer  # noqa: E402
from messenger.client.ui.first_start import TrustDialog  # noqa: E402
from messenger.server.tls import certificate_fingerprint, ensure_certificate  # noqa: E402

PEOPLE = [("minsu", "김민수"), ("seoyeon", "이서연"), ("jihoon", "박지훈"), ("yujin", "최유진")]


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the client did not get there in time")
        QApplication.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 0.3) -> None:
    """Let queued events (layouts, repaints) run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


def fill_server(server: ServerProcess) -> dict:
    """Four people, a DM and a group with a conversation; returns the rooms and accounts."""
    accounts = {}
    for number, (username, nickname) in enumerate(PEOPLE):
        # The first is a platform admin (made as an office admin would, with the CLI).
        subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(server.data_dir), "create-user",
                        username, "--nickname", nickname, "--password-stdin", *(["--admin"] if number == 0 else [])],
                       input=PASSWORD, text=True, check=True, capture_output=True)
        accounts[username] = login(server, username)
    minsu, seoyeon, jihoon, yujin = (accounts[name] for name, _ in PEOPLE)
    sockets = {name: Socket(server.url, api.token) for name, api in accounts.items()}

    def room(api, others, name=None) -> int:
        body = {"member_ids": [o.user["id"] for o in others]}
        if name:
            body["name"] = name
        return api.post("/api/rooms", json=body).json()["room_id"]

    def say(who: str, room_id: int, text: str, reply_to: int | None = None) -> int:
        data = {"room_id": room_id, "content": text, "encrypted": False, "client_msg_id": uuid.uuid4().hex}
        if reply_to:
            data["reply_to"] = reply_to
        return sockets[who].call("send_message", data)["message_id"]

    def react(who: str, message_id: int, emoji: str) -> None:
        accounts[who].post(f"/api/messages/{message_id}/reactions", json={"emoji": emoji}).raise_for_status()

    team = room(minsu, [seoyeon, jihoon, yujin], "개발팀")
    say("jihoon", team, "오늘 배포는 오후 4시에 시작합니다.")
    notes = say("yujin", team, "릴리스 노트 초안 공유드려요. 검토 부탁드립니다 🙏")
    say("minsu", team, "확인했습니다. 두 군데만 고치면 될 것 같아요.", reply_to=notes)
    react("seoyeon", notes, "👍")
    react("jihoon", notes, "👍")
    say("seoyeon", team, "QA는 3시까지 마무리할게요")
    poll = minsu.post(f"/api/rooms/{team}/polls", json={
        "question": "회식 메뉴를 골라주세요", "options": ["삼겹살", "초밥", "파스타"], "multiple_choice": False,
        "anonymous": False}).json()["poll"]
    for who, choice in (("seoyeon", 0), ("jihoon", 0), ("yujin", 1)):
        accounts[who].post(f"/api/polls/{poll['id']}/vote",
                           json={"option_ids": [poll["options"][choice]["id"]]}).raise_for_status()
    minsu.post(f"/api/rooms/{team}/pin", json={"pinned": True}).raise_for_status()

    dm = room(minsu, [seoyeon])
    say("seoyeon", dm, "민수님, 내일 회의 자료 보셨어요?")
    question = say("minsu", dm, "네, 방금 봤어요. 3페이지 그래프는 최신 데이터로 바꿔야 할 것 같아요.")
    answer = say("seoyeon", dm, "아 맞다, 지난주 수치네요. 오늘 안에 고칠게요!", reply_to=question)
    react("minsu", answer, "❤️")
    say("minsu", dm, "고마워요 👍\n회의는 10시 그대로죠?")
    say("seoyeon", dm, "네 10시, 3층 대회의실이에요.")

    other = room(jihoon, [minsu])
    say("jihoon", other, "점심 같이 하실래요?")
    for sock in sockets.values():
        sock.close()
    return {"team": team, "dm": dm, "accounts": accounts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--language", default="ko-KR", choices=["ko-KR", "en-US"])
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    qt = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory(prefix="messenger-shots-") as scratch:
        server = ServerProcess(Path(scratch) / "server", e2e_policy="optional").start()  # others post plaintext
        desks = Desks(Path(scratch) / "desks")
        try:
            world = fill_server(server)
            # What discovery would find on an office network (the script never multicasts).
            host, port = server.url.rsplit("/", 1)[1].split(":")
            found = [FoundServer("총무팀 메신저", host, int(port), __version__, False, None, True),
                     FoundServer("부산 지사", "10.20.0.5", 5443, __version__, True, "AB" * 32, False)]
            app = desks.start("minsu", language=args.language, discover=lambda: found)
            wait_until(lambda: app.login_window is not None and app.login_window.found_servers.isVisible())
            login_window = app.login_window
            login_window.found_servers.picked.emit(server.url)
            login_window.username.setText("minsu")
            login_window.password.setText(PASSWORD)
            settle()
            shot(login_window, args.out_dir / "login.png")
            trust = TrustDialog("chat.office:5000", certificate_fingerprint(
                ensure_certificate(Path(scratch) / "office-server")[0]), login_window)
            trust.show()
            settle()
            shot(trust, args.out_dir / "first-start-trust.png")
            trust.close()

            login_window.sign_in.click()
            wait_until(lambda: app.main_window is not None and app.main_window.connection == "connected")
            window = app.main_window
            window.resize(1040, 720)
            wait_until(lambda: window.rooms.rowCount() == 3)
            window.open_room(world["dm"])
            wait_until(lambda: window.room_shown(world["dm"]))
            typing = Socket(server.url, world["accounts"]["seoyeon"].token)
            typing.call("typing", {"room_id": world["dm"], "is_typing": True})
            wait_until(lambda: window.typing_label.text() != "")
            settle()
            shot(window, args.out_dir / "main-window.png")

            window.open_room(world["team"])
            wait_until(lambda: window.room_shown(world["team"]))
            # An image and a document from this desk: encrypted, uploaded, shown decrypted.
            for path in (make_chart(Path(scratch) / "3분기-매출.png"), make_document(Path(scratch) / "회의록.pdf")):
                window.session.send_file(world["team"], str(path))
            wait_until(lambda: sum(1 for item in window.chat.items() if item.file and item.message_id) == 2)
            settle(1.5)  # thumbnails are fetched and decrypted in the background
            shot(window, args.out_dir / "main-window-group.png")

            for name, dialog in (("polls", window.polls(world["team"])),
                                 ("room-files", window.room_files(world["team"]))):
                settle(1.0)
                shot(dialog, args.out_dir / f"{name}.png")
                dialog.close()

            search = window.search()
            search.query.setText("회의")
            search.search()
            wait_until(lambda: search.searched == "회의")
            settle()
            shot(search, args.out_dir / "search.png")
            search.close()

            account = window.account()
            settle(1.0)
            shot(account, args.out_dir / "account.png")
            account.close()

            admin = window.administration()
            for tab in range(admin.tabs.count()):
                admin.tabs.setCurrentIndex(tab)
                settle(1.0)
                shot(admin, args.out_dir / f"admin-{tab + 1}.png")
            admin.close()

            dialog = app.open_settings()
            settle()
            shot(dialog, args.out_dir / "settings.png")
            dialog.reject()
            typing.close()
        finally:
            desks.shut_down_all()
            server.stop()
    del qt
    return 0


def make_chart(path: Path) -> Path:
    """A small bar chart PNG (drawn with Qt, so no image files live in the repository)."""
    from PySide6.QtGui import QColor, QImage, QPainter

    image = QImage(360, 220, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    for n, (height, colour) in enumerate(((90, "#5B8DEF"), (140, "#5B8DEF"), (175, "#2F6BE0"))):
        painter.fillRect(40 + n * 110, 200 - height, 70, height, QColor(colour))
    painter.end()
    image.save(str(path))
    return path


def make_document(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n% minutes of the weekly meeting\n" + b"0" * 48_000)
    return path


def shot(widget, path: Path) -> None:
    widget.grab().save(str(path))
    print(path)


if __name__ == "__main__":
    raise SystemExit(main())
