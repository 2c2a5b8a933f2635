"""Maintenance jobs: each job on a real data dir, in this process; then the scheduler in a live server."""

import logging
import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from harness import PASSWORD, Socket, login, register_and_login
from messenger.server import jobs, settings
from messenger.server.db.models import (
    AuditEvent,
    DeviceSession,
    Message,
    Notice,
    Reaction,
    Room,
    RoomEvent,
    RoomFile,
    RoomMember,
    User,
)
from messenger.server.extensions import database

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def count(model, *where) -> int:
    return database.session.scalar(select(func.count()).select_from(model).where(*where))


def add_user(name: str = "kim") -> User:
    user = User(username=name, password_hash="!", nickname=name, status_message="", is_admin=False,
                session_epoch=0, created_at=days_ago(400))
    database.session.add(user)
    database.session.flush()
    return user


def add_room(owner: User, name: str = "room") -> Room:
    room = Room(name=name, type="group", created_by=owner.id, created_at=days_ago(400))
    database.session.add(room)
    database.session.flush()
    database.session.add(RoomMember(room_id=room.id, user_id=owner.id, role="admin", joined_at=days_ago(400)))
    return room


def add_message(room: Room, sender: User, age_days: float, reply_to: int | None = None) -> Message:
    message = Message(room_id=room.id, sender_id=sender.id, content=f"{age_days} days old", encrypted=False,
                      message_type="text", created_at=days_ago(age_days), reply_to=reply_to)
    database.session.add(message)
    database.session.flush()
    return message


def add_device(user: User, expires_days_ago: float, revoked_days_ago: float | None = None) -> DeviceSession:
    device = DeviceSession(user_id=user.id, device_id=f"d{expires_days_ago}{revoked_days_ago}",
                           token_hash=f"h{expires_days_ago}-{revoked_days_ago}", device_name="desk",
                           created_at=days_ago(60), last_used_at=days_ago(60),
                           expires_at=days_ago(expires_days_ago),
                           revoked_at=None if revoked_days_ago is None else days_ago(revoked_days_ago))
    database.session.add(device)
    return device


def test_purge_forgets_sessions_ended_more_than_30_days_ago(app):
    user = add_user()
    old_expired, old_revoked = add_device(user, 31), add_device(user, -10, revoked_days_ago=31)
    recent_expired, recent_revoked, live = add_device(user, 29), add_device(user, -10, 2), add_device(user, -20)
    database.session.commit()
    assert jobs.purge_ended_device_sessions(NOW) == 2
    left = set(database.session.scalars(select(DeviceSession.id)))
    assert left == {recent_expired.id, recent_revoked.id, live.id}
    assert old_expired.id not in left and old_revoked.id not in left


def test_audit_rows_older_than_the_setting_are_pruned_in_batches(app):
    ages = [400] * (jobs.BATCH + 20) + [300, 40, 1]
    database.session.add_all(AuditEvent(action="login_success", user_id=1, created_at=days_ago(age)) for age in ages)
    database.session.commit()
    assert jobs.prune_audit_log(NOW) == jobs.BATCH + 20  # default: a year
    assert count(AuditEvent) == 3
    settings.put("audit_retention_days", 30)
    database.session.commit()
    assert jobs.prune_audit_log(NOW) == 2
    assert [row.created_at for row in database.session.scalars(select(AuditEvent))] == [days_ago(1)]


def test_catch_up_events_older_than_30_days_are_pruned(app):
    ages = [45] * (jobs.BATCH * 2 + 7) + [31, 29, 0]
    database.session.add_all(RoomEvent(name="room_updated", user_id=1, payload={}, created_at=days_ago(age))
                             for age in ages)
    database.session.commit()
    assert jobs.prune_events(NOW) == jobs.BATCH * 2 + 8
    assert sorted(row.created_at for row in database.session.scalars(select(RoomEvent))) == [days_ago(29), NOW]


