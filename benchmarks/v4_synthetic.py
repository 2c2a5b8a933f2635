"""How long `import-v4` takes: the v4 fixture, and a synthetic v4 deployment of 100 users, 200
rooms and 200,000 messages made with v4's own schema (copied from the fixture's database).

    python benchmarks/v4_synthetic.py [--users 100 --rooms 200 --messages 200000] [--keep DIR]

The synthetic messages are v2 and v1 envelopes under each room's key (a few distinct ones per
room, reused: making 200,000 v2 envelopes would cost a PBKDF2 each), plaintext, deleted ones,
replies, reactions, polls, notices, files and read marks.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from messenger.core.e2e import encrypt_envelope  # noqa: E402
from messenger.server.config import ServerConfig  # noqa: E402
from messenger.server.import_v4 import DELETED_TEXT, import_v4  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "v4-deployment"
PASSWORD = b"Correct-Horse-42-battery"
ENVELOPES_PER_ROOM = 4


def v4_schema() -> list[str]:
    """v4's CREATE statements, as its database holds them (FTS shadow tables make themselves)."""
    with sqlite3.connect(FIXTURE / "messenger.db") as connection:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        return [sql for kind, name, sql in rows
                if name != "sqlite_sequence" and not (kind == "table" and name.startswith("messages_fts_"))]


