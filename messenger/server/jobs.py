"""Background work inside the server process: WAL checkpoints, closing sockets whose sign-in
ended elsewhere, the presence heartbeat (several processes), and the maintenance jobs (purges and message retention).

A maintenance job is a function `job(now) -> int` (how many rows it removed) listed in
`MAINTENANCE_JOBS`: adding one is one line there. Jobs run one after another every
`maintenance_interval_seconds`; one that fails is logged and the others still run.
Deletions go in small batches, each its own short transaction, so a large purge never
holds the database's single writer lock for long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Callable, cast

import gevent
from flask import Flask
from sqlalchemy import CursorResult, delete, or_, select, update

from messenger.core import protocol
from messenger.server import settings
from messenger.server.actions.admin import close_ended_sockets
from messenger.server.actions.files import delete_orphan_uploads, purge_upload_tokens
from messenger.server.actions.legacy_keys import announce_releases, purge_held_escrows, start_announcing
from messenger.server.actions.polls import expire_polls
from messenger.server.actions.presence import mark_dead_processes_offline
from messenger.server.db.models import (
    AuditEvent,
    DeviceSession,
    Message,
    Notice,
    Reaction,
    Room,
    RoomEvent,
    utcnow,
)
from messenger.server.db import database_of
from messenger.server.extensions import database
from messenger.server.offload import offload

log = logging.getLogger("messenger.server")

ENDED_DEVICE_SESSION_DAYS = 30  # revoked or expired sessions are kept this long for the admin's view
EVENTS_KEEP_DAYS = 30  # the catch-up window of GET /api/events
BATCH = 500


def checkpoint_loop(app: Flask, interval: float) -> None:
    """Fold the WAL into `app`'s database on a real thread, so no request waits for it."""
    while True:
        gevent.sleep(interval)
        try:
            offload(database_of(app).checkpoint)
        except Exception:
            log.exception("WAL checkpoint failed")


def _pause() -> None:
    """Let requests in between two batches."""
    gevent.sleep(0)


def _leading_older(rows: Iterable[tuple[int, datetime]], cutoff: datetime) -> list[int]:
    """The ids of `(id, created_at)` rows, in id order, up to the first one not older than
    `cutoff`: ids follow time, so this needs no index on `created_at` and never takes a
    row newer than the cutoff even if the clock once stepped back."""
    ids = []
    for row_id, created_at in rows:
        if created_at >= cutoff:
            break
        ids.append(row_id)
    return ids


# --- the jobs ------------------------------------------------------------------------------

def purge_ended_device_sessions(now: datetime) -> int:
    """Forget device sessions that expired or were revoked more than 30 days ago."""
    cutoff = now - timedelta(days=ENDED_DEVICE_SESSION_DAYS)
    # A DELETE answers a CursorResult, which has the row count.
    removed = cast(CursorResult[Any], database.session.execute(delete(DeviceSession).where(
        or_(DeviceSession.expires_at < cutoff, DeviceSession.revoked_at < cutoff)))).rowcount
    database.session.commit()
    return removed


def prune_audit_log(now: datetime) -> int:
    """Delete audit rows older than the `audit_retention_days` setting."""
    cutoff = now - timedelta(days=settings.get("audit_retention_days"))
    removed = 0
    while True:
        ids = list(database.session.scalars(select(AuditEvent.id).where(AuditEvent.created_at < cutoff)
                                            .order_by(AuditEvent.id).limit(BATCH)))
        if not ids:
            return removed
        database.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        database.session.commit()
        removed += len(ids)
        _pause()


def prune_events(now: datetime) -> int:
    """Delete catch-up events older than 30 days (a client away longer reloads its rooms)."""
    cutoff = now - timedelta(days=EVENTS_KEEP_DAYS)
    removed = 0
    while True:
        rows = database.session.execute(select(RoomEvent.id, RoomEvent.created_at)
                                        .order_by(RoomEvent.id).limit(BATCH)).all()
        ids = _leading_older(rows, cutoff)
        if ids:
            database.session.execute(delete(RoomEvent).where(RoomEvent.id.in_(ids)))
            database.session.commit()
            removed += len(ids)
        if len(ids) < BATCH:
            return removed
        _pause()


