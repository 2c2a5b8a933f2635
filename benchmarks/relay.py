"""The bare relay `load.py` measures beside our server: the stack's own limit.

    python benchmarks/relay.py --serve --port 0 --data-dir DIR

The same server and transport as `messenger --serve` (Flask-SocketIO on gevent's pywsgi
with simple-websocket, TCP_NODELAY, `async_handlers=False`) and nothing of ours: no
password hash, no sign-in check per event, no membership check, no event log. Just enough
of the contract for the benchmark's clients (register, sign in, make a room, connect with a
token, `send_message`), kept in memory; a message is one SQLite INSERT with
`synchronous=NORMAL`, an emit of `new_message` to the room (the sender included) and an ack
with the row id. Loopback only; prints the harness's "listening on" line.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after the monkey-patch, as in messenger --serve)
import itertools  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402
from messenger.server.serve import gevent_server  # noqa: E402


def create(data_dir: Path):
    app = Flask("relay")
    socketio = SocketIO(app, async_mode="gevent", async_handlers=False, ping_interval=20, ping_timeout=20)
    db = sqlite3.connect(data_dir / "relay.db", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, room_id INTEGER, "
               "sender_id INTEGER, content TEXT, client_msg_id TEXT)")
    ids = itertools.count(1)
    rooms_of: dict[int, list[int]] = {}  # user id -> room ids
    users: dict[str, int] = {}  # username -> user id

    @app.post("/api/register")
    def register():
        users[request.json["username"]] = user_id = next(ids)
        return jsonify({"user": {"id": user_id}}), 201

    @app.post("/api/device-sessions")
    def sign_in():
        user_id = users[request.json["username"]]
        return jsonify({"user": {"id": user_id}, "device_token": str(user_id)}), 201

    @app.post("/api/rooms")
    def make_room():
        room_id = next(ids)
        owner = int(request.headers["Authorization"].removeprefix("Bearer "))
        for user_id in [owner, *request.json["member_ids"]]:
            rooms_of.setdefault(user_id, []).append(room_id)
        return jsonify({"room_id": room_id}), 201

    @socketio.on("connect")
    def on_connect(auth=None):
        for room_id in rooms_of.get(int(auth["token"]), []):
            join_room(f"room:{room_id}")

    @socketio.on("send_message")
    def on_send(data):
        cursor = db.execute("INSERT INTO messages (room_id, sender_id, content, client_msg_id) VALUES (?, 0, ?, ?)",
                            (data["room_id"], data["content"], data.get("client_msg_id")))
        message = {"id": cursor.lastrowid, "room_id": data["room_id"], "content": data["content"]}
        socketio.emit("new_message", message, to=f"room:{data['room_id']}")
        return {"ok": True, "message_id": cursor.lastrowid}

    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    app = create(args.data_dir)

    server = gevent_server(("127.0.0.1", args.port), app)  # the same server and transport as ours
    server.start()
    stopping = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    print(f"relay listening on http://127.0.0.1:{server.server_port}", flush=True)
    stopping.wait()
    server.stop(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
