"""Background work inside the server process."""

from __future__ import annotations

import logging

import gevent

from messenger.server.extensions import database
from messenger.server.offload import offload

log = logging.getLogger("messenger.server")


def checkpoint_loop(interval: float) -> None:
    """Fold the WAL into the database on a real thread, so no request waits for it."""
    while True:
        gevent.sleep(interval)
        try:
            offload(database.checkpoint)
        except Exception:
            log.exception("WAL checkpoint failed")


def start(app) -> list[gevent.Greenlet]:
    config = app.config["MESSENGER"]
    return [gevent.spawn(checkpoint_loop, config.wal_checkpoint_seconds)]
