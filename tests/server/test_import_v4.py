"""Moving an office from v4: `messenger admin import-v4` on the real v4 deployment of
tests/fixtures/v4-deployment, a real server started on the result, the real command-line client
for two users, and the public API. The expected texts are read from the v4 database here, with
the master key, independently of the import; nothing of the import's output is trusted."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from harness import PASSWORD, Cli, ServerProcess, login
from services import Postgres
from messenger.core.e2e import decrypt_envelope

V4 = Path(__file__).resolve().parents[1] / "fixtures" / "v4-deployment"
REPO = Path(__file__).resolve().parents[2]
DELETED = "[삭제된 메시지]"


def admin(data_dir: Path, *args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(data_dir), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, **(env or {})})
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def import_args(db=V4 / "messenger.db", uploads=V4 / "uploads", master_key=V4 / "master_key", escrow=None):
    return ["import-v4", "--db", db, "--uploads", uploads, "--master-key", master_key,
            "--escrow-key-file", escrow, "--admin", "admin_kim"]


def v4_rows(query: str) -> list[sqlite3.Row]:
    with sqlite3.connect(V4 / "messenger.db") as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(query).fetchall()


def v4_room_keys() -> dict[int, str]:
    """v4's room keys, unwrapped here as v4 did (AES-256-CBC under the master key, IV first)."""
    master = (V4 / "master_key").read_bytes()
    keys = {}
    for row in v4_rows("SELECT id, encryption_key FROM rooms"):
        raw = base64.b64decode(row["encryption_key"])
        decryptor = Cipher(algorithms.AES(master), modes.CBC(raw[:16])).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        keys[row["id"]] = (unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize())
                           + unpadder.finalize()).decode()
    return keys


def expected_messages(room_id: int) -> list[dict]:
    """Each v4 message of the room as a member must read it: text, sender, UTC time, state."""
    keys = v4_room_keys()
    nicknames = {row["id"]: row["nickname"] for row in v4_rows("SELECT id, nickname FROM users")}
    answer = []
    for row in v4_rows(f"SELECT * FROM messages WHERE room_id = {room_id} ORDER BY id"):
        deleted = row["content"] == DELETED and not row["encrypted"]
        text = decrypt_envelope(row["content"], keys[room_id]) if row["encrypted"] else row["content"]
        kst = datetime.fromisoformat(row["created_at"]).replace(tzinfo=timezone(timedelta(hours=9)))
        answer.append({"id": row["id"], "sender_name": nicknames[row["sender_id"]], "deleted": deleted,
                       "created_at": kst.astimezone(timezone.utc), "type": row["message_type"],
                       "text": None if deleted or row["message_type"] != "text" else text,
                       "legacy_envelope": bool(row["encrypted"]), "reply_to": row["reply_to"]})
    return answer


def data_dir_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())


def encodings(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret).rstrip(b"=")]


def escrowed_rooms(data_dir: Path) -> set[int]:
    """The rooms whose legacy key is still sealed to the escrow device."""
    with sqlite3.connect(data_dir / "messenger.db") as connection:
        return {row[0] for row in connection.execute(
            "SELECT p.room_id FROM room_key_packages p JOIN device_sessions d ON d.id = p.device_session_id "
            "JOIN users u ON u.id = d.user_id WHERE u.username = 'v4-import'")}


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """The fixture imported into a new data dir, and a server started on it."""
    root = tmp_path_factory.mktemp("moved")
    data_dir, escrow = root / "data", root / "escrow.key"
    done = admin(data_dir, *import_args(escrow=escrow))
    server = ServerProcess(data_dir).start()
    yield {"data_dir": data_dir, "escrow": escrow, "server": server, "output": done.stdout, "root": root}
    server.stop()


def test_the_import_prints_what_it_imported(moved):
    output = moved["output"]
    for line in ("users: 4", "rooms: 2", "memberships: 6", "messages: 49", "deleted messages: 1", "files: 2",
                 "reactions: 3", "notices: 2", "polls: 2", "poll options: 5", "poll votes: 3", "legacy room keys: 2"):
        assert f"  {line}\n" in output, output
    assert "missing upload" not in output
    assert str(moved["escrow"]) in output


