"""The desktop client's speed and memory, as an office sees them.

    .venv/bin/python benchmarks/desk.py [--small 1000] [--large 10000] [--runs 3] [--json out.json]

Starts a real server on a scratch data dir, gives one person a room of `--small` messages and a
room of `--large`, signs that person in once (the token goes where the real client keeps it),
then starts the tray client in a fresh interpreter `--runs` times and prints:

- cold start: from launching the interpreter to a usable main window (rooms listed);
- room open: clicking the small room until its newest page is in the view and painted;
- scroll: loading all of the large room by scrolling up (page after page, as a person would),
  then painting it from top to bottom one screen at a time (the slowest and median frame);
- resident memory (RSS) at start and with the large room loaded.

Targets (issue 5): start < 1.5 s from source, room open < 150 ms, memory < 200 MB.
Runs under Qt's offscreen platform (or Xvfb, if DISPLAY is set and QT_QPA_PLATFORM is not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TARGETS = {"cold_start_s": 1.5, "room_open_ms": 150, "rss_mb": 200}


# -- the parent: a server with history, a signed-in desk -------------------------------------------

def seed(data_dir: Path, room_id: int, sender_ids: list[int], count: int) -> None:
    """`count` messages in `room_id`, written straight into the server's database in one
    transaction (sending 11,000 messages over the socket would take minutes and measure nothing
    of the client)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from messenger.server.db.models import Message

    start = datetime.now(timezone.utc) - timedelta(days=30)
    engine = create_engine(f"sqlite:///{data_dir / 'messenger.db'}", connect_args={"timeout": 30})
    with Session(engine) as db:
        db.add_all(
            Message(room_id=room_id, sender_id=sender_ids[n % len(sender_ids)], encrypted=False, message_type="text",
                    content=f"메시지 {n + 1}: 오늘 회의 자료 검토 부탁드립니다. " + "내용 " * (n % 17),
                    client_msg_id=uuid.uuid4().hex, created_at=start + timedelta(seconds=240 * n))
            for n in range(count))
        db.commit()
    engine.dispose()


def prepare(workdir: Path, small: int, large: int):
    from harness import ServerProcess, register_and_login

    server = ServerProcess(workdir / "server").start()
    me = register_and_login(server, "bench")
    colleagues = [register_and_login(server, f"colleague{n}") for n in (1, 2)]
    ids = [me.user["id"]] + [c.user["id"] for c in colleagues]
    rooms = {}
    for label, count in (("small", small), ("large", large)):
        # Two others make a group: one other person would be the same direct room twice.
        reply = me.post("/api/rooms", json={"member_ids": ids[1:], "name": f"{label} {count}"})
        reply.raise_for_status()
        rooms[label] = reply.json()["room_id"]
        seed(server.data_dir, rooms[label], ids, count)
    return server, rooms


def desk_environment(workdir: Path) -> dict:
    """A desk of its own: the client's platform folders under `workdir` (its settings,
    its saved session, its outbox) and no system keyring, so the protected file is used."""
    home = workdir / "desk"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_RUNTIME_DIR": str(home / "run"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def sign_in_desk(env: dict, server_url: str) -> None:
    """Sign in once, the way the login window does, so every run below resumes the session."""
    code = ("import sys\n"
            "from messenger.client.services.api import ApiClient\n"
            "from messenger.client.services.dirs import client_dirs\n"
            "from messenger.client.services.session_store import SessionStore\n"
            "from messenger.client.services.settings import ClientSettings\n"
            "dirs = client_dirs()\n"
            "ClientSettings(dirs.config / ClientSettings.FILE_NAME).update(server_url=sys.argv[1], language='ko-KR')\n"
            "with ApiClient(sys.argv[1], SessionStore(dirs.data)) as api:\n"
            "    api.sign_in('bench', sys.argv[2], device_name='benchmark', remember=True)\n")
    from harness import PASSWORD

    subprocess.run([sys.executable, "-c", code, server_url, PASSWORD], env=env, check=True, cwd=ROOT)