def retention_days_by_room() -> dict[int, int]:
    """Room id -> days to keep messages, for every room the retention setting limits."""
    policy = settings.get("retention")
    overrides = {int(room_id): days for room_id, days in policy["rooms"].items()}
    if policy["days"] is None:
        return {room_id: days for room_id, days in overrides.items() if days is not None}
    every_room = database.session.scalars(select(Room.id))
    days_by_room = {room_id: overrides.get(room_id, policy["days"]) for room_id in every_room}
    return {room_id: days for room_id, days in days_by_room.items() if days is not None}


def apply_retention(now: datetime) -> int:
    """Really delete (not soft-delete) messages past their room's retention, with their
    reactions, the notices pinning them and the catch-up events carrying them."""
    removed = 0
    for room_id, days in retention_days_by_room().items():
        removed += delete_messages_before(room_id, now - timedelta(days=days))
    return removed


def delete_messages_before(room_id: int, cutoff: datetime) -> int:
    removed = 0
    while True:
        rows = database.session.execute(select(Message.id, Message.created_at).where(Message.room_id == room_id)
                                        .order_by(Message.id).limit(BATCH)).all()
        ids = _leading_older(rows, cutoff)
        if ids:
            _delete_messages(room_id, ids)
            database.session.commit()
            removed += len(ids)
        if len(ids) < BATCH:
            return removed
        _pause()


def _delete_messages(room_id: int, ids: list[int]) -> None:
    """Stage the deletion of some messages of one room and of every row pointing at them.

    A table that gains a reference to messages must be cleared here too.
    """
    session = database.session
    # Newer replies stay; they lose their link (and so their preview) to the deleted message.
    session.execute(update(Message).where(Message.room_id == room_id, Message.reply_to.in_(ids))
                    .values(reply_to=None).execution_options(synchronize_session=False))
    session.execute(delete(Reaction).where(Reaction.message_id.in_(ids)))
    session.execute(delete(Notice).where(Notice.message_id.in_(ids)))
    session.execute(delete(RoomEvent).where(RoomEvent.room_id == room_id, or_(
        RoomEvent.payload["message_id"].as_integer().in_(ids),
        (RoomEvent.name == protocol.NEW_MESSAGE) & RoomEvent.payload["id"].as_integer().in_(ids))))
    session.execute(delete(Message).where(Message.id.in_(ids)))


MAINTENANCE_JOBS = [
    ("purge ended device sessions", purge_ended_device_sessions),
    ("prune audit log", prune_audit_log),
    ("prune catch-up events", prune_events),
    ("apply message retention", apply_retention),
    ("close expired polls", expire_polls),
    ("purge upload tokens", purge_upload_tokens),
    # After retention, so the files of messages it removed go in the same round.
    ("delete orphan uploads", delete_orphan_uploads),
    ("purge legacy key escrows every member holds", purge_held_escrows),
]


def run_maintenance(now: datetime | None = None) -> dict[str, int | None]:
    """Run every maintenance job once (inside an app context); returns each one's count,
    None for a job that failed (it is logged; the others still run)."""
    now = now or utcnow()
    results: dict[str, int | None] = {}
    for name, job in MAINTENANCE_JOBS:
        try:
            results[name] = job(now)
        except Exception:
            log.exception("maintenance job %r failed", name)
            database.session.rollback()
            results[name] = None
    done = {name: count for name, count in results.items() if count}
    if done:
        log.info("maintenance: %s", ", ".join(f"{name}: {count}" for name, count in done.items()))
    return results


def every(app: Flask, interval: float, name: str, work: Callable[[], object]) -> None:
    """Call `work()` in an app context every `interval` seconds, for ever; a failure is
    logged and the next round comes all the same."""
    while True:
        gevent.sleep(interval)
        try:
            with app.app_context():
                work()
        except Exception:
            log.exception("%s failed", name)


def start(app: Flask) -> list[gevent.Greenlet]:
    config = app.config["MESSENGER"]
    with app.app_context():
        start_announcing()
        mark_dead_processes_offline()  # counted as live before the first socket comes
    return [
        gevent.spawn(checkpoint_loop, app, config.wal_checkpoint_seconds),
        gevent.spawn(every, app, config.socket_sweep_seconds, "closing ended sockets", close_ended_sockets),
        # Its own beat, well inside the time after which others take this process for dead.
        gevent.spawn(every, app, app.extensions["presence"].HEARTBEAT_SECONDS / 3, "presence heartbeat",
                     mark_dead_processes_offline),
        gevent.spawn(every, app, config.socket_sweep_seconds, "announcing released legacy keys", announce_releases),
        gevent.spawn(every, app, config.maintenance_interval_seconds, "maintenance", run_maintenance),
    ]