def test_every_v4_user_signs_in_with_the_old_password_and_the_hash_becomes_argon2id(moved):
    server, database = moved["server"], moved["data_dir"] / "messenger.db"
    for row in v4_rows("SELECT username, nickname, status_message FROM users"):
        api = login(server, row["username"], PASSWORD)
        assert api.user["nickname"] == row["nickname"]
        assert api.user["status_message"] == (row["status_message"] or "")
        assert api.user["is_admin"] == (row["username"] == "admin_kim")
        with sqlite3.connect(database) as connection:
            stored = connection.execute("SELECT password_hash FROM users WHERE username = ?",
                                        (row["username"],)).fetchone()[0]
        assert stored.startswith("$argon2id$"), stored
        login(server, row["username"], PASSWORD)  # and again, now against argon2id
        refused = server.api().post("/api/device-sessions", json={"username": row["username"],
                                                                    "password": "Wrong-Horse-42-battery"})
        assert refused.status_code == 401


def test_rooms_members_pins_mutes_read_marks_and_unread_counts_are_v4s(moved):
    server = moved["server"]
    members = v4_rows("SELECT m.*, u.username FROM room_members m JOIN users u ON u.id = m.user_id")
    rooms = {row["id"]: row for row in v4_rows("SELECT * FROM rooms")}
    messages = v4_rows("SELECT * FROM messages")
    for member in members:
        api = login(server, member["username"])
        listed = {room["id"]: room for room in api.get("/api/rooms").json()["rooms"]}
        room = listed[member["room_id"]]
        assert room["type"] == rooms[member["room_id"]]["type"]
        assert room["name"] == (rooms[member["room_id"]]["name"] or None)
        assert (room["pinned"], room["muted"], room["role"]) == (bool(member["pinned"]), bool(member["muted"]),
                                                                  member["role"])
        unread = [m for m in messages if m["room_id"] == member["room_id"] and m["id"] > member["last_read_message_id"]
                  and m["sender_id"] != member["user_id"] and not (m["content"] == DELETED and not m["encrypted"])]
        assert room["unread_count"] == len(unread)
        info = api.get(f"/api/rooms/{member['room_id']}/info").json()["room"]
        marks = {m["id"]: (m["last_read_message_id"], m["role"]) for m in info["members"]}
        assert marks == {m["user_id"]: (m["last_read_message_id"], m["role"]) for m in members
                         if m["room_id"] == member["room_id"]}


def test_messages_replies_edits_deletes_reactions_notices_and_polls_come_through_the_api(moved):
    server = moved["server"]
    api = login(server, "minji")
    for room_id in (1, 2):
        page = api.get(f"/api/rooms/{room_id}/messages", params={"limit": 200}).json()["messages"]
        expected = expected_messages(room_id)
        assert [m["id"] for m in page] == [m["id"] for m in expected]
        for got, want in zip(page, expected):
            assert got["sender_name"] == want["sender_name"]
            assert datetime.fromisoformat(got["created_at"]) == want["created_at"]
            assert got["reply_to"] == want["reply_to"]
            assert got["deleted"] == want["deleted"]
            assert got["edited_at"] is None  # v4 kept no edit marker: nothing to show
            assert got["message_type"] == want["type"]
    reactions = {(r["message_id"], r["emoji"]): set() for r in v4_rows("SELECT * FROM message_reactions")}
    for r in v4_rows("SELECT * FROM message_reactions"):
        reactions[(r["message_id"], r["emoji"])].add(r["user_id"])
    page = {m["id"]: m for m in api.get("/api/rooms/2/messages", params={"limit": 200}).json()["messages"]}
    got = {(message_id, group["emoji"]): set(group["user_ids"])
           for message_id, message in page.items() for group in message["reactions"]}
    assert got == reactions

    notices = api.get("/api/rooms/2/pins").json()["pins"]
    v4_notices = v4_rows("SELECT * FROM pinned_messages ORDER BY id")
    assert sorted((n["id"], n["message_id"], n["content"] or None, n["pinned_by"]) for n in notices) == [
        (n["id"], n["message_id"], n["content"] or None, n["pinned_by"]) for n in v4_notices]

    polls = {p["id"]: p for p in api.get("/api/rooms/2/polls").json()["polls"]}
    for poll in v4_rows("SELECT * FROM polls"):
        got = polls[poll["id"]]
        assert (got["question"], got["multiple_choice"], got["anonymous"], got["closed"]) == (
            poll["question"], bool(poll["multiple_choice"]), bool(poll["anonymous"]), bool(poll["closed"]))
        votes = {o["id"]: 0 for o in v4_rows(f"SELECT id FROM poll_options WHERE poll_id = {poll['id']}")}
        for vote in v4_rows(f"SELECT option_id FROM poll_votes WHERE poll_id = {poll['id']}"):
            votes[vote["option_id"]] += 1
        assert {o["id"]: o["vote_count"] for o in got["options"]} == votes
        assert [o["text"] for o in got["options"]] == [
            o["option_text"] for o in v4_rows(f"SELECT * FROM poll_options WHERE poll_id = {poll['id']} ORDER BY id")]