def run_desk(env: dict, rooms: dict, large: int) -> dict:
    started = time.monotonic()  # CLOCK_MONOTONIC is one clock for every process on the machine
    child = subprocess.run([sys.executable, __file__, "--desk", json.dumps({"rooms": rooms, "large": large,
                                                                            "started": started})],
                           env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the desk run failed ({child.returncode}):\n{child.stdout}\n{child.stderr[:2500]}")
    return json.loads(lines[-1])


# -- the child: the tray client, as `messenger` starts it -----------------------------------------

def desk(args: dict) -> None:
    from PySide6.QtWidgets import QApplication

    from messenger.client.app import ClientApp
    from messenger.client.services.dirs import APP_NAME, client_dirs

    QApplication.setApplicationName(APP_NAME)
    qt = QApplication([sys.argv[0]])
    qt.setQuitOnLastWindowClosed(False)
    client = ClientApp(client_dirs())
    client.start()
    window = wait_for(lambda: client.main_window if client.main_window and client.main_window.rooms.rowCount() >= 2
                      else None, 30)
    wait_for(lambda: window.isVisible() or None, 5)
    cold_start = time.monotonic() - args["started"]
    rss_start_mb = resident_mb()

    view = window.chat_view
    small, large = args["rooms"]["small"], args["rooms"]["large"]
    clicked = time.perf_counter()
    window.open_room(small)
    wait_for(lambda: (window.chat.room_id == small and window.chat.rowCount() > 0) or None, 30)
    view.viewport().repaint()  # painted, not just in the model
    room_open = time.perf_counter() - clicked

    window.open_room(large)
    wait_for(lambda: (window.chat.room_id == large and window.chat.rowCount() > 0) or None, 30)
    view.viewport().repaint()
    # Scroll up as a person would, until the first message: every page arrives through the
    # scroll bar's top, as in use.
    loading = time.perf_counter()
    bar = view.verticalScrollBar()
    pages = 0
    while window.chat.has_more:
        before = window.chat.rowCount()
        bar.setValue(bar.minimum())
        wait_for(lambda: window.chat.rowCount() > before or not window.chat.has_more or None, 30)
        pages += 1
    load_all = time.perf_counter() - loading
    messages = sum(1 for row in range(window.chat.rowCount()) if window.chat.item(row).message_id)

    # Then read it all again from the top: one screen per frame, each frame painted.
    frames = []
    bar.setValue(bar.minimum())
    QApplication.processEvents()
    while True:
        frame = time.perf_counter()
        bar.setValue(bar.value() + bar.pageStep())
        view.viewport().repaint()
        QApplication.processEvents()
        frames.append(time.perf_counter() - frame)
        if bar.value() >= bar.maximum():
            break
    rss_mb = resident_mb()
    client.quit()
    print(json.dumps({
        "cold_start_s": round(cold_start, 3),
        "room_open_ms": round(room_open * 1000, 1),
        "large_messages": messages, "large_pages": pages, "load_all_s": round(load_all, 2),
        "scroll_frames": len(frames), "frame_median_ms": round(statistics.median(frames) * 1000, 2),
        "frame_max_ms": round(max(frames) * 1000, 2), "rss_start_mb": round(rss_start_mb, 1),
        "rss_mb": round(rss_mb, 1),
    }))
    assert messages == args["large"], f"{messages} of {args['large']} messages loaded"


def wait_for(condition, timeout: float):
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while True:
        QApplication.processEvents()
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("the client did not get there in time")
        time.sleep(0.002)


def resident_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# -- report ----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="messages in the room that is opened")
    parser.add_argument("--large", type=int, default=10000, help="messages in the room scrolled through")
    parser.add_argument("--runs", type=int, default=3, help="client starts (each a fresh interpreter)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--desk", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.desk:
        desk(json.loads(args.desk))
        return 0

    with tempfile.TemporaryDirectory(prefix="desk-bench-") as scratch:
        workdir = Path(scratch)
        t = time.perf_counter()
        server, rooms = prepare(workdir, args.small, args.large)
        print(f"server with {args.small:,} + {args.large:,} messages ready in {time.perf_counter() - t:.1f} s")
        try:
            env = desk_environment(workdir)
            sign_in_desk(env, server.url)
            runs = []
            for n in range(args.runs):
                runs.append(run_desk(env, rooms, args.large))
                print(f"run {n + 1}: " + ", ".join(f"{key} {value}" for key, value in runs[-1].items()))
        finally:
            server.stop()

    print()
    print(f"{'figure':<22}{'best':>10}{'median':>10}{'worst':>10}{'target':>10}")
    summary = {}
    for key in runs[0]:
        values = [run[key] for run in runs]
        summary[key] = {"best": min(values), "median": statistics.median(values), "worst": max(values)}
        target = TARGETS.get(key, "")
        print(f"{key:<22}{min(values):>10}{statistics.median(values):>10}{max(values):>10}{target!s:>10}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
