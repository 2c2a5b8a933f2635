"""Group commit: what queued up while one transaction committed goes into the next one.

Every `submit` waits until the transaction holding its item has committed (so an ack sent
after it is true: with `synchronous=FULL` the item is on disk), but many items share one
transaction and one fsync, and the transaction runs on an OS thread of its own (never queued
behind password hashes), so the event loop serves other sockets while SQLite writes and syncs.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Callable, Generic, TypeVar

from flask import Flask, current_app
from sqlalchemy.engine import Connection, Engine

from messenger.server.db import database_of
from messenger.server.offload import own_thread

log = logging.getLogger("messenger.server")

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupWriter(Generic[Item, Result]):
    """`write(connection, items) -> results` stores a batch in one transaction (off the loop);
    `published(items, results)` runs on the loop after its commit, in batch order, before any
    `submit` returns. A batch whose transaction fails raises in every `submit` of it: nothing of
    it is stored and nothing is published."""

    MAX_BATCH = 500

    def __init__(self, write: Callable[[Connection, list[Item]], list[Result]],
                 published: Callable[[list[Item], list[Result]], None]):
        self.write = write
        self.published = published
        # Each item with the app it was submitted in: a batch is one app's, in that app's context.
        self.queue: queue.Queue[tuple[Flask, Item, Future[Result]]] = queue.Queue()  # gevent's under the monkey-patch
        self.lock = threading.Lock()
        self.running = False

    def submit(self, item: Item) -> Result:
        """Queue `item` and wait for the commit that holds it; its result, or the commit's error."""
        done: Future[Result] = Future()
        self.queue.put((current_app._get_current_object(), item, done))  # type: ignore[attr-defined]
        with self.lock:
            if not self.running:
                # A greenlet under gevent (the monkey-patched threading), a thread otherwise.
                threading.Thread(target=self._run, name="group-writer", daemon=True).start()
                self.running = True
        return done.result()

    def _run(self) -> None:
        offload = own_thread()
        while True:
            queued = [self.queue.get()]
            while len(queued) < self.MAX_BATCH:
                try:
                    queued.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            by_app: dict[Flask, list[tuple[Item, Future[Result]]]] = {}
            for app, item, done in queued:
                by_app.setdefault(app, []).append((item, done))
            for app, batch in by_app.items():
                with app.app_context():
                    self._write_batch(offload, database_of(app).engine, batch)

    def _write_batch(self, offload: Callable[..., list[Result]], engine: Engine,
                     batch: list[tuple[Item, Future[Result]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results: list[Result] = offload(self._commit, engine, items)
        except Exception as exc:  # every waiter hears of it, whatever it is
            log.exception("a group commit of %d items failed", len(items))
            for _, done in batch:
                done.set_exception(exc)
            return
        try:
            self.published(items, results)
        except Exception:  # committed is committed: the results stay true
            log.exception("publishing a group commit failed")
        for (_, done), result in zip(batch, results):
            done.set_result(result)

    def _commit(self, engine: Engine, items: list[Item]) -> list[Result]:
        with engine.begin() as connection:
            return self.write(connection, items)