def test_retention_really_deletes_old_messages_and_what_points_at_them(app):
    kim, lee = add_user("kim"), add_user("lee")
    default_room, kept_room, short_room = add_room(kim, "default"), add_room(kim, "kept"), add_room(kim, "short")
    old = add_message(default_room, kim, 40)
    reply = add_message(default_room, lee, 10, reply_to=old.id)
    recent = add_message(default_room, kim, 5)
    kept_old = add_message(kept_room, kim, 400)
    short_old, short_new = add_message(short_room, kim, 8), add_message(short_room, kim, 6)
    database.session.add_all([
        Reaction(message_id=old.id, user_id=lee.id, emoji="👍"),
        Reaction(message_id=recent.id, user_id=lee.id, emoji="👍"),
        Notice(room_id=default_room.id, message_id=old.id, pinned_by=kim.id),
        Notice(room_id=default_room.id, content="free text notice", pinned_by=kim.id),
        RoomEvent(name="new_message", room_id=default_room.id, payload={"id": old.id}, created_at=days_ago(40)),
        RoomEvent(name="message_edited", room_id=default_room.id, payload={"message_id": old.id}),
        RoomEvent(name="new_message", room_id=default_room.id, payload={"id": recent.id}),
        RoomFile(room_id=default_room.id, message_id=old.id, file_path="old.bin", file_name="보고서.pdf",
                 file_size=3, file_type="file", uploaded_by=kim.id),
    ])
    settings.put("retention", {"days": 30, "rooms": {str(kept_room.id): None, str(short_room.id): 7}})
    database.session.commit()
    upload = app.config["MESSENGER"].data_dir / "uploads" / "old.bin"
    upload.parent.mkdir(exist_ok=True)
    upload.write_bytes(b"old")
    os.utime(upload, (days_ago(40).timestamp(), days_ago(40).timestamp()))

    assert jobs.apply_retention(NOW) == 2
    database.session.expire_all()
    remaining = set(database.session.scalars(select(Message.id)))
    assert remaining == {reply.id, recent.id, kept_old.id, short_new.id}
    assert old.id not in remaining and short_old.id not in remaining
    assert database.session.get(Message, reply.id).reply_to is None  # the reply stays, unlinked
    assert [r.message_id for r in database.session.scalars(select(Reaction))] == [recent.id]
    assert [n.content for n in database.session.scalars(select(Notice))] == ["free text notice"]
    assert [e.payload for e in database.session.scalars(select(RoomEvent))] == [{"id": recent.id}]
    assert count(RoomFile) == 0  # the file row goes with its message...
    assert upload.exists()
    jobs.run_maintenance(NOW)
    assert not upload.exists()  # ...and the next maintenance round takes its bytes


def test_retention_works_through_many_batches_and_does_nothing_when_off(app):
    kim = add_user()
    room = add_room(kim)
    for _ in range(jobs.BATCH * 2 + 3):
        add_message(room, kim, 100)
    add_message(room, kim, 1)
    database.session.commit()
    assert jobs.apply_retention(NOW) == 0  # no retention set: keep everything
    settings.put("retention", {"days": 90, "rooms": {}})
    database.session.commit()
    assert jobs.apply_retention(NOW) == jobs.BATCH * 2 + 3
    assert count(Message) == 1


def test_a_failing_job_is_logged_and_the_others_still_run(app, monkeypatch, caplog):
    def broken(now):
        raise RuntimeError("disk on fire")

    user = add_user()
    add_device(user, 40)
    database.session.commit()
    monkeypatch.setattr(jobs, "MAINTENANCE_JOBS", [("broken", broken), *jobs.MAINTENANCE_JOBS])
    with caplog.at_level(logging.ERROR, logger="messenger.server"):
        results = jobs.run_maintenance(NOW)
    assert results["broken"] is None
    assert results["purge ended device sessions"] == 1
    assert "maintenance job 'broken' failed" in caplog.text and "disk on fire" in caplog.text


# --- in a live server -------------------------------------------------------------------------

