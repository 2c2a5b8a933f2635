"""The bridge between the services and the widgets.

Widgets never wait on the network: `bridge.run(fn, *args)` runs a service call on a
worker thread and hands its result (or its exception) back on the GUI thread, like Anki's
`QueryOp(...).success(...).failure(...)`:

    bridge.run(api.rooms).then(model.reset).fail(show_error)

`bridge.post(fn, *args)` is the other direction: a service callback (realtime events,
outbox changes), called on a service thread, schedules `fn(*args)` on the GUI thread.
An exception nobody asked to handle goes to `sys.excepthook` (the report dialog).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import sys
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)


class Call:
    """One service call in flight; its callbacks run on the GUI thread.

    A failure goes to the `fail` callbacks; without any, to `fallback` (set by whoever
    made the call), else to `sys.excepthook`.
    """

    def __init__(self, name: str, owner: QObject | None):
        self.name = name
        self.owner = owner
        self.fallback: Callable[[BaseException], None] | None = None
        self._on_success: list[Callable[[Any], None]] = []
        self._on_failure: list[Callable[[BaseException], None]] = []
        self._on_finish: list[Callable[[], None]] = []

    def then(self, callback: Callable[[Any], None]) -> "Call":
        """`callback(result)` when the call succeeds."""
        self._on_success.append(callback)
        return self

    def fail(self, callback: Callable[[BaseException], None]) -> "Call":
        """`callback(exception)` when it raises (ServerRefused, ServerUnreachable, ...)."""
        self._on_failure.append(callback)
        return self

    def always(self, callback: Callable[[], None]) -> "Call":
        """`callback()` after the success or failure callbacks."""
        self._on_finish.append(callback)
        return self

    def settle(self, result: Any, error: BaseException | None) -> None:
        """Run the callbacks for the call's outcome (on the GUI thread)."""
        if self.owner is not None and not shiboken6.isValid(self.owner):
            self._release()
            return  # the window that asked is gone
        try:
            if error is None:
                for callback in self._on_success:
                    callback(result)
            elif self._on_failure:
                for callback in self._on_failure:
                    callback(error)
            elif self.fallback is not None:
                self.fallback(error)
            else:
                sys.excepthook(type(error), error, error.__traceback__)
        finally:
            for callback in self._on_finish:
                callback()
            self._release()

    def _release(self) -> None:
        """Drop the widgets and callbacks now, on the GUI thread: the worker thread may hold the
        last reference to this call, and a Qt object must never be freed from another thread."""
        self.owner = self.fallback = None
        self._on_success, self._on_failure, self._on_finish = [], [], []


class Bridge(QObject):
    """Worker threads for service calls, and the way back to the GUI thread."""

    # Carries a ready-to-run callable from any thread to the GUI thread.
    _to_gui = Signal(object)

    def __init__(self, parent: QObject | None = None, workers: int = 4):
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ui-worker")
        self._closed = False
        # Queued: whichever thread emits, the slot runs in this object's (the GUI) thread.
        self._to_gui.connect(self._run_here, Qt.ConnectionType.QueuedConnection)

    def run(self, fn: Callable, *args, owner: QObject | None = None, **kwargs) -> Call:
        """Start `fn(*args, **kwargs)` on a worker thread; attach callbacks to the answer.

        `owner`: a widget whose callbacks are skipped if it is deleted meanwhile.
        """
        call = Call(getattr(fn, "__qualname__", repr(fn)), owner)
        if self._closed:
            log.debug("bridge closed: %s not started", call.name)
            return call
        self._pool.submit(self._work, call, fn, args, kwargs)
        return call

    def post(self, fn: Callable, *args) -> None:
        """Run `fn(*args)` on the GUI thread soon (callable from any thread)."""
        if not self._closed:
            self._to_gui.emit(functools.partial(fn, *args))

    def close(self) -> None:
        """Stop taking calls; waits for the running ones (their callbacks are dropped)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _work(self, call: Call, fn: Callable, args: tuple, kwargs: dict) -> None:
        try:
            result, error = fn(*args, **kwargs), None
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread, where it is handled or reported
            result, error = None, exc
        self.post(call.settle, result, error)

    def _run_here(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - reported by the one exception hook, and the loop goes on
            sys.excepthook(*sys.exc_info())