def test_both_files_download_byte_for_byte(moved):
    api = login(moved["server"], "seoyeon")
    page = {m["id"]: m for m in api.get("/api/rooms/2/messages", params={"limit": 200}).json()["messages"]}
    for row in v4_rows("SELECT * FROM room_files"):
        message = page[row["message_id"]]
        assert message["file_name"] == row["file_name"] and message["file_size"] == row["file_size"]
        download = api.get(message["file_url"])
        assert download.status_code == 200
        assert download.content == (V4 / "uploads" / row["file_path"]).read_bytes()
    outsider = login(moved["server"], "seoyeon")
    assert outsider.get(page[48]["file_url"]).status_code == 200
    assert login(moved["server"], "minji").get("/uploads/999").status_code == 404


def test_history_reads_through_the_real_client_once_the_legacy_keys_are_released_then_the_escrow_is_purged(
        moved, tmp_path):
    """Two users on new devices: before the release the legacy messages wait for keys; after it,
    every message reads back (text, sender, order, deleted state, files byte for byte); the
    data dir never holds the master key, nor, after the purge, any legacy room key."""
    server, data_dir = moved["server"], moved["data_dir"]
    master = (V4 / "master_key").read_bytes()
    assert not any(secret in data_dir_bytes(data_dir) for secret in encodings(master))

    minji, junho = Cli(server, tmp_path / "minji"), Cli(server, tmp_path / "junho")
    minji.login("minji")
    junho.login("junho")
    waiting = minji.history(1, "--wait-keys", "0")
    assert [m["state"] for m in waiting if m["text"] is None and not m["deleted"]] == ["waiting_for_keys"] * 3

    released = admin(data_dir, "release-legacy-keys", "--escrow-key-file", moved["escrow"])
    assert "legacy keys of 2 rooms sealed in 4 packages" in released.stdout, released.stdout
    assert "seoyeon" in released.stdout  # room 2 waits for the first sign-in of seoyeon and admin_kim

    for cli, rooms in ((minji, (1, 2)), (junho, (1, 2))):
        for room_id in rooms:
            got = cli.history(room_id, "--limit", "200", "--wait-keys", "20",
                              "--save-files", tmp_path / f"files-{cli.home.name}-{room_id}")
            expected = expected_messages(room_id)
            assert [m["id"] for m in got] == [m["id"] for m in expected]
            for line, want in zip(got, expected):
                assert line["sender_name"] == want["sender_name"], line
                assert line["deleted"] == want["deleted"], line
                if want["deleted"]:
                    continue
                if want["type"] == "text":
                    assert line["text"] == want["text"], line
                    # Opened with the released legacy key; v4's one plaintext stays marked as such.
                    assert line["state"] == ("readable" if want["legacy_envelope"] else "not_encrypted"), line
                else:
                    saved = Path(line["file"]["saved_to"])
                    v4_file = v4_rows(f"SELECT file_path FROM room_files WHERE message_id = {line['id']}")[0][0]
                    assert saved.read_bytes() == (V4 / "uploads" / v4_file).read_bytes()

    # Every member's first sign-in, then the release again: the escrow of every room goes by itself.
    for username in ("seoyeon", "admin_kim"):
        Cli(server, tmp_path / username).login(username)
    again = admin(data_dir, "release-legacy-keys", "--escrow-key-file", moved["escrow"])
    assert "their escrow is deleted" in again.stdout and "destroy the escrow key file" in again.stdout, again.stdout
    assert not any(secret in data_dir_bytes(data_dir) for secret in encodings(master))
    purged = admin(data_dir, "purge-legacy-keys", "--yes")
    assert "deleted the escrowed legacy keys of 0 rooms" in purged.stdout
    server.stop()  # the WAL folded back in: the scan sees the database as it stays
    try:
        stored = data_dir_bytes(data_dir)
        for key in v4_room_keys().values():
            for secret in [*encodings(base64.b64decode(key)), key.encode()]:
                assert secret not in stored
        assert escrowed_rooms(data_dir) == set()
    finally:
        server.start()