def sql(srv, statement: str, *params):
    db = sqlite3.connect(srv.data_dir / "messenger.db", timeout=30)
    try:
        with db:
            return db.execute(statement, params).fetchall()
    finally:
        db.close()


def naive(moment: datetime) -> str:
    """How the server stores a UTC time in SQLite."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")


def wait_until(check, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s")


def test_scheduler_runs_the_jobs_in_a_live_server_and_survives_a_failing_one(fresh_server):
    srv = fresh_server(config="maintenance_interval_seconds = 0.5\n")
    api = register_and_login(srv)
    old = naive(datetime.now(timezone.utc) - timedelta(days=45))
    sql(srv, "INSERT INTO events (name, user_id, payload, created_at) VALUES ('room_updated', ?, '{}', ?)",
        api.user["id"], old)
    sql(srv, "INSERT INTO device_sessions (user_id, device_id, token_hash, device_name, created_at, last_used_at, "
             "expires_at, remember, ttl_days) VALUES (?, 'x', 'stale-hash', 'old desk', ?, ?, ?, 1, 30)",
        api.user["id"], old, old, old)
    # A broken stored setting makes the audit job fail on every round; the others must go on.
    sql(srv, "INSERT INTO server_settings (key, value) VALUES ('audit_retention_days', '\"never\"')")
    wait_until(lambda: not sql(srv, "SELECT id FROM events WHERE created_at = ?", old), what="old event pruned")
    wait_until(lambda: not sql(srv, "SELECT id FROM device_sessions WHERE token_hash = 'stale-hash'"),
               what="ended device session purged")
    wait_until(lambda: any("'prune audit log' failed" in line for line in srv.output), what="failure logged")
    sql(srv, "UPDATE server_settings SET value = '30' WHERE key = 'audit_retention_days'")
    sql(srv, "INSERT INTO access_logs (action, user_id, created_at) VALUES ('login_success', ?, ?)",
        api.user["id"], old)
    wait_until(lambda: not sql(srv, "SELECT id FROM access_logs WHERE created_at = ?", old),
               what="the loop still running after failures")
    assert api.get("/api/me").status_code == 200


def test_retention_set_by_the_admin_is_applied_by_the_live_server(fresh_server):
    srv = fresh_server(config="maintenance_interval_seconds = 0.5\n")
    admin = login(srv, "admin", srv.first_admin_password)
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = alice.post("/api/rooms", json={"member_ids": [bob.user["id"]], "name": "retention"}).json()["room_id"]
    old = naive(datetime.now(timezone.utc) - timedelta(days=40))
    sql(srv, "INSERT INTO messages (room_id, sender_id, content, encrypted, message_type, created_at) "
             "VALUES (?, ?, 'last month', 0, 'text', ?)", room_id, alice.user["id"], old)
    sock = Socket(srv.url, alice.token)
    recent = sock.call("send_message", {"room_id": room_id, "content": "today", "type": "text",
                                        "encrypted": False})["message_id"]
    sock.close()
    reply = admin.put("/api/admin/settings", json={"retention": {"days": 30, "rooms": {}}})
    assert reply.status_code == 200, reply.text
    wait_until(lambda: not sql(srv, "SELECT id FROM messages WHERE content = 'last month'"), what="retention")
    assert [m["id"] for m in alice.get(f"/api/rooms/{room_id}/messages").json()["messages"]] == [recent]


def test_socket_of_an_expired_device_session_is_closed_by_the_server(fresh_server):
    srv = fresh_server()
    api = register_and_login(srv)
    sock = Socket(srv.url, api.token)
    past = naive(datetime.now(timezone.utc) - timedelta(minutes=1))
    sql(srv, "UPDATE device_sessions SET expires_at = ? WHERE id = ?", past, api.device_session_id)
    assert sock.wait_for("session_revoked", timeout=10)["reason"] == "expired"
    wait_until(lambda: not sock.connected, timeout=5, what="socket closed")
    assert login(srv, api.user["username"], PASSWORD).get("/api/me").status_code == 200
