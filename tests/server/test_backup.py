"""Backup and restore: one archive, taken from a live server, restored only into an empty folder."""

import hashlib
import json
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine

from harness import PASSWORD, Socket, login, register_and_login, unique_name
from messaging import history, open_room, text
from messenger.server.backup import head_revision
from messenger.server.db import MIGRATIONS
from messenger.server.passwords import hash_password


def admin_command(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """`messenger admin ARGS`; `env`: a server's environment (its database URL)."""
    return subprocess.run([sys.executable, "-m", "messenger", "admin", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def backup(data_dir: Path, archive: Path) -> subprocess.CompletedProcess:
    result = admin_command("--data-dir", str(data_dir), "backup", str(archive))
    assert result.returncode == 0, result.stderr
    return result


def restore(archive: Path, target: Path) -> subprocess.CompletedProcess:
    return admin_command("restore", str(archive), "--data-dir", str(target))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def integrity(db_file: Path) -> str:
    db = sqlite3.connect(db_file)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def test_backup_taken_while_clients_send_holds_every_message_acknowledged_before_it(fresh_server, tmp_path):
    srv = fresh_server()
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = alice.post("/api/rooms", json={"member_ids": [bob.user["id"]], "name": "backup"}).json()["room_id"]
    acked: list[tuple[float, int]] = []  # (when the ack arrived, message id)
    lock, stop, failures = threading.Lock(), threading.Event(), []

    def send_until_stopped(api, tag):
        sock = Socket(srv.url, api.token)
        try:
            n = 0
            while not stop.is_set():
                n += 1
                ack = sock.call("send_message", {"room_id": room_id, "content": f"{tag} {n}", "type": "text",
                                                 "encrypted": False, "client_msg_id": f"{tag}-{n}"})
                if not ack.get("ok"):
                    failures.append(ack)
                    return
                with lock:
                    acked.append((time.monotonic(), ack["message_id"]))
        except Exception as exc:  # reported below; a silent thread would hide it
            failures.append(exc)
        finally:
            sock.close()

    senders = [threading.Thread(target=send_until_stopped, args=(api, f"s{i}"))
               for i, api in enumerate((alice, bob, alice))]
    for thread in senders:
        thread.start()
    try:
        while len(acked) < 30 and not failures:
            time.sleep(0.05)
        started = time.monotonic()
        backup(srv.data_dir, tmp_path / "live.zip")
        finished = time.monotonic()
        while not failures and sum(1 for at, _ in acked if at > finished) < 5:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in senders:
            thread.join(30)
    assert not failures
    assert any(started <= at <= finished for at, _ in acked), "no message was sent during the backup"
    before = {message_id for at, message_id in acked if at < started}

    target = tmp_path / "restored"
    result = restore(tmp_path / "live.zip", target)
    assert result.returncode == 0, result.stderr
    assert integrity(target / "messenger.db") == "ok"
    db = sqlite3.connect(target / "messenger.db")
    stored = {row[0] for row in db.execute("SELECT id FROM messages WHERE room_id = ?", (room_id,))}
    db.close()
    assert before <= stored, f"{len(before - stored)} acknowledged messages missing"

    restored = fresh_server(data_dir=target)
    alice_again = login(restored, alice.user["username"])
    newest = max(before)
    page = alice_again.get(f"/api/rooms/{room_id}/messages", params={"before_id": newest + 1, "limit": 5}).json()
    assert newest in {m["id"] for m in page["messages"]}


@pytest.fixture(scope="module")
def archive(server, tmp_path_factory) -> Path:
    """A backup of the shared (running) server."""
    path = tmp_path_factory.mktemp("backups") / "office.zip"
    (server.data_dir / "uploads").mkdir(exist_ok=True)
    (server.data_dir / "uploads" / "report.bin").write_bytes(b"\x00encrypted blob\xff" * 100)
    (server.data_dir / "tls").mkdir(exist_ok=True)
    (server.data_dir / "tls" / "server.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    backup(server.data_dir, path)
    return path


def test_archive_holds_a_manifest_the_database_keys_and_files(server, archive, tmp_path):
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the server's keys
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist())
        for entry in manifest["files"]:
            assert sha256(zf.read(entry["path"])) == entry["sha256"], entry["path"]
            assert len(zf.read(entry["path"])) == entry["size"]
    assert {"manifest.json", "messenger.db", "secret_key", "uploads/report.bin", "tls/server.key"} <= names
    assert not {n for n in names if n.endswith(("-wal", "-shm")) or "first-run" in n}
    assert manifest["schema_revision"] == head_revision() and manifest["app_version"]
    assert manifest["created_at"].endswith("+00:00")
    assert {e["path"] for e in manifest["files"]} == names - {"manifest.json"}

    result = restore(archive, tmp_path / "copy")
    assert result.returncode == 0, result.stderr
    for name in ("secret_key", "uploads/report.bin", "tls/server.key"):
        assert (tmp_path / "copy" / name).read_bytes() == (server.data_dir / name).read_bytes()


def test_restore_refuses_a_folder_that_is_not_empty(archive, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    result = restore(archive, target)
    assert result.returncode == 1 and "RESTORE_REFUSED" in result.stderr and "not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore(archive, empty).returncode == 0
    assert (empty / "messenger.db").is_file()


def rewrite(source: Path, target: Path, changes: dict, fix_manifest: bool, **manifest_fields) -> Path:
    """A copy of an archive with some members replaced, added (bytes) or removed (None), the
    manifest's file list recomputed if asked, and some manifest fields changed."""
    with zipfile.ZipFile(source) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    if fix_manifest:
        manifest["files"] = [{"path": n, "size": len(d), "sha256": sha256(d)} for n, d in members.items()]
    manifest.update(manifest_fields)
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("manifest.json", json.dumps(manifest))
    return target


def with_schema(archive: Path, tmp_path: Path, revision: str) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        (tmp_path / "edit.db").write_bytes(zf.read("messenger.db"))
    db = sqlite3.connect(tmp_path / "edit.db")
    with db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    db.close()
    return (tmp_path / "edit.db").read_bytes()


@pytest.mark.parametrize("damage,expected", [
    ("altered", "sha256 does not match"),
    ("extra", "does not match its manifest"),
    ("missing", "does not match its manifest"),
    ("escape", "outside the data dir"),
    ("newer", "newer than this version knows"),
    ("garbage", "not a backup archive"),
])
def test_restore_refuses_a_damaged_or_foreign_archive_and_leaves_nothing(archive, tmp_path, damage, expected):
    bad = tmp_path / "bad.zip"
    if damage == "altered":
        rewrite(archive, bad, {"secret_key": b"someone else's key"}, fix_manifest=False)
    elif damage == "extra":
        rewrite(archive, bad, {"uploads/planted.exe": b"MZ"}, fix_manifest=False)
    elif damage == "missing":
        rewrite(archive, bad, {"uploads/report.bin": None}, fix_manifest=False)
    elif damage == "escape":
        rewrite(archive, bad, {"../outside.txt": b"x"}, fix_manifest=True)
    elif damage == "newer":
        rewrite(archive, bad, {"messenger.db": with_schema(archive, tmp_path, "9999")}, fix_manifest=True,
                schema_revision="9999")
    else:
        bad.write_bytes(b"this is not a zip file")
    target = tmp_path / "restore-here"
    result = restore(bad, target)
    assert result.returncode == 1 and "RESTORE_REFUSED" in result.stderr
    assert expected in result.stderr
    assert not target.exists()
    assert not list(tmp_path.glob(".restore-here*")) and not (tmp_path / "outside.txt").exists()


def test_a_backup_from_schema_0001_restores_and_is_upgraded(fresh_server, tmp_path):
    old = tmp_path / "old-server"
    old.mkdir()
    engine = create_engine(f"sqlite:///{old / 'messenger.db'}")
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        # Only the columns revision 0001 has.
        connection.exec_driver_sql(
            "INSERT INTO users (id, username, password_hash, nickname, status_message, is_admin, session_epoch, "
            "created_at) VALUES (1, 'veteran', ?, '고참', '', 1, 0, '2025-01-02 03:04:05')", (hash_password(PASSWORD),))
        connection.exec_driver_sql("INSERT INTO rooms (id, name, type, created_by, created_at) "
                                   "VALUES (7, '옛날 방', 'group', 1, '2025-01-02 03:04:05')")
        connection.exec_driver_sql("INSERT INTO room_members (room_id, user_id, role, joined_at, "
                                   "last_read_message_id, pinned, muted) VALUES (7, 1, 'admin', '2025-01-02', 0, 0, 0)")
        connection.exec_driver_sql("INSERT INTO messages (room_id, sender_id, content, encrypted, message_type, "
                                   "created_at) VALUES (7, 1, '첫 메시지', 0, 'text', '2025-01-02 03:04:06')")
    engine.dispose()
    (old / "secret_key").write_bytes(b"k" * 32)

    backup(old, tmp_path / "old.zip")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "old.zip").read("manifest.json"))
    assert manifest["schema_revision"] == "0001"
    source = sqlite3.connect(old / "messenger.db")
    assert source.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"  # left as it was
    source.close()

    result = restore(tmp_path / "old.zip", tmp_path / "new-server")
    assert result.returncode == 0, result.stderr
    assert f"upgraded to {head_revision()}" in result.stdout
    db = sqlite3.connect(tmp_path / "new-server" / "messenger.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()
    db.close()

    srv = fresh_server(data_dir=tmp_path / "new-server")
    veteran = login(srv, "veteran")
    assert veteran.user["is_admin"] is True
    messages = veteran.get("/api/rooms/7/messages").json()["messages"]
    assert [m["content"] for m in messages] == ["첫 메시지"]


def test_backup_refuses_a_folder_without_a_database(tmp_path):
    result = admin_command("--data-dir", str(tmp_path / "nothing"), "backup", str(tmp_path / "x.zip"))
    assert result.returncode == 1 and "BACKUP_FAILED" in result.stderr and "no server database" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_backup_is_not_written_inside_the_data_dir(server, tmp_path):
    result = admin_command("--data-dir", str(server.data_dir), "backup", str(server.data_dir / "uploads" / "b.zip"))
    assert result.returncode == 1 and "outside the data dir" in result.stderr
    assert not (server.data_dir / "uploads" / "b.zip").exists()


def test_a_postgresql_office_is_backed_up_with_pg_dump_and_restored_into_an_empty_database(
        postgres, fresh_server, tmp_path):
    url = postgres.database(unique_name("office"))
    srv = fresh_server(env={"MESSENGER_DATABASE_URL": url})
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob, name="백업")
    sock = Socket(srv.url, alice.token)
    sent = [sock.call("send_message", text(room_id, f"백업 전 {n}"))["message_id"] for n in range(3)]
    sock.close()
    (srv.data_dir / "uploads").mkdir(exist_ok=True)
    (srv.data_dir / "uploads" / "report.bin").write_bytes(b"\x00blob" * 50)
    result = admin_command("--data-dir", str(srv.data_dir), "backup", str(tmp_path / "office.zip"),
                           env=srv.environment)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "office.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["database"] == "database.pgdump" and "messenger.db" not in zf.namelist()
        assert manifest["schema_revision"] == head_revision()

    without_url = restore(tmp_path / "office.zip", tmp_path / "nowhere")
    assert without_url.returncode == 1 and "--database-url" in without_url.stderr
    into_full = admin_command("restore", str(tmp_path / "office.zip"), "--data-dir", str(tmp_path / "full"),
                              "--database-url", url)
    assert into_full.returncode == 1 and "RESTORE_REFUSED" in into_full.stderr and "not empty" in into_full.stderr
    assert not (tmp_path / "full").exists()
    restored_url = postgres.database(unique_name("restored"))
    result = admin_command("restore", str(tmp_path / "office.zip"), "--data-dir", str(tmp_path / "restored"),
                           "--database-url", restored_url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "restored" / "uploads" / "report.bin").read_bytes() == b"\x00blob" * 50
    assert not (tmp_path / "restored" / "database.pgdump").exists()

    restored = fresh_server(data_dir=tmp_path / "restored", env={"MESSENGER_DATABASE_URL": restored_url})
    bob_again = login(restored, bob.user["username"])
    assert [m["id"] for m in history(bob_again, room_id)["messages"]][-3:] == sent