# --- refusals: each changes nothing ---------------------------------------------------------------

def refused(data_dir: Path, *args) -> tuple[str, str]:
    done = admin(data_dir, *args, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stderr.split(":")[1].strip(), done.stderr


def row_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return {table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("users", "rooms", "room_members", "messages", "room_files", "polls")}


def test_a_non_empty_data_dir_or_a_second_run_is_refused(moved, tmp_path):
    before = row_counts(moved["data_dir"] / "messenger.db")
    uploads = sorted(p.name for p in (moved["data_dir"] / "uploads").iterdir())
    code, _ = refused(moved["data_dir"], *import_args(escrow=tmp_path / "second.key"))
    assert code == "DATA_DIR_NOT_EMPTY"
    assert not (tmp_path / "second.key").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    code, _ = refused(other, *import_args(escrow=tmp_path / "x.key"))
    assert code == "DATA_DIR_NOT_EMPTY" and [p.name for p in other.iterdir()] == ["notes.txt"]
    assert row_counts(moved["data_dir"] / "messenger.db") == before  # nothing duplicated
    assert sorted(p.name for p in (moved["data_dir"] / "uploads").iterdir()) == uploads


@pytest.mark.parametrize("case", ["missing", "corrupt", "foreign", "wrong-master-key", "short-master-key"])
def test_bad_input_is_refused_with_a_stable_code_before_anything_is_written(tmp_path, case):
    db, master = V4 / "messenger.db", V4 / "master_key"
    if case == "missing":
        db = tmp_path / "nothing.db"
    elif case == "corrupt":
        db = tmp_path / "corrupt.db"
        db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    elif case == "foreign":
        db = tmp_path / "foreign.db"
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    elif case == "wrong-master-key":
        master = tmp_path / "master_key"
        master.write_bytes(bytes(32))
    else:
        master = tmp_path / "master_key"
        master.write_bytes(b"short")
    code, text = refused(tmp_path / "data", *import_args(db=db, master_key=master, escrow=tmp_path / "escrow.key"))
    assert code == {"missing": "V4_FILE_MISSING", "corrupt": "V4_NOT_A_DATABASE", "foreign": "V4_SCHEMA_UNKNOWN",
                    "wrong-master-key": "V4_MASTER_KEY_WRONG", "short-master-key": "V4_MASTER_KEY_INVALID"}[case], text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"missing": [], "corrupt": ["corrupt.db"], "foreign": ["foreign.db"], "wrong-master-key": ["master_key"],
         "short-master-key": ["master_key"]}[case])


def test_a_missing_upload_is_reported_and_everything_else_imported(tmp_path):
    uploads = tmp_path / "uploads"
    shutil.copytree(V4 / "uploads", uploads)
    gone = v4_rows("SELECT file_path, message_id FROM room_files ORDER BY id")[0]
    (uploads / gone["file_path"]).unlink()
    done = admin(tmp_path / "data", *import_args(uploads=uploads, escrow=tmp_path / "escrow.key"))
    assert f"missing upload (its message is kept, without the file): {gone['file_path']} " \
           f"(message {gone['message_id']})" in done.stdout
    assert "  files: 1\n" in done.stdout and "  messages: 49\n" in done.stdout
    assert len(list((tmp_path / "data" / "uploads").iterdir())) == 1


def test_a_wrong_escrow_key_file_releases_nothing(moved, tmp_path):
    other = tmp_path / "other"
    admin(other, *import_args(escrow=tmp_path / "other.key"))
    code, text = refused(moved["data_dir"], "release-legacy-keys", "--escrow-key-file", tmp_path / "other.key")
    assert code == "ESCROW_KEY_WRONG", text
    (tmp_path / "junk.key").write_text("not a key")
    code, _ = refused(moved["data_dir"], "release-legacy-keys", "--escrow-key-file", tmp_path / "junk.key")
    assert code == "ESCROW_KEY_INVALID"
    code, _ = refused(moved["data_dir"], "purge-legacy-keys")
    assert code == "VALIDATION_ERROR"
    # Purged before anyone signed in: gone for good, the escrow file opens nothing any more.
    assert "deleted the escrowed legacy keys of 2 rooms" in admin(other, "purge-legacy-keys", "--yes").stdout
    released = admin(other, "release-legacy-keys", "--escrow-key-file", tmp_path / "other.key").stdout
    assert "legacy keys of 0 rooms sealed in 0 packages" in released