def wrap(room_key: str, master_key: bytes) -> str:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(master_key), modes.CBC(iv)).encryptor()
    data = padder.update(room_key.encode()) + padder.finalize()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def make_v4(folder: Path, users: int, rooms: int, messages: int, seed: int = 4) -> tuple[Path, Path, Path]:
    """A v4 deployment in `folder`: (messenger.db, uploads/, master_key)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    db, uploads, master_file = folder / "messenger.db", folder / "uploads", folder / "master_key"
    uploads.mkdir()
    master_key = os.urandom(32)
    master_file.write_bytes(master_key)
    connection = sqlite3.connect(db)
    for statement in v4_schema():
        connection.execute(statement)
    start = datetime(2025, 3, 1, 9, 0, 0)
    # Cost 4, not v4's 12: the format is what matters here, and 100 hashes at 12 take half a minute.
    hashed = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(4)).decode()
    connection.executemany(
        "INSERT INTO users (id, username, password_hash, nickname, status_message, created_at) VALUES (?,?,?,?,?,?)",
        [(i, f"user{i:03d}", hashed, f"사용자{i:03d}", "회의 중" if i % 7 == 0 else None, str(start))
         for i in range(1, users + 1)])
    room_keys, members = {}, {}
    for room_id in range(1, rooms + 1):
        direct = room_id <= rooms // 2
        people = rng.sample(range(1, users + 1), 2 if direct else rng.randint(3, 20))
        room_keys[room_id] = base64.b64encode(os.urandom(32)).decode()
        members[room_id] = people
        connection.execute("INSERT INTO rooms (id, name, type, created_by, encryption_key, created_at) "
                           "VALUES (?,?,?,?,?,?)", (room_id, "" if direct else f"팀 {room_id}",
                                                    "direct" if direct else "group", people[0],
                                                    wrap(room_keys[room_id], master_key), str(start)))
    envelopes = {room_id: [encrypt_envelope(f"메시지 {room_id}-{n}", key, "v2" if n else "v1")
                           for n in range(ENVELOPES_PER_ROOM)] for room_id, key in room_keys.items()}
    rows, per_room_last = [], {}
    for message_id in range(1, messages + 1):
        room_id = rng.randint(1, rooms)
        sender = rng.choice(members[room_id])
        kind = rng.random()
        content, encrypted = rng.choice(envelopes[room_id]), 1
        if kind < 0.01:
            content, encrypted = DELETED_TEXT, 0
        elif kind < 0.02:
            content, encrypted = "plaintext from an old bot", 0
        reply = per_room_last.get(room_id) if rng.random() < 0.05 else None
        created = start + timedelta(seconds=message_id * 5)
        rows.append((message_id, room_id, sender, content, encrypted, "text", os.urandom(16).hex(), reply,
                     created.strftime("%Y-%m-%d %H:%M:%S")))
        per_room_last[room_id] = message_id
    connection.executemany("INSERT INTO messages (id, room_id, sender_id, content, encrypted, message_type, "
                           "client_msg_id, reply_to, created_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    connection.executemany(
        "INSERT INTO room_members (room_id, user_id, joined_at, last_read_message_id, pinned, muted, role) "
        "VALUES (?,?,?,?,?,?,?)",
        [(room_id, user_id, str(start), rng.choice([0, per_room_last.get(room_id, 0)]), int(rng.random() < 0.1),
          int(rng.random() < 0.1), "admin" if n == 0 else "member")
         for room_id, people in members.items() for n, user_id in enumerate(people)])
    reacted = rng.sample(range(1, messages + 1), min(messages, 5_000))
    connection.executemany("INSERT OR IGNORE INTO message_reactions (message_id, user_id, emoji) VALUES (?,?,?)",
                           [(m, rows[m - 1][2], rng.choice("👍🎉❤")) for m in reacted])
    file_id = 0
    for room_id in range(rooms // 2 + 1, rooms + 1, 10):  # some group rooms get a file, a notice, a poll
        file_id += 1
        name = f"{start:%Y%m%d%H%M%S}_{os.urandom(4).hex()}_report.txt"
        data = f"report {room_id}\n".encode() * 50
        (uploads / name).write_bytes(data)
        message_id = messages + file_id
        connection.execute("INSERT INTO messages (id, room_id, sender_id, content, encrypted, message_type, "
                           "file_path, file_name, created_at) VALUES (?,?,?,?,0,'file',?,?,?)",
                           (message_id, room_id, members[room_id][0], "report.txt", name, "report.txt",
                            str(start + timedelta(days=400))))
        connection.execute("INSERT INTO room_files (id, room_id, message_id, file_path, file_name, file_size, "
                           "file_type, uploaded_by) VALUES (?,?,?,?,?,?,'file',?)",
                           (file_id, room_id, message_id, name, "report.txt", len(data), members[room_id][0]))
        connection.execute("INSERT INTO pinned_messages (room_id, message_id, content, pinned_by) VALUES (?,?,?,?)",
                           (room_id, None, "공지: 금요일 배포", members[room_id][0]))
        poll = connection.execute("INSERT INTO polls (room_id, created_by, question, anonymous) VALUES (?,?,?,?)",
                                  (room_id, members[room_id][0], "점심 메뉴?", room_id % 2)).lastrowid
        options = [connection.execute("INSERT INTO poll_options (poll_id, option_text) VALUES (?,?)",
                                      (poll, text)).lastrowid for text in ("국밥", "김밥")]
        connection.executemany("INSERT INTO poll_votes (poll_id, option_id, user_id) VALUES (?,?,?)",
                               [(poll, rng.choice(options), user_id) for user_id in members[room_id]])
    connection.commit()
    connection.close()
    return db, uploads, master_file


def timed_import(db: Path, uploads: Path, master: Path, work: Path) -> tuple[float, dict]:
    work.mkdir(parents=True, exist_ok=True)
    summary = import_v4(ServerConfig(data_dir=work / "data"), db, uploads, master, work / "escrow.key")
    return summary.seconds, summary.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="make the synthetic deployment here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        seconds, counts = timed_import(FIXTURE / "messenger.db", FIXTURE / "uploads", FIXTURE / "master_key",
                                       scratch / "fixture")
        print(f"fixture: {counts['messages']} messages, {counts['users']} users in {seconds:.2f} s")
        folder = args.keep or scratch / "synthetic-v4"
        began = time.perf_counter()
        db, uploads, master = make_v4(folder, args.users, args.rooms, args.messages)
        print(f"made a synthetic v4 database in {time.perf_counter() - began:.1f} s "
              f"({db.stat().st_size / 1e6:.0f} MB)")
        seconds, counts = timed_import(db, uploads, master, scratch / "synthetic")
        print(f"synthetic: {', '.join(f'{v} {k}' for k, v in counts.items())}")
        print(f"synthetic import: {seconds:.1f} s ({counts['messages'] / seconds:,.0f} messages/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