def test_an_author_whose_v4_account_row_is_gone_stays_as_a_deleted_account_and_a_lost_reply_target_is_dropped(
        tmp_path):
    copy = tmp_path / "v4.db"
    shutil.copyfile(V4 / "messenger.db", copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("DELETE FROM users WHERE username = 'seoyeon'")
        connection.execute("DELETE FROM messages WHERE id = 1")  # message 2 answered it
    admin(tmp_path / "data", *import_args(db=copy, escrow=tmp_path / "escrow.key"))
    with sqlite3.connect(tmp_path / "data" / "messenger.db") as connection:
        deleted = connection.execute("SELECT nickname, deleted_at IS NOT NULL, password_hash FROM users "
                                     "WHERE id = 3").fetchone()
        kept = connection.execute("SELECT COUNT(*) FROM messages WHERE sender_id = 3").fetchone()[0]
        member = connection.execute("SELECT COUNT(*) FROM room_members WHERE user_id = 3").fetchone()[0]
        reply_to = connection.execute("SELECT reply_to FROM messages WHERE id = 2").fetchone()[0]
    assert deleted == ("(deleted)", 1, "!")
    assert reply_to is None
    assert kept == len(v4_rows("SELECT id FROM messages WHERE sender_id = 3")) > 0
    assert member == 0


def test_members_pass_the_legacy_key_on_among_themselves_and_maintenance_then_drops_the_escrow(tmp_path):
    """Released to the one member signed in; that member's device, online, answers the others'
    first devices like any key request; once every member holds it, maintenance deletes the escrow."""
    data_dir, escrow = tmp_path / "data", tmp_path / "escrow.key"
    admin(data_dir, *import_args(escrow=escrow))
    server = ServerProcess(data_dir).start()
    online = None
    try:
        minji = Cli(server, tmp_path / "minji")
        minji.login("minji")
        released = admin(data_dir, "release-legacy-keys", "--escrow-key-file", escrow).stdout
        assert "room 2: waiting for the first sign-in of admin_kim, junho, seoyeon" in released, released
        online = minji.start("tail", 2, "--timeout", 120)
        online.wait_for_stderr("listening")
        expected = {m["id"]: m["text"] for m in expected_messages(2) if m["legacy_envelope"]}
        for username in ("junho", "seoyeon", "admin_kim"):
            member = Cli(server, tmp_path / username)
            member.login(username)
            got = {m["id"]: m["text"] for m in member.history(2, "--limit", "200", "--wait-keys", "30")}
            assert {i: got[i] for i in expected} == expected, username
        assert 2 in escrowed_rooms(data_dir)
        assert "purge legacy key escrows every member holds: " in admin(data_dir, "run-maintenance").stdout
        assert 2 not in escrowed_rooms(data_dir)
    finally:
        if online is not None:
            online.interrupt()
        server.stop()


def test_an_office_moves_into_postgresql(tmp_path):
    """The same import into a real PostgreSQL database: users sign in with their old passwords and
    read every message; the data dir holds no SQLite database; a second import is refused."""
    postgres = Postgres().start()
    try:
        env = {"MESSENGER_DATABASE_URL": postgres.database("moved_v4")}
        data_dir = tmp_path / "data"
        admin(data_dir, *import_args(escrow=tmp_path / "escrow.key"), env=env)
        assert not (data_dir / "messenger.db").exists()
        again = admin(tmp_path / "other", *import_args(escrow=tmp_path / "escrow2.key"), env=env, check=False)
        assert again.returncode == 1 and "DATA_DIR_NOT_EMPTY" in again.stderr, again.stdout + again.stderr
        server = ServerProcess(data_dir, env=env).start()
        try:
            api = login(server, "minji", PASSWORD)
            for room_id in (1, 2):
                shown = api.get(f"/api/rooms/{room_id}/messages", params={"limit": 200}).json()["messages"]
                assert [m["id"] for m in shown] == [m["id"] for m in expected_messages(room_id)]
        finally:
            server.stop()
    finally:
        postgres.stop()
